import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readTime, timeParam } from './http.js';

test('time parameters are read as the event API reads them: no offset is UTC, impossible or out-of-range times are errors', () => {
  const errors: string[] = [];
  assert.equal(timeParam('from', '2026-01-01T00:00', errors), '2026-01-01T00:00:00.000Z');
  assert.equal(timeParam('from', '2026-01-01T02:00:00+02:00', errors), '2026-01-01T00:00:00.000Z');
  assert.equal(timeParam('to', '1767225600000', errors), '2026-01-01T00:00:00.000Z');
  assert.deepEqual(errors, []);
  assert.equal(timeParam('from', '2026-02-30T00:00:00Z', errors), undefined);
  assert.equal(timeParam('to', '9999999999999999', errors), undefined);
  assert.equal(timeParam('to', 'yesterday', errors), undefined);
  assert.equal(errors.length, 3);
  assert.match(errors[0], /`from`/);
  assert.match(errors[1], /`to` is outside the range of dates/);
  assert.deepEqual(readTime('at', 1767225600000), { ms: 1767225600000 });
  assert.ok('error' in readTime('at', 1.5));
  assert.ok('error' in readTime('at', {}));
});
