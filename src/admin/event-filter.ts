/**
 * In-memory event filter for the live stream (events pushed, not queried).
 * It parses its parameters with the store's own parseFilter, so a filter means
 * the same thing in /events/stream as in /events and `tollgate query`.
 */
import type { AuditEvent } from '../core/event.js';
import { checkKeys, FILTER_KEYS, parseFilter, type StatusFilter } from '../store/query.js';

export { FILTER_KEYS };

function statusMatches(s: StatusFilter, status: number | null): boolean {
  if (s.kind === 'none') return status === null;
  if (status === null) return false;
  return s.kind === 'code' ? status === s.code : status >= s.min && status < s.max;
}

/** Throws QueryError for unknown keys and invalid values, like the store does. */
export function createEventFilter(q: Record<string, string>): (e: AuditEvent) => boolean {
  checkKeys(q, FILTER_KEYS, 'stream');
  const f = parseFilter(q);
  return (e) => {
    if (f.from !== null || f.to !== null) {
      const t = Date.parse(e.ts);
      if ((f.from !== null && t < f.from) || (f.to !== null && t >= f.to)) return false;
    }
    for (const { column, value, not } of f.equals) if ((e[column] === value) === not) return false;
    if (f.user !== null && e.user_id !== f.user && e.user_name !== f.user) return false;
    if (f.pathPrefix !== null && (e.path === null || !e.path.startsWith(f.pathPrefix))) return false;
    if (f.status !== null && !statusMatches(f.status, e.status)) return false;
    return true;
  };
}
