import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIELDS, emptyEvent, type AuditEvent } from './event.js';
import { serializeEvent } from './event-json.js';
import { createEventScanner } from './event-scan.js';

const ALL = new Set(FIELDS.map((f) => f.name as string));

function scan(line: string, wanted: ReadonlySet<string> = ALL) {
  const buf = Buffer.from('xx' + line + '\n', 'utf8');
  return createEventScanner(wanted)(buf, 2, buf.length - 1);
}

function randomEvent(rnd: () => number, i: number): AuditEvent {
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  const strs = ['plain', 'with "quotes"', 'back\\slash', 'tab\there', 'ünïcödé ✓', 'emoji 🚀', 'ctrl \u0001', '', 'a,b}c{', '/p?x=1&y=2'];
  const e = emptyEvent(`0193-${i}`, new Date(1_700_000_000_000 + i).toISOString(), pick(['http', 'websocket', 'admin']), 'tollgate');
  for (const f of FIELDS) {
    if (f.name === 'id' || f.name === 'ts' || rnd() < 0.4) continue;
    const r = e as unknown as Record<string, unknown>;
    if (f.type === 'int') r[f.name] = pick([0, 200, 404, -1, 65535, 123456789]);
    else if (f.type === 'float') r[f.name] = pick([0, 1.5, 0.001, 12345.678, 1e-7]);
    else if (f.type === 'json') r[f.name] = rnd() < 0.2 ? {} : { 'req.user-agent': pick(strs), [pick(strs)]: pick(strs) };
    else r[f.name] = pick(strs);
  }
  return e;
}

test('the scanner reads exactly what JSON.parse reads, for every field, on random events with escapes, unicode and maps', () => {
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 3000; i++) {
    const line = serializeEvent(randomEvent(rnd, i));
    assert.deepEqual(scan(line), JSON.parse(line), line);
  }
});

test('only the wanted fields come back', () => {
  const e = emptyEvent('id1', '2026-01-01T00:00:00.000Z', 'http', 'tollgate');
  Object.assign(e, { client_ip: '192.0.2.1', status: 404, path: '/x', headers: { 'req.a': 'b' }, labels: { team: 'red' } });
  assert.deepEqual(scan(serializeEvent(e), new Set(['id', 'status', 'labels', 'user_id'])), { id: 'id1', status: 404, labels: { team: 'red' } });
});

test('anything unexpected returns null (the caller falls back to JSON.parse)', () => {
  for (const bad of ['', '[]', '{"id":"x"', '{"id":x}', '{"id":"x",}', '{"id":"unterminated}', '{"id" : "x"}', '{"status":1e999}']) assert.equal(scan(bad), null, bad);
  assert.deepEqual(scan('{"unknown_field":"v","id":"x"}'), { id: 'x' }, 'unknown keys are skipped');
  assert.deepEqual(scan('{"status":200,"id":"x"}'), { status: 200, id: 'x' }, 'any key order');
});

test('one scanner over many records: a value repeated from the last record, or of the same length, reads as written', () => {
  // The scanner remembers each field's last short value; the records must not see each other's.
  const scanner = createEventScanner(ALL);
  const values = ['GET', 'PUT', 'GET', 'GET', 'DEL', 'a'.repeat(48), 'b'.repeat(48), 'a'.repeat(48), 'é', 'ü', 'x"y', 'x\\y', 'xzy'];
  for (const [i, v] of values.entries()) {
    const e = emptyEvent(`id${i}`, '2026-01-01T00:00:00.000Z', 'http', 'tollgate');
    Object.assign(e, { method: v, host: values[values.length - 1 - i], path: `/${v}` });
    const line = serializeEvent(e);
    const buf = Buffer.from(line, 'utf8');
    assert.deepEqual(scanner(buf, 0, buf.length), JSON.parse(line), line);
  }
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < 3000; i++) {
    const line = serializeEvent(randomEvent(rnd, i));
    const buf = Buffer.from(line, 'utf8');
    assert.deepEqual(scanner(buf, 0, buf.length), JSON.parse(line), line);
  }
});
