/**
 * Latency quantiles over a sliding window: a log-scale histogram per time bucket.
 *
 * Values (ms) fall into bins of constant relative width: bin i (1…LATENCY_BINS-2)
 * covers [MIN·γ^(i-1), MIN·γ^i) with γ = 1.05, from MIN = 0.01 ms up to
 * MAX = 600 000 ms (10 minutes; the last regular bin ends at MAX). Values below
 * MIN (including 0 and negatives) go to the first bin and are reported as MIN;
 * values at or above MAX go to the last bin and are reported as MAX.
 *
 * Error. `quantile(now, q)` is the nearest-rank quantile — the ⌈q·n⌉-th
 * smallest value in the window (the smallest for q = 0) — read from the
 * histogram: it returns the representative 2·lo·hi/(lo+hi) of the bin holding
 * that value, which is within (γ-1)/(γ+1) ≈ 2.44 % (LATENCY_RELATIVE_ERROR)
 * of every value in the bin. So for values in [MIN, MAX] the result is within
 * 2.44 % of the exact nearest-rank quantile of the events in the window;
 * outside that range, of the value clamped to it.
 *
 * Time works as in CountWindow (bucket-ring.ts): `buckets` buckets (default
 * 12) of `bucketMs`, the same one-bucket error at the window's old edge, the
 * clock is the newest time seen and never moves backwards, events whose bucket
 * has left the window are refused. The histograms of the live buckets are
 * merged into a running histogram as events arrive and subtracted when a
 * bucket expires, with per-16-bin block totals, so a quantile query scans
 * about 40 counters rather than all bins.
 *
 * Cost: `add` and `count` O(1) amortized (one Math.log per add; expiring a
 * bucket costs one pass over its bins), `quantile` O(bins/16 + 16); nothing
 * allocated after construction. Memory: (buckets + 1) × 370 Uint32 counters,
 * about 19 kB with the default 12 buckets.
 */
import { bucketGeometry } from './bucket-ring.js';

const MIN_MS = 0.01;
const MAX_MS = 600_000;
const GAMMA = 1.05;
const LN_GAMMA = Math.log(GAMMA);
/** Regular bins between MIN and MAX. */
const REGULAR = Math.ceil(Math.log(MAX_MS / MIN_MS) / LN_GAMMA);
/** All bins: underflow, regular bins, overflow. */
export const LATENCY_BINS = REGULAR + 2;
/** Largest relative error of a quantile for values in [LATENCY_MIN_MS, LATENCY_MAX_MS]: (γ-1)/(γ+1). */
export const LATENCY_RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1);
export const LATENCY_MIN_MS = MIN_MS;
export const LATENCY_MAX_MS = MAX_MS;

const BLOCK_SHIFT = 4;
const BLOCKS = Math.ceil(LATENCY_BINS / (1 << BLOCK_SHIFT));

/** LOWER[i] = lower bound of bin i (1…REGULAR+1); LOWER[REGULAR+1] = MAX. */
const LOWER = new Float64Array(LATENCY_BINS + 1);
/** The value reported for each bin. */
const REPR = new Float64Array(LATENCY_BINS);
for (let i = 1; i <= REGULAR; i++) LOWER[i] = MIN_MS * Math.pow(GAMMA, i - 1);
LOWER[REGULAR + 1] = MAX_MS;
LOWER[REGULAR + 2] = Number.POSITIVE_INFINITY;
REPR[0] = MIN_MS;
for (let i = 1; i <= REGULAR; i++) {
  const lo = LOWER[i];
  const hi = LOWER[i + 1];
  REPR[i] = (2 * lo * hi) / (lo + hi);
}
REPR[REGULAR + 1] = MAX_MS;

/** The bin of a latency value; exact with respect to LOWER (the log only gives the first guess). */
export function latencyBin(ms: number): number {
  if (!(ms >= MIN_MS)) return 0;
  if (ms >= MAX_MS) return REGULAR + 1;
  let i = Math.floor(Math.log(ms / MIN_MS) / LN_GAMMA) + 1;
  if (i > REGULAR) i = REGULAR;
  else if (i < 1) i = 1;
  if (ms < LOWER[i]) i--;
  else if (ms >= LOWER[i + 1]) i++;
  return i;
}

/** The value reported for bin `i`. */
export function latencyBinValue(i: number): number {
  return REPR[i];
}

export class LatencyWindow {
  readonly windowMs: number;
  readonly bucketMs: number;
  readonly buckets: number;
  /** buckets × LATENCY_BINS counters, bucket-major. */
  private readonly hist: Uint32Array;
  /** Events per bucket. */
  private readonly perBucket: Float64Array;
  /** Sum of the live buckets' histograms, and its per-block totals. */
  private readonly merged = new Uint32Array(LATENCY_BINS);
  private readonly blocks = new Float64Array(BLOCKS);
  private head = Number.NEGATIVE_INFINITY;
  private total = 0;

  constructor(windowMs: number, buckets = 12) {
    const g = bucketGeometry(windowMs, buckets);
    this.windowMs = windowMs;
    this.bucketMs = g.bucketMs;
    this.buckets = g.buckets;
    this.hist = new Uint32Array(g.buckets * LATENCY_BINS);
    this.perBucket = new Float64Array(g.buckets);
  }

  /**
   * Records a latency of `ms` at event time `tsMs`. Returns false when the
   * event's bucket has left the window, `tsMs` is not finite or `ms` is NaN.
   */
  add(tsMs: number, ms: number): boolean {
    if (ms !== ms) return false;
    const b = Math.floor(tsMs / this.bucketMs);
    if (b > this.head) {
      if (b === Number.POSITIVE_INFINITY) return false;
      this.advance(b);
    } else if (!(b > this.head - this.buckets)) {
      return false;
    }
    const nb = this.buckets;
    let s = b % nb;
    if (s < 0) s += nb;
    const bin = latencyBin(ms);
    this.hist[s * LATENCY_BINS + bin]++;
    this.perBucket[s]++;
    this.merged[bin]++;
    this.blocks[bin >> BLOCK_SHIFT]++;
    this.total++;
    return true;
  }

  /** Empties the window and forgets its clock: as new (a recycled group). */
  reset(): void {
    this.clearAll();
    this.head = Number.NEGATIVE_INFINITY;
  }

  private clearAll(): void {
    if (this.total === 0) return;
    this.hist.fill(0);
    this.perBucket.fill(0);
    this.merged.fill(0);
    this.blocks.fill(0);
    this.total = 0;
  }

  /** Events in the window ending at `nowMs`. */
  count(nowMs: number): number {
    this.sync(nowMs);
    return this.total;
  }

  /**
   * The q-quantile (0 ≤ q ≤ 1) of the latencies in the window ending at
   * `nowMs`, within LATENCY_RELATIVE_ERROR of the exact nearest-rank quantile;
   * null when the window is empty.
   */
  quantile(nowMs: number, q: number): number | null {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`q must be in [0, 1], got ${q}`);
    this.sync(nowMs);
    const n = this.total;
    if (n === 0) return null;
    const rank = Math.max(1, Math.ceil(q * n));
    const blocks = this.blocks;
    let cum = 0;
    let blk = 0;
    while (blk < BLOCKS - 1 && cum + blocks[blk] < rank) cum += blocks[blk++];
    const merged = this.merged;
    const end = Math.min(LATENCY_BINS, (blk + 1) << BLOCK_SHIFT);
    let i = blk << BLOCK_SHIFT;
    while (i < end - 1 && cum + merged[i] < rank) cum += merged[i++];
    return REPR[i];
  }

  private sync(nowMs: number): void {
    const b = Math.floor(nowMs / this.bucketMs);
    if (b > this.head && b !== Number.POSITIVE_INFINITY) this.advance(b);
  }

  private advance(b: number): void {
    const nb = this.buckets;
    if (b - this.head >= nb) {
      this.clearAll();
    } else {
      for (let i = this.head + 1; i <= b; i++) {
        let s = i % nb;
        if (s < 0) s += nb;
        if (this.perBucket[s] !== 0) this.clearBucket(s);
      }
    }
    this.head = b;
  }

  private clearBucket(s: number): void {
    const hist = this.hist;
    const merged = this.merged;
    const blocks = this.blocks;
    const off = s * LATENCY_BINS;
    for (let j = 0; j < LATENCY_BINS; j++) {
      const c = hist[off + j];
      if (c !== 0) {
        merged[j] -= c;
        blocks[j >> BLOCK_SHIFT] -= c;
        hist[off + j] = 0;
      }
    }
    this.total -= this.perBucket[s];
    this.perBucket[s] = 0;
  }
}
