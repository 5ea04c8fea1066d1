import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uuidv7, uuidv7Time, requestId } from './ids.js';

test('uuidv7 has version 7, RFC variant and encodes the time', () => {
  const now = Date.UTC(2026, 10, 24, 8, 0, 0, 123);
  const id = uuidv7(now);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(uuidv7Time(id), now);
});

test('uuidv7 ids made in a burst are unique and sort in creation order', () => {
  const ids: string[] = [];
  const t = Date.now() + 1000;
  for (let i = 0; i < 10000; i++) ids.push(uuidv7(t));
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids);
});

test('requestId is 32 hex characters and random', () => {
  const a = requestId();
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.notEqual(a, requestId());
});
