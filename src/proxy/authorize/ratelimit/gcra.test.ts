import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { emissionInterval, gcraCheck, type GcraResult } from './gcra.js';

/** Runs requests at the given times against one key, keeping the TAT like a store does. */
function run(times: number[], emissionMs: number, burst: number): GcraResult[] {
  let tat: number | null = null;
  return times.map((t) => {
    const r = gcraCheck(tat, t, emissionMs, burst);
    tat = r.newTat;
    return r;
  });
}

const T0 = 1_700_000_000_000;

describe('gcra', () => {
  test('emission interval is per / rate', () => {
    assert.equal(emissionInterval(10, 1000), 100);
    assert.equal(emissionInterval(0.5, 1000), 2000);
    assert.throws(() => emissionInterval(0, 1000), RangeError);
    assert.throws(() => emissionInterval(1, 0), RangeError);
  });

  test('burst 0: one at a time, then exactly one per interval', () => {
    // 10 per second: T = 100 ms.
    const [a, b] = run([T0, T0], 100, 0);
    assert.deepEqual(a, { allowed: true, newTat: T0 + 100, remaining: 0, resetMs: 100, retryAfterMs: 0 });
    assert.deepEqual(b, { allowed: false, newTat: T0 + 100, remaining: 0, resetMs: 100, retryAfterMs: 100 });
    // 1 ms early is refused, on time is allowed.
    const early = gcraCheck(T0 + 100, T0 + 99, 100, 0);
    assert.equal(early.allowed, false);
    assert.equal(early.retryAfterMs, 1);
    const onTime = gcraCheck(T0 + 100, T0 + 100, 100, 0);
    assert.equal(onTime.allowed, true);
    assert.equal(onTime.newTat, T0 + 200);
  });

  test('burst 0 gives exactly `rate` per `per` to a client sending as fast as it can', () => {
    // Every millisecond for one second at 10/s: allowed at 0, 100, ..., 900.
    const times = Array.from({ length: 1000 }, (_, i) => T0 + i);
    const allowed = run(times, 100, 0).filter((r) => r.allowed).length;
    assert.equal(allowed, 10);
  });

  test('burst: burst + 1 at once, counting remaining down, then refused with retry-after of one interval', () => {
    const rs = run([T0, T0, T0, T0], 100, 2);
    assert.deepEqual(
      rs.map((r) => [r.allowed, r.remaining, r.resetMs, r.retryAfterMs]),
      [
        [true, 2, 100, 0],
        [true, 1, 200, 0],
        [true, 0, 300, 0],
        [false, 0, 300, 100],
      ],
    );
    // Over one window of `per` a greedy client gets rate + burst.
    const times = Array.from({ length: 1000 }, (_, i) => T0 + i);
    assert.equal(run(times, 100, 2).filter((r) => r.allowed).length, 12);
  });

  test('refill: one request per elapsed interval, up to the burst', () => {
    // Exhaust a burst of 4 (5 at once), then wait 250 ms: 2 whole intervals are back.
    let tat: number | null = null;
    for (let i = 0; i < 5; i++) tat = gcraCheck(tat, T0, 100, 4).newTat;
    assert.equal(tat, T0 + 500);
    const later = T0 + 250;
    const a = gcraCheck(tat, later, 100, 4);
    assert.equal(a.allowed, true);
    assert.equal(a.remaining, 1);
    const b = gcraCheck(a.newTat, later, 100, 4);
    assert.equal(b.allowed, true);
    assert.equal(b.remaining, 0);
    const c = gcraCheck(b.newTat, later, 100, 4);
    assert.equal(c.allowed, false);
    // Next interval boundary is at T0 + 300.
    assert.equal(c.retryAfterMs, 50);
    // Long idle: fully rested, never more than burst + 1.
    const rested = gcraCheck(c.newTat, T0 + 60_000, 100, 4);
    assert.equal(rested.remaining, 4);
    assert.equal(rested.resetMs, 100);
  });

  test('refused requests do not move the TAT', () => {
    let tat: number | null = gcraCheck(null, T0, 1000, 0).newTat;
    for (let t = T0 + 1; t < T0 + 1000; t += 7) {
      const r = gcraCheck(tat, t, 1000, 0);
      assert.equal(r.allowed, false);
      assert.equal(r.newTat, T0 + 1000);
      assert.equal(r.retryAfterMs, T0 + 1000 - t);
      tat = r.newTat;
    }
    assert.equal(gcraCheck(tat, T0 + 1000, 1000, 0).allowed, true);
  });

  test('a TAT in the past is a rested key', () => {
    const r = gcraCheck(T0 - 10_000, T0, 100, 3);
    assert.deepEqual(r, { allowed: true, newTat: T0 + 100, remaining: 3, resetMs: 100, retryAfterMs: 0 });
  });

  test('time going backwards: a small step keeps the debt, a large one does not block the key for the size of the step', () => {
    // Burst 1, T 100: one request at T0 leaves TAT = T0 + 100 (one more allowed at T0).
    const first = gcraCheck(null, T0, 100, 1);
    assert.equal(first.newTat, T0 + 100);
    // Clock steps back 50 ms: the stored debt still counts against the new clock,
    // so the second request must wait for those 50 ms.
    const small = gcraCheck(first.newTat, T0 - 50, 100, 1);
    assert.equal(small.allowed, false);
    assert.equal(small.retryAfterMs, 50);
    assert.equal(small.newTat, T0 + 100);
    assert.equal(gcraCheck(first.newTat, T0, 100, 1).allowed, true);

    // Exhausted at T0: TAT = T0 + 200. The clock steps back an hour: the key
    // reads as exactly exhausted, not blocked for an hour.
    const exhausted = gcraCheck(first.newTat, T0, 100, 1).newTat;
    assert.equal(exhausted, T0 + 200);
    const back = T0 - 3_600_000;
    const big = gcraCheck(exhausted, back, 100, 1);
    assert.equal(big.allowed, false);
    assert.equal(big.retryAfterMs, 100);
    assert.equal(big.resetMs, 200);
    assert.equal(big.newTat, back + 200);
    // From the new clock on it behaves normally.
    const next = gcraCheck(big.newTat, back + 100, 100, 1);
    assert.equal(next.allowed, true);
    assert.equal(next.remaining, 0);
  });

  test('non-integer intervals: no refusal for floating-point noise, remaining not rounded down by it', () => {
    // 7 and 11 per second: T = 142.857... and 90.909... ms. Arrivals exactly
    // on schedule, computed by multiplication while the TAT is accumulated by
    // addition: the two differ in the last bits (at 1.7e12 ms one step is
    // 0.00024 ms), which must not turn into refusals. Without the epsilon the
    // 5th (7/s) and 3rd (11/s) arrivals are refused.
    for (const rate of [7, 11]) {
      const T = emissionInterval(rate, 1000);
      let tat: number | null = null;
      for (let k = 0; k < 10; k++) {
        const r = gcraCheck(tat, T0 + k * T, T, 0);
        assert.equal(r.allowed, true, `${rate}/s, arrival ${k}`);
        tat = r.newTat;
      }
    }
    const T = emissionInterval(3, 1000);
    const full = gcraCheck(null, T0, T, 2);
    assert.equal(full.remaining, 2);
    const partial = gcraCheck(full.newTat, T0 + T, T, 2);
    assert.equal(partial.remaining, 2);
  });

  test('a client polling every millisecond gets the interval rounded up to its polling step', () => {
    // Arrivals are whole ms; a request at 334 ms starts the next interval from
    // 334, not from 333.3: burst 0 grants no slack to carry the fraction.
    const T = emissionInterval(3, 1000);
    let tat: number | null = null;
    const allowedAt: number[] = [];
    for (let t = T0; t < T0 + 3000; t++) {
      const r = gcraCheck(tat, t, T, 0);
      tat = r.newTat;
      if (r.allowed) allowedAt.push(t - T0);
    }
    assert.deepEqual(allowedAt, [0, 334, 668, 1002, 1336, 1670, 2004, 2338, 2672]);
  });

  test('writes into `out` when given', () => {
    const out: GcraResult = { allowed: false, newTat: 0, remaining: 0, resetMs: 0, retryAfterMs: 0 };
    const r = gcraCheck(null, T0, 100, 0, out);
    assert.equal(r, out);
    assert.equal(out.allowed, true);
    gcraCheck(out.newTat, T0, 100, 0, out);
    assert.equal(out.allowed, false);
    assert.equal(out.retryAfterMs, 100);
  });
});
