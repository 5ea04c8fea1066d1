/**
 * WebSocket (and other Upgrade) tunnelling. The handshake is forwarded to a
 * backend over a fresh TCP (or TLS) connection; once the backend answers, the
 * two sockets are spliced. One audit event (kind `websocket`) covers the whole
 * connection: it is recorded when either side closes, with the duration and
 * the bytes each way.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { ERRORS, errorBody, rawErrorResponse, type ErrorSpec } from '../../core/errors.js';
import type { AuditEvent } from '../../core/event.js';
import type { BackendPool } from '../balance/pool.js';
import { RequestPickContext } from '../balance/pick-context.js';
import type { Upstream } from '../balance/upstream.js';
import type { CompiledRoute } from '../route/router.js';
import { backendRequestHeaders } from './headers.js';
import type { RecordTarget } from '../record/recorder.js';

export interface TunnelDeps {
  requestIdHeader: string;
  record(t: RecordTarget, done: ((ok: boolean) => void) | null): void;
}

export interface TunnelRequest {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  event: AuditEvent;
  target: RecordTarget;
  route: CompiledRoute<BackendPool>;
  peerIp: string;
  peerTrusted: boolean;
  scheme: 'http' | 'https';
  path: string;
  stripHeaders: ReadonlySet<string> | null;
  upstreamHeaders: Readonly<Record<string, string>> | null;
}

/** After the client half-closes a tunnel, how long the backend may take to close its side. */
const HALF_CLOSE_GRACE_MS = 5000;

/** Writes a plain HTTP error on a raw socket after the event is recorded. */
export function rejectUpgrade(socket: Duplex, t: RecordTarget, spec: ErrorSpec, reason: string, deps: TunnelDeps, headers: Readonly<Record<string, string>> | null = null): void {
  const e = t.event;
  e.status = spec.status;
  e.termination = spec.termination;
  e.decision = spec.decision;
  e.reason = reason;
  const body = errorBody(spec, e.request_id ?? '');
  e.bytes_out = Buffer.byteLength(body);
  e.bytes_in = 0;
  deps.record(t, (ok) => {
    if (!ok || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(rawErrorResponse(spec.status, body, { ...headers, [deps.requestIdHeader]: e.request_id ?? '' }));
  });
}

/** Largest backend response head read before the upgrade is decided. */
const MAX_RESPONSE_HEAD = 64 * 1024;

export function tunnel(r: TunnelRequest, deps: TunnelDeps): void {
  const { req, socket, head, event: e, route } = r;
  const pool = route.pool;
  const timeouts = pool.config.timeouts;
  const exclude = new Set<Upstream>();
  const pick = new RequestPickContext(e.client_ip ?? r.peerIp, req.headers);
  let clientBytes = head.length;
  let serverBytes = 0;
  let closed = false;
  const lines: string[] = [`${req.method ?? 'GET'} ${r.path} HTTP/1.1`];
  const hdrs = backendRequestHeaders(req.rawHeaders, req.headers, {
    peerIp: r.peerIp,
    peerTrusted: r.peerTrusted,
    scheme: r.scheme,
    host: req.headers.host,
    requestIdHeader: deps.requestIdHeader,
    requestId: e.request_id!,
    upgrade: true,
    strip: r.stripHeaders,
    extra: r.upstreamHeaders,
  });
  for (let i = 0; i < hdrs.length; i += 2) lines.push(`${hdrs[i]}: ${hdrs[i + 1].replace(/[\r\n]/g, '')}`);
  const requestHead = lines.join('\r\n') + '\r\n\r\n';

  socket.on('error', () => {});
  const wanted = String(req.headers.upgrade ?? '').trim().toLowerCase();
  /** What the client closing means for the attempt under way. */
  let onClientClose: (() => void) | null = null;
  socket.once('close', () => {
    if (!closed) onClientClose?.();
  });
  const attempt = (): void => {
    const u = pool.pick(pick, exclude);
    if (!u) {
      rejectUpgrade(socket, r.target, e.attempts ? ERRORS.UPSTREAM_CONNECT : ERRORS.NO_HEALTHY_BACKEND, e.attempts ? 'could not connect to any server for the upgrade' : `no available server in pool ${pool.name}`, deps);
      return;
    }
    e.attempts = (e.attempts ?? 0) + 1;
    e.upstream = u.address;
    const started = performance.now();
    u.acquire();
    const up: net.Socket = u.tls ? tls.connect({ host: u.host, port: u.port, servername: net.isIP(u.host) ? undefined : u.host, rejectUnauthorized: false }) : net.connect({ host: u.host, port: u.port });
    up.setNoDelay(true);
    const connectTimer = setTimeout(() => up.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), timeouts.connect);
    let connected = false;
    let statusSeen = false;
    /** This attempt failed to connect and was given up (retried or answered): its socket's later events mean nothing. */
    let over = false;
    const finish = (termination: string, reason: string | null) => {
      if (closed || over) return;
      closed = true;
      over = true;
      clearTimeout(connectTimer);
      u.release();
      e.termination = termination;
      if (reason) e.reason = reason;
      e.bytes_in = clientBytes;
      e.bytes_out = serverBytes;
      socket.destroy();
      up.destroy();
      deps.record(r.target, null);
    };
    up.once(u.tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      up.write(requestHead);
      if (head.length) up.write(head);
    });
    // Nothing from the client reaches the backend until the backend has switched protocols:
    // a backend that ignores Upgrade and keeps the connection alive would otherwise get
    // every later request on this socket unchecked (request smuggling past the gate).
    let mode: 'head' | 'tunnel' | 'body' | 'done' = 'head';
    let pending = Buffer.alloc(0);
    let bodyLeft = 0;
    const relay = (d: Buffer) => {
      serverBytes += d.length;
      if (!socket.write(d)) {
        up.pause();
        socket.once('drain', () => up.resume());
      }
    };
    const endAfterFlush = (termination: string) => {
      mode = 'done';
      socket.end(() => finish(termination, null));
    };
    const forwardBody = (d: Buffer) => {
      const chunk = d.subarray(0, bodyLeft);
      bodyLeft -= chunk.length;
      if (chunk.length) relay(chunk);
      if (bodyLeft <= 0) endAfterFlush('ok');
    };
    /**
     * The backend answered the handshake without switching protocols: pass its answer on
     * when its length is known, then close both connections; never join them.
     */
    const refused = (status: number | null, responseHead: string, rest: Buffer) => {
      e.reason = `backend refused the upgrade (status ${status ?? 'unreadable'})`;
      const len = /^content-length:[ \t]*(\d+)[ \t]*$/im.exec(responseHead)?.[1];
      if (status === null || status === 101 || len === undefined || /^transfer-encoding:/im.test(responseHead)) {
        if (status === 101) e.reason = `backend switched to another protocol than the one requested (${wanted})`;
        e.status = 502;
        const body = errorBody(ERRORS.UPSTREAM_ERROR, e.request_id ?? '');
        relay(Buffer.from(rawErrorResponse(502, body, { [deps.requestIdHeader]: e.request_id ?? '' })));
        endAfterFlush('upstream_error');
        return;
      }
      const headLines = responseHead.split('\r\n').filter((l) => !/^(connection|keep-alive):/i.test(l));
      relay(Buffer.from(headLines.join('\r\n') + '\r\nConnection: close\r\n\r\n', 'latin1'));
      mode = 'body';
      bodyLeft = Number(len);
      forwardBody(rest);
    };
    up.on('data', (d: Buffer) => {
      if (mode === 'tunnel') return relay(d);
      if (mode === 'body') return forwardBody(d);
      if (mode === 'done') return;
      pending = Buffer.concat([pending, d]);
      const end = pending.indexOf('\r\n\r\n');
      if (end === -1) {
        if (pending.length > MAX_RESPONSE_HEAD) finish('upstream_error', 'backend response head too large');
        return;
      }
      statusSeen = true;
      const responseHead = pending.toString('latin1', 0, end);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(responseHead);
      const status = m ? Number(m[1]) : null;
      e.status = status;
      e.upstream_status = status;
      e.upstream_ms = Math.round((performance.now() - started) * 1000) / 1000;
      if (status !== null && status >= 500) pool.reportFailure(u, 'status_5xx');
      else pool.reportSuccess(u);
      const upgraded = /^upgrade:[ \t]*([^\r\n]*)$/im.exec(responseHead)?.[1].trim().toLowerCase();
      if (status === 101 && upgraded === wanted) {
        mode = 'tunnel';
        relay(pending);
        socket.on('data', (c: Buffer) => {
          clientBytes += c.length;
        });
        socket.pipe(up);
        // Silence both ways (the client socket sees every byte of the tunnel, read or written).
        const client = socket as Duplex & Partial<Pick<net.Socket, 'setTimeout'>>;
        if (timeouts.tunnel > 0) client.setTimeout?.(timeouts.tunnel, () => finish('upstream_timeout', `tunnel idle for ${timeouts.tunnel / 1000} s`));
        // The client closed its side (FIN), which the pipe passes on: the backend has a moment to close too.
        socket.once('end', () => {
          setTimeout(() => finish('ok', `client closed its side; the backend did not close within ${HALF_CLOSE_GRACE_MS / 1000} s`), HALF_CLOSE_GRACE_MS).unref();
        });
        return;
      }
      refused(status, responseHead, pending.subarray(end + 4));
    });
    /** The backend closed (or failed) after connecting and before its answer: the client gets a 502. */
    const closedBeforeAnswer = (reason: string): boolean => {
      if (mode !== 'head' || statusSeen || !connected || closed || over) return false;
      closed = true;
      over = true;
      u.release();
      pool.reportFailure(u, 'reset');
      up.destroy();
      rejectUpgrade(socket, r.target, ERRORS.UPSTREAM_ERROR, reason, deps);
      return true;
    };
    up.on('end', () => {
      if (closedBeforeAnswer('the backend closed the connection before answering the upgrade')) return;
      if (mode !== 'done') finish('ok', null);
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      if (over) return;
      if (!connected && !closed) {
        over = true;
        u.release();
        pool.reportFailure(u, err.code === 'UND_ERR_CONNECT_TIMEOUT' ? 'timeout' : 'connect');
        exclude.add(u);
        if ((e.attempts ?? 0) <= pool.config.retries) {
          attempt();
          return;
        }
        closed = true;
        rejectUpgrade(socket, r.target, err.code === 'UND_ERR_CONNECT_TIMEOUT' ? ERRORS.UPSTREAM_TIMEOUT : ERRORS.UPSTREAM_CONNECT, `${err.code ?? 'ERR'}: ${err.message}`, deps);
        return;
      }
      if (closedBeforeAnswer(`${err.code ?? 'ERR'}: ${err.message} (before the backend answered the upgrade)`)) return;
      finish('upstream_error', `${err.code ?? 'ERR'}: ${err.message}`);
    });
    up.on('close', () => {
      if (closedBeforeAnswer('the backend closed the connection before answering the upgrade')) return;
      if (mode !== 'done') finish('ok', null);
    });
    onClientClose = () => {
      if (!connected) finish('client_abort', 'client closed before the backend connection was established');
      else finish(statusSeen ? 'ok' : 'client_abort', statusSeen ? null : 'client closed before the backend answered the upgrade');
    };
  };
  attempt();
}
