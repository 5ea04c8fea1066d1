/**
 * The request pipeline: accept → identify → route → authorize → balance →
 * forward → record. Built once per configuration (stages precompile their
 * matchers), then `handle` runs per request. See docs/architecture.md for the
 * lifecycle drawing with every error exit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Config } from '../config/schema.js';
import { emptyEvent, type AuditEvent } from '../core/event.js';
import { uuidv7 } from '../core/ids.js';
import { ERRORS, errorBody, type ErrorSpec } from '../core/errors.js';
import { createClientIpResolver, normalizeIp } from './identify/client-ip.js';
import { resolveRequestId, traceIdOf } from './identify/correlation.js';
import { Router, normalizeHost } from './route/router.js';
import type { BackendPool } from './balance/pool.js';
import type { PickContext } from './balance/balancers.js';
import { forward, ClientAbortError } from './forward/forwarder.js';
import type { Recorder } from './record/recorder.js';
import type { RequestContext } from './context.js';
import { metrics } from './metrics.js';

export interface NodeTags {
  node: string;
  environment: string | null;
  region: string | null;
  labels: Record<string, string>;
}

/** TLS facts, computed once per connection. */
export interface TlsFacts {
  version: string | null;
  cipher: string | null;
  sni: string | null;
  clientCert: string | null;
}
export const TLS_FACTS = Symbol('tollgate.tls');
type SocketWithFacts = Socket & { [TLS_FACTS]?: TlsFacts };

export function tlsFactsOf(socket: Socket): TlsFacts | null {
  const s = socket as SocketWithFacts;
  if (s[TLS_FACTS]) return s[TLS_FACTS];
  const t = socket as TLSSocket;
  if (!t.encrypted) return null;
  const cert = t.getPeerCertificate?.();
  const facts: TlsFacts = {
    version: t.getProtocol?.() ?? null,
    cipher: t.getCipher?.()?.name ?? null,
    sni: (t as TLSSocket & { servername?: string | false }).servername || null,
    clientCert: cert && cert.subject ? Object.entries(cert.subject).map(([k, v]) => `${k}=${String(v)}`).join(',') : null,
  };
  s[TLS_FACTS] = facts;
  return facts;
}

export interface PipelineDeps {
  config: Readonly<Config>;
  pools: ReadonlyMap<string, BackendPool>;
  recorder: Recorder;
  tags: NodeTags;
}

function headerValue(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}

export class Pipeline {
  readonly router: Router<BackendPool>;
  private readonly resolveIp;
  private readonly isTrusted;
  private readonly requestIdHeader: string;
  private readonly maxBodySize: number;
  private readonly labels: Record<string, string> | null;

  constructor(private readonly deps: PipelineDeps) {
    const { config } = deps;
    const ip = createClientIpResolver(config.proxy.trusted_proxies);
    this.resolveIp = ip.resolve;
    this.isTrusted = ip.isTrusted;
    this.requestIdHeader = config.proxy.request_id_header.toLowerCase();
    this.maxBodySize = config.proxy.max_body_size;
    this.router = new Router(config.routes, (name) => {
      const p = deps.pools.get(name);
      if (!p) throw new Error(`route references unknown pool ${name}`);
      return p;
    });
    this.labels = Object.keys(deps.tags.labels).length ? deps.tags.labels : null;
  }

  /** Starts an event with what the connection and request head tell. */
  newEvent(peerIpRaw: string | undefined, scheme: 'http' | 'https', socket: Socket): AuditEvent {
    const e = emptyEvent(uuidv7(), new Date().toISOString(), 'http', 'tollgate');
    const t = this.deps.tags;
    e.node = t.node;
    e.environment = t.environment;
    e.region = t.region;
    e.peer_ip = peerIpRaw ? normalizeIp(peerIpRaw) : null;
    e.client_ip = e.peer_ip;
    e.client_port = socket.remotePort ?? null;
    e.scheme = scheme;
    e.labels = this.labels;
    if (scheme === 'https') {
      const f = tlsFactsOf(socket);
      if (f) {
        e.tls_version = f.version;
        e.tls_cipher = f.cipher;
        e.sni = f.sni;
        e.client_cert = f.clientCert;
      }
    }
    return e;
  }

  /** Fills identity-of-request fields: client IP, request line, correlation ids. */
  identify(ctx: RequestContext): void {
    const { req, event: e } = ctx;
    const h = req.headers;
    const xff = headerValue(h['x-forwarded-for']);
    const fwd = headerValue(h.forwarded);
    e.forwarded_for = xff;
    ctx.peerTrusted = this.isTrusted(ctx.peerIp);
    const client = this.resolveIp(ctx.peerIp, xff ?? undefined, fwd ?? undefined);
    e.client_ip = client.ip;
    if (client.forwarded) e.client_port = null;
    e.method = req.method ?? null;
    e.http_version = req.httpVersion;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    e.path = q === -1 ? url : url.slice(0, q);
    e.query = q === -1 || q === url.length - 1 ? null : url.slice(q + 1);
    ctx.hostHeader = h.host;
    e.host = normalizeHost(h.host) || null;
    e.user_agent = h['user-agent'] ?? null;
    e.referer = h.referer ?? null;
    const rid = resolveRequestId(h[this.requestIdHeader]);
    e.request_id = rid.id;
    e.trace_id = traceIdOf(h.traceparent);
  }

  handle = (req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https'): void => {
    metrics.requestStarted();
    const socket = req.socket;
    const event = this.newEvent(socket.remoteAddress, scheme, socket);
    const ctx: RequestContext = {
      event,
      startMs: performance.now(),
      recorded: false,
      reqHeaders: req.headers,
      resHeaders: null,
      req,
      res,
      scheme,
      peerIp: event.peer_ip ?? '',
      peerTrusted: false,
      hostHeader: undefined,
      target: req.url ?? '/',
      route: null,
      clientGone: false,
      finished: false,
      controller: null,
      bytesIn: 0,
      bytesOut: 0,
    };
    res.once('close', () => this.onClose(ctx));
    this.identify(ctx);
    const e = ctx.event;
    if (!this.deps.recorder.accepting) {
      this.fail(ctx, ERRORS.AUDIT_UNAVAILABLE, 'the audit spool cannot be written and on_audit_failure is reject');
      return;
    }
    const target = req.url ?? '';
    if (target[0] !== '/') {
      // Absolute-form and asterisk-form targets are for forward proxies, not us.
      this.fail(ctx, ERRORS.BAD_REQUEST, `unsupported request target form: ${target.slice(0, 64)}`);
      return;
    }
    const route = this.router.match(e.host ?? '', e.path ?? '/', e.method ?? '');
    if (!route) {
      this.fail(ctx, ERRORS.NO_ROUTE, `no route for host ${JSON.stringify(e.host)} path ${JSON.stringify(e.path)}`);
      return;
    }
    ctx.route = route;
    e.route = route.id;
    e.service = route.service;
    if (route.labels) e.labels = this.labels ? { ...this.labels, ...route.labels } : route.labels;
    if (route.strip) {
      const rest = target.slice(route.strip.length);
      ctx.target = rest.startsWith('/') ? rest : '/' + rest;
    }
    // Authorization (policies) plugs in here; until then every routed request is allowed.
    e.decision = 'allow';
    forward(ctx, this.forwardDeps);
  };

  private readonly forwardDeps = {
    requestIdHeader: '',
    maxBodySize: 0,
    fail: (ctx: RequestContext, spec: ErrorSpec, reason: string) => this.fail(ctx, spec, reason),
    complete: (ctx: RequestContext, release: (ok: boolean) => void) => this.deps.recorder.record(ctx, release),
    pickContext: (ctx: RequestContext): PickContext => {
      const headers = ctx.req.headers;
      return {
        clientIp: ctx.event.client_ip ?? ctx.peerIp,
        header: (name: string) => headerValue(headers[name.toLowerCase()]) ?? undefined,
        cookie: (name: string) => cookieValue(headers.cookie, name),
      };
    },
  };

  /** Call after construction fields are set (class field order). */
  init(): this {
    this.forwardDeps.requestIdHeader = this.requestIdHeader;
    this.forwardDeps.maxBodySize = this.maxBodySize;
    return this;
  }

  /** Error exit: records the event, then sends a small JSON error with the request id. */
  fail(ctx: RequestContext, spec: ErrorSpec, reason: string): void {
    const e = ctx.event;
    if (ctx.recorded) return;
    e.status = spec.status;
    e.termination = spec.termination;
    e.decision = spec.decision;
    e.reason = reason;
    e.bytes_in ??= 0;
    const body = errorBody(spec, e.request_id ?? '');
    e.bytes_out = Buffer.byteLength(body);
    const res = ctx.res;
    const headers = {
      'content-type': 'application/json',
      'content-length': String(e.bytes_out),
      'cache-control': 'no-store',
      [this.requestIdHeader]: e.request_id ?? '',
    };
    ctx.resHeaders = headers;
    this.deps.recorder.record(ctx, (ok) => {
      if (ctx.clientGone || res.headersSent) {
        res.destroy();
        return;
      }
      if (!ok && spec !== ERRORS.AUDIT_UNAVAILABLE) {
        res.destroy();
        return;
      }
      ctx.finished = true;
      // A request body we did not read would poison a kept-alive connection.
      if (!ctx.req.complete) res.shouldKeepAlive = false;
      res.writeHead(spec.status, headers);
      res.end(body);
    });
  }

  /** The response closed: if it was not completed, the client went away. */
  private onClose(ctx: RequestContext): void {
    if (ctx.finished || ctx.recorded) {
      return;
    }
    ctx.clientGone = true;
    ctx.controller?.abort(new ClientAbortError());
    ctx.controller = null;
    const e = ctx.event;
    e.termination = 'client_abort';
    e.reason = ctx.res.headersSent ? 'client closed the connection during the response' : 'client closed the connection before the response';
    if (!ctx.res.headersSent) e.status = null;
    e.decision ??= 'error';
    e.bytes_out = ctx.bytesOut;
    this.deps.recorder.record(ctx, null);
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export { ERRORS };
