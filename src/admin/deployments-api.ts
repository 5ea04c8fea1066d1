/**
 * /api/v1/deployments: record a marker (operator role), list and get them,
 * and /api/v1/deployments/{id}/compare — request volume, error rates and
 * latency percentiles of the service in equal windows before and after it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditEvent } from '../core/event.js';
import type { StoreReader } from '../store/types.js';
import { parseDuration } from '../config/primitives.js';
import type { AdminCaller } from './auth.js';
import { limitParam, readJsonBody, sendError, sendJson, timeParam } from './http.js';
import { validateDeployment, type Deployment, type DeploymentQuery, type DeploymentRegistry } from './deployments.js';

const DEFAULT_WINDOW_MS = 3_600_000;
const MAX_WINDOW_MS = 7 * 86_400_000;

export type { WindowStats, Comparison } from './deployment-types.js';
import type { WindowStats, Comparison } from './deployment-types.js';

async function windowStats(reader: StoreReader, service: string, from: number, to: number): Promise<WindowStats> {
  const q = { service, from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  const [lat, e5, e4] = await Promise.all([reader.latency(q), reader.count({ ...q, status: '5xx' }), reader.count({ ...q, status: '4xx' })]);
  const row = lat[0];
  const requests = row?.count ?? 0;
  const seconds = (to - from) / 1000;
  return {
    ...q,
    requests,
    rate: seconds > 0 ? Math.round((requests / seconds) * 1000) / 1000 : 0,
    errors_5xx: e5,
    errors_4xx: e4,
    error_rate: requests ? Math.round((e5 / requests) * 10_000) / 10_000 : null,
    p50_ms: row?.p50 ?? null,
    p95_ms: row?.p95 ?? null,
    p99_ms: row?.p99 ?? null,
  };
}

const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b > 0 ? Math.round((a / b) * 1000) / 1000 : null);

/**
 * Equal windows on both sides of the marker: the requested length (default
 * 1 h), shortened to the time since the marker and to the time since the
 * previous marker of the service, so "before" is the previous version only.
 */
export async function compareDeployment(reader: StoreReader, registry: DeploymentRegistry, d: Deployment, windowMs = DEFAULT_WINDOW_MS, now = Date.now()): Promise<Comparison> {
  const at = Date.parse(d.at);
  const previous = registry.previous(d);
  let w = Math.min(windowMs, Math.max(0, now - at));
  if (previous) w = Math.min(w, Math.max(0, at - Date.parse(previous.at)));
  const before = await windowStats(reader, d.service, at - w, at);
  const after = await windowStats(reader, d.service, at, at + w);
  return {
    deployment: d,
    previous,
    window_seconds: w / 1000,
    before,
    after,
    change: {
      requests: ratio(after.requests, before.requests),
      error_rate: before.error_rate !== null && after.error_rate !== null ? Math.round((after.error_rate - before.error_rate) * 10_000) / 10_000 : null,
      p50: ratio(after.p50_ms, before.p50_ms),
      p95: ratio(after.p95_ms, before.p95_ms),
      p99: ratio(after.p99_ms, before.p99_ms),
    },
  };
}

function parseQuery(params: URLSearchParams): { q: DeploymentQuery; errors: string[] } {
  const q: DeploymentQuery = {};
  const errors: string[] = [];
  for (const [k, v] of params) {
    if (k === 'service' || k === 'environment') q[k] = v;
    else if (k === 'from' || k === 'to') q[k] = timeParam(k, v, errors);
    else if (k === 'limit') q.limit = limitParam(v, 1000, errors);
    else errors.push(`unknown parameter \`${k}\` (known: service, environment, from, to, limit)`);
  }
  return { q, errors };
}

export async function handleDeploymentsApi(req: IncomingMessage, res: ServerResponse, url: URL, registry: DeploymentRegistry, reader: StoreReader, e: AuditEvent, caller: AdminCaller | null): Promise<boolean> {
  const p = url.pathname;
  if (p === '/api/v1/deployments') {
    if (req.method === 'GET') {
      const { q, errors } = parseQuery(url.searchParams);
      if (errors.length) sendError(res, 400, 'bad_parameter', errors.join('; '), {}, { errors });
      else sendJson(res, 200, { deployments: registry.list(q) });
      return true;
    }
    if (req.method !== 'POST') {
      sendError(res, 405, 'method_not_allowed', 'use GET or POST', { allow: 'GET, POST' });
      return true;
    }
    let body: unknown;
    try {
      body = await readJsonBody(req);
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('the body must be a JSON object');
    } catch (err) {
      sendError(res, 400, 'bad_request', (err as Error).message);
      return true;
    }
    const { errors, input } = validateDeployment(body as Record<string, unknown>, caller?.tokenId ?? 'anonymous');
    if (!input) {
      sendError(res, 400, 'bad_request', errors.join('; '), {}, { errors });
      return true;
    }
    const d = await registry.add(input);
    e.reason = `deployment ${d.service} ${d.version}${d.commit ? ` (${d.commit})` : ''}${d.environment ? ` in ${d.environment}` : ''}`;
    sendJson(res, 201, d, { location: `/api/v1/deployments/${d.id}` });
    return true;
  }
  const m = /^\/api\/v1\/deployments\/([^/]+)(\/compare)?$/.exec(p);
  if (!m) return false;
  if (req.method !== 'GET') {
    sendError(res, 405, 'method_not_allowed', 'use GET', { allow: 'GET' });
    return true;
  }
  const d = registry.get(decodeURIComponent(m[1]));
  if (!d) {
    sendError(res, 404, 'not_found', `no deployment ${m[1]}`);
    return true;
  }
  if (!m[2]) {
    sendJson(res, 200, d);
    return true;
  }
  let windowMs = DEFAULT_WINDOW_MS;
  const w = url.searchParams.get('window');
  if (w !== null) {
    const ms = parseDuration(/^\d+$/.test(w) ? `${w}s` : w);
    if (ms === null || ms < 1000 || ms > MAX_WINDOW_MS) {
      sendError(res, 400, 'bad_parameter', '`window` must be a duration from 1s to 7d, e.g. "15m" or "1h"');
      return true;
    }
    windowMs = ms;
  }
  sendJson(res, 200, await compareDeployment(reader, registry, d, windowMs));
  return true;
}
