/**
 * Generic Cell Rate Algorithm (GCRA): a rate limit kept as one number per
 * key, the "theoretical arrival time" (TAT) — the time at which the key
 * would be fully rested again if it made no more requests.
 *
 * Semantics, for `rate` requests per `per` ms with `burst` extra:
 *
 * - The emission interval T = per / rate is the steady spacing between
 *   requests; each allowed request pushes the TAT T further into the future.
 * - A request is allowed while the TAT stays at most (burst + 1) · T ahead of
 *   now. So a rested key may send burst + 1 requests at once, and after that
 *   one more every T: over any window of `per` ms it gets at most
 *   rate + burst requests (the burst, plus the steady rate).
 * - burst = 0 therefore means exactly `rate` per `per`, evenly spaced: one
 *   request at a time, the next one T later. There is no hidden extra.
 * - What the RateLimit-* headers expose as the limit is that capacity,
 *   burst + 1 requests at once, refilling at rate / per.
 *
 * A refused request does not move the TAT: refused traffic costs nothing, so
 * a client hammering a limit gets its next request exactly when the rate
 * allows one, not later.
 *
 * The same arithmetic runs in Redis as a Lua script (redis.ts); both must
 * stay in step.
 */

export interface GcraResult {
  allowed: boolean;
  /** TAT to store for the key (unchanged when refused, except for a clock step back). */
  newTat: number;
  /** Requests that could still be made right now after this one (0 when refused). */
  remaining: number;
  /** Ms until the key is fully rested (remaining back to burst + 1). */
  resetMs: number;
  /** Ms until a request would be allowed again (0 when allowed). */
  retryAfterMs: number;
}

/** What a store needs to know about a limit. */
export interface GcraLimit {
  /** per / rate, in ms. */
  readonly emissionMs: number;
  readonly burst: number;
}

/**
 * Differences smaller than this (ms) are floating-point noise: TATs are
 * around 1.7e12 ms, where one double step is ~0.0002 ms. Without it a client
 * arriving exactly on time with a non-integer interval (1000 / 3) could be
 * refused for a fraction of a microsecond and told to retry in a second.
 */
export const GCRA_EPSILON_MS = 0.001;

/** emissionMs for `rate` requests per `perMs`. */
export function emissionInterval(rate: number, perMs: number): number {
  if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`rate must be a positive number, got ${rate}`);
  if (!(perMs > 0) || !Number.isFinite(perMs)) throw new RangeError(`per must be a positive duration, got ${perMs}`);
  return perMs / rate;
}

/**
 * Decides one request. Pure: the caller stores `newTat` (a store may write it
 * in every case, refused or not). Pass `out` to have the result written into
 * an existing object instead of a new one, so that a hot path can decide
 * without allocating.
 *
 * `tatMs` null (or in the past) means the key is rested.
 */
export function gcraCheck(tatMs: number | null, nowMs: number, emissionMs: number, burst: number, out?: GcraResult): GcraResult {
  const r = out ?? { allowed: false, newTat: 0, remaining: 0, resetMs: 0, retryAfterMs: 0 };
  // How far the TAT may run ahead of now: burst + 1 intervals.
  const tolerance = emissionMs * (burst + 1);
  let tat = tatMs === null || tatMs < nowMs ? nowMs : tatMs;
  // A TAT further ahead than the tolerance can never be stored by this
  // function, so it means the clock stepped back since it was written. Treat
  // the key as exactly exhausted rather than blocked for the size of the step
  // (which could be hours after an NTP correction).
  if (tat - nowMs > tolerance) tat = nowMs + tolerance;
  const newTat = tat + emissionMs;
  const allowAt = newTat - tolerance;
  if (allowAt - nowMs > GCRA_EPSILON_MS) {
    r.allowed = false;
    r.newTat = tat;
    r.remaining = 0;
    r.resetMs = tat - nowMs;
    r.retryAfterMs = allowAt - nowMs;
    return r;
  }
  r.allowed = true;
  r.newTat = newTat;
  // Whole intervals of tolerance left unused; the small bias keeps 2.9999999 from reading as 2.
  r.remaining = Math.max(0, Math.floor((tolerance - (newTat - nowMs)) / emissionMs + 1e-6));
  r.resetMs = newTat - nowMs;
  r.retryAfterMs = 0;
  return r;
}
