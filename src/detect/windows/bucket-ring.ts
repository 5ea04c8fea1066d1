/**
 * Sliding-window event counter over a ring of time buckets.
 *
 * Time is event time and is passed in explicitly; nothing here reads a clock.
 * The window's clock is the newest time it has been given (by `add` or by a
 * query): it never moves backwards. A query with an earlier `nowMs` is answered
 * as of that newest time, and an event more than one window older than it is
 * refused (`add` returns false).
 *
 * Bucket granularity. Time is cut into buckets of `bucketMs` aligned to the
 * epoch (bucket k is [k·bucketMs, (k+1)·bucketMs)); the window holds the
 * `buckets` newest of them, up to and including the bucket of `now`. So
 * `total(now)` counts exactly the events with
 *
 *     floor(ts / bucketMs) > floor(now / bucketMs) - buckets,   ts ≤ newest time seen
 *
 * i.e. the window's old edge is rounded up to a bucket boundary. When
 * `windowMs` is a multiple of `bucketMs` (the constructor picks such a width
 * whenever one gives at least half the requested buckets; `buckets * bucketMs`
 * is then exactly `windowMs`) the error is one-sided: every counted event lies
 * in (now - windowMs, now], and only events in the oldest partial bucket, less
 * than `bucketMs` of the window, are missed: an event leaves the count up to
 * one bucket early, never late. Otherwise the buckets span a little more than
 * `windowMs` (less than one extra bucket) and the old edge is off by less
 * than `bucketMs` either way.
 *
 * Cost: `add`, `total` and `isEmpty` are O(1) amortized and allocate nothing
 * (one array of doubles allocated up front, a running sum, buckets cleared lazily
 * as the clock moves, at most `buckets` of them per call, so a jump of a day
 * costs the same as a jump of one window). `oldest` scans the buckets: O(buckets).
 * Counts are kept in doubles: with integer increments the running sum is exact
 * up to 2^53.
 */
import { packedDoubles } from './arrays.js';

/** Bucket width and number of buckets for a window. */
export interface BucketGeometry {
  bucketMs: number;
  buckets: number;
}

/**
 * Bucket layout for a window of `windowMs` split into about `buckets` buckets
 * of at least 1 ms each. Prefers a whole bucket width that divides `windowMs`
 * (searching from `buckets` down to half of it); otherwise rounds the width up
 * and uses as many buckets as needed to cover the window.
 */
export function bucketGeometry(windowMs: number, buckets: number): BucketGeometry {
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) throw new RangeError(`windowMs must be a positive integer (ms), got ${windowMs}`);
  if (!Number.isSafeInteger(buckets) || buckets < 1) throw new RangeError(`buckets must be a positive integer, got ${buckets}`);
  const n = Math.min(buckets, windowMs);
  for (let c = n; c >= Math.ceil(n / 2); c--) {
    if (windowMs % c === 0) return { bucketMs: windowMs / c, buckets: c };
  }
  const bucketMs = Math.ceil(windowMs / n);
  return { bucketMs, buckets: Math.ceil(windowMs / bucketMs) };
}

export class CountWindow {
  readonly windowMs: number;
  /** Width of one bucket; the error of the window's old edge is less than this. */
  readonly bucketMs: number;
  /** Number of buckets actually used (may be fewer than requested, see bucketGeometry). */
  readonly buckets: number;
  /** Per bucket (a plain array: see arrays.ts). */
  private readonly counts: number[];
  /** Absolute index (floor(ms / bucketMs)) of the newest bucket; -Infinity before any time was seen. */
  private head = Number.NEGATIVE_INFINITY;
  /** Slot of `head` in `counts` (head mod buckets), so the common add — into the newest bucket — needs no division. */
  private headSlot = 0;
  /** Sum of all live buckets. */
  private sum = 0;

  constructor(windowMs: number, buckets = 60) {
    const g = bucketGeometry(windowMs, buckets);
    this.windowMs = windowMs;
    this.bucketMs = g.bucketMs;
    this.buckets = g.buckets;
    this.counts = packedDoubles(g.buckets);
  }

  /**
   * Counts `n` events (default 1) at event time `tsMs`. Returns false, and
   * counts nothing, when the event's bucket has already left the window (it is
   * more than one window older than the newest time seen, or in the partial
   * bucket at the old edge) or `tsMs` is not finite. A newer `tsMs` moves the
   * window's clock forward.
   */
  add(tsMs: number, n = 1): boolean {
    if (n !== 1 && (!(n >= 0) || n === Number.POSITIVE_INFINITY)) throw new RangeError(`n must be a finite non-negative number, got ${n}`);
    const b = Math.floor(tsMs / this.bucketMs);
    let s: number;
    if (b === this.head) {
      s = this.headSlot;
    } else if (b > this.head) {
      if (b === Number.POSITIVE_INFINITY) return false;
      this.advance(b);
      s = this.headSlot;
    } else if (!(b > this.head - this.buckets)) {
      return false; // too old, or NaN
    } else {
      s = this.headSlot - (this.head - b);
      if (s < 0) s += this.buckets;
    }
    this.counts[s] += n;
    this.sum += n;
    return true;
  }

  /** Empties the window and forgets its clock: as new, without allocating (a recycled group). */
  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.head = Number.NEGATIVE_INFINITY;
    this.headSlot = 0;
  }

  /** Events in the window ending at `nowMs` (see the class comment for the bucket error). */
  total(nowMs: number): number {
    this.sync(nowMs);
    return this.sum;
  }

  /** Start (event time) of the oldest non-empty bucket in the window, or null when the window is empty. */
  oldest(nowMs: number): number | null {
    this.sync(nowMs);
    if (this.sum === 0) return null;
    const nb = this.buckets;
    for (let i = this.head - nb + 1; i <= this.head; i++) {
      let s = this.headSlot - (this.head - i);
      if (s < 0) s += nb;
      if (this.counts[s] > 0) return i * this.bucketMs;
    }
    return null;
  }

  isEmpty(nowMs: number): boolean {
    return this.total(nowMs) === 0;
  }

  /** Moves the clock to `nowMs` if that is later; non-finite times are ignored. */
  private sync(nowMs: number): void {
    const b = Math.floor(nowMs / this.bucketMs);
    if (b > this.head && b !== Number.POSITIVE_INFINITY) this.advance(b);
  }

  /** Makes bucket `b` (> head) the newest, clearing the buckets that fall out: at most `buckets` of them. */
  private advance(b: number): void {
    const nb = this.buckets;
    const counts = this.counts;
    if (b - this.head >= nb) {
      counts.fill(0);
      this.sum = 0;
      let s = b % nb;
      if (s < 0) s += nb;
      this.headSlot = s;
    } else {
      let s = this.headSlot;
      for (let i = this.head + 1; i <= b; i++) {
        if (++s === nb) s = 0;
        this.sum -= counts[s];
        counts[s] = 0;
      }
      this.headSlot = s;
    }
    this.head = b;
  }
}
