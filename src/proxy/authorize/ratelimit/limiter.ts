/**
 * Rate limits of routes: compiles `access.rate_limits` entries, decides
 * requests against a local store or Redis (with the configured fallback when
 * Redis is unreachable), builds the RateLimit-* response headers and keeps the
 * rate-limit metrics.
 *
 * Local mode answers synchronously; Redis mode answers with a promise, except
 * when the connection is known to be down, where the fallback answers at once.
 *
 * Headers follow draft-ietf-httpapi-ratelimit-headers-06 ("RateLimit Fields
 * for HTTP"): RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset (delta
 * seconds) and RateLimit-Policy (`<quota>;w=<window seconds>`, with the
 * `burst` extension parameter).
 */
import client from 'prom-client';
import type { AccessConfig, RateLimitConfig } from '../../../config/access-schema.js';
import { emissionInterval, type GcraLimit, type GcraResult } from './gcra.js';
import { LocalLimiterStore } from './local.js';
import { RedisLimiterStore, type RedisDecision } from './redis.js';

export type RateLimitStorageConfig = AccessConfig['rate_limit'];

export type Degraded = null | 'fallback_local' | 'fallback_allow' | 'fallback_deny';

export interface LimitResult {
  /**
   * The verdict of the limit. For a shadow limit (`limit.shadow`) false means
   * "would have refused": the caller records it and lets the request through.
   */
  allowed: boolean;
  /** Requests allowed at once when rested: burst + 1. */
  limit: number;
  remaining: number;
  /** Seconds until the key is fully rested. */
  resetSeconds: number;
  /** Seconds until a request would be allowed (at least 1 when refused, else 0). */
  retryAfterSeconds: number;
  /** Set when Redis was unreachable and the fallback decided. */
  degraded: Degraded;
}

export interface CompiledLimit extends GcraLimit {
  readonly id: string;
  readonly by: RateLimitConfig['by'];
  readonly rate: number;
  readonly perMs: number;
  readonly burst: number;
  /** per / rate (ms). */
  readonly emissionMs: number;
  /** burst + 1: what RateLimit-Limit says. */
  readonly limit: number;
  /** RateLimit-Policy value, e.g. "10;w=1;burst=5". */
  readonly policy: string;
  readonly shadow: boolean;
  /** Methods counted (null: all). */
  readonly methods: ReadonlySet<string> | null;
  /** Path patterns counted, as written in the configuration (null: all). */
  readonly paths: readonly string[] | null;
}

export interface RouteLimits {
  routeId: string;
  limits: readonly RateLimitConfig[];
}

export interface RateLimiterHealth {
  mode: 'local' | 'redis';
  redis: 'up' | 'down' | null;
  lastError: string | null;
  since: string | null;
}

export interface RateLimiterOptions {
  /** Clock for local decisions (ms); Redis mode uses the Redis server's clock. */
  now?: () => number;
  /** Longest wait between Redis reconnection attempts (ms). */
  maxReconnectDelayMs?: number;
}

// ---------------------------------------------------------------- compile

/**
 * The RateLimit-Policy quota item for `rate` per `perMs`. The draft wants an
 * integer quota over an integer number of seconds, so the window is stretched
 * to a whole multiple of seconds where rate × window is whole (0.5/s becomes
 * "1;w=2", 5 per 500ms becomes "10;w=1"); when none is found within 60
 * multiples, the quota is rounded down (never advertising more than allowed).
 */
export function policyString(rate: number, perMs: number, burst: number): string {
  const base = Math.max(1, Math.ceil(perMs / 1000 - 1e-9));
  let quota = 0;
  let window = base;
  for (let m = 1; m <= 60; m++) {
    const w = base * m;
    const q = (rate * w * 1000) / perMs;
    const rounded = Math.round(q);
    if (rounded >= 1 && Math.abs(q - rounded) < 1e-9 * Math.max(1, q)) {
      quota = rounded;
      window = w;
      break;
    }
  }
  if (quota === 0) quota = Math.max(1, Math.floor((rate * base * 1000) / perMs));
  return burst > 0 ? `${quota};w=${window};burst=${burst}` : `${quota};w=${window}`;
}

export function compileLimit(cfg: RateLimitConfig): CompiledLimit {
  return {
    id: cfg.id,
    by: cfg.by,
    rate: cfg.rate,
    perMs: cfg.per,
    burst: cfg.burst,
    emissionMs: emissionInterval(cfg.rate, cfg.per),
    limit: cfg.burst + 1,
    policy: policyString(cfg.rate, cfg.per, cfg.burst),
    shadow: cfg.shadow,
    methods: cfg.methods && cfg.methods.length ? new Set(cfg.methods) : null,
    paths: cfg.paths && cfg.paths.length ? cfg.paths : null,
  };
}

// ---------------------------------------------------------------- headers

/**
 * Response headers for a decision. A shadow limit gets none: it is not
 * enforced, and advertising it would make well-behaved clients throttle
 * themselves, hiding the traffic the shadow limit is there to measure. When
 * the fallback let the request through unchecked, only the static fields are
 * sent — the remaining quota is unknown.
 */
export function responseHeaders(result: LimitResult, limit: CompiledLimit): Record<string, string> {
  if (limit.shadow) return {};
  if (result.degraded === 'fallback_allow') return { 'RateLimit-Limit': String(result.limit), 'RateLimit-Policy': limit.policy };
  const h: Record<string, string> = {
    'RateLimit-Limit': String(result.limit),
    'RateLimit-Remaining': String(result.remaining),
    'RateLimit-Reset': String(result.resetSeconds),
    'RateLimit-Policy': limit.policy,
  };
  if (!result.allowed) h['Retry-After'] = String(Math.max(1, result.retryAfterSeconds));
  return h;
}

// ---------------------------------------------------------------- metrics

// Registered once per process in prom-client's global registry, like
// src/proxy/metrics.ts, so cluster aggregation sees them.
const decisions = new client.Counter({
  name: 'tollgate_ratelimit_decisions_total',
  help: 'Rate-limit decisions, by route, limit and result (shadow: a shadow limit would have refused).',
  labelNames: ['route', 'limit', 'result'] as const,
});
const fallbacks = new client.Counter({
  name: 'tollgate_ratelimit_fallback_total',
  help: 'Rate-limit decisions taken by the configured fallback because Redis was unreachable, by fallback.',
  labelNames: ['fallback'] as const,
});
const evictions = new client.Counter({
  name: 'tollgate_ratelimit_evictions_total',
  help: 'Live rate-limit counters dropped from memory because max_keys was reached.',
});
/** Redis stores of open limiters; the gauge reads them at scrape time. */
const redisStores = new Set<RedisLimiterStore>();
new client.Gauge({
  name: 'tollgate_ratelimit_redis_up',
  help: '1 when Redis for shared rate limits answers (also 1 when no Redis is configured: nothing is down), 0 when it does not.',
  // In cluster mode one worker cut off from Redis must show as 0.
  aggregator: 'min',
  collect() {
    let up = 1;
    for (const s of redisStores) if (s.health().state !== 'up') up = 0;
    this.set(up);
  },
});

type Inc = { inc(): void };
/** What a decision needs per (route, limit), made once: metric children and key prefixes. */
interface Entry {
  allowed: Inc;
  limited: Inc;
  shadow: Inc;
  /** "<route>:<limit>:" — route and limit ids cannot contain ":", so keys are unambiguous. */
  localPrefix: string;
  /** The configured prefix, then localPrefix. */
  redisPrefix: string;
}
const fallbackChildren: Record<'local' | 'allow' | 'deny', Inc> = {
  local: fallbacks.labels('local'),
  allow: fallbacks.labels('allow'),
  deny: fallbacks.labels('deny'),
};
const countEviction = (): void => evictions.inc();

// ---------------------------------------------------------------- limiter

function ceilSeconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

export class RateLimiter {
  readonly mode: 'local' | 'redis';
  private readonly byRoute = new Map<string, CompiledLimit[]>();
  private readonly local: LocalLimiterStore;
  private readonly redis: RedisLimiterStore | null = null;
  private readonly prefix: string;
  private readonly fallback: RateLimitStorageConfig['fallback'];
  private readonly now: () => number;
  /** By route, then limit id: two lookups and no composite key string per decision. */
  private readonly entries = new Map<string, Map<string, Entry>>();
  /** Scratch result of local decisions (read at once, never handed out). */
  private readonly scratch: GcraResult = { allowed: false, newTat: 0, remaining: 0, resetMs: 0, retryAfterMs: 0 };

  constructor(routes: readonly RouteLimits[], cfg: RateLimitStorageConfig, opts: RateLimiterOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.fallback = cfg.fallback;
    this.local = new LocalLimiterStore(cfg.max_keys, countEviction);
    if (cfg.redis) {
      this.mode = 'redis';
      this.prefix = cfg.redis.prefix;
      this.redis = new RedisLimiterStore({ url: cfg.redis.url, timeoutMs: cfg.redis.timeout, maxReconnectDelayMs: opts.maxReconnectDelayMs });
      redisStores.add(this.redis);
    } else {
      this.mode = 'local';
      this.prefix = '';
    }
    for (const r of routes) {
      const compiled = r.limits.map(compileLimit);
      this.byRoute.set(r.routeId, compiled);
      for (const l of compiled) this.entry(r.routeId, l.id);
    }
  }

  /** The compiled limits of a route, in configuration order (empty when none). */
  limitsFor(routeId: string): readonly CompiledLimit[] {
    return this.byRoute.get(routeId) ?? [];
  }

  /**
   * Decides one request of `key` (the client IP, user, API key id... as the
   * limit's `by` says) against `limit` of route `routeId`, and counts it.
   * Synchronous in local mode and whenever Redis is known to be disconnected.
   */
  check(routeId: string, limit: CompiledLimit, key: string): LimitResult | Promise<LimitResult> {
    const e = this.entry(routeId, limit.id);
    const redis = this.redis;
    if (redis === null) return this.decideLocal(e, limit, key, null);
    if (!redis.available) return this.decideFallback(e, limit, key);
    return redis.check(e.redisPrefix + key, limit.emissionMs, limit.burst).then(
      (d) => this.fromRedis(e, limit, d),
      () => this.decideFallback(e, limit, key),
    );
  }

  health(): RateLimiterHealth {
    if (!this.redis) return { mode: 'local', redis: null, lastError: null, since: null };
    const h = this.redis.health();
    return { mode: 'redis', redis: h.state, lastError: h.lastError, since: h.since };
  }

  /** Counters held in this process (the local store, or the fallback one in Redis mode). */
  get localKeys(): number {
    return this.local.size;
  }

  get localEvictions(): number {
    return this.local.evictions;
  }

  async close(): Promise<void> {
    if (!this.redis) return;
    redisStores.delete(this.redis);
    await this.redis.close();
  }

  private decideLocal(e: Entry, limit: CompiledLimit, key: string, degraded: Degraded): LimitResult {
    return this.result(e, limit, this.local.check(e.localPrefix + key, limit, this.now(), this.scratch), degraded);
  }

  private fromRedis(e: Entry, limit: CompiledLimit, d: RedisDecision): LimitResult {
    return this.result(e, limit, d, null);
  }

  /** Counts a decision (local or from Redis) and turns it into what callers and headers use. */
  private result(e: Entry, limit: CompiledLimit, d: { allowed: boolean; remaining: number; resetMs: number; retryAfterMs: number }, degraded: Degraded): LimitResult {
    count(e, limit, d.allowed);
    return {
      allowed: d.allowed,
      limit: limit.limit,
      remaining: d.remaining,
      resetSeconds: ceilSeconds(d.resetMs),
      retryAfterSeconds: d.allowed ? 0 : Math.max(1, ceilSeconds(d.retryAfterMs)),
      degraded,
    };
  }

  private decideFallback(e: Entry, limit: CompiledLimit, key: string): LimitResult {
    switch (this.fallback) {
      case 'local':
        fallbackChildren.local.inc();
        return this.decideLocal(e, limit, key, 'fallback_local');
      case 'allow':
        fallbackChildren.allow.inc();
        count(e, limit, true);
        return { allowed: true, limit: limit.limit, remaining: limit.limit, resetSeconds: 0, retryAfterSeconds: 0, degraded: 'fallback_allow' };
      case 'deny':
        fallbackChildren.deny.inc();
        count(e, limit, false);
        // One second: the soonest Retry-After can say, and Redis may be back by then.
        return { allowed: false, limit: limit.limit, remaining: 0, resetSeconds: 1, retryAfterSeconds: 1, degraded: 'fallback_deny' };
    }
  }

  private entry(routeId: string, limitId: string): Entry {
    let byLimit = this.entries.get(routeId);
    if (!byLimit) {
      byLimit = new Map();
      this.entries.set(routeId, byLimit);
    }
    let e = byLimit.get(limitId);
    if (!e) {
      const localPrefix = routeId + ':' + limitId + ':';
      e = {
        allowed: decisions.labels(routeId, limitId, 'allowed'),
        limited: decisions.labels(routeId, limitId, 'limited'),
        shadow: decisions.labels(routeId, limitId, 'shadow'),
        localPrefix,
        redisPrefix: this.prefix + localPrefix,
      };
      byLimit.set(limitId, e);
    }
    return e;
  }
}

function count(e: Entry, limit: CompiledLimit, allowed: boolean): void {
  if (allowed) e.allowed.inc();
  else if (limit.shadow) e.shadow.inc();
  else e.limited.inc();
}
