import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClfTime, parseClfTimeMs, parseEpochSeconds, parseIsoTime } from './common.js';

test('CLF times: the second read once is reused only for the same second and zone', () => {
  // Consecutive lines as a log has them: same second, other fractions, then another zone, then another second.
  const cases: [string, string | null][] = [
    ['10/Oct/2000:13:55:36 -0700', '2000-10-10T20:55:36.000Z'],
    ['10/Oct/2000:13:55:36.250 -0700', '2000-10-10T20:55:36.250Z'],
    ['10/Oct/2000:13:55:36.9996 -0700', '2000-10-10T20:55:37.000Z'],
    ['10/Oct/2000:13:55:36 +0000', '2000-10-10T13:55:36.000Z'],
    ['10/Oct/2000:13:55:36.5 +0000', '2000-10-10T13:55:36.500Z'],
    ['10/Oct/2000:13:55:37 +0000', '2000-10-10T13:55:37.000Z'],
    // Malformed right after a valid line with the same second: never taken from the cache.
    ['10/Oct/2000:13:55:37 +00x0', null],
    ['10/Oct/2000:13:55:37 0000', null],
    ['10/Oct/2000:13:55:37.1x +0000', null],
    ['10/Oct/2000:13:55:37  +0000', null],
    ['10/Oct/2000:13:55:37 +0000 ', null],
    ['10/Oct/2000:13:55:37 +0000', '2000-10-10T13:55:37.000Z'],
    ['31/Dec/9999:23:59:59 -2359', '+010000-01-01T23:58:59.000Z'],
    ['32/Oct/2000:13:55:37 +0000', null],
    // Impossible dates and offsets are refused, not rolled over; a leap second reads as the next minute.
    ['31/Feb/2023:10:00:00 +0000', null],
    ['29/Feb/2023:10:00:00 +0000', null],
    ['29/Feb/2024:10:00:00 +0000', '2024-02-29T10:00:00.000Z'],
    ['29/Feb/1900:10:00:00 +0000', null],
    ['29/Feb/2000:10:00:00 +0000', '2000-02-29T10:00:00.000Z'],
    ['31/Apr/2024:10:00:00 +0000', null],
    ['24/Nov/2026:10:00:00 +2400', null],
    ['24/Nov/2026:10:00:00 +0060', null],
    ['24/Nov/2026:10:00:00 -2359', '2026-11-25T09:59:00.000Z'],
    ['31/Dec/2016:23:59:60 +0000', '2017-01-01T00:00:00.000Z'],
  ];
  for (const [text, iso] of cases) assert.equal(parseClfTime(text), iso, text);
  // In place, within a longer line.
  const line = 'x [10/Oct/2000:13:55:36.250 -0700] y';
  assert.equal(parseClfTimeMs(line, 3, line.indexOf(']')), Date.parse('2000-10-10T20:55:36.250Z'));
});

test('ISO times: impossible dates are refused, not rolled over', () => {
  assert.equal(parseIsoTime('2024-02-29T10:00:00Z'), '2024-02-29T10:00:00.000Z');
  assert.equal(parseIsoTime('2024-02-31T10:00:00Z'), null);
  assert.equal(parseIsoTime('2023-02-29T10:00:00.5+01:00'), null);
  assert.equal(parseIsoTime('2024-04-31T10:00:00Z'), null);
});

test('epoch seconds outside what a Date holds are no time, not an exception', () => {
  assert.equal(parseEpochSeconds('1700000000.123'), '2023-11-14T22:13:20.123Z');
  assert.equal(parseEpochSeconds('1e20'), null);
  assert.equal(parseEpochSeconds('8640000000000.001'), null);
  assert.equal(parseEpochSeconds('-5'), null);
  assert.equal(parseEpochSeconds('abc'), null);
});
