/**
 * The accept stage: HTTP and HTTPS listeners. Owns what Node's HTTP server
 * would otherwise answer on its own without telling anyone — malformed
 * requests, oversized heads, slow clients, a missing Host — so each of those
 * gets a 4xx *and* an audit event too.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { finished, type Duplex } from 'node:stream';
import type { Config, ListenerConfig } from '../../config/schema.js';
import { parseAddress } from '../../config/schema.js';
import { ERRORS, type ErrorSpec } from '../../core/errors.js';

export interface ListenerHandlers {
  request(req: http.IncomingMessage, res: http.ServerResponse, scheme: 'http' | 'https'): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, scheme: 'http' | 'https'): void;
  /** A CONNECT request: refused (405) and recorded. */
  connect(req: http.IncomingMessage, socket: Duplex, scheme: 'http' | 'https'): void;
  /** A request that never became an IncomingMessage (parser error, timeout). */
  clientError(socket: Socket, scheme: 'http' | 'https', refused: RefusedRequest): void;
  /** The last request on this connection is still receiving its body past request_timeout: answered 408 and recorded; false when there is none. */
  requestTimedOut(socket: Socket): boolean;
  /** The response to the last request on this connection while it is being written (pipelined ones complete in order), else null. */
  inFlightResponse(socket: Socket): http.ServerResponse | null;
}

/** A request the HTTP parser refused, or that did not arrive in time. */
export interface RefusedRequest {
  /** The error answered; null when the client hung up mid-request (nothing to answer). */
  spec: ErrorSpec | null;
  reason: string;
  /** The refused request's bytes as far as they were read, from its start (its first line is recorded when printable). */
  head: Buffer | undefined;
  /** How long the request had been arriving when it was refused: at least the headers timeout for a timeout, 0 otherwise. */
  waitedMs: number;
  /** Writes the complete error response and closes the connection; null when there is no one to answer. */
  respond: ((response: string) => void) | null;
}

export interface RunningListener {
  config: ListenerConfig;
  server: http.Server;
  address: { host: string; port: number };
  /**
   * For a reload that keeps this listener: reads its certificate files again
   * (renewed in place) and returns what puts them and `config.proxy`'s
   * timeouts and header limit in force. Throws, changing nothing, when a file
   * cannot be read.
   */
  prepare(config: Readonly<Config>): () => void;
  close(): Promise<void>;
}

function sniNames(certPem: string): string[] {
  try {
    const x = new X509Certificate(certPem);
    const names = (x.subjectAltName ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4).toLowerCase());
    const cn = /CN=([^\n,]+)/.exec(x.subject)?.[1];
    if (!names.length && cn) names.push(cn.toLowerCase());
    return names;
  } catch {
    return [];
  }
}

/** Builds the SNI selector: exact names first, then the longest wildcard, else the default (first) certificate. */
/**
 * @param clientCa CAs for client certificates (mTLS): every SNI context needs them,
 *   because the context picked by SNI is the one that verifies the client.
 */
export function createSniSelector(certs: NonNullable<ListenerConfig['tls']>['certificates'], clientCa?: Buffer): { defaultContext: tls.SecureContext; select(name: string): tls.SecureContext } {
  const exact = new Map<string, tls.SecureContext>();
  const wild: [string, tls.SecureContext][] = [];
  let def: tls.SecureContext | null = null;
  for (const c of certs) {
    const cert = readFileSync(c.cert, 'utf8');
    const key = readFileSync(c.key, 'utf8');
    const ctx = tls.createSecureContext(clientCa ? { cert, key, ca: clientCa } : { cert, key });
    def ??= ctx;
    for (const n of c.server_names ?? sniNames(cert)) {
      const name = n.toLowerCase();
      if (name.startsWith('*.')) wild.push([name.slice(1), ctx]);
      else if (!exact.has(name)) exact.set(name, ctx);
    }
  }
  wild.sort((a, b) => b[0].length - a[0].length);
  const defaultContext = def!;
  return {
    defaultContext,
    select(name: string) {
      const n = name.toLowerCase();
      const e = exact.get(n);
      if (e) return e;
      for (const [suffix, ctx] of wild) if (n.endsWith(suffix) && n.length > suffix.length) return ctx;
      return defaultContext;
    },
  };
}

/**
 * The refused request's bytes: the parser hands over the whole packet it was
 * reading, which may begin with earlier, pipelined requests (and their
 * bodies); the failed one starts after the last complete message before the
 * point of failure.
 */
function refusedBytes(err: NodeJS.ErrnoException): Buffer | undefined {
  const raw = (err as { rawPacket?: Buffer }).rawPacket;
  if (!raw || raw.length === 0) return raw;
  const at = Math.min(raw.length, (err as { bytesParsed?: number }).bytesParsed ?? 0);
  let start = 0;
  for (;;) {
    const next = messageEnd(raw, start);
    if (next === -1 || next > at) return start === 0 ? raw : raw.subarray(start);
    start = next;
  }
}

/**
 * Where the message starting at `start` of `raw` ends: past its head and its
 * body (Content-Length or chunked); -1 when it does not end within `raw`.
 * Only for messages the parser accepted, so their framing is known good.
 */
function messageEnd(raw: Buffer, start: number): number {
  const headEnd = raw.indexOf('\r\n\r\n', start);
  if (headEnd === -1) return -1;
  const head = raw.toString('latin1', start, headEnd);
  const body = headEnd + 4;
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
    // Chunks ("<hex size>[;ext]\r\n<data>\r\n"), a 0 chunk, trailers, an empty line.
    let at = body;
    for (;;) {
      const lineEnd = raw.indexOf('\r\n', at);
      if (lineEnd === -1) return -1;
      const size = Number.parseInt(raw.toString('latin1', at, lineEnd), 16);
      if (!Number.isFinite(size)) return -1;
      if (size === 0) {
        const end = raw.indexOf('\r\n\r\n', lineEnd);
        return end === -1 ? -1 : end + 4;
      }
      at = lineEnd + 2 + size + 2;
      if (at > raw.length) return -1;
    }
  }
  const length = /\r\ncontent-length:[ \t]*(\d{1,15})/i.exec(head);
  const end = body + (length ? Number(length[1]) : 0);
  return end > raw.length ? -1 : end;
}

/** How often Node looks for requests past their timeout: a quarter of it, between 0.1 and 1 s (Node's 30 s when there is none). */
function checkingInterval(timeoutMs: number): number {
  return timeoutMs > 0 ? Math.max(100, Math.min(1000, Math.floor(timeoutMs / 4))) : 30_000;
}

function classify(err: NodeJS.ErrnoException): ErrorSpec | null {
  const code = err.code ?? '';
  if (code === 'HPE_HEADER_OVERFLOW') return ERRORS.HEADERS_TOO_LARGE;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return ERRORS.REQUEST_TIMEOUT;
  if (code === 'HPE_INVALID_EOF_STATE') return null; // client hung up mid-request
  if (code.startsWith('HPE_')) return ERRORS.BAD_REQUEST;
  return null;
}

/** The TLS side of a listener, read from its files: the SNI selector and the options of the default context. */
function tlsSetup(t: NonNullable<ListenerConfig['tls']>): { sni: ReturnType<typeof createSniSelector>; clientCa: Buffer | undefined; context: tls.SecureContextOptions } {
  const clientCa = t.client_ca ? readFileSync(t.client_ca) : undefined;
  const sni = createSniSelector(t.certificates, clientCa);
  const first = t.certificates[0];
  return { sni, clientCa, context: { cert: readFileSync(first.cert), key: readFileSync(first.key), minVersion: t.min_version, ...(clientCa ? { ca: clientCa } : {}) } };
}

/** The headers timeout in force: never longer than the request timeout. */
function headersTimeoutOf(p: Config['proxy']): number {
  return Math.min(p.headers_timeout, p.request_timeout || p.headers_timeout);
}

export async function startListener(cfg: ListenerConfig, config: Readonly<Config>, h: ListenerHandlers): Promise<RunningListener> {
  const p = config.proxy;
  let headersTimeout = headersTimeoutOf(p);
  const options: http.ServerOptions = {
    requestTimeout: p.request_timeout,
    headersTimeout,
    keepAliveTimeout: p.keepalive_timeout,
    maxHeaderSize: p.max_header_size,
    // Node checks those two timeouts every 30 s by default, so a 10 s headers timeout fired after up to
    // 40 s; checking a few times per timeout keeps the 408 close to the configured time.
    connectionsCheckingInterval: checkingInterval(headersTimeout),
    noDelay: true,
    // We answer a missing Host ourselves, so that it is audited too.
    requireHostHeader: false,
  };
  const scheme: 'http' | 'https' = cfg.tls ? 'https' : 'http';
  let server: http.Server;
  let tlsNow: ReturnType<typeof tlsSetup> | null = null;
  if (cfg.tls) {
    tlsNow = tlsSetup(cfg.tls);
    server = https.createServer({
      ...options,
      ...tlsNow.context,
      // Through tlsNow at call time, so a reload's renewed certificates serve new handshakes.
      SNICallback: (name, cb) => cb(null, tlsNow!.sni.select(name)),
      // mTLS: ask for a client certificate; with `request`, an absent or unverified one is
      // left to the route's identities and policy (and recorded), not a handshake failure.
      ...(tlsNow.clientCa ? { requestCert: true, rejectUnauthorized: cfg.tls.client_auth === 'require' } : {}),
    });
  } else {
    server = http.createServer(options);
  }
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => h.request(req, res, scheme));
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => h.upgrade(req, socket, head, scheme));
  // CONNECT asks for a forward-proxy tunnel; without a listener Node drops the connection unrecorded.
  server.on('connect', (req: http.IncomingMessage, socket: Duplex) => h.connect(req, socket, scheme));
  /**
   * A connection's refused request is recorded and answered once. While its event is written and
   * its answer waits (`pending`), more errors from the same bytes (the rest of an oversized head,
   * the client's hang-up) change nothing; once answered, the connection is closed on any.
   */
  const refused = new WeakMap<Socket, 'pending' | 'answered'>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const state = refused.get(socket);
    if (state === 'pending') return;
    if (state === 'answered') {
      socket.destroy();
      return;
    }
    // Headers arrived but the body did not in time: that request's own event says so (408), not a second one.
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && h.requestTimedOut(socket)) {
      // Its answer (or the close) comes once its event is written; nothing else is this connection's to answer.
      refused.set(socket, 'pending');
      return;
    }
    // Pipelining: responses to earlier requests on this connection are still being written (they complete in order).
    const earlier = h.inFlightResponse(socket);
    const spec = classify(err);
    const head = refusedBytes(err);
    if (!spec) {
      refused.set(socket, 'answered');
      if (err.code === 'HPE_INVALID_EOF_STATE') h.clientError(socket, scheme, { spec: null, reason: `${err.code}: client closed the connection mid-request`, head, waitedMs: 0, respond: null });
      socket.destroy();
      return;
    }
    refused.set(socket, 'pending');
    const waitedMs = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? headersTimeout : 0;
    h.clientError(socket, scheme, {
      spec,
      reason: `${err.code}: ${err.message}`,
      head,
      waitedMs,
      respond: (response) => {
        const send = (): void => {
          refused.set(socket, 'answered');
          if (socket.writable) socket.end(response);
          else socket.destroy();
        };
        // The responses to earlier requests go first (finished() also calls back at once for one already done).
        if (earlier !== null) finished(earlier, send);
        else send();
      },
    });
  });
  if (cfg.tls) {
    // A failed TLS handshake never becomes a request; log-level visibility is enough.
    server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());
  }
  const addr = parseAddress(cfg.address)!;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: addr.host, port: addr.port, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : addr.port;
  return {
    config: cfg,
    server,
    address: { host: addr.host, port },
    prepare: (next) => {
      const renewed = cfg.tls ? tlsSetup(cfg.tls) : null;
      return () => {
        if (renewed) {
          tlsNow = renewed;
          (server as https.Server).setSecureContext(renewed.context);
        }
        // Read by Node for each new connection (header limit) and by its periodic check (timeouts).
        // The check's period stays as it started (checkingInterval: at most 1 s unless the timeout was 0), so a shorter timeout fires up to one period late.
        const q = next.proxy;
        headersTimeout = headersTimeoutOf(q);
        server.requestTimeout = q.request_timeout;
        server.headersTimeout = headersTimeout;
        server.keepAliveTimeout = q.keepalive_timeout;
        (server as http.Server & { maxHeaderSize?: number }).maxHeaderSize = q.max_header_size;
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
