import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DistinctWindow } from './distinct.js';
import { prng } from '../../core/prng.js';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

test('counts distinct values last seen in (now - windowMs, now], to the millisecond', () => {
  const w = new DistinctWindow(10_000, 100);
  w.add(T0, 'a');
  w.add(T0 + 1, 'b');
  w.add(T0 + 2, 'a'); // seen again: not a new value, and it stays longer
  assert.equal(w.count(T0 + 2), 2);
  assert.equal(w.count(T0 + 10_000), 2, 'a last seen at T0+2');
  assert.equal(w.count(T0 + 10_001), 1, 'b left exactly one window after it was seen');
  assert.deepEqual(w.sample(10), ['a']);
  assert.equal(w.count(T0 + 10_002), 0);
  assert.deepEqual(w.sample(10), []);
  assert.throws(() => new DistinctWindow(0, 10), RangeError);
  assert.throws(() => new DistinctWindow(1000, 0), RangeError);
});

test('late events: inside the window accepted and placed by their time; never move a value backwards', () => {
  const w = new DistinctWindow(10_000, 100);
  w.add(T0 + 5000, 'a');
  w.add(T0 + 8000, 'b');
  assert.equal(w.add(T0 + 2000, 'a'), true, 'a late duplicate is accepted…');
  assert.equal(w.count(T0 + 15_000), 1, '…but does not move a back to T0+2000: a expires at T0+15000');
  assert.deepEqual(w.sample(5), ['b']);
  // A late new value, and a late update of an older value, are placed by time.
  assert.equal(w.add(T0 + 7000, 'c'), true);
  w.add(T0 + 16_000, 'd');
  assert.equal(w.add(T0 + 7500, 'c'), true, 'moves c forward, still before b');
  assert.deepEqual(w.sample(5), ['c', 'b', 'd']);
  assert.equal(w.count(T0 + 17_499), 3);
  assert.equal(w.count(T0 + 17_500), 2, 'c left at its own time, although it was updated after b');
  assert.equal(w.count(T0 + 18_000), 1);
  assert.equal(w.add(T0 + 8000, 'e'), false, 'one window late: outside');
  assert.equal(w.add(Number.NaN, 'e'), false);
  assert.equal(w.add(Number.POSITIVE_INFINITY, 'e'), false);
  assert.equal(w.count(T0 + 10), 1, 'an earlier now is answered as of the newest time seen');
});

test('the cap evicts the least recently seen value and counts evictions', () => {
  const w = new DistinctWindow(60_000, 3);
  w.add(T0, 'a');
  w.add(T0 + 1, 'b');
  w.add(T0 + 2, 'c');
  w.add(T0 + 3, 'a'); // a is now the most recent
  assert.equal(w.capped, 0);
  w.add(T0 + 4, 'd'); // evicts b
  assert.equal(w.capped, 1);
  assert.equal(w.count(T0 + 4), 3);
  assert.deepEqual(w.sample(10), ['c', 'a', 'd']);
  w.add(T0 + 5, 'b'); // b comes back as new, evicts c
  assert.equal(w.capped, 2);
  assert.deepEqual(w.sample(2), ['d', 'b']);
  // A late new value older than every kept one is the one dropped.
  assert.equal(w.add(T0 + 1, 'z'), true);
  assert.equal(w.capped, 3);
  assert.deepEqual(w.sample(10), ['a', 'd', 'b']);
  // Known values do not evict.
  w.add(T0 + 6, 'a');
  assert.equal(w.capped, 3);
  // After expiry there is room again.
  assert.equal(w.count(T0 + 60_005), 1);
  w.add(T0 + 60_005, 'x');
  w.add(T0 + 60_005, 'y');
  assert.equal(w.capped, 3);
  assert.equal(w.count(T0 + 60_005), 3);
  assert.deepEqual(w.sample(10), ['a', 'x', 'y']);
});

test('many distinct values: storage grows to the cap and expires back to nothing', () => {
  const w = new DistinctWindow(1000, 5000);
  for (let i = 0; i < 20_000; i++) w.add(T0 + i, `ip-${i % 7000}`);
  assert.equal(w.count(T0 + 19_999), 1000, 'only the last second');
  assert.equal(w.capped, 0);
  for (let i = 0; i < 6000; i++) w.add(T0 + 20_000, `u-${i}`);
  assert.equal(w.count(T0 + 20_000), 5000);
  assert.equal(w.capped, 1000 + 999, 'the 999 older values still in the window, then the oldest new ones');
  assert.deepEqual(w.sample(2), ['u-5998', 'u-5999']);
  assert.equal(w.count(T0 + 21_000), 0);
});

test('property: count matches a brute-force reference over a seeded random stream (late events, cap)', () => {
  for (const [windowMs, cap, seed] of [
    [5000, 1_000_000, 11], // no eviction
    [5000, 40, 12], // heavy eviction
    [200, 8, 13],
  ] as const) {
    const rnd = prng(seed);
    const w = new DistinctWindow(windowMs, cap);
    const ref = new Map<string, number>(); // value -> last seen
    let clock = Number.NEGATIVE_INFINITY;
    let capped = 0;
    let refused = 0;
    const used = new Set<number>();
    const expire = () => {
      for (const [v, t] of ref) if (t <= clock - windowMs) ref.delete(v);
    };
    let t = T0;
    for (let i = 0; i < 20_000; i++) {
      t += Math.floor(rnd() * rnd() * windowMs * 0.02) + 1;
      if (rnd() < 0.001) t += windowMs * 3;
      let ts = rnd() < 0.25 ? t - Math.floor(rnd() * windowMs * 1.1) : t;
      // Unique times, so "least recently seen" is never a tie.
      while (used.has(ts)) ts -= 1;
      used.add(ts);
      const value = `v${Math.floor(rnd() * rnd() * 200)}`;
      let ok = true;
      if (ts > clock) {
        clock = ts;
        expire();
      } else if (ts <= clock - windowMs) ok = false;
      if (ok) {
        const prev = ref.get(value);
        if (prev !== undefined) ref.set(value, Math.max(prev, ts));
        else if (ref.size < cap) ref.set(value, ts);
        else {
          capped++;
          let oldV = '';
          let oldT = Number.POSITIVE_INFINITY;
          for (const [v, tt] of ref) if (tt < oldT) [oldV, oldT] = [v, tt];
          if (ts > oldT) {
            ref.delete(oldV);
            ref.set(value, ts);
          }
        }
      }
      assert.equal(w.add(ts, value), ok, `add #${i}`);
      if (!ok) refused++;
      if (i % 5 === 0) {
        const now = t + Math.floor(rnd() * windowMs * 0.1);
        if (now > clock) {
          clock = now;
          expire();
        }
        assert.equal(w.count(now), ref.size, `count #${i} (window ${windowMs}, cap ${cap})`);
        assert.equal(w.capped, capped);
        const newest = [...ref].sort((x, y) => x[1] - y[1]).slice(-5).map(([v]) => v);
        assert.deepEqual(w.sample(5), newest);
      }
    }
    // The stream did exercise what it is meant to.
    assert.ok(refused > 100, `late events outside the window (${refused})`);
    if (cap < 1000) assert.ok(capped > 100, `evictions (${capped})`);
  }
});

test('reset: no values, no clock, no cap count; the window fills again up to its cap', () => {
  const w = new DistinctWindow(60_000, 100);
  for (let i = 0; i < 300; i++) w.add(1_000_000 + i, `/p${i}`);
  assert.equal(w.capped, 200);
  w.reset();
  assert.equal(w.count(0), 0);
  assert.equal(w.capped, 0);
  assert.deepEqual(w.sample(5), []);
  assert.equal(w.add(5, '/p1'), true, 'an earlier time than before the reset is accepted');
  for (let i = 0; i < 150; i++) w.add(10 + i, `/q${i}`);
  assert.equal(w.count(200), 100);
  assert.equal(w.capped, 51);
  assert.deepEqual(w.sample(2), ['/q148', '/q149']);
});
