import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LATENCY_BINS,
  LATENCY_MAX_MS,
  LATENCY_MIN_MS,
  LATENCY_RELATIVE_ERROR,
  LatencyWindow,
  latencyBin,
  latencyBinValue,
} from './latency.js';
import { prng } from '../../core/prng.js';

/** Log-normal latency: median `median` ms, spread `sigma` (Box-Muller). */
function lognormal(rnd: () => number, median: number, sigma: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  return median * Math.exp(sigma * z);
}

/** The exact nearest-rank quantile: the ⌈q·n⌉-th smallest (the smallest for q = 0). */
function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1];
}

const clamp = (x: number) => Math.min(LATENCY_MAX_MS, Math.max(LATENCY_MIN_MS, x));
const relErr = (got: number, want: number) => Math.abs(got - want) / want;
const BOUND = LATENCY_RELATIVE_ERROR + 1e-12;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const QS = [0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

test('bins: about 5 % wide from 0.01 ms to 10 min; every value is within the documented error of its bin', () => {
  assert.ok(Math.abs(LATENCY_RELATIVE_ERROR - 0.05 / 2.05) < 1e-15, `${LATENCY_RELATIVE_ERROR}`);
  assert.ok(LATENCY_BINS > 360 && LATENCY_BINS < 380, `${LATENCY_BINS}`);
  const rnd = prng(5);
  for (let i = 0; i < 100_000; i++) {
    const x = LATENCY_MIN_MS * Math.pow(LATENCY_MAX_MS / LATENCY_MIN_MS, rnd());
    assert.ok(relErr(latencyBinValue(latencyBin(x)), x) <= BOUND, `${x}`);
  }
  // Bin edges (exact powers) and the ends land in the right bin.
  for (let k = 0; k < LATENCY_BINS - 2; k++) {
    const edge = LATENCY_MIN_MS * Math.pow(1.05, k);
    if (edge >= LATENCY_MAX_MS) break;
    assert.ok(relErr(latencyBinValue(latencyBin(edge)), edge) <= BOUND, `edge ${k}`);
  }
  assert.equal(latencyBin(LATENCY_MIN_MS), 1);
  assert.equal(latencyBin(0), 0);
  assert.equal(latencyBin(-3), 0);
  assert.equal(latencyBin(LATENCY_MAX_MS), LATENCY_BINS - 1);
  assert.equal(latencyBin(Number.POSITIVE_INFINITY), LATENCY_BINS - 1);
  assert.equal(latencyBin(LATENCY_MAX_MS * 0.999_999), LATENCY_BINS - 2);
});

test('quantiles of a random sample are within the documented error of the exact sorted quantiles', () => {
  const rnd = prng(42);
  const w = new LatencyWindow(60_000);
  const values: number[] = [];
  for (let i = 0; i < 50_000; i++) {
    // A mix: fast cache hits, a log-normal body, a slow tail.
    const r = rnd();
    const v = r < 0.1 ? 0.05 + rnd() * 0.5 : r < 0.98 ? lognormal(rnd, 40, 1) : 2000 + rnd() * 30_000;
    values.push(v);
    assert.equal(w.add(T0 + Math.floor((i / 50_000) * 59_000), v), true);
  }
  values.sort((a, b) => a - b);
  assert.equal(w.count(T0 + 59_000), values.length);
  for (const q of QS) {
    const got = w.quantile(T0 + 59_000, q);
    const want = exactQuantile(values, q);
    assert.ok(got !== null && relErr(got, want) <= BOUND, `q=${q}: ${got} vs exact ${want}`);
  }
});

test('values outside 0.01 ms … 10 min clamp to the end bins; empty windows and bad q', () => {
  const w = new LatencyWindow(10_000, 10);
  assert.equal(w.quantile(T0, 0.5), null);
  assert.equal(w.count(T0), 0);
  for (const v of [0, -5, 1e-9]) w.add(T0, v);
  for (const v of [1e9, Number.POSITIVE_INFINITY]) w.add(T0, v);
  assert.equal(w.add(T0, Number.NaN), false);
  assert.equal(w.count(T0), 5);
  assert.equal(w.quantile(T0, 0), LATENCY_MIN_MS);
  assert.equal(w.quantile(T0, 0.6), LATENCY_MIN_MS);
  assert.equal(w.quantile(T0, 0.61), LATENCY_MAX_MS);
  assert.equal(w.quantile(T0, 1), LATENCY_MAX_MS);
  assert.throws(() => w.quantile(T0, 1.5), RangeError);
  assert.throws(() => w.quantile(T0, -0.1), RangeError);
  assert.throws(() => w.quantile(T0, Number.NaN), RangeError);
});

test('sliding: slow requests leave with their bucket; late events inside/outside the window', () => {
  const w = new LatencyWindow(60_000); // 12 buckets of 5 s
  assert.equal(w.bucketMs, 5000);
  for (let i = 0; i < 10; i++) w.add(T0 + i, 5000); // slow, bucket 0
  for (let i = 0; i < 90; i++) w.add(T0 + 30_000 + i, 10); // fast, bucket 6
  const p95 = w.quantile(T0 + 30_000, 0.95);
  assert.ok(p95 !== null && relErr(p95, 5000) <= BOUND, `${p95}`);
  assert.equal(w.count(T0 + 59_999), 100);
  assert.equal(w.count(T0 + 60_000), 90, 'bucket 0 left');
  const after = w.quantile(T0 + 60_000, 0.95);
  assert.ok(after !== null && relErr(after, 10) <= BOUND, `${after}`);
  assert.equal(w.add(T0 + 4999, 7000), false, 'its bucket has left');
  assert.equal(w.add(T0 + 5000, 7000), true, 'oldest live bucket');
  assert.equal(w.count(T0 + 60_000), 91);
  assert.equal(w.quantile(T0 + 60_000, 1), latencyBinValue(latencyBin(7000)));
  assert.equal(w.count(T0 + 64_999), 91);
  assert.equal(w.count(T0 + 65_000), 90);
  assert.equal(w.count(T0 + 10), 90, 'an earlier now is answered as of the newest time seen');
  // A day later everything is gone, in O(buckets).
  assert.equal(w.count(T0 + 86_400_000), 0);
  assert.equal(w.quantile(T0 + 86_400_000, 0.5), null);
  w.add(T0 + 86_400_000, 3);
  assert.equal(w.quantile(T0 + 86_400_000, 0.5), latencyBinValue(latencyBin(3)));
});

test('property: count and quantiles track a brute-force reference over a seeded stream with expiry and late events', () => {
  const rnd = prng(99);
  const w = new LatencyWindow(60_000);
  const bw = w.bucketMs;
  const nb = w.buckets;
  let live: { b: number; v: number }[] = [];
  let clockB = Number.NEGATIVE_INFINITY;
  let t = T0;
  let checks = 0;
  for (let i = 0; i < 30_000; i++) {
    t += Math.floor(rnd() * 40);
    if (rnd() < 0.0005) t += 200_000;
    const ts = rnd() < 0.15 ? t - Math.floor(rnd() * 70_000) : t;
    // Drift the distribution over time so that expiry changes the answer.
    const v = lognormal(rnd, 5 + ((t - T0) / 1000) % 100, 0.8);
    const b = Math.floor(ts / bw);
    const ok = b > clockB - nb;
    clockB = Math.max(clockB, b);
    assert.equal(w.add(ts, v), ok);
    if (ok) live.push({ b, v });
    if (i % 50 === 0) {
      clockB = Math.max(clockB, Math.floor(t / bw));
      live = live.filter((e) => e.b > clockB - nb);
      const sorted = live.map((e) => clamp(e.v)).sort((a, c) => a - c);
      assert.equal(w.count(t), sorted.length);
      for (const q of [rnd(), 0.5, 0.99]) {
        const got = w.quantile(t, q);
        if (sorted.length === 0) assert.equal(got, null);
        else {
          const want = exactQuantile(sorted, q);
          assert.ok(got !== null && relErr(got, want) <= BOUND, `#${i} q=${q}: ${got} vs ${want}`);
          checks++;
        }
      }
    }
  }
  assert.ok(checks > 1000);
});

test('reset: empty, and the clock forgotten', () => {
  const w = new LatencyWindow(60_000);
  for (let i = 0; i < 100; i++) w.add(1_000_000 + i, 500);
  w.reset();
  assert.equal(w.add(10, 3), true, 'an earlier time than before the reset is accepted');
  assert.equal(w.count(10), 1);
  assert.ok(Math.abs(w.quantile(10, 0.5)! - 3) / 3 < 0.03);
  w.reset();
  assert.equal(w.count(1_000_100), 0);
  assert.equal(w.quantile(1_000_100, 0.5), null);
});
