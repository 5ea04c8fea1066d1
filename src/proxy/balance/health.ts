/**
 * Active health checks: every `interval` (± 10% jitter, so servers and worker
 * processes don't all check in lock-step) each server gets `GET path`. A
 * healthy server turns unhealthy after `unhealthy_threshold` failures in a
 * row and back after `healthy_threshold` passes in a row.
 *
 * Servers start healthy, and the first check alone decides (as HAProxy does):
 * one failure marks a dead server at startup down at once instead of after
 * `unhealthy_threshold` intervals of failed traffic.
 *
 * Checks use a dedicated undici Client per server, not the server's traffic
 * dispatcher, because:
 *  - a busy dispatcher queues requests once `max_connections` are in use; a
 *    check stuck in that queue would time out and mark a loaded but working
 *    server unhealthy, and every check would take a slot from live traffic;
 *  - each check opens a fresh connection (`connection: close`), so it proves
 *    the server still accepts connections, can't lose the race with a server
 *    closing an idle keep-alive socket (a false failure), and leaves no socket
 *    open between checks.
 * Each server's checks run one after the other (the next is scheduled when
 * one ends), so a slow server never has more than one check in flight.
 */
import { Client } from 'undici';
import type { HealthCheckConfig } from '../../config/schema.js';
import type { HealthCheckRecord, Upstream } from './upstream.js';

export type StatusMatcher = (status: number) => boolean;

/**
 * Compiles `expect_status` (200, "2xx", "200-299") to a lookup table once.
 * Throws on entries outside 100-599 or ranges that run backwards.
 */
export function compileExpectStatus(entries: readonly (number | string)[]): StatusMatcher {
  const table = new Uint8Array(600);
  const mark = (from: number, to: number, entry: number | string) => {
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 100 || to > 599 || from > to)
      throw new Error(`invalid expect_status entry ${JSON.stringify(entry)}: use a code (200), a class ("2xx") or a range ("200-299") within 100-599`);
    table.fill(1, from, to + 1);
  };
  if (entries.length === 0) throw new Error('expect_status must list at least one status');
  for (const e of entries) {
    if (typeof e === 'number') {
      mark(e, e, e);
      continue;
    }
    const s = e.trim();
    let m: RegExpExecArray | null;
    if ((m = /^([1-5])xx$/i.exec(s))) mark(Number(m[1]) * 100, Number(m[1]) * 100 + 99, e);
    else if ((m = /^(\d{3})-(\d{3})$/.exec(s))) mark(Number(m[1]), Number(m[2]), e);
    else if (/^\d{3}$/.test(s)) mark(Number(s), Number(s), e);
    else mark(NaN, NaN, e);
  }
  return (status) => status >= 0 && status < 600 && table[status] === 1;
}

export interface HealthCheckerOptions {
  /** Upper bound for opening the connection (the pool's timeouts.connect); the check timeout applies too. */
  connectTimeout?: number;
  /** Called once each time a server flips; `upstream.healthy` is already updated. */
  onTransition?: (upstream: Upstream, healthy: boolean, reason: string) => void;
}

interface Target {
  upstream: Upstream;
  client: Client;
  host: string;
  passes: number;
  fails: number;
  timer: NodeJS.Timeout | null;
  inflight: AbortController | null;
}

const USER_AGENT = 'tollgate-health-check';

function errorText(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' && e.message ? e.message : String(err);
  const code = typeof e?.code === 'string' ? e.code : undefined;
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

export class HealthChecker {
  private readonly targets: Target[];
  private readonly matches: StatusMatcher;
  private started: Promise<void> | null = null;
  private closed = false;
  private readonly timeoutMs: number;

  constructor(
    upstreams: readonly Upstream[],
    private readonly cfg: HealthCheckConfig,
    private readonly opts: HealthCheckerOptions = {},
  ) {
    if (!(cfg.interval > 0)) throw new Error(`health_check.interval must be positive (got ${cfg.interval}ms)`);
    if (!(cfg.timeout > 0)) throw new Error(`health_check.timeout must be positive (got ${cfg.timeout}ms)`);
    // A check never outlives its interval: the default 2 s timeout shrinks to a shorter interval
    // (a timeout set longer than the interval is a config error).
    this.timeoutMs = Math.min(cfg.timeout, cfg.interval);
    this.matches = compileExpectStatus(cfg.expect_status);
    const connectTimeout = Math.min(opts.connectTimeout ?? this.timeoutMs, this.timeoutMs);
    this.targets = upstreams.map((upstream) => ({
      upstream,
      client: new Client(upstream.origin, {
        connect: { timeout: connectTimeout },
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        pipelining: 1,
      }),
      host: cfg.host ?? upstream.address,
      passes: 0,
      fails: 0,
      timer: null,
      inflight: null,
    }));
  }

  /**
   * Starts checking: a first round right away, then every interval. The
   * promise resolves (never rejects) when the first round has been applied,
   * so a caller may await it before taking traffic.
   */
  start(): Promise<void> {
    if (this.started) return this.started;
    this.started = Promise.all(this.targets.map((t) => this.round(t))).then(() => undefined);
    return this.started;
  }

  /** Stops all timers, aborts checks in flight and closes the clients. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.targets) {
      if (t.timer) clearTimeout(t.timer);
      t.timer = null;
      t.inflight?.abort();
    }
    await Promise.all(this.targets.map((t) => t.client.destroy()));
  }

  private async round(t: Target): Promise<void> {
    if (this.closed) return;
    const result = await this.check(t);
    if (this.closed) return;
    this.apply(t, result);
    const delay = this.cfg.interval * (0.9 + Math.random() * 0.2);
    t.timer = setTimeout(() => {
      t.timer = null;
      void this.round(t);
    }, delay);
    t.timer.unref();
  }

  /** One check; never throws. */
  private async check(t: Target): Promise<HealthCheckRecord> {
    const ts = Date.now();
    const t0 = performance.now();
    const ac = new AbortController();
    t.inflight = ac;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, this.timeoutMs);
    timer.unref();
    const done = (ok: boolean, status: number | null, error: string | null): HealthCheckRecord => ({
      ts,
      ok,
      status,
      error,
      duration_ms: Math.round((performance.now() - t0) * 1000) / 1000,
    });
    try {
      const res = await t.client.request({
        method: 'GET',
        path: this.cfg.path,
        headers: { host: t.host, 'user-agent': USER_AGENT },
        signal: ac.signal,
        reset: true,
      });
      // Read the body so the answer is complete; dump() stops (closing the
      // connection) past its limit, so a huge body can't hold the check.
      await res.body.dump({ limit: 64 * 1024, signal: ac.signal });
      return done(this.matches(res.statusCode), res.statusCode, null);
    } catch (err) {
      return done(false, null, timedOut ? `timeout after ${this.timeoutMs}ms` : errorText(err));
    } finally {
      clearTimeout(timer);
      t.inflight = null;
    }
  }

  private apply(t: Target, r: HealthCheckRecord): void {
    const u = t.upstream;
    const first = u.lastCheck === null;
    u.lastCheck = r;
    if (r.ok) {
      t.passes++;
      t.fails = 0;
      if (!u.healthy && t.passes >= this.cfg.healthy_threshold) {
        u.healthy = true;
        this.opts.onTransition?.(u, true, `health check passed ${t.passes} time(s) in a row (status ${r.status})`);
      }
    } else {
      t.fails++;
      t.passes = 0;
      if (u.healthy && (first || t.fails >= this.cfg.unhealthy_threshold)) {
        u.healthy = false;
        const what = r.status !== null ? `status ${r.status}` : r.error;
        this.opts.onTransition?.(u, false, first ? `first health check failed (${what})` : `health check failed ${t.fails} time(s) in a row (${what})`);
      }
    }
  }
}
