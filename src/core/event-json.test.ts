import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serializeEvent, completeEvent, recordTs } from './event-json.js';
import { emptyEvent, FIELDS } from './event.js';
import { uuidv7 } from './ids.js';

function withoutNulls(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null));
}

test('serializeEvent writes the non-null fields exactly as JSON.stringify would', () => {
  const e = emptyEvent(uuidv7(), '2026-11-24T08:00:00.123Z', 'http', 'tollgate');
  e.duration_ms = 12.345;
  e.client_port = 5555;
  e.path = '/a "quoted" \\ path\n\t\u0001 ünïcödé ✓ \u2028';
  e.user_agent = 'lone surrogate \ud800 here';
  e.status = 200;
  e.headers = { 'req.accept': 'a"b', 'res.x': 'y' };
  e.labels = { team: 'platform' };
  e.bytes_out = 0;
  e.upstream_ms = Number.NaN; // not representable in JSON: written as null, as JSON.stringify does
  const text = serializeEvent(e);
  assert.ok(text.startsWith('{"id":'), 'records start with the id (the spool reader relies on it)');
  assert.equal(text, JSON.stringify(withoutNulls(e)));
  assert.deepEqual(completeEvent(JSON.parse(text) as object), { ...e, upstream_ms: null });
});

test('completeEvent restores every field, in catalog order', () => {
  const e = emptyEvent(uuidv7(), new Date().toISOString(), 'websocket', 'tollgate');
  const text = serializeEvent(e);
  assert.equal(text, JSON.stringify({ id: e.id, ts: e.ts, kind: e.kind, source: e.source }));
  const back = completeEvent(JSON.parse(text) as object);
  assert.deepEqual(Object.keys(back), FIELDS.map((f) => f.name));
  assert.deepEqual(back, e);
});

test('recordTs reads the ts of a record in the canonical shape from its bytes, and refuses every other shape', () => {
  const e = emptyEvent(uuidv7(), '2026-11-24T08:00:00.123Z', 'http', 'tollgate');
  e.path = '/x';
  const line = serializeEvent(e);
  const at = (text: string, pad = '') => {
    const b = Buffer.from(pad + text + '\n');
    return recordTs(b, pad.length, b.length - 1);
  };
  assert.equal(at(line), '2026-11-24T08:00:00.123Z');
  assert.equal(at(line, 'garbage before\n'), '2026-11-24T08:00:00.123Z');
  for (const other of [
    line.replace('.123Z', '.123+02:00'), // another offset: a plain cast would read it wrongly
    line.replace('.123Z', 'Z'), // no milliseconds
    line.replace('2026-11-24T', '2026-11-24 '),
    line.replace(e.id, 'not-a-uuid'),
    line.replace(e.id, e.id.replace(/-/g, '') + '----'), // 36 characters, dashes elsewhere
    line.replace(e.id, e.id.slice(0, 35) + 'g'),
    line.replace('"ts":', '"tz":'),
    line.slice(0, 60), // cut inside the ts
    `{"ts":"2026-11-24T08:00:00.123Z","id":"${e.id}"}`, // another order
    '{"_":"header"}',
  ]) {
    assert.equal(at(other), null, other);
  }
});
