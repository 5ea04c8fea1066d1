/**
 * Micro-benchmark of the detection window primitives (src/detect/windows):
 * ops/s of add + query, 1M events each. Event time advances at 200k events/s
 * (1M events span 5 s: no bucket leaves a 60 s window) and at 2k events/s
 * (500 s: the windows wrap about 8 times, so expiry is part of the cost).
 * Not a test; nothing is asserted. Run: npx tsc -p tsconfig.json && node dist/bench/windows.js
 */
import { performance } from 'node:perf_hooks';
import { CountWindow, DistinctWindow, LatencyWindow } from '../src/detect/windows/index.js';
import { prng } from '../src/core/prng.js';

const N = 1_000_000;
const T0 = Date.UTC(2026, 0, 5);
/** Events per ms of event time. */
let perMs = 200;
/** Event time of event i. */
const tsOf = (i: number) => T0 + Math.floor(i / perMs);

const rnd = prng(1);
/** Value i of a stream drawn from `pool` distinct strings (skewed: some values are hot). */
function values(pool: number): string[] {
  const names = Array.from({ length: pool }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  return Array.from({ length: N }, () => names[Math.floor(rnd() * rnd() * pool)]);
}
const latencies = Float64Array.from({ length: N }, () => Math.exp(3 + 1.2 * (rnd() + rnd() + rnd() - 1.5)));

function run(name: string, body: () => number): void {
  body(); // warm-up
  const start = performance.now();
  const sink = body();
  const ms = performance.now() - start;
  console.log(`${name.padEnd(58)} ${Math.round((N / ms) * 1000).toLocaleString('en-US').padStart(12)} ops/s  (${ms.toFixed(1)} ms, sink ${sink})`);
}

console.log(`node ${process.version}, ${N.toLocaleString('en-US')} adds per run, one add + one query per op`);

const pools = new Map([1000, 100_000].map((p) => [p, values(p)]));
for (const rate of [200, 2]) {
  perMs = rate;
  console.log(`\nevent time at ${(rate * 1000).toLocaleString('en-US')} events/s (1M events span ${N / rate / 1000} s):`);
  run('CountWindow 60 s / 60 buckets: add + total', () => {
    const w = new CountWindow(60_000);
    let sink = 0;
    for (let i = 0; i < N; i++) {
      const ts = tsOf(i);
      w.add(ts);
      sink += w.total(ts);
    }
    return sink;
  });

  run('CountWindow, 5 % of events up to 30 s late: add + total', () => {
    const w = new CountWindow(60_000);
    let sink = 0;
    for (let i = 0; i < N; i++) {
      const ts = tsOf(i);
      w.add(i % 20 === 0 ? ts - (i % 30_000) : ts);
      sink += w.total(ts);
    }
    return sink;
  });

  for (const [pool, cap] of [
    [1000, 10_000],
    [100_000, 10_000],
  ] as const) {
    const vals = pools.get(pool) ?? [];
    run(`DistinctWindow 60 s, ${pool} values, cap ${cap}: add + count`, () => {
      const w = new DistinctWindow(60_000, cap);
      let sink = 0;
      for (let i = 0; i < N; i++) {
        const ts = tsOf(i);
        w.add(ts, vals[i]);
        sink += w.count(ts);
      }
      return sink + w.capped;
    });
  }

  const late = pools.get(1000) ?? [];
  run('DistinctWindow 60 s, 1000 values, 5 % up to 30 s late', () => {
    const w = new DistinctWindow(60_000, 10_000);
    let sink = 0;
    for (let i = 0; i < N; i++) {
      const ts = tsOf(i);
      w.add(i % 20 === 0 ? ts - (i % 30_000) : ts, late[i]);
      sink += w.count(ts);
    }
    return sink;
  });

  run('LatencyWindow 60 s / 12 buckets: add + count', () => {
    const w = new LatencyWindow(60_000);
    let sink = 0;
    for (let i = 0; i < N; i++) {
      const ts = tsOf(i);
      w.add(ts, latencies[i]);
      sink += w.count(ts);
    }
    return sink;
  });

  run('LatencyWindow 60 s / 12 buckets: add + quantile(0.99)', () => {
    const w = new LatencyWindow(60_000);
    let sink = 0;
    for (let i = 0; i < N; i++) {
      const ts = tsOf(i);
      w.add(ts, latencies[i]);
      sink += w.quantile(ts, 0.99) ?? 0;
    }
    return Math.round(sink);
  });
}
