import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonCell } from './bulk-csv.js';

/** What the CSV cell of an object always was: its JSON, quoted with inner quotes doubled (bare when it needs no quotes). */
function reference(o: object): string {
  const json = JSON.stringify(o);
  return /^[^",\r\n]+$/.test(json) ? json : '"' + json.replace(/"/g, '""') + '"';
}

test('jsonCell writes exactly the quoted JSON of any object, flat or not', () => {
  const nullProto = Object.create(null) as Record<string, unknown>;
  nullProto.__proto__ = 'kept as a key';
  nullProto.b = 1;
  const withProtoKey: Record<string, unknown> = {};
  Object.defineProperty(withProtoKey, '__proto__', { value: 'own', enumerable: true });
  const objects: object[] = [
    {},
    { frontend: 'fe_http', TR: '0', actconn: '12', pid: '1234' },
    { n: 1, f: 1.5, neg: -0, big: 1e21, t: true, no: false, nil: null, skipped: undefined },
    { 'req.accept': '*/*', 'res.content-type': 'text/plain; charset=utf-8' },
    { quote: 'say "hi"' },
    { backslash: 'C:\\path' },
    { control: 'tab\there\nnewline\u0001' },
    { surrogate: 'lone \ud800 half', pair: 'emoji 😀' },
    { 'key "quoted"': 'v' },
    { comma: 'a,b', cr: 'line\r' },
    { 2: 'two', 1: 'one', a: 'letters after integer keys' },
    { nested: { a: 1 } },
    { list: ['a', 1] },
    { nan: Number.NaN, inf: Number.POSITIVE_INFINITY },
    { fn: () => 1, sym: Symbol('s'), big: 'not bigint' },
    nullProto,
    withProtoKey,
    new Date(0),
    new Map([['a', 1]]),
    Object.assign(Object.create({ inherited: 'not own' }) as object, { own: 'yes' }),
  ];
  for (const o of objects) assert.equal(jsonCell(o), reference(o), JSON.stringify(o));
});
