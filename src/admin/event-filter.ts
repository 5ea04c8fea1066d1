/**
 * In-memory event filter with the same meaning as the store's search filters,
 * for the live stream (events that are not queried but pushed).
 */
import type { AuditEvent } from '../core/event.js';
import type { EventQuery } from '../store/types.js';

export const FILTER_PARAMS = ['client_ip', 'user', 'method', 'path_prefix', 'status', 'decision', 'route', 'upstream', 'request_id', 'host', 'service', 'termination', 'trace_id', 'kind', 'source'] as const;

export function createEventFilter(q: EventQuery): (e: AuditEvent) => boolean {
  const checks: ((e: AuditEvent) => boolean)[] = [];
  const eq = (field: keyof AuditEvent, v: string | undefined) => {
    if (v !== undefined && v !== '') checks.push((e) => e[field] === v);
  };
  eq('client_ip', q.client_ip);
  eq('route', q.route);
  eq('upstream', q.upstream);
  eq('request_id', q.request_id);
  eq('host', q.host);
  eq('service', q.service);
  eq('termination', q.termination);
  eq('trace_id', q.trace_id);
  eq('kind', q.kind);
  eq('source', q.source);
  eq('decision', q.decision);
  if (q.method) {
    const m = q.method.toUpperCase();
    checks.push((e) => e.method === m);
  }
  if (q.user) {
    const u = q.user;
    checks.push((e) => e.user_id === u || e.user_name === u);
  }
  if (q.path_prefix) {
    const p = q.path_prefix;
    checks.push((e) => e.path !== null && e.path.startsWith(p));
  }
  if (q.status) {
    const s = q.status.toLowerCase();
    if (/^[1-5]xx$/.test(s)) {
      const cls = Number(s[0]);
      checks.push((e) => e.status !== null && Math.floor(e.status / 100) === cls);
    } else if (/^\d{3}$/.test(s)) {
      const code = Number(s);
      checks.push((e) => e.status === code);
    } else {
      throw new Error(`invalid status "${q.status}": use a code like 404 or a class like 5xx`);
    }
  }
  return (e) => {
    for (const c of checks) if (!c(e)) return false;
    return true;
  };
}
