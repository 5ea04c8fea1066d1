import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestPickContext } from './pick-context.js';

test('the pick context reads headers (any case, joined) and cookies by exact name', () => {
  const p = new RequestPickContext('203.0.113.5', { 'x-user': 'alice', 'x-multi': ['a', 'b'], cookie: 'sid=s1; session=s2 ; theme=dark' });
  assert.equal(p.clientIp, '203.0.113.5');
  assert.equal(p.header('X-User'), 'alice');
  assert.equal(p.header('x-multi'), 'a, b');
  assert.equal(p.header('x-missing'), undefined);
  assert.equal(p.cookie('session'), 's2');
  assert.equal(p.cookie('sid'), 's1');
  assert.equal(p.cookie('si'), undefined);
  assert.equal(new RequestPickContext('::1', {}).cookie('sid'), undefined);
});
