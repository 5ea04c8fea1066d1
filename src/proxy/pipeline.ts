/**
 * The request pipeline: accept → identify → route → authorize → balance →
 * forward → record. Built once per configuration (stages precompile their
 * matchers); `handle` runs per request, `upgrade` per WebSocket handshake and
 * `clientError` per request the HTTP parser refused. See docs/architecture.md
 * for the lifecycle drawing with every error exit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Config } from '../config/schema.js';
import { emptyEvent, type AuditEvent } from '../core/event.js';
import { requestId, uuidv7 } from '../core/ids.js';
import { isoFromMs } from '../core/iso-time.js';
import { ERRORS, errorBody, rawErrorResponse, type ErrorSpec } from '../core/errors.js';
import { createClientIpResolver } from './identify/client-ip.js';
import { normalizeIp } from '../core/ip.js';
import { resolveRequestId, traceIdOf } from './identify/correlation.js';
import { Router, normalizeHost, splitTarget, backendTarget, type CompiledRoute } from './route/router.js';
import type { BackendPool } from './balance/pool.js';
import { forward, ClientAbortError, type ForwardDeps } from './forward/forwarder.js';
import { tunnel, rejectUpgrade, type TunnelDeps } from './forward/websocket.js';
import type { Recorder, RecordTarget } from './record/recorder.js';
import type { RequestContext } from './context.js';
import type { RefusedRequest } from './accept/listener.js';
import { metrics } from './metrics.js';
import { normalizeTarget, validateRequestHeaders, type PathOptions } from './route/normalize-path.js';
import { ClientGate, RouteGate, type Verdict } from './authorize/access.js';
import type { IdentityMethod } from './authorize/identity/types.js';
import type { BlockList } from './authorize/blocks.js';
import type { RateLimiter } from './authorize/ratelimit/limiter.js';

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

/** Access-control components that outlive one pipeline (they hold caches, counters and connections). */
export interface AccessComponents {
  identities: ReadonlyMap<string, IdentityMethod>;
  blocks: BlockList;
  limiter: RateLimiter | null;
}

export interface PipelineDeps {
  config: Readonly<Config>;
  pools: ReadonlyMap<string, BackendPool>;
  recorder: Recorder;
  tags: NodeTags;
  access: AccessComponents;
}

function headerValue(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Where identify() puts what it learns besides the event. */
interface Identified {
  peerIp: string;
  peerTrusted: boolean;
}

/**
 * The context of the last request read on a connection (pipelined responses complete in order,
 * and only the last request can still be receiving its body), for the listener's refusals.
 * A property on the socket, not a map: one store per request on an object that already has it.
 */
const LAST_CONTEXT = Symbol('tollgate.lastContext');
type WithLastContext = { [LAST_CONTEXT]?: RequestContext };

export class Pipeline {
  readonly router: Router<BackendPool>;
  private readonly resolveIp;
  private readonly requestIdHeader: string;
  private readonly labels: Record<string, string> | null;
  private readonly forwardDeps: ForwardDeps;
  private readonly tunnelDeps: TunnelDeps;
  private readonly pathOptions: PathOptions;
  private readonly clientGate: ClientGate;
  private readonly gates = new Map<string, RouteGate>();
  private readonly stripHeaders: ReadonlySet<string> | null;

  constructor(private readonly deps: PipelineDeps) {
    const { config, recorder } = deps;
    this.resolveIp = createClientIpResolver(config.proxy.trusted_proxies).resolve;
    this.requestIdHeader = config.proxy.request_id_header.toLowerCase();
    const paths = config.access.paths;
    this.pathOptions = { semicolons: paths.semicolons, caseSensitive: paths.case_sensitive };
    this.router = new Router(
      config.routes,
      (name) => {
        const p = deps.pools.get(name);
        if (!p) throw new Error(`route references unknown pool ${name}`);
        return p;
      },
      paths.case_sensitive,
    );
    this.clientGate = new ClientGate(config.access, deps.access.blocks);
    const strip = new Set(paths.strip_headers.map((h) => h.toLowerCase()));
    // Headers a forward-auth service sets must never come from the client.
    for (const m of config.access.identities) if (m.type === 'forward_auth') for (const h of m.copy_headers) strip.add(h.toLowerCase());
    this.stripHeaders = strip.size ? strip : null;
    for (const r of config.routes) {
      this.gates.set(r.id, new RouteGate(r.id, r.access, { ...deps.access, caseSensitive: paths.case_sensitive }));
    }
    this.labels = Object.keys(deps.tags.labels).length ? deps.tags.labels : null;
    this.forwardDeps = {
      requestIdHeader: this.requestIdHeader,
      maxBodySize: config.proxy.max_body_size,
      fail: (ctx, spec, reason) => this.fail(ctx, spec, reason),
      complete: (ctx, release) => recorder.record(ctx, release),
    };
    this.tunnelDeps = { requestIdHeader: this.requestIdHeader, record: (t, done) => recorder.record(t, done) };
  }

  /** Starts an event with what the connection tells. */
  private newEvent(socket: Socket, scheme: 'http' | 'https'): AuditEvent {
    metrics.requestStarted();
    // One clock reading for both: the id's time and ts agree.
    const now = Date.now();
    const e = emptyEvent(uuidv7(now), isoFromMs(now), 'http', 'tollgate');
    const t = this.deps.tags;
    e.node = t.node;
    e.environment = t.environment;
    e.region = t.region;
    e.peer_ip = socket.remoteAddress ? normalizeIp(socket.remoteAddress) : null;
    e.client_ip = e.peer_ip;
    e.client_port = socket.remotePort ?? null;
    e.scheme = scheme;
    // No backend tried yet: 0, also for the requests that end before forwarding (404, 401, 413, 400...).
    e.attempts = 0;
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

  /** Fills what the request head tells: client IP, request line, correlation ids. */
  private identify(req: IncomingMessage, e: AuditEvent): Identified {
    const h = req.headers;
    const xff = headerValue(h['x-forwarded-for']);
    e.forwarded_for = xff;
    const peerIp = e.peer_ip ?? '';
    const client = this.resolveIp(peerIp, xff ?? undefined, headerValue(h.forwarded) ?? undefined);
    e.client_ip = client.ip;
    if (client.forwarded) e.client_port = null;
    e.method = req.method ?? null;
    e.http_version = req.httpVersion;
    const { path, query } = splitTarget(req.url ?? '/');
    e.path = path;
    e.query = query;
    e.host = normalizeHost(h.host) || null;
    e.user_agent = h['user-agent'] ?? null;
    e.referer = h.referer ?? null;
    e.request_id = resolveRequestId(h[this.requestIdHeader]).id;
    e.trace_id = traceIdOf(h.traceparent);
    return { peerIp, peerTrusted: client.peerTrusted };
  }

  /** Sets the route's fields on the event. */
  private routed(e: AuditEvent, route: CompiledRoute<BackendPool>): void {
    e.route = route.id;
    e.service = route.service;
    if (route.labels) e.labels = this.labels ? { ...this.labels, ...route.labels } : route.labels;
  }

  /**
   * Checks the request head (Host, repeated credentials) and normalizes the
   * request target once: what routes and policies match is exactly what the
   * backend receives. Returns the normalized target and the path to match,
   * or the reason for a 400.
   */
  private normalize(req: IncomingMessage, e: AuditEvent, target: string): { target: string; matchPath: string } | string {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400.
    const head = validateRequestHeaders(req.rawHeaders, req.httpVersionMajor === 1 && req.httpVersionMinor >= 1);
    if (!head.ok) return head.reason;
    if (target[0] !== '/') {
      // Absolute-form and asterisk-form targets are for forward proxies, not us.
      return `unsupported request target form: ${target.slice(0, 64)}`;
    }
    const n = normalizeTarget(target, this.pathOptions);
    if (!n.ok) return n.reason;
    if (n.changed) {
      // Keep what the client actually sent: probing shows in the raw form.
      e.extra = { raw_path: e.path ?? '' };
      e.path = n.path;
    }
    return { target: n.query === null ? n.path : `${n.path}?${n.query}`, matchPath: n.matchPath };
  }

  private noRouteReason(e: AuditEvent): string {
    return `no route for host ${JSON.stringify(e.host)} path ${JSON.stringify(e.path)}`;
  }

  handle = (req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https'): void => {
    const e = this.newEvent(req.socket, scheme);
    const startMs = performance.now();
    const who = this.identify(req, e);
    const ctx: RequestContext = {
      event: e,
      startMs,
      recorded: false,
      reqHeaders: req.headers,
      resHeaders: null,
      req,
      res,
      scheme,
      peerIp: who.peerIp,
      peerTrusted: who.peerTrusted,
      target: req.url ?? '/',
      route: null,
      clientGone: false,
      finished: false,
      controller: null,
      bytesOut: 0,
      stripHeaders: this.stripHeaders,
      upstreamHeaders: null,
    };
    res.once('close', () => this.onClose(ctx));
    (req.socket as WithLastContext)[LAST_CONTEXT] = ctx;
    if (!this.deps.recorder.accepting) {
      this.fail(ctx, ERRORS.AUDIT_UNAVAILABLE, 'the audit spool cannot be written and on_audit_failure is reject');
      return;
    }
    const n = this.normalize(req, e, ctx.target);
    if (typeof n === 'string') {
      this.fail(ctx, ERRORS.BAD_REQUEST, n);
      return;
    }
    const blocked = this.clientGate.check(e);
    if (blocked && !blocked.allow) {
      this.fail(ctx, blocked.spec, blocked.reason, blocked.headers);
      return;
    }
    const route = this.router.match(e.host ?? '', n.matchPath, e.method ?? '');
    if (!route) {
      this.fail(ctx, ERRORS.NO_ROUTE, this.noRouteReason(e));
      return;
    }
    ctx.route = route;
    this.routed(e, route);
    ctx.target = backendTarget(route, n.target);
    const verdict = this.gates.get(route.id)!.check({ req, event: e, matchPath: n.matchPath, scheme });
    if (verdict instanceof Promise) {
      verdict.then(
        (v) => this.proceed(ctx, v),
        (err: Error) => this.fail(ctx, ERRORS.INTERNAL, `authorization failed: ${err.message}`),
      );
      return;
    }
    this.proceed(ctx, verdict);
  };

  /** After authorization: forward, or refuse with the verdict's status and headers. */
  private proceed(ctx: RequestContext, v: Verdict): void {
    if (ctx.recorded || ctx.clientGone) return; // the client left while we were deciding; its event is written
    if (!v.allow) {
      this.fail(ctx, v.spec, v.reason, v.headers);
      return;
    }
    ctx.upstreamHeaders = v.upstreamHeaders;
    forward(ctx, this.forwardDeps);
  }

  /** A WebSocket (or other Upgrade) handshake: one `websocket` event for the whole connection. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, scheme: 'http' | 'https'): void {
    const e = this.newEvent(socket as Socket, scheme);
    e.kind = 'websocket';
    const target: RecordTarget = { event: e, startMs: performance.now(), recorded: false, reqHeaders: req.headers, resHeaders: null };
    // Node removes its own error handler from an upgraded socket: without one, a reset while
    // authorization or the spool is pending would crash the process.
    socket.on('error', () => {});
    // A client that leaves before the tunnel starts: recorded once, and nothing is opened for it.
    let tunnelling = false;
    const gone = (): void => {
      if (tunnelling || target.recorded) return;
      e.termination = 'client_abort';
      e.reason = 'client closed the connection before the upgrade was decided';
      e.decision ??= 'error';
      this.deps.recorder.record(target, null);
    };
    socket.once('close', gone);
    const who = this.identify(req, e);
    if (!this.deps.recorder.accepting) {
      rejectUpgrade(socket, target, ERRORS.AUDIT_UNAVAILABLE, 'the audit spool cannot be written and on_audit_failure is reject', this.tunnelDeps);
      return;
    }
    const url = req.url ?? '/';
    const protocol = String(req.headers.upgrade ?? '').trim().toLowerCase();
    if (protocol !== 'websocket') {
      // h2c and other protocols would turn into a tunnel the gate no longer sees.
      rejectUpgrade(socket, target, ERRORS.BAD_REQUEST, `unsupported upgrade protocol ${JSON.stringify(protocol.slice(0, 32))} (only websocket is proxied)`, this.tunnelDeps);
      return;
    }
    const n = this.normalize(req, e, url);
    if (typeof n === 'string') {
      rejectUpgrade(socket, target, ERRORS.BAD_REQUEST, n, this.tunnelDeps);
      return;
    }
    const blocked = this.clientGate.check(e);
    if (blocked && !blocked.allow) {
      rejectUpgrade(socket, target, blocked.spec, blocked.reason, this.tunnelDeps, blocked.headers);
      return;
    }
    const route = this.router.match(e.host ?? '', n.matchPath, e.method ?? 'GET');
    if (!route) {
      rejectUpgrade(socket, target, ERRORS.NO_ROUTE, this.noRouteReason(e), this.tunnelDeps);
      return;
    }
    this.routed(e, route);
    const go = (v: Verdict): void => {
      if (target.recorded || socket.destroyed) return;
      if (!v.allow) {
        rejectUpgrade(socket, target, v.spec, v.reason, this.tunnelDeps, v.headers);
        return;
      }
      tunnelling = true;
      socket.off('close', gone);
      tunnel(
        { req, socket, head, event: e, target, route, ...who, scheme, path: backendTarget(route, n.target), stripHeaders: this.stripHeaders, upstreamHeaders: v.upstreamHeaders },
        this.tunnelDeps,
      );
    };
    const verdict = this.gates.get(route.id)!.check({ req, event: e, matchPath: n.matchPath, scheme });
    if (verdict instanceof Promise) {
      verdict.then(go, (err: Error) => rejectUpgrade(socket, target, ERRORS.INTERNAL, `authorization failed: ${err.message}`, this.tunnelDeps));
      return;
    }
    go(verdict);
  }

  /** CONNECT: Tollgate is a reverse proxy, not a tunnel. Refused with 405 and recorded like any request. */
  connect(req: IncomingMessage, socket: Duplex, scheme: 'http' | 'https'): void {
    const e = this.newEvent(socket as Socket, scheme);
    const target: RecordTarget = { event: e, startMs: performance.now(), recorded: false, reqHeaders: req.headers, resHeaders: null };
    this.identify(req, e);
    socket.on('error', () => {});
    rejectUpgrade(socket, target, ERRORS.METHOD_NOT_ALLOWED, `CONNECT ${(req.url ?? '').slice(0, 64)}: tunnels are not supported`, this.tunnelDeps, { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' });
  }

  /**
   * A request the HTTP parser refused (or that timed out) before it became an
   * IncomingMessage: recorded, then answered with the error and a fresh
   * request id (there are no headers to take one from) when someone is there.
   */
  clientError(socket: Socket, scheme: 'http' | 'https', refused: RefusedRequest): void {
    const { spec, head, respond } = refused;
    const e = this.newEvent(socket, scheme);
    // What the client managed to send, when it is printable: useful to see probing.
    if (head && head.length) {
      const firstLine = head.toString('latin1', 0, Math.min(head.length, 2048)).split('\r\n')[0];
      const m = /^([A-Z]{1,20}) (\S{1,2048}) HTTP\/(\d\.\d)$/.exec(firstLine);
      if (m) {
        e.method = m[1];
        ({ path: e.path, query: e.query } = splitTarget(m[2]));
        e.http_version = m[3];
      }
    }
    let startMs = performance.now();
    if (refused.waitedMs > 0) {
      // A timeout: the request began at least that long ago.
      startMs -= refused.waitedMs;
      e.ts = isoFromMs(Date.now() - refused.waitedMs);
    }
    e.status = spec ? spec.status : null;
    e.termination = spec ? spec.termination : 'client_abort';
    e.decision = 'error';
    e.reason = refused.reason;
    e.bytes_in = 0;
    e.bytes_out = 0;
    let response: string | null = null;
    if (spec && respond) {
      e.request_id = requestId();
      const body = errorBody(spec, e.request_id);
      e.bytes_out = Buffer.byteLength(body);
      response = rawErrorResponse(spec.status, body, { [this.requestIdHeader]: e.request_id });
    }
    const target: RecordTarget = { event: e, startMs, recorded: false, reqHeaders: null, resHeaders: null };
    this.deps.recorder.record(target, response !== null ? (ok) => (ok ? respond!(response) : socket.destroy()) : null);
  }

  /**
   * The request's body did not arrive within request_timeout (Node noticed, past the headers):
   * its own event records the 408, which is answered, and the backend exchange stops.
   */
  requestTimedOut(socket: Socket): boolean {
    const ctx = (socket as WithLastContext)[LAST_CONTEXT];
    if (ctx === undefined || ctx.req.complete) return false;
    if (ctx.recorded) {
      // Answered before its body was in (a 413, a 401 on an upload): that request has its event;
      // the rest of its body is not coming, so the connection goes.
      socket.destroy();
      return true;
    }
    ctx.controller?.abort(new ClientAbortError());
    ctx.controller = null;
    if (!ctx.res.headersSent) {
      this.fail(ctx, ERRORS.REQUEST_TIMEOUT, 'the request body did not arrive within request_timeout');
      return true;
    }
    // The backend's status is already on its way: the event keeps it, says why the exchange was cut, and the connection goes.
    const e = ctx.event;
    e.termination = 'request_timeout';
    e.reason = 'the request body did not arrive within request_timeout (during the response)';
    e.bytes_out = ctx.bytesOut;
    e.decision ??= 'error';
    this.deps.recorder.record(ctx, () => ctx.res.destroy());
    return true;
  }

  /** The response to the last request read on this connection while it is still being written, else null. */
  inFlightResponse(socket: Socket): ServerResponse | null {
    const res = (socket as WithLastContext)[LAST_CONTEXT]?.res;
    return res !== undefined && !res.writableFinished && !res.destroyed ? res : null;
  }

  /** Error exit: records the event, then sends a small JSON error with the request id. */
  fail(ctx: RequestContext, spec: ErrorSpec, reason: string, extraHeaders: Readonly<Record<string, string>> | null = null): void {
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
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(e.bytes_out),
      'cache-control': 'no-store',
      [this.requestIdHeader]: e.request_id ?? '',
    };
    if (extraHeaders) Object.assign(headers, extraHeaders);
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
