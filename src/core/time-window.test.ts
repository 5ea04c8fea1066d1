import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTimeWindow, localTime, parseDays } from './time-window.js';
import { TimeWindowSchema } from '../config/access-schema.js';

const window = (v: unknown) => compileTimeWindow(TimeWindowSchema.parse(v));

test('days: single days, ranges and ranges that wrap over the weekend', () => {
  assert.deepEqual(parseDays(['mon-fri']), [true, true, true, true, true, false, false]);
  assert.deepEqual(parseDays(['sat', 'sun']), [false, false, false, false, false, true, true]);
  assert.deepEqual(parseDays(['fri-mon']), [true, false, false, false, true, true, true]);
});

test('local time follows the zone, including the date line', () => {
  const t = Date.UTC(2026, 10, 24, 23, 30); // Tue 23:30 UTC
  assert.deepEqual(localTime(t, 'UTC'), { day: 1, minutes: 23 * 60 + 30 });
  assert.deepEqual(localTime(t, 'Europe/Berlin'), { day: 2, minutes: 30 }); // Wed 00:30
  assert.deepEqual(localTime(t, 'America/New_York'), { day: 1, minutes: 18 * 60 + 30 });
  assert.deepEqual(localTime(t, 'Pacific/Kiritimati'), { day: 2, minutes: 13 * 60 + 30 }); // UTC+14
});

test('business hours in Berlin across both daylight-saving changes', () => {
  const office = window({ days: ['mon-fri'], hours: '08:00-18:00', tz: 'Europe/Berlin' });
  // Summer (UTC+2): 06:30 UTC is 08:30 local; winter (UTC+1): 06:30 UTC is 07:30 local.
  assert.equal(office(Date.UTC(2026, 2, 27, 6, 30)), false, 'Fri 27 Mar 2026, before the change: 07:30 CET');
  assert.equal(office(Date.UTC(2026, 2, 30, 6, 30)), true, 'Mon 30 Mar 2026, after the change: 08:30 CEST');
  assert.equal(office(Date.UTC(2026, 9, 23, 15, 30)), true, 'Fri 23 Oct 2026: 17:30 CEST');
  assert.equal(office(Date.UTC(2026, 9, 26, 16, 30)), true, 'Mon 26 Oct 2026: 17:30 CET');
  assert.equal(office(Date.UTC(2026, 9, 26, 17, 0)), false, 'Mon 26 Oct 2026: 18:00 CET, the end is exclusive');
  assert.equal(office(Date.UTC(2026, 9, 25, 10, 0)), false, 'Sunday');
});

test('a window past midnight belongs to the day it starts', () => {
  const night = window({ days: ['fri'], hours: '22:00-06:00', tz: 'UTC' });
  assert.equal(night(Date.UTC(2026, 10, 27, 23, 0)), true, 'Fri 23:00');
  assert.equal(night(Date.UTC(2026, 10, 28, 5, 59)), true, 'Sat 05:59 is still Friday night');
  assert.equal(night(Date.UTC(2026, 10, 28, 6, 0)), false);
  assert.equal(night(Date.UTC(2026, 10, 27, 5, 0)), false, 'Fri 05:00 belongs to Thursday night');
  assert.equal(night(Date.UTC(2026, 10, 28, 23, 0)), false, 'Sat 23:00');
});

test('the default window is always; 24:00 is the end of the day', () => {
  const always = window({});
  assert.equal(always(Date.UTC(2026, 0, 1, 0, 0)), true);
  const evening = window({ hours: '18:00-24:00' });
  assert.equal(evening(Date.UTC(2026, 0, 1, 23, 59)), true);
  assert.equal(evening(Date.UTC(2026, 0, 1, 0, 0)), false);
});

test('invalid zones, days and hours are config errors', () => {
  assert.equal(TimeWindowSchema.safeParse({ tz: 'Mars/Olympus' }).success, false);
  assert.equal(TimeWindowSchema.safeParse({ days: ['monday'] }).success, false);
  assert.equal(TimeWindowSchema.safeParse({ hours: '8-18' }).success, false);
});
