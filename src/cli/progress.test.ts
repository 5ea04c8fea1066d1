import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, progressLine } from './progress.js';

test('known size: a bar, percent, counts, rate and ETA within the width', () => {
  const line = progressLine({ lines: 250_000, events: 249_990, rejected: 10, bytes: 25, totalBytes: 100, elapsedMs: 1000 }, 100);
  assert.match(line, /^\[#+\.+\] {2}25% 250k lines, 250k events, 10 rejected 250k lines\/s ETA 3s$/);
  assert.ok(line.length <= 100);
});

test('unknown size (stdin, syslog, follow): counts, rate, elapsed and what is read', () => {
  assert.equal(progressLine({ lines: 1234, events: 1200, rejected: 0, bytes: 0, totalBytes: null, elapsedMs: 61_000, current: 'syslog' }), '1234 lines, 1200 events 20 lines/s (1m01s) syslog');
});

test('durations', () => {
  assert.deepEqual([formatDuration(0), formatDuration(59_400), formatDuration(3_600_000 + 120_000)], ['0s', '59s', '1h02m']);
});
