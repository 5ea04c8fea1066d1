import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEventFilter } from './event-filter.js';
import { emptyEvent, type AuditEvent } from '../core/event.js';
import { uuidv7 } from '../core/ids.js';

function ev(over: Partial<AuditEvent>): AuditEvent {
  return { ...emptyEvent(uuidv7(), '2026-11-24T08:00:00.000Z', 'http', 'tollgate'), ...over };
}

test('the live filter means what the store filter means', () => {
  const ok = ev({ status: 503, host: 'api.test', path: '/v1/x', user_name: 'alice', rule_id: 'r1' });
  assert.equal(createEventFilter({ status: '5xx' })(ok), true);
  assert.equal(createEventFilter({ status: '4xx' })(ok), false);
  assert.equal(createEventFilter({ status: '503' })(ok), true);
  assert.equal(createEventFilter({ status: 'none' })(ok), false);
  assert.equal(createEventFilter({ status: 'none' })(ev({ status: null })), true, 'no response sent');
  assert.equal(createEventFilter({ host: 'API.test' })(ok), true, 'hosts match case-insensitively');
  assert.equal(createEventFilter({ user: 'alice' })(ok), true);
  assert.equal(createEventFilter({ rule_id: 'r1', path_prefix: '/v1' })(ok), true);
  assert.equal(createEventFilter({ path_prefix: '/v2' })(ok), false);
  assert.equal(createEventFilter({ host: 'other.test' })(ok), false);
  assert.equal(createEventFilter({ user: 'bob' })(ok), false);
  assert.equal(createEventFilter({ user: 'alice' })(ev({ user_id: 'alice' })), true, 'user matches user_id too');
  assert.equal(createEventFilter({ rule_id: 'r2' })(ok), false);
  assert.equal(createEventFilter({ from: '2026-11-24T08:00:00Z', to: '2026-11-24T08:00:01Z' })(ok), true);
  assert.equal(createEventFilter({ from: '2026-11-24T08:00:00.001Z' })(ok), false, 'from is inclusive, and after the event');
  assert.equal(createEventFilter({ to: '2026-11-24T08:00:00Z' })(ok), false, 'to is exclusive');
});

test('unknown keys and bad values are refused', () => {
  assert.throws(() => createEventFilter({ statuz: '5xx' }), /unknown stream parameter "statuz"/);
  assert.throws(() => createEventFilter({ status: 'bad' }), /invalid status/);
  assert.throws(() => createEventFilter({ from: 'yesterday' }), /invalid from/);
});

test('"!value" excludes, as in the store (kind=!admin leaves out the admin API\'s own events)', () => {
  assert.equal(createEventFilter({ kind: '!admin' })(ev({ kind: 'admin' })), false);
  assert.equal(createEventFilter({ kind: '!admin' })(ev({ kind: 'http' })), true);
  assert.equal(createEventFilter({ route: '!api' })(ev({ route: null })), true, 'absent is not equal');
});
