/**
 * The admin listener (default 127.0.0.1:9191): health and readiness, the
 * Prometheus endpoint, the audit-trail API and the live stream, backends and
 * config reload. It only talks to the data plane through ControlPlane, so the
 * same server works for one process and for a cluster of workers.
 */
import http from 'node:http';
import type { AuditEvent } from '../core/event.js';
import type { StoreReader } from '../store/types.js';
import type { ConfigError } from '../config/load.js';
import { parseAddress } from '../config/schema.js';
import { handleEventsApi } from './events-api.js';
import { sendJson, sendError as apiError } from './http.js';
import { emptyEvent } from '../core/event.js';
import { uuidv7 } from '../core/ids.js';
import { normalizeIp } from '../core/ip.js';
import { roleAllows, type AdminAuth, type AdminCaller, type Role } from './auth.js';
import { handleDetectApi } from './detect-api.js';
import { StaticFiles, DASHBOARD_DIR } from './static-files.js';
import { handleDeploymentsApi } from './deployments-api.js';
import type { DeploymentRegistry } from './deployments.js';
import type { Detector } from '../detect/runtime/detector.js';
import { handleBlocksApi } from './blocks-api.js';
import type { BlockRegistry } from '../proxy/authorize/blocks.js';
import { normalizeHost } from '../proxy/route/router.js';
import { createEventFilter, FILTER_KEYS } from './event-filter.js';

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  detail?: unknown;
}

export interface ControlPlane {
  backends(): Promise<unknown>;
  reload(): Promise<{ ok: true; restart_required: string[] } | { ok: false; errors: ConfigError[] }>;
  readiness(): Promise<ReadinessCheck[]>;
  metrics(): Promise<{ contentType: string; body: string }>;
}

export interface LiveEvents {
  subscribe(fn: (e: AuditEvent) => void): () => void;
}

export interface AdminServerOptions {
  address: string;
  reader: StoreReader;
  live: LiveEvents;
  control: ControlPlane;
  log: { info(o: object, m: string): void; error(o: object, m: string): void };
  auth: AdminAuth;
  /** Served without a token (besides /healthz), still audited. */
  publicPaths: readonly string[];
  blocks: BlockRegistry;
  /** Detection (alerts, rules); null when it is off. */
  detector: Detector | null;
  deployments: DeploymentRegistry;
  /** Writes an `admin` audit event (every call but /healthz). */
  audit: (e: AuditEvent) => void;
  node: string;
}

/** What an admin request does and the least role it needs. */
interface Action {
  id: string;
  role: Role | null;
}

function actionFor(method: string, p: string): Action {
  const read = (id: string): Action => ({ id, role: 'viewer' });
  // The dashboard's files are public (they hold no data); everything they show comes from the API with a token.
  if (p === '/' || p.startsWith('/assets/')) return { id: 'dashboard', role: null };
  if (p === '/readyz') return read('readyz');
  if (p === '/metrics') return read('metrics');
  if (p === '/api/v1/events/stream') return read('events.stream');
  if (p === '/api/v1/events') return read('events.list');
  if (p.startsWith('/api/v1/events/')) return read('events.get');
  if (p.startsWith('/api/v1/stats/')) return read(`stats.${p.slice('/api/v1/stats/'.length)}`);
  if (p === '/api/v1/backends') return read('backends.list');
  if (p === '/api/v1/config/reload') return { id: 'config.reload', role: 'admin' };
  if (p === '/api/v1/blocks') return method === 'GET' ? read('blocks.list') : { id: 'blocks.create', role: 'operator' };
  if (p.startsWith('/api/v1/blocks/')) return method === 'GET' ? read('blocks.get') : { id: 'blocks.delete', role: 'operator' };
  if (p === '/api/v1/alerts') return read('alerts.list');
  if (p.startsWith('/api/v1/alerts/')) return p.endsWith('/ack') ? { id: 'alerts.ack', role: 'operator' } : read('alerts.get');
  if (p === '/api/v1/deployments') return method === 'POST' ? { id: 'deployments.create', role: 'operator' } : read('deployments.list');
  if (p.startsWith('/api/v1/deployments/')) return read(p.endsWith('/compare') ? 'deployments.compare' : 'deployments.get');
  if (p === '/api/v1/rules') return read('rules.list');
  if (p.startsWith('/api/v1/rules/')) return read('rules.get');
  return read('unknown');
}

const INDEX_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>Tollgate admin</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:46rem;color:#1d2330}code{background:#eef1f5;padding:0 .3em;border-radius:3px}a{color:#0b5cd5}</style></head>
<body><h1>Tollgate admin</h1><p>The auditing load balancer's admin API. Start here:</p><ul>
<li><a href="/api/v1/events?limit=50">/api/v1/events</a> — the audit trail, newest first (filters: ${FILTER_KEYS.map((p) => `<code>${p}</code>`).join(' ')}, <code>limit</code>, <code>cursor</code>; <code>format=csv|ndjson</code>)</li>
<li><a href="/api/v1/events/stream">/api/v1/events/stream</a> — live events (server-sent events)</li>
<li><a href="/api/v1/stats/timeseries">/api/v1/stats/timeseries</a>, <a href="/api/v1/stats/top?by=client_ip">/api/v1/stats/top?by=client_ip</a>, <a href="/api/v1/stats/latency?by=route">/api/v1/stats/latency?by=route</a></li>
<li><a href="/api/v1/backends">/api/v1/backends</a> — pools, servers and their health</li>
<li><a href="/api/v1/deployments">/api/v1/deployments</a> — deployment markers (<code>POST</code> to record one; <code>/{id}/compare</code> for before/after)</li>
<li><a href="/api/v1/alerts">/api/v1/alerts</a> — alerts raised by detection rules (<code>POST /api/v1/alerts/{id}/ack</code> to acknowledge) · <a href="/api/v1/rules">/api/v1/rules</a> — rules and their state</li>
<li><a href="/metrics">/metrics</a> — Prometheus metrics · <a href="/readyz">/readyz</a> · <a href="/healthz">/healthz</a></li>
</ul><p>Reload the configuration with <code>POST /api/v1/config/reload</code> or <code>kill -HUP</code>.</p></body></html>`;

export class AdminServer {
  private server: http.Server;
  private streams = new Set<http.ServerResponse>();
  private readonly dashboard = new StaticFiles(DASHBOARD_DIR);
  port = 0;

  constructor(private readonly opts: AdminServerOptions) {
    this.server = http.createServer((req, res) => {
      this.route(req, res).catch((err: Error) => {
        opts.log.error({ err: err.message, url: req.url }, 'admin request failed');
        if (!res.headersSent) apiError(res, 500, 'internal', 'internal error');
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 5000;
  }

  async listen(): Promise<void> {
    const a = parseAddress(this.opts.address)!;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(a.port, a.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : a.port;
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.end();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /**
   * Authenticates and authorizes the call, records it as an `admin` event
   * when the response ends, then dispatches it. Only /healthz is neither
   * protected nor audited (load balancers poll it constantly).
   */
  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const p = url.pathname;
    if (p === '/healthz') return sendJson(res, 200, { status: 'ok' });
    const action = actionFor(req.method ?? 'GET', p);
    const e = this.adminEvent(req, url, action);
    res.setHeader('x-request-id', e.request_id!);
    const startMs = performance.now();
    res.once('close', () => {
      e.status = res.headersSent ? res.statusCode : null;
      // A refused token or role is a denial, as on the proxy (termination=denied finds both).
      e.termination = !res.writableFinished ? 'client_abort' : e.decision === 'deny' ? 'denied' : 'ok';
      const len = res.getHeader('content-length');
      e.bytes_out = typeof len === 'number' ? len : typeof len === 'string' ? Number(len) : null;
      e.duration_ms = Math.round((performance.now() - startMs) * 1000) / 1000;
      e.decision ??= e.status !== null && e.status < 400 ? 'allow' : 'error';
      this.opts.audit(e);
    });
    if (action.role !== null && !this.opts.publicPaths.includes(p)) {
      const a = this.opts.auth.authenticate(req.headers.authorization);
      if (!a.ok) {
        e.auth_error = a.error;
        e.decision = 'deny';
        e.reason = `admin token ${a.error}: ${a.detail}`;
        res.setHeader('www-authenticate', 'Bearer realm="tollgate-admin"');
        return apiError(res, 401, 'unauthorized', 'an admin token is required: Authorization: Bearer <token>');
      }
      e.user_id = a.caller.tokenId;
      e.user_name = a.caller.role;
      if (!roleAllows(a.caller.role, action.role)) {
        e.decision = 'deny';
        e.reason = `role ${a.caller.role} may not ${action.id} (needs ${action.role})`;
        return apiError(res, 403, 'forbidden', `this token's role (${a.caller.role}) may not do this; it needs ${action.role}`);
      }
      return this.dispatch(req, res, url, e, a.caller);
    }
    return this.dispatch(req, res, url, e, null);
  }

  private adminEvent(req: http.IncomingMessage, url: URL, action: Action): AuditEvent {
    const e = emptyEvent(uuidv7(), new Date().toISOString(), 'admin', 'tollgate');
    e.node = this.opts.node;
    e.peer_ip = req.socket.remoteAddress ? normalizeIp(req.socket.remoteAddress) : null;
    e.client_ip = e.peer_ip;
    e.client_port = req.socket.remotePort ?? null;
    e.scheme = 'http';
    e.method = req.method ?? null;
    e.http_version = req.httpVersion;
    // As the proxy records hosts: lower-case, without the port.
    e.host = normalizeHost(req.headers.host) || null;
    e.path = url.pathname;
    e.query = url.search ? url.search.slice(1) : null;
    e.user_agent = req.headers['user-agent'] ?? null;
    e.request_id = uuidv7();
    e.route = action.id;
    e.service = 'admin';
    e.auth_method = 'admin_token';
    e.bytes_in = Number(req.headers['content-length'] ?? 0) || 0;
    return e;
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse, url: URL, e: AuditEvent, caller: AdminCaller | null): Promise<void> {
    const p = url.pathname;
    const { control } = this.opts;
    if (p === '/readyz') {
      const checks = await control.readiness();
      const ok = checks.every((c) => c.ok);
      return sendJson(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not_ready', checks });
    }
    if (p === '/metrics') {
      const m = await control.metrics();
      res.writeHead(200, { 'content-type': m.contentType });
      res.end(m.body);
      return;
    }
    if ((p === '/' || p.startsWith('/assets/')) && (req.method === 'GET' || req.method === 'HEAD')) {
      if (await this.dashboard.serve(p, req, res)) return;
      if (p === '/') {
        // Not built (a checkout without `npm run build`): the API's front page instead.
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(INDEX_HTML);
        return;
      }
      return apiError(res, 404, 'not_found', `no such file: ${p}`);
    }
    if (p === '/api/v1/events/stream') {
      if (req.method !== 'GET') return apiError(res, 405, 'method_not_allowed', 'use GET');
      return this.stream(req, res, url);
    }
    if (p === '/api/v1/backends') {
      if (req.method !== 'GET') return apiError(res, 405, 'method_not_allowed', 'use GET');
      return sendJson(res, 200, { backends: await control.backends() });
    }
    if (p === '/api/v1/config/reload') {
      if (req.method !== 'POST') return apiError(res, 405, 'method_not_allowed', 'use POST');
      const r = await control.reload();
      if (r.ok) return sendJson(res, 200, { status: 'reloaded', restart_required: r.restart_required });
      return apiError(res, 422, 'invalid_config', `the new configuration has ${r.errors.length} error(s); the running configuration is unchanged`, {}, { errors: r.errors });
    }
    if (await handleBlocksApi(req, res, url, this.opts.blocks, e, caller)) return;
    if (await handleDetectApi(req, res, url, this.opts.detector, e, caller)) return;
    if (await handleDeploymentsApi(req, res, url, this.opts.deployments, this.opts.reader, e, caller)) return;
    if (await handleEventsApi(req, res, url, this.opts.reader)) return;
    apiError(res, 404, 'not_found', `no such endpoint: ${p}`);
  }

  /** Server-sent events: one `audit` event per audit record matching the filters, heartbeats every 15 s. */
  private stream(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    let match: (e: AuditEvent) => boolean;
    try {
      match = createEventFilter(Object.fromEntries(url.searchParams));
    } catch (err) {
      apiError(res, 400, 'bad_parameter', (err as Error).message);
      return;
    }
    // Subscribed before the answer starts: a client that has the headers misses nothing after them.
    this.streams.add(res);
    const unsubscribe = this.opts.live.subscribe((e) => {
      if (match(e)) res.write(`id: ${e.id}\nevent: audit\ndata: ${JSON.stringify(e)}\n\n`);
    });
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': tollgate live audit events\nretry: 2000\n\n');
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    heartbeat.unref();
    const done = () => {
      clearInterval(heartbeat);
      unsubscribe();
      this.streams.delete(res);
    };
    req.on('close', done);
  }
}
