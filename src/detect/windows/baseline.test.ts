import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HourOfWeekBaseline, type BaselineJSON } from './baseline.js';
import { prng } from '../../core/prng.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const WEEK = 168 * HOUR;
/** Slot of a local day (0 = Monday) and hour. */
const slot = (day: number, hour: number) => day * 24 + hour;
const state = (b: HourOfWeekBaseline) => b.toJSON();

/** One observation every `stepMs` in [from, to), of n(ts) events. */
function feed(b: HourOfWeekBaseline, from: number, to: number, stepMs: number, n: (ts: number) => number = () => 1): void {
  for (let ts = from; ts < to; ts += stepMs) b.observe(ts, n(ts));
}

/** Slots whose weeks are non-zero, with their means. */
function learned(j: BaselineJSON): Map<number, number> {
  const m = new Map<number, number>();
  j.weeks.forEach((w, i) => {
    if (w > 0) m.set(i, j.mean[i]);
  });
  return m;
}

const MON = Date.UTC(2026, 0, 5); // Monday 5 January 2026, 00:00 UTC

test('learns per hour of week over several weeks; a spike moves the mean by alpha', () => {
  const b = new HourOfWeekBaseline({ tz: 'UTC' });
  assert.equal(b.alpha, 0.3);
  const weekly = (h: number, week: number) => {
    const day = Math.floor(h / 24);
    const hod = h % 24;
    if (day === 1 && hod === 3) return [10, 20, 40, 0][week] ?? 0; // Tue 03: varies by week (0 = no events at all)
    return day < 5 && hod >= 9 && hod < 17 ? 100 : 10;
  };
  for (let week = 0; week < 4; week++) {
    for (let h = 0; h < 168; h++) {
      const n = weekly(h, week);
      if (n > 0) b.observe(MON + week * WEEK + h * HOUR + 30 * MIN, n);
    }
  }
  const w4 = MON + 4 * WEEK;
  // Slots are queried with times in week 0: a past time folds nothing.
  const at = (h: number) => MON + h * HOUR;
  assert.deepEqual(b.expected(w4), { mean: 10, weeks: 4 }, 'Mon 00:00 of week 4 folds Sun 23:00 of week 3');
  assert.deepEqual(b.expected(at(10)), { mean: 100, weeks: 4 });
  assert.deepEqual(b.expected(at(6 * 24 + 23)), { mean: 10, weeks: 4 });
  assert.deepEqual(b.expected(at(6 * 24 + 12)), { mean: 10, weeks: 4 }, 'weekend afternoon');
  const tue3 = b.expected(at(27));
  // 10, then 10 + .3·(20-10) = 13, 13 + .3·(40-13) = 21.1, then a week with no events: .7·21.1.
  assert.ok(tue3 !== null && Math.abs(tue3.mean - 0.7 * 21.1) < 1e-9 && tue3.weeks === 4, JSON.stringify(tue3));
  // Week 4: a spike at Mon 10:00.
  b.observe(w4 + 10 * HOUR + 5 * MIN, 1000);
  assert.deepEqual(b.expected(w4 + 10 * HOUR + 50 * MIN), { mean: 100, weeks: 4 }, 'the hour is not complete yet');
  b.observe(w4 + 11 * HOUR, 100);
  const spiked = b.expected(at(10));
  assert.ok(spiked !== null && Math.abs(spiked.mean - (100 + 0.3 * 900)) < 1e-9 && spiked.weeks === 5, JSON.stringify(spiked));
  // Mon 00:00-09:00 of week 4 had no events: folded as zeros when the spike arrived.
  const mon3 = b.expected(at(3));
  assert.ok(mon3 !== null && Math.abs(mon3.mean - 7) < 1e-9 && mon3.weeks === 5, JSON.stringify(mon3));
  // A week later, a normal Monday pulls it back towards 100.
  for (let h = 12; h < 168 + 11; h++) b.observe(w4 + h * HOUR + 30 * MIN, weekly(h % 168, 0));
  assert.deepEqual(b.expected(w4 + WEEK + 11 * HOUR), { mean: 100, weeks: 5 }, 'folds Mon 10:00 of week 5');
  const back = b.expected(at(10));
  assert.ok(back !== null && Math.abs(back.mean - (370 + 0.3 * (100 - 370))) < 1e-9 && back.weeks === 6, JSON.stringify(back));

  const fast = new HourOfWeekBaseline({ tz: 'UTC', alpha: 1 });
  fast.observe(MON, 5);
  fast.observe(MON + WEEK, 9);
  fast.observe(MON + WEEK + HOUR);
  assert.deepEqual(fast.expected(MON), { mean: 9, weeks: 2 });
});

test('nothing is known before the first observation or before an hour completes', () => {
  const b = new HourOfWeekBaseline({ tz: 'UTC' });
  assert.equal(b.expected(MON + 10 * HOUR), null);
  b.observe(MON + 10 * HOUR + 15 * MIN, 5);
  assert.equal(b.expected(MON + 10 * HOUR + 20 * MIN), null, 'the hour is still open');
  assert.equal(b.expected(MON + 11 * HOUR), null, 'Mon 11:00 is open now');
  assert.deepEqual(b.expected(MON - WEEK + 10 * HOUR), { mean: 5, weeks: 1 }, 'expected() folded Mon 10:00');
  assert.equal(b.expected(MON + 9 * HOUR - WEEK), null, 'before the first observation');
  assert.equal(b.expected(Number.NaN), null);
  assert.throws(() => new HourOfWeekBaseline({ tz: 'Mars/Olympus_Mons' }), RangeError);
  assert.throws(() => new HourOfWeekBaseline({ tz: 'UTC', alpha: 0 }), RangeError);
  assert.throws(() => new HourOfWeekBaseline({ tz: 'UTC', alpha: 1.5 }), RangeError);
  assert.throws(() => b.observe(MON, -1), RangeError);
});

test('hours without events are folded as zeros; catch-up after a long gap is capped at 168 hours', () => {
  const b = new HourOfWeekBaseline({ tz: 'UTC' });
  b.observe(MON + 10 * HOUR + 15 * MIN, 50);
  b.observe(MON + 14 * HOUR + 5 * MIN);
  const s = learned(state(b));
  assert.deepEqual([...s], [[slot(0, 10), 50], [slot(0, 11), 0], [slot(0, 12), 0], [slot(0, 13), 0]]);

  // Three weeks and two hours later: Mon 14:00 is folded (1), then only the
  // last 168 hours are folded as zeros (one per slot), not three weeks of them.
  const later = MON + 3 * WEEK + 16 * HOUR + 5 * MIN;
  b.observe(later, 7);
  const j = state(b);
  assert.equal(Math.max(...j.weeks), 2);
  assert.equal(j.weeks.filter((w) => w === 2).length, 5, 'Mon 10-14: once before the gap, once in the catch-up');
  assert.equal(j.weeks.filter((w) => w === 1).length, 163);
  assert.ok(Math.abs(j.mean[slot(0, 10)] - 35) < 1e-9);
  assert.ok(Math.abs(j.mean[slot(0, 14)] - 0.7) < 1e-9);
  assert.equal(j.mean[slot(0, 9)], 0);
  assert.equal(j.weeks[slot(0, 16)], 1, 'folded as a zero a week before the open hour');
  assert.equal(j.open?.slot, slot(0, 16));
  assert.equal(j.open?.count, 7);

  // Ten years later: still at most 168 steps, every slot folded once more.
  const started = process.hrtime.bigint();
  b.observe(later + 520 * WEEK, 1);
  assert.ok(process.hrtime.bigint() - started < 2_000_000_000n);
  assert.equal(Math.max(...state(b).weeks), 3);
  assert.equal(Math.min(...state(b).weeks), 2);
});

test('late events: the hour just folded is corrected exactly; older ones are dropped', () => {
  const b = new HourOfWeekBaseline({ tz: 'UTC' });
  b.observe(MON + 10 * HOUR + 15 * MIN, 10);
  b.observe(MON + 11 * HOUR + 5 * MIN);
  b.observe(MON + 10 * HOUR + 59 * MIN, 2); // late: the first fold of Mon 10 becomes 12
  assert.deepEqual(b.expected(MON + 10 * HOUR - WEEK), { mean: 12, weeks: 1 });
  b.observe(MON + 9 * HOUR, 100); // before the first observation: dropped
  b.observe(MON + WEEK + 10 * HOUR + 15 * MIN, 20);
  b.observe(MON + WEEK + 11 * HOUR + 5 * MIN);
  b.observe(MON + WEEK + 10 * HOUR + 50 * MIN, 10); // late into a later week's fold: + alpha·10
  const e = b.expected(MON + 10 * HOUR);
  assert.ok(e !== null && Math.abs(e.mean - (12 + 0.3 * (30 - 12))) < 1e-9 && e.weeks === 2, JSON.stringify(e));
  b.observe(MON + WEEK + 9 * HOUR + 30 * MIN, 1000); // two hours late: dropped
  assert.deepEqual(b.expected(MON + WEEK + 9 * HOUR), { mean: 0, weeks: 1 });
});

test('DST in Europe/Berlin, last Sunday of March: the missing 02:00 hour is not folded', () => {
  const b = new HourOfWeekBaseline({ tz: 'Europe/Berlin' });
  const from = Date.UTC(2026, 2, 27); // Fri 27 Mar 00:00 UTC = 01:00 CET
  const to = Date.UTC(2026, 2, 31); // Tue 31 Mar 00:00 UTC = 02:00 CEST
  feed(b, from, to, 10 * MIN);
  b.expected(to);
  const s = learned(state(b));
  assert.equal(s.size, 96, '96 real hours, 96 slots');
  for (const [k, mean] of s) assert.equal(mean, 6, `slot ${k}`);
  assert.equal(s.has(slot(6, 2)), false, 'Sun 02:00 did not exist');
  assert.equal(b.expected(Date.UTC(2026, 2, 22, 1, 30)), null, 'Sun 22 Mar 02:30 CET: that slot');
  assert.deepEqual(b.expected(Date.UTC(2026, 2, 29, 0, 30)), { mean: 6, weeks: 1 }, 'Sun 01:30 CET');
  assert.deepEqual(b.expected(Date.UTC(2026, 2, 29, 1, 30)), { mean: 6, weeks: 1 }, 'Sun 03:30 CEST');
  assert.equal(s.has(slot(4, 1)) && !s.has(slot(4, 0)), true, 'from Fri 01:00 local');
  assert.equal(s.has(slot(1, 1)) && !s.has(slot(1, 2)), true, 'to Tue 01:00 local (02:00 is open)');
  const sunday = [...s].filter(([k]) => k >= slot(6, 0)).length;
  assert.equal(sunday, 23, 'a 23-hour Sunday');
});

test('DST in Europe/Berlin, last Sunday of October: the repeated 02:00 hour is folded once, per hour', () => {
  const b = new HourOfWeekBaseline({ tz: 'Europe/Berlin' });
  const from = Date.UTC(2026, 9, 23); // Fri 23 Oct 00:00 UTC = 02:00 CEST
  const to = Date.UTC(2026, 9, 27); // Tue 27 Oct 00:00 UTC = 01:00 CET
  const cest2 = Date.UTC(2026, 9, 25, 0); // Sun 02:00 CEST
  const cet2 = Date.UTC(2026, 9, 25, 1); // Sun 02:00 CET, the second 02:00
  // Three times the traffic in the second 02:00 hour: 6 + 18 over two hours.
  feed(b, from, to, 10 * MIN, (ts) => (ts >= cet2 && ts < cet2 + HOUR ? 3 : 1));
  b.expected(to);
  const j = state(b);
  const s = learned(j);
  assert.equal(s.size, 95, '96 real hours, 95 slots');
  assert.equal(Math.max(...j.weeks), 1, 'no slot folded twice');
  assert.equal(s.get(slot(6, 2)), 12, 'Sun 02:00: (6 + 18) events over 2 hours');
  for (const [k, mean] of s) if (k !== slot(6, 2)) assert.equal(mean, 6, `slot ${k}`);
  assert.equal([...s].filter(([k]) => k >= slot(6, 0)).length, 24);
  assert.deepEqual(b.expected(cest2 + 30 * MIN), { mean: 12, weeks: 1 });
  assert.deepEqual(b.expected(cet2 + 30 * MIN), { mean: 12, weeks: 1 });
  // A late event in the doubled hour counts half per hour.
  const k = new HourOfWeekBaseline({ tz: 'Europe/Berlin' });
  k.observe(cest2 + 10 * MIN, 4);
  k.observe(cet2 + 10 * MIN, 4);
  k.observe(cet2 + HOUR + 10 * MIN); // Sun 03:00 CET: folds 02:00 as 8 / 2 h
  k.observe(cet2 + 50 * MIN, 2); // late, in the doubled hour
  assert.deepEqual(k.expected(cest2), { mean: 5, weeks: 1 });
});

test('zones without DST: Asia/Kolkata (UTC+5:30) has local hours starting at :30 UTC and no gaps', () => {
  const b = new HourOfWeekBaseline({ tz: 'Asia/Kolkata' });
  const from = Date.UTC(2026, 2, 27); // the Berlin spring range: Fri 05:30 IST
  const to = Date.UTC(2026, 2, 31);
  feed(b, from, to, 10 * MIN);
  b.expected(to);
  const s = learned(state(b));
  assert.equal(s.size, 96);
  assert.equal(s.get(slot(4, 5)), 3, 'Fri 05:00 IST: only 05:30-05:59 observed');
  for (const [k, mean] of s) if (k !== slot(4, 5)) assert.equal(mean, 6, `slot ${k}`);
  assert.equal(s.has(slot(1, 4)) && !s.has(slot(1, 5)), true);

  const c = new HourOfWeekBaseline({ tz: 'Asia/Kolkata' });
  c.observe(Date.UTC(2026, 0, 5, 4, 29), 1); // Mon 09:59 IST
  c.observe(Date.UTC(2026, 0, 5, 4, 31), 2); // Mon 10:01 IST: a new hour
  c.observe(Date.UTC(2026, 0, 5, 5, 31), 0); // Mon 11:01 IST
  assert.deepEqual([...learned(state(c))], [[slot(0, 9), 1], [slot(0, 10), 2]]);

  const tokyo = new HourOfWeekBaseline({ tz: 'Asia/Tokyo' });
  feed(tokyo, Date.UTC(2026, 9, 23), Date.UTC(2026, 9, 27), 10 * MIN);
  tokyo.expected(Date.UTC(2026, 9, 27));
  const t = state(tokyo);
  assert.equal(learned(t).size, 96, 'no repeated hour in October either');
  assert.equal(Math.max(...t.weeks), 1);
});

test('several weeks across both DST changes in Berlin: every existing hour converges, none doubles', () => {
  const b = new HourOfWeekBaseline({ tz: 'Europe/Berlin', alpha: 0.5 });
  // Mid-March to mid-November 2026, one event a minute: 60 per real hour.
  feed(b, Date.UTC(2026, 2, 16), Date.UTC(2026, 10, 16), MIN);
  b.expected(Date.UTC(2026, 10, 16)); // Mon 01:00 CET: folds everything fed
  const j = state(b);
  const weeks = 35;
  for (let k = 0; k < 168; k++) {
    assert.ok(Math.abs(j.mean[k] - 60) < 1e-9, `slot ${k}: ${j.mean[k]}`);
    assert.ok(j.weeks[k] >= weeks - 1 && j.weeks[k] <= weeks + 1, `slot ${k}: ${j.weeks[k]} weeks`);
  }
  // Sun 02:00 missed a fold in March and was folded once (not twice) in October.
  assert.equal(j.weeks[slot(6, 2)], j.weeks[slot(6, 1)] - 1);
});

test('toJSON / fromJSON round trip, mid-hour, continues exactly like the original', () => {
  const opts = { tz: 'Europe/Berlin' };
  const rnd = prng(17);
  const a = new HourOfWeekBaseline(opts);
  const from = Date.UTC(2026, 2, 20);
  const mid = Date.UTC(2026, 2, 30, 10, 17);
  const to = Date.UTC(2026, 3, 14);
  const stream: [number, number][] = [];
  for (let ts = from; ts < to; ts += Math.floor(rnd() * 20 * MIN)) stream.push([ts, Math.floor(rnd() * 5)]);
  for (const [ts, n] of stream) if (ts < mid) a.observe(ts, n);

  const saved = JSON.parse(JSON.stringify(a)) as unknown;
  const b = HourOfWeekBaseline.fromJSON(saved, opts);
  assert.deepEqual(b.toJSON(), a.toJSON());
  assert.ok((b.toJSON().open?.count ?? 0) > 0, 'the open hour is carried over');
  for (const [ts, n] of stream) {
    if (ts < mid) continue;
    a.observe(ts, n);
    b.observe(ts, n);
  }
  assert.deepEqual(b.toJSON(), a.toJSON());
  assert.deepEqual(b.expected(to + HOUR), a.expected(to + HOUR));
  // alpha comes from the options.
  assert.equal(HourOfWeekBaseline.fromJSON(saved, { ...opts, alpha: 0.1 }).alpha, 0.1);
  // A fresh baseline round-trips too.
  const empty = HourOfWeekBaseline.fromJSON(JSON.parse(JSON.stringify(new HourOfWeekBaseline(opts))), opts);
  assert.equal(empty.expected(mid), null);
  // Wrong zone, malformed input.
  assert.throws(() => HourOfWeekBaseline.fromJSON(saved, { tz: 'UTC' }), RangeError);
  assert.throws(() => HourOfWeekBaseline.fromJSON(null, opts), TypeError);
  assert.throws(() => HourOfWeekBaseline.fromJSON({ ...a.toJSON(), version: 2 }, opts), TypeError);
  assert.throws(() => HourOfWeekBaseline.fromJSON({ ...a.toJSON(), mean: [1, 2] }, opts), TypeError);
  assert.throws(() => HourOfWeekBaseline.fromJSON({ ...a.toJSON(), weeks: a.toJSON().weeks.map(() => 0.5) }, opts), TypeError);
  assert.throws(() => HourOfWeekBaseline.fromJSON({ ...a.toJSON(), open: { start: 1 } }, opts), TypeError);
});
