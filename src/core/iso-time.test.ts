import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IsoMillis, isoFromMs } from './iso-time.js';
import { prng } from './prng.js';

test('IsoMillis agrees with Date.parse on event timestamps, across seconds, days and years', () => {
  const p = new IsoMillis();
  const rnd = prng(3);
  let ms = Date.UTC(2026, 11, 31, 23, 59, 58, 0);
  for (let i = 0; i < 20_000; i++) {
    ms += Math.floor(rnd() * 40);
    const t = new Date(ms).toISOString();
    assert.equal(p.parse(t), ms, t);
  }
});

test('IsoMillis: other shapes go to Date.parse; invalid ones are NaN, and never poison the cache', () => {
  const p = new IsoMillis();
  assert.equal(p.parse('2026-01-01T00:00:00Z'), Date.UTC(2026, 0, 1));
  assert.equal(p.parse('2026-01-01T00:00:00.5+01:00'), Date.parse('2026-01-01T00:00:00.5+01:00'));
  assert.ok(Number.isNaN(p.parse('2026-13-01T00:00:00.000Z')), 'month 13');
  assert.ok(Number.isNaN(p.parse('2026-01-01T00:00:00.0x0Z')));
  assert.ok(Number.isNaN(p.parse('not a time at all, 24 ch')));
  assert.equal(p.parse('2026-01-01T00:00:00.123Z'), Date.UTC(2026, 0, 1) + 123);
  // Whatever Date.parse makes of an impossible date (V8: Feb 30 is Mar 2), the same; the strict assert holds NaN equal to NaN.
  assert.equal(p.parse('2026-02-30T00:00:00.123Z'), Date.parse('2026-02-30T00:00:00.123Z'), 'as Date.parse');
  assert.equal(p.parse('2026-01-01T00:00:00.999Z'), Date.UTC(2026, 0, 1) + 999);
});

test('isoFromMs writes what toISOString writes, in and out of time order, across second, day and year boundaries', () => {
  const times = [0, 1, 999, 1000, -1, -1000, -1001, 1710238532123, 1710238532999, 1710238533000, 1710238532000, Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), 253402300799999];
  const rnd = prng(7);
  for (let i = 0; i < 2000; i++) times.push(Math.floor(1.7e12 + rnd() * 1e10));
  for (const ms of times) assert.equal(isoFromMs(ms), new Date(ms).toISOString(), String(ms));
});
