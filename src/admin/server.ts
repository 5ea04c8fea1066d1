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
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function apiError(res: http.ServerResponse, status: number, code: string, message: string, extra: Record<string, unknown> = {}): void {
  sendJson(res, status, { error: { code, message, ...extra } });
}

const INDEX_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>Tollgate admin</title>
<style>body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:46rem;color:#1d2330}code{background:#eef1f5;padding:0 .3em;border-radius:3px}a{color:#0b5cd5}</style></head>
<body><h1>Tollgate admin</h1><p>The auditing load balancer's admin API. Start here:</p><ul>
<li><a href="/api/v1/events?limit=50">/api/v1/events</a> — the audit trail, newest first (filters: ${FILTER_KEYS.map((p) => `<code>${p}</code>`).join(' ')}, <code>limit</code>, <code>cursor</code>; <code>format=csv|ndjson</code>)</li>
<li><a href="/api/v1/events/stream">/api/v1/events/stream</a> — live events (server-sent events)</li>
<li><a href="/api/v1/stats/timeseries">/api/v1/stats/timeseries</a>, <a href="/api/v1/stats/top?by=client_ip">/api/v1/stats/top?by=client_ip</a>, <a href="/api/v1/stats/latency?by=route">/api/v1/stats/latency?by=route</a></li>
<li><a href="/api/v1/backends">/api/v1/backends</a> — pools, servers and their health</li>
<li><a href="/metrics">/metrics</a> — Prometheus metrics · <a href="/readyz">/readyz</a> · <a href="/healthz">/healthz</a></li>
</ul><p>Reload the configuration with <code>POST /api/v1/config/reload</code> or <code>kill -HUP</code>.</p></body></html>`;

export class AdminServer {
  private server: http.Server;
  private streams = new Set<http.ServerResponse>();
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

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const p = url.pathname;
    const { control } = this.opts;
    if (p === '/healthz') return sendJson(res, 200, { status: 'ok' });
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
    if (p === '/' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(INDEX_HTML);
      return;
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
      return apiError(res, 422, 'invalid_config', `the new configuration has ${r.errors.length} error(s); the running configuration is unchanged`, { errors: r.errors });
    }
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
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': tollgate live audit events\nretry: 2000\n\n');
    this.streams.add(res);
    const unsubscribe = this.opts.live.subscribe((e) => {
      if (match(e)) res.write(`id: ${e.id}\nevent: audit\ndata: ${JSON.stringify(e)}\n\n`);
    });
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
