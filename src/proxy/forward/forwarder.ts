/**
 * The forward stage: sends the request to a backend chosen by the pool and
 * streams the response back, with retries on another server, timeouts, and
 * backpressure in both directions.
 *
 * The last response chunk is held back until the audit event is durable in
 * the spool (see Recorder): a client never receives a complete response whose
 * event could still be lost to a crash.
 *
 * Exits (each records exactly one event):
 *   backend answered          → status, termination ok
 *   no server available       → 503 upstream_unavailable
 *   connect failed (all tries)→ 502 upstream_error
 *   timeout before headers    → 504 upstream_timeout
 *   failure after headers     → connection closed, termination upstream_error/timeout
 *   client went away          → backend exchange aborted, termination client_abort
 *   body larger than allowed  → 413 request_too_large
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Dispatcher } from 'undici';
import { ERRORS, type ErrorSpec } from '../../core/errors.js';
import type { RequestContext } from '../context.js';
import type { BackendPool } from '../balance/pool.js';
import type { Upstream, FailureReason } from '../balance/upstream.js';
import { RequestPickContext } from '../balance/pick-context.js';
import { backendRequestHeaders, clientResponseHeaders } from './headers.js';
import { metrics } from '../metrics.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const TIMEOUT_ERRORS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'TG_TOTAL_TIMEOUT', 'TG_BACKEND_BODY_IDLE', 'ETIMEDOUT']);

export class BodyTooLargeError extends Error {
  readonly code = 'TG_BODY_TOO_LARGE';
  constructor(limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}
class TotalTimeoutError extends Error {
  readonly code = 'TG_TOTAL_TIMEOUT';
  constructor(ms: number) {
    super(`exchange exceeded the total timeout of ${ms} ms`);
  }
}
export class ClientAbortError extends Error {
  readonly code = 'TG_CLIENT_ABORT';
  constructor() {
    super('client closed the connection');
  }
}

/** The request body went silent for longer than `timeouts.idle`: the client stopped sending it, or the backend stopped reading it. */
class BodyIdleError extends Error {
  readonly code: 'TG_CLIENT_BODY_IDLE' | 'TG_BACKEND_BODY_IDLE';
  constructor(ms: number, clientStalled: boolean) {
    super(clientStalled ? `the client sent no request body for ${ms} ms (timeouts.idle)` : `the backend read no request body for ${ms} ms (timeouts.idle)`);
    this.code = clientStalled ? 'TG_CLIENT_BODY_IDLE' : 'TG_BACKEND_BODY_IDLE';
  }
}

/** Counts request body bytes, stops past the limit, and after `idleMs` without a byte. */
class BodyMeter extends Transform {
  bytes = 0;
  private idle: NodeJS.Timeout | null = null;
  constructor(
    private readonly limit: number,
    private readonly idleMs: number,
    private readonly source: IncomingMessage,
  ) {
    super();
    if (idleMs > 0) {
      this.idle = setTimeout(() => this.silent(), idleMs);
      this.idle.unref();
    }
  }
  private silent(): void {
    this.idle = null;
    // The source is paused while the backend is not reading (pipe's backpressure), or has ended
    // with bytes still waiting here for the backend: then it is the backend that stalled.
    this.destroy(new BodyIdleError(this.idleMs, !this.source.readableEnded && this.source.readableFlowing !== false));
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.idle?.refresh();
    this.bytes += chunk.length;
    if (this.bytes > this.limit) cb(new BodyTooLargeError(this.limit));
    else cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    this.stopTimer();
    cb();
  }
  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.stopTimer();
    cb(err);
  }
  private stopTimer(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
  }
}

/**
 * Errors that say nothing about the backend's health (our own limits, the
 * client, undici refusing the request): they never count towards ejection.
 */
const NOT_THE_BACKEND = new Set(['TG_TOTAL_TIMEOUT', 'TG_BODY_TOO_LARGE', 'TG_CLIENT_ABORT', 'TG_CLIENT_BODY_IDLE', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_INVALID_ARG', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_ABORTED']);

export interface ForwardDeps {
  requestIdHeader: string;
  maxBodySize: number;
  /** Finish the exchange with an error response (records the event). */
  fail(ctx: RequestContext, spec: ErrorSpec, reason: string): void;
  /** Record the event, then run `release` (complete the response) if the audit allows. */
  complete(ctx: RequestContext, release: (ok: boolean) => void): void;
}

function errCode(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code ?? e?.cause?.code ?? 'ERR';
}

function failureKind(code: string): FailureReason {
  if (TIMEOUT_ERRORS.has(code)) return 'timeout';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return 'reset';
  return 'connect';
}

export function forward(ctx: RequestContext, deps: ForwardDeps): void {
  const route = ctx.route!;
  const pool: BackendPool = route.pool;
  const req = ctx.req;
  const method = req.method ?? 'GET';
  const cl = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
  if (cl !== undefined && Number(cl) > deps.maxBodySize) {
    deps.fail(ctx, ERRORS.REQUEST_TOO_LARGE, `content-length ${cl} exceeds max_body_size ${deps.maxBodySize}`);
    return;
  }
  ctx.event.attempts = 0;
  let body: BodyMeter | null = null;
  const timeouts = pool.config.timeouts;
  if (hasBody) {
    body = new BodyMeter(deps.maxBodySize, timeouts.idle, req);
    req.pipe(body);
  } else {
    ctx.event.bytes_in = 0;
  }
  const retryable = !hasBody && IDEMPOTENT.has(method);
  const maxAttempts = 1 + (retryable ? pool.config.retries : 0);
  const headers = backendRequestHeaders(req.rawHeaders, req.headers, {
    peerIp: ctx.peerIp,
    peerTrusted: ctx.peerTrusted,
    scheme: ctx.scheme,
    host: req.headers.host,
    requestIdHeader: deps.requestIdHeader,
    requestId: ctx.event.request_id!,
    strip: ctx.stripHeaders,
    extra: ctx.upstreamHeaders,
  });
  const pick = new RequestPickContext(ctx.event.client_ip ?? ctx.peerIp, req.headers);
  let exclude: Set<Upstream> | null = null;
  let totalTimer: NodeJS.Timeout | null = null;
  let lastError: { code: string; message: string } | null = null;
  /** The total timeout passed before the backend exchange began (still connecting): answered 504, the attempt is dropped when undici gets to it. */
  let expired = false;

  const clearTotal = () => {
    if (totalTimer) clearTimeout(totalTimer);
    totalTimer = null;
  };
  if (timeouts.total > 0) {
    totalTimer = setTimeout(() => {
      totalTimer = null;
      if (ctx.controller) {
        ctx.controller.abort(new TotalTimeoutError(timeouts.total));
        return;
      }
      // Connecting: undici has no handle to abort yet (onRequestStart comes once the socket is open).
      expired = true;
      deps.fail(ctx, ERRORS.UPSTREAM_TIMEOUT, `${new TotalTimeoutError(timeouts.total).message} while connecting to ${ctx.event.upstream ?? 'the backend'} (after ${ctx.event.attempts} attempt(s))`);
    }, timeouts.total);
  }

  const attempt = (): void => {
    const u = pool.pick(pick, exclude ?? undefined);
    if (!u) {
      clearTotal();
      if (ctx.event.attempts === 0 || !lastError) {
        deps.fail(ctx, ERRORS.NO_HEALTHY_BACKEND, `no available server in pool ${pool.name} (${pool.availableCount()}/${pool.size} available)`);
      } else {
        const spec = TIMEOUT_ERRORS.has(lastError.code) ? ERRORS.UPSTREAM_TIMEOUT : ERRORS.UPSTREAM_CONNECT;
        deps.fail(ctx, spec, `${lastError.code}: ${lastError.message} (after ${ctx.event.attempts} attempt(s); no other server to retry)`);
      }
      return;
    }
    ctx.event.attempts = (ctx.event.attempts ?? 0) + 1;
    ctx.event.upstream = u.address;
    u.acquire();
    const sentAt = performance.now();
    let started = false;
    let held: Buffer | null = null;
    let expectedLength = -1;
    /** The response cannot have a body (204, 304, the answer to HEAD). */
    let bodiless = false;
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        u.release();
      }
    };
    const finish = (): void => {
      release();
      clearTotal();
      ctx.controller = null;
      if (ctx.clientGone) return; // the close handler records client_abort
      ctx.event.termination = 'ok';
      ctx.event.bytes_out = ctx.bytesOut;
      if (body) ctx.event.bytes_in = body.bytes;
      const last = held;
      held = null;
      deps.complete(ctx, (ok) => {
        if (!ok) {
          ctx.res.destroy();
          return;
        }
        ctx.finished = true;
        if (last) ctx.res.end(last);
        else ctx.res.end();
      });
    };
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(controller) {
        if (expired) {
          controller.abort(new TotalTimeoutError(timeouts.total));
          return;
        }
        ctx.controller = controller;
        if (ctx.clientGone) controller.abort(new ClientAbortError());
      },
      onResponseStart(controller, statusCode, resHeaders: IncomingHttpHeaders) {
        if (statusCode < 200) return; // 1xx informational: not forwarded
        started = true;
        const ms = performance.now() - sentAt;
        ctx.event.upstream_status = statusCode;
        ctx.event.upstream_ms = Math.round(ms * 1000) / 1000;
        metrics.upstreamResponded(pool.name, ms);
        if (statusCode >= 500) pool.reportFailure(u, 'status_5xx');
        else pool.reportSuccess(u);
        if (ctx.clientGone) {
          controller.abort(new ClientAbortError());
          return;
        }
        ctx.event.status = statusCode;
        ctx.resHeaders = resHeaders;
        const cl = resHeaders['content-length'];
        // 204 and 304 have no body whatever their Content-Length says (RFC 9110 §8.6), nor has the answer to HEAD.
        bodiless = statusCode === 204 || statusCode === 304 || method === 'HEAD';
        expectedLength = !bodiless && typeof cl === 'string' && /^\d+$/.test(cl) ? Number(cl) : -1;
        ctx.res.writeHead(statusCode, clientResponseHeaders(resHeaders, deps.requestIdHeader, ctx.event.request_id!));
      },
      onResponseData(controller, chunk) {
        if (ctx.clientGone) return;
        ctx.bytesOut += chunk.length;
        // Only the bytes that complete a Content-Length body are held until the
        // event is durable; a chunked body is completed by the terminator that
        // res.end() sends, so streaming responses flow without delay.
        if (expectedLength >= 0 && ctx.bytesOut >= expectedLength) {
          held = held ? Buffer.concat([held, chunk]) : chunk;
          return;
        }
        if (!ctx.res.write(chunk)) {
          controller.pause();
          ctx.res.once('drain', () => controller.resume());
        }
      },
      // An attempt past the total timeout is aborted in onRequestStart: only onResponseError follows.
      onResponseEnd: finish,
      onResponseError(_controller, err) {
        const code = errCode(err);
        // undici 7 (the last for Node 20) takes a 204/304 with a Content-Length for a truncated body;
        // the response is complete (undici 8 accepts it the same way and only drops the connection).
        if (started && bodiless && code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' && ctx.bytesOut === 0) {
          finish();
          return;
        }
        release();
        ctx.controller = null;
        if (expired) {
          // Answered 504 already; a server that could not be reached still counts against it.
          if (!NOT_THE_BACKEND.has(code)) pool.reportFailure(u, failureKind(code));
          return;
        }
        if (body) ctx.event.bytes_in = body.bytes;
        if (ctx.clientGone || code === 'TG_CLIENT_ABORT') {
          clearTotal();
          return; // recorded by the close handler
        }
        if (code === 'TG_BODY_TOO_LARGE' || code === 'TG_CLIENT_BODY_IDLE') {
          clearTotal();
          if (!started) {
            deps.fail(ctx, code === 'TG_BODY_TOO_LARGE' ? ERRORS.REQUEST_TOO_LARGE : ERRORS.REQUEST_TIMEOUT, err.message);
            return;
          }
        }
        if (!started) {
          if (!NOT_THE_BACKEND.has(code)) pool.reportFailure(u, failureKind(code));
          lastError = { code, message: err.message };
          const canRetry = retryable && CONNECT_ERRORS.has(code) && (ctx.event.attempts ?? 0) < maxAttempts;
          if (canRetry) {
            (exclude ??= new Set()).add(u);
            metrics.retried(pool.name);
            attempt();
            return;
          }
          clearTotal();
          const spec = TIMEOUT_ERRORS.has(code) ? ERRORS.UPSTREAM_TIMEOUT : CONNECT_ERRORS.has(code) ? ERRORS.UPSTREAM_CONNECT : ERRORS.UPSTREAM_ERROR;
          deps.fail(ctx, spec, `${code}: ${err.message} (after ${ctx.event.attempts} attempt(s))`);
          return;
        }
        // The response had started: it cannot be completed. Close the connection
        // so the client sees a truncated response, not a complete wrong one.
        clearTotal();
        if (!NOT_THE_BACKEND.has(code)) pool.reportFailure(u, failureKind(code));
        ctx.event.termination = code === 'TG_CLIENT_BODY_IDLE' ? 'request_timeout' : TIMEOUT_ERRORS.has(code) ? 'upstream_timeout' : 'upstream_error';
        ctx.event.decision = 'error';
        ctx.event.reason = `${code}: ${err.message} (after response start)`;
        ctx.event.bytes_out = ctx.bytesOut - (held ? held.length : 0);
        if (held && !ctx.res.writableEnded) ctx.res.write(held);
        held = null;
        deps.complete(ctx, () => ctx.res.destroy());
      },
    };
    try {
      u.dispatcher.dispatch(
        {
          path: ctx.target,
          method: method,
          headers,
          body,
          idempotent: retryable,
          headersTimeout: timeouts.response_headers,
          bodyTimeout: timeouts.idle,
        },
        handler,
      );
    } catch (err) {
      handler.onResponseError!(null as unknown as Dispatcher.DispatchController, err as Error);
    }
  };
  attempt();
}
