/**
 * JSON POSTs for the HTTP notifiers, through one undici Agent per notifier
 * (its own connection limit and keep-alive pool, closed with the notifier).
 * Redirects are not followed: a webhook URL that redirects is a configuration
 * mistake, and following it would hand the body (and its signature or key) to
 * another host.
 *
 * Failures become NotifyErrors: network errors, timeouts, 408, 425, 429 and
 * 5xx are retryable; 3xx and the other 4xx are not (the same request would be
 * refused again). A `Retry-After` on 429/503 is passed on to the dispatcher.
 */
import { Agent, request } from 'undici';
import { NotifyError } from '../types.js';
import { DeliveryError, abortedError, attemptSignal, truncate } from './common.js';

/** How much of a response body is read (for error messages); the rest is discarded. */
const MAX_BODY = 4096;

export interface HttpAnswer {
  status: number;
  /** The start of the body (up to 4 KiB), as text. */
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export const USER_AGENT = 'tollgate-notifier/1';

export class HttpPoster {
  private readonly agent: Agent;
  private closed = false;

  constructor(
    private readonly timeoutMs: number,
    connections = 4,
  ) {
    this.agent = new Agent({
      connect: { timeout: timeoutMs },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connections,
      keepAliveTimeout: 4000,
    });
  }

  /**
   * POSTs `body` and returns the answer for any status; throws a NotifyError
   * only when no answer came (network error, timeout, abort). `what` names
   * the request in error messages (default: the URL without query).
   */
  async post(url: string, body: string, headers: Record<string, string>, signal: AbortSignal, what = `POST ${redact(url)}`): Promise<HttpAnswer> {
    if (this.closed) throw new NotifyError('notifier is closed', false);
    const attempt = attemptSignal(signal, this.timeoutMs);
    try {
      const res = await request(url, {
        dispatcher: this.agent,
        method: 'POST',
        headers: { 'user-agent': USER_AGENT, ...headers },
        body,
        signal: attempt.signal,
      });
      const text = await readSome(res.body);
      return { status: res.statusCode, body: text, headers: res.headers };
    } catch (err) {
      if (attempt.signal.aborted) throw abortedError(attempt.timedOut(), this.timeoutMs);
      throw new NotifyError(`${what} failed: ${describeError(err, this.timeoutMs)}`, true);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.close().catch(() => {});
  }
}

async function readSome(body: AsyncIterable<unknown> & { destroy(): unknown }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    chunks.push(b);
    size += b.length;
    if (size >= MAX_BODY) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8');
}

function describeError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT') return `timed out after ${timeoutMs} ms`;
  return e.code ?? e.cause?.code ?? e.message ?? String(err);
}

/** The URL for messages: scheme, host and path only (no query, no user info: they may hold secrets). */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/** Seconds or an HTTP date, as milliseconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(v: string | string[] | undefined, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || s.trim() === '') return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Whether a status means "try again later". */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/**
 * Throws the NotifyError for a non-2xx answer: retryable or not by status,
 * with a bit of the receiver's explanation. `what` names the receiver.
 */
export function checkAnswer(what: string, a: HttpAnswer): void {
  if (a.status >= 200 && a.status < 300) return;
  const detail = a.body.trim() ? `: ${truncate(a.body.trim().replace(/\s+/g, ' '), 200)}` : '';
  if (a.status >= 300 && a.status < 400) {
    throw new NotifyError(`${what} answered ${a.status} (redirects are not followed; check the URL)${detail}`, false);
  }
  const retryable = retryableStatus(a.status);
  const retryAfter = retryable ? parseRetryAfter(a.headers['retry-after']) : undefined;
  throw new DeliveryError(`${what} answered ${a.status}${detail}`, retryable, retryAfter);
}
