/**
 * A backend pool: its servers (Upstream), the balancer that picks among them,
 * active health checks and passive outlier ejection from live traffic.
 *
 * Outlier ejection: `consecutive_failures` failed attempts in a row eject a
 * server for base_ejection * 2^ejectionCount, capped at max_ejection. A
 * success resets the run. The doubling forgets: a server that stayed clean for
 * longer than max_ejection since its last ejection starts again from
 * base_ejection, so one bad hour doesn't cost it the maximum forever.
 *
 * State changes (healthy / unhealthy / ejected) are reported through
 * onStateChange exactly once per transition: the pool remembers the state it
 * last reported for each server and reports only differences. An ejection
 * ends by the clock alone (see Upstream.isAvailable); the one-shot timer set
 * at ejection only makes the "back" transition reported on time for logs and
 * metrics, even when no request touches that server.
 */
import type { PoolConfig } from '../../config/schema.js';
import { createBalancer, type Balancer, type PickContext } from './balancers.js';
import { HealthChecker } from './health.js';
import { Upstream, type FailureReason, type UpstreamState } from './upstream.js';

export type StateChangeListener = (pool: string, upstream: Upstream, from: UpstreamState, to: UpstreamState, reason: string) => void;

export interface BackendPoolOptions {
  /** Called once per state transition of a server (for logs and metrics). */
  onStateChange?: StateChangeListener;
}

export type { ServerSnapshot, PoolSnapshot } from './snapshot.js';
import type { ServerSnapshot, PoolSnapshot } from './snapshot.js';

export class BackendPool {
  readonly name: string;
  readonly config: PoolConfig;
  readonly upstreams: readonly Upstream[];
  readonly balancer: Balancer;
  private readonly health: HealthChecker | null;
  private readonly onStateChange: StateChangeListener | undefined;
  /** Upstream → index into the per-server arrays below. */
  private readonly index = new Map<Upstream, number>();
  /** The state last reported through onStateChange, per server. */
  private readonly reported: UpstreamState[];
  private readonly ejectTimers: (NodeJS.Timeout | null)[];
  private closing: Promise<void> | null = null;

  constructor(name: string, cfg: PoolConfig, opts: BackendPoolOptions = {}) {
    if (cfg.servers.length === 0) throw new Error(`pool "${name}": a pool needs at least one server`);
    const o = cfg.outlier;
    if (!(o.consecutive_failures >= 1)) throw new Error(`pool "${name}": outlier.consecutive_failures must be at least 1`);
    if (!(o.base_ejection >= 0) || !(o.max_ejection >= o.base_ejection)) throw new Error(`pool "${name}": outlier.max_ejection must be at least base_ejection`);
    this.name = name;
    this.config = cfg;
    this.onStateChange = opts.onStateChange;
    const upstreams = cfg.servers.map((s) => new Upstream(s, cfg));
    try {
      this.balancer = createBalancer(cfg.algorithm, upstreams, cfg);
      this.health = cfg.health_check
        ? new HealthChecker(upstreams, cfg.health_check, {
            connectTimeout: cfg.timeouts.connect,
            onTransition: (u, _healthy, reason) => this.sync(u, reason),
          })
        : null;
    } catch (err) {
      // No connection is open yet; destroying just releases the objects.
      for (const u of upstreams) void u.dispatcher.destroy().catch(() => undefined);
      throw new Error(`pool "${name}": ${(err as Error).message}`, { cause: err });
    }
    this.upstreams = upstreams;
    upstreams.forEach((u, i) => this.index.set(u, i));
    this.reported = upstreams.map(() => 'healthy');
    this.ejectTimers = upstreams.map(() => null);
  }

  /**
   * Picks a server for one attempt, or null when none is available (answer
   * 503). `exclude` holds the servers earlier attempts of this request used.
   * The caller brackets the attempt with upstream.acquire()/release() and
   * reports the outcome with reportSuccess/reportFailure.
   */
  pick(ctx: PickContext, exclude?: ReadonlySet<Upstream>): Upstream | null {
    return this.balancer.pick(ctx, exclude);
  }

  /** The server answered (any status that is not a counted failure). */
  reportSuccess(u: Upstream): void {
    const i = this.indexOf(u);
    u.consecutiveFailures = 0;
    // Hot path: only a server last reported as not healthy can have changed.
    if (this.reported[i] !== 'healthy') this.sync(u, 'ejection ended');
  }

  /**
   * An attempt failed. `now` is for tests; callers leave it out. Failures
   * while the server is already ejected (requests sent before the ejection)
   * neither extend it nor count toward the next one.
   */
  reportFailure(u: Upstream, reason: FailureReason, now: number = Date.now()): void {
    const i = this.indexOf(u);
    u.failures++;
    if (this.reported[i] !== 'healthy') this.sync(u, 'ejection ended', now);
    if (reason === 'status_5xx' && !this.config.outlier.count_5xx) return;
    if (u.ejectedUntil > now) return;
    u.consecutiveFailures++;
    if (u.consecutiveFailures >= this.config.outlier.consecutive_failures) this.eject(u, i, reason, now);
  }

  /** Number of servers in the pool, available or not. */
  get size(): number {
    return this.upstreams.length;
  }

  /** Servers a pick could return right now. */
  availableCount(now: number = Date.now()): number {
    let n = 0;
    for (const u of this.upstreams) {
      this.sync(u, 'ejection ended', now);
      if (u.isAvailable(now)) n++;
    }
    return n;
  }

  /** The server with this config address, if it belongs to the pool. */
  upstream(address: string): Upstream | undefined {
    return this.upstreams.find((u) => u.address === address);
  }

  /** A JSON-serializable view for the admin API. */
  snapshot(now: number = Date.now()): PoolSnapshot {
    const servers = this.upstreams.map((u): ServerSnapshot => {
      this.sync(u, 'ejection ended', now);
      const c = u.lastCheck;
      return {
        address: u.address,
        weight: u.weight,
        state: u.state(now),
        healthy: u.healthy,
        ejected_until: u.ejectedUntil > now ? new Date(u.ejectedUntil).toISOString() : null,
        consecutive_failures: u.consecutiveFailures,
        outstanding: u.outstanding,
        requests: u.requests,
        failures: u.failures,
        last_check: c ? { ts: new Date(c.ts).toISOString(), ok: c.ok, status: c.status, error: c.error, duration_ms: c.duration_ms } : null,
      };
    });
    return {
      name: this.name,
      algorithm: this.config.algorithm,
      servers,
      available: servers.reduce((n, s, i) => n + (this.upstreams[i].isAvailable(now) ? 1 : 0), 0),
      total: servers.length,
    };
  }

  /**
   * Begins active health checks (when configured) with an immediate first
   * round. Resolves, never rejects, once that round is applied.
   */
  start(): Promise<void> {
    if (this.closing) return Promise.resolve();
    return this.health ? this.health.start() : Promise.resolve();
  }

  /**
   * Stops health checks and ejection timers and closes every connection pool,
   * waiting for requests in flight to finish. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (let i = 0; i < this.ejectTimers.length; i++) {
        const t = this.ejectTimers[i];
        if (t) clearTimeout(t);
        this.ejectTimers[i] = null;
      }
      await this.health?.close();
      await Promise.all(this.upstreams.map((u) => u.dispatcher.close()));
    })();
    return this.closing;
  }

  private indexOf(u: Upstream): number {
    const i = this.index.get(u);
    if (i === undefined) throw new Error(`upstream ${u.address} does not belong to pool "${this.name}"`);
    return i;
  }

  private eject(u: Upstream, i: number, reason: FailureReason, now: number): void {
    const { base_ejection, max_ejection } = this.config.outlier;
    if (u.ejectionCount > 0 && now - u.ejectedUntil > max_ejection) u.ejectionCount = 0;
    const duration = Math.min(base_ejection * 2 ** u.ejectionCount, max_ejection);
    const failures = u.consecutiveFailures;
    u.ejectedUntil = now + duration;
    u.ejectionCount++;
    u.consecutiveFailures = 0;
    this.sync(u, `outlier: ${failures} consecutive failures (last: ${reason}), ejected for ${duration}ms`, now);
    const prev = this.ejectTimers[i];
    if (prev) clearTimeout(prev);
    if (this.closing) return;
    // Report the return on time; +1 because the ejection covers ejectedUntil itself.
    const timer = setTimeout(() => {
      this.ejectTimers[i] = null;
      this.sync(u, 'ejection ended');
    }, Math.max(0, u.ejectedUntil - Date.now()) + 1);
    timer.unref();
    this.ejectTimers[i] = timer;
  }

  /** Reports the server's state if it differs from the one last reported. */
  private sync(u: Upstream, reason: string, now: number = Date.now()): void {
    const i = this.indexOf(u);
    const to = u.state(now);
    const from = this.reported[i];
    if (from === to) return;
    this.reported[i] = to;
    if (!this.onStateChange) return;
    try {
      this.onStateChange(this.name, u, from, to, reason);
    } catch (err) {
      // A faulty listener must not break request handling or health checks.
      process.emitWarning(`onStateChange listener of pool "${this.name}" threw: ${(err as Error)?.message ?? String(err)}`);
    }
  }
}
