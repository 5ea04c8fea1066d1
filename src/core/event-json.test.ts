import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serializeEvent } from './event-json.js';
import { emptyEvent, FIELDS } from './event.js';
import { uuidv7 } from './ids.js';

test('serializeEvent is byte-for-byte JSON.stringify for a full event', () => {
  const e = emptyEvent(uuidv7(), '2026-11-24T08:00:00.123Z', 'http', 'tollgate');
  e.duration_ms = 12.345;
  e.client_port = 5555;
  e.path = '/a "quoted" \\ path\n\t\u0001 ünïcödé ✓ \u2028';
  e.user_agent = 'lone surrogate \ud800 here';
  e.status = 200;
  e.headers = { 'req.accept': 'a"b', 'res.x': 'y' };
  e.labels = { team: 'platform' };
  e.bytes_out = 0;
  e.upstream_ms = Number.NaN; // not representable: JSON.stringify writes null
  assert.equal(serializeEvent(e), JSON.stringify(e));
  assert.deepEqual(JSON.parse(serializeEvent(e)), JSON.parse(JSON.stringify(e)));
});

test('serializeEvent keeps the catalog order and every field', () => {
  const e = emptyEvent(uuidv7(), new Date().toISOString(), 'websocket', 'tollgate');
  const parsed = JSON.parse(serializeEvent(e)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed), FIELDS.map((f) => f.name));
  assert.equal(serializeEvent(e), JSON.stringify(e));
});
