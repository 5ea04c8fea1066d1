import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CountWindow, bucketGeometry } from './bucket-ring.js';
import { prng } from '../../core/prng.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0); // a multiple of every bucket width used here

test('geometry: whole buckets that divide the window when possible, at least 1 ms each', () => {
  assert.deepEqual(bucketGeometry(60_000, 60), { bucketMs: 1000, buckets: 60 });
  assert.deepEqual(bucketGeometry(1000, 60), { bucketMs: 20, buckets: 50 }); // 1000/60 is not whole; 50 × 20 is
  assert.deepEqual(bucketGeometry(10, 60), { bucketMs: 1, buckets: 10 }); // small window: fewer buckets
  assert.deepEqual(bucketGeometry(997, 60), { bucketMs: 17, buckets: 59 }); // prime: rounded up, 1003 ms of buckets
  const w = new CountWindow(300_000);
  assert.equal(w.bucketMs * w.buckets, 300_000);
  assert.throws(() => new CountWindow(0), RangeError);
  assert.throws(() => new CountWindow(1.5), RangeError);
  assert.throws(() => new CountWindow(1000, 0), RangeError);
  assert.throws(() => w.add(T0, -1), RangeError);
});

test('sliding expiry at bucket boundaries: an event leaves at most one bucket early, never late', () => {
  const w = new CountWindow(60_000); // 60 buckets of 1 s
  assert.equal(w.add(T0 + 500), true);
  assert.equal(w.add(T0 + 999, 2), true);
  assert.equal(w.add(T0 + 1000), true); // next bucket
  assert.equal(w.total(T0 + 1000), 4);
  assert.equal(w.total(T0 + 59_999), 4);
  // now = T0 + 60 000: bucket 0 ([T0, T0+1000)) leaves. The event at T0+500 is
  // still inside (now - 60 s, now] but its bucket is partial: the documented error.
  assert.equal(w.total(T0 + 60_000), 1);
  assert.equal(w.oldest(T0 + 60_000), T0 + 1000);
  assert.equal(w.total(T0 + 60_999), 1);
  assert.equal(w.total(T0 + 61_000), 0);
  assert.equal(w.isEmpty(T0 + 61_000), true);
  assert.equal(w.oldest(T0 + 61_000), null);
});

test('every counted event is inside (now - windowMs, now] when the buckets divide the window', () => {
  const w = new CountWindow(10_000, 10);
  const rnd = prng(7);
  const times: number[] = [];
  let t = T0;
  let now = T0;
  for (let i = 0; i < 2000; i++) {
    t += Math.floor(rnd() * 300);
    w.add(t);
    times.push(t);
    now = Math.max(now, t + Math.floor(rnd() * 50));
    const exact = times.filter((x) => x > now - 10_000 && x <= now).length;
    const got = w.total(now);
    assert.ok(got <= exact, `never more than the exact count (${got} > ${exact})`);
    const lost = times.filter((x) => x > now - 10_000 && x < now - 10_000 + w.bucketMs).length;
    assert.ok(got >= exact - lost, 'only the oldest partial bucket may be missing');
  }
});

test('late events: accepted into their bucket inside the window, refused outside it', () => {
  const w = new CountWindow(60_000);
  assert.equal(w.add(T0 + 100_000), true);
  assert.equal(w.add(T0 + 50_000, 3), true, '50 s late, inside the window');
  assert.equal(w.total(T0 + 100_000), 4);
  assert.equal(w.oldest(T0 + 100_000), T0 + 50_000);
  assert.equal(w.add(T0 + 40_000), false, 'exactly one window late: (now - 60 s, now] excludes it');
  assert.equal(w.add(T0 + 40_500), false, 'inside the window but in the expired partial bucket');
  assert.equal(w.add(T0 + 41_000), true, 'oldest live bucket');
  assert.equal(w.add(Number.NaN), false);
  assert.equal(w.add(Number.POSITIVE_INFINITY), false);
  assert.equal(w.total(T0 + 100_000), 5);
  // The late events expire with their own bucket, not with the newest one.
  assert.equal(w.total(T0 + 100_999), 5);
  assert.equal(w.total(T0 + 101_000), 4, 'bucket 41 left');
  assert.equal(w.total(T0 + 109_999), 4);
  assert.equal(w.total(T0 + 110_000), 1, 'bucket 50 left');
  assert.equal(w.total(T0 + 160_000), 0);
});

test('the clock never moves backwards: an earlier now is answered as of the newest time seen', () => {
  const w = new CountWindow(60_000);
  w.add(T0);
  w.add(T0 + 30_000);
  assert.equal(w.total(T0 + 70_000), 1);
  assert.equal(w.total(T0 + 10_000), 1, 'not 2: T0 has already left');
  assert.equal(w.total(Number.NaN), 1);
});

test('a large time jump empties the window in O(buckets), not O(elapsed)', () => {
  const w = new CountWindow(60_000);
  for (let i = 0; i < 1000; i++) w.add(T0 + i * 37);
  assert.equal(w.total(T0 + 36_963), 1000);
  assert.equal(w.total(T0 + 86_400_000), 0, 'a day later');
  assert.equal(w.isEmpty(T0 + 86_400_000), true);
  // 1 ms buckets and a jump of 100 years: 3·10^12 buckets elapsed. Clearing
  // them one by one would never finish; the test finishes at once.
  const fine = new CountWindow(60, 60);
  assert.equal(fine.bucketMs, 1);
  fine.add(T0, 5);
  const started = process.hrtime.bigint();
  assert.equal(fine.add(T0 + 100 * 365 * 86_400_000), true);
  assert.equal(fine.total(T0 + 100 * 365 * 86_400_000), 1);
  assert.ok(process.hrtime.bigint() - started < 50_000_000n, 'well under 50 ms');
});

test('property: running sums stay exact after many wraps (seeded random stream vs brute force)', () => {
  for (const [windowMs, buckets, seed] of [
    [60_000, 60, 1],
    [1000, 60, 2], // 50 buckets of 20 ms
    [997, 60, 3], // non-dividing geometry
    [5, 60, 4], // 5 buckets of 1 ms
  ] as const) {
    const rnd = prng(seed);
    const w = new CountWindow(windowMs, buckets);
    const bw = w.bucketMs;
    const nb = w.buckets;
    const accepted: { b: number; n: number }[] = [];
    let clockB = Number.NEGATIVE_INFINITY;
    let t = T0;
    for (let i = 0; i < 20_000; i++) {
      const r = rnd();
      if (r < 0.001) t += windowMs * (2 + Math.floor(rnd() * 50)); // a jump of several windows
      else t += Math.floor(rnd() * rnd() * Math.max(windowMs * 0.05, 3));
      // Mostly in order; one in five late by up to 1.2 windows (some too late).
      const ts = rnd() < 0.2 ? t - Math.floor(rnd() * windowMs * 1.2) : t;
      const n = 1 + Math.floor(rnd() * 5);
      const b = Math.floor(ts / bw);
      const expectOk = b > clockB - nb;
      clockB = Math.max(clockB, b);
      assert.equal(w.add(ts, n), expectOk, `add #${i}`);
      if (expectOk) accepted.push({ b, n });
      if (i % 7 === 0) {
        const now = t + Math.floor(rnd() * bw * 3);
        clockB = Math.max(clockB, Math.floor(now / bw));
        let exact = 0;
        let oldestB = Number.POSITIVE_INFINITY;
        for (const e of accepted) {
          if (e.b > clockB - nb && e.b <= clockB) {
            exact += e.n;
            oldestB = Math.min(oldestB, e.b);
          }
        }
        assert.equal(w.total(now), exact, `total #${i} (window ${windowMs})`);
        assert.equal(w.oldest(now), exact === 0 ? null : oldestB * bw);
        // Keep the reference small: drop what can never count again.
        if (accepted.length > 5000) accepted.splice(0, accepted.length, ...accepted.filter((e) => e.b > clockB - nb));
      }
    }
  }
});

test('reset: the window is as new (no counts, no clock), and counts again from any time', () => {
  const w = new CountWindow(60_000);
  for (let i = 0; i < 100; i++) w.add(T0 + i * 700);
  w.reset();
  // An earlier time than before the reset is accepted: the clock was forgotten.
  assert.equal(w.add(T0 - 3_600_000), true);
  assert.equal(w.total(T0 - 3_600_000), 1);
  assert.equal(w.oldest(T0 - 3_600_000), T0 - 3_600_000);
  w.reset();
  assert.equal(w.total(T0), 0);
  assert.equal(w.oldest(T0), null);
});

test('adds into older buckets of the window land in the right slot (no division on the newest bucket)', () => {
  const w = new CountWindow(10_000, 10); // 10 buckets of 1 s
  const ref: number[] = [];
  const rnd = prng(7);
  let now = T0;
  for (let i = 0; i < 5000; i++) {
    now += Math.floor(rnd() * 400);
    const ts = now - Math.floor(rnd() * 12_000); // some late, some too late
    if (w.add(ts)) ref.push(ts);
    if (i % 97 === 0) {
      const expected = ref.filter((t) => Math.floor(t / 1000) > Math.floor(now / 1000) - 10).length;
      assert.equal(w.total(now), expected, `at step ${i}`);
    }
  }
});
