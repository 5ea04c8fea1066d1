import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DuckDBInstance } from './api.js';
import { FIELDS, emptyEvent, type AuditEvent } from '../../core/event.js';
import { uuidv7 } from '../../core/ids.js';
import { fullEvent, runStoreConformance, testEvent } from '../conformance.js';
import { InvalidEventError } from '../validate.js';
import { DuckDbStore } from './duckdb-store.js';
import { CsvRows, maxLineOption } from './bulk-csv.js';
import { recordFacts } from './bulk-ndjson.js';
import { serializeEvent } from '../../core/event-json.js';

const dir = await mkdtemp(join(tmpdir(), 'tollgate-duckdb-'));
after(() => rm(dir, { recursive: true, force: true }));
let n = 0;
const tempPath = () => join(dir, `t${n++}.duckdb`);

runStoreConformance('duckdb :memory:', async () => new DuckDbStore({ path: ':memory:' }), { summaries: true });
runStoreConformance('duckdb file', async () => new DuckDbStore({ path: tempPath() }), { summaries: true });

const BASE = Date.UTC(2026, 0, 15, 12, 0, 0);

describe('DuckDbStore', () => {
  test('a store in a folder that does not exist yet creates the folder (a fresh directory with the default ./data)', async () => {
    const path = join(dir, `fresh-${n++}`, 'data', 'tollgate.duckdb');
    const s = await DuckDbStore.open({ path });
    try {
      await s.appendBatch([testEvent(BASE)], []);
      assert.equal(await s.count(), 1);
    } finally {
      await s.close();
    }
  });

  test('built summaries are what long-range queries read (and they survive a restart); the events answer the rest', async () => {
    const path = tempPath();
    const H = 3_600_000;
    const start = Date.UTC(2026, 0, 10);
    const events: AuditEvent[] = [];
    for (let h = 0; h < 6; h++) for (let i = 0; i < 10; i++) events.push(testEvent(start + h * H + i * 1000, { status: 200, client_ip: `10.0.0.${h}` }));
    let s = await DuckDbStore.open({ path });
    await s.appendBatch(events, []);
    assert.deepEqual(await s.buildRollups(start + 10 * 24 * H), { hours: 6, days: 1 });
    await s.close();
    // Take hour 2's events out behind the store's back: its summary still counts them, a scan does not.
    const inst = await DuckDBInstance.create(path);
    const c = await inst.connect();
    await c.run(`DELETE FROM events WHERE ts >= '2026-01-10 02:00:00' AND ts < '2026-01-10 03:00:00'`);
    c.closeSync();
    inst.closeSync();
    s = await DuckDbStore.open({ path });
    try {
      const range = { from: new Date(start).toISOString(), to: new Date(start + 6 * H).toISOString(), bucket_seconds: 3600 };
      const fromSummaries = await s.timeseries({ ...range, kind: '!admin' });
      const scanned = await s.timeseries({ ...range, source: 'tollgate' });
      assert.deepEqual(fromSummaries.map((p) => p.total), [10, 10, 10, 10, 10, 10]);
      assert.deepEqual(scanned.map((p) => p.total), [10, 10, 0, 10, 10, 10]);
      // A partial hour at either end is scanned, not summarized.
      const partial = await s.timeseries({ from: new Date(start + 2 * H + 1).toISOString(), to: range.to, bucket_seconds: 3600, kind: '!admin' });
      assert.deepEqual(partial.map((p) => p.total), [0, 10, 10, 10]);
      // Top lists come from the daily summary only for whole days: this range is within one day, so it is scanned.
      const top = await s.top({ from: range.from, to: range.to, by: 'client_ip', limit: 10, kind: '!admin' });
      assert.equal(top.some((r) => r.value === '10.0.0.2'), false);
      const wholeDay = await s.top({ from: new Date(start).toISOString(), to: new Date(start + 24 * H).toISOString(), by: 'client_ip', limit: 10, kind: '!admin' });
      assert.equal(wholeDay.find((r) => r.value === '10.0.0.2')?.count, 10, 'the daily summary still has them');
    } finally {
      await s.close();
    }
  });

  test('close and reopen keeps events and cursors', async () => {
    const path = tempPath();
    const events = [fullEvent(BASE), testEvent(BASE + 1, { status: 404 })];
    let s = await DuckDbStore.open({ path });
    await s.appendBatch(events, [{ writer: 'w0', segment: 7, offset: 4096 }]);
    await s.close();
    await s.close(); // idempotent
    await assert.rejects(s.count(), /closed/);

    s = await DuckDbStore.open({ path });
    try {
      assert.deepStrictEqual(await s.get(events[0].id), events[0]);
      assert.equal(await s.count({ status: '404' }), 1);
      assert.deepEqual(await s.readCursors(), [{ writer: 'w0', segment: 7, offset: 4096 }]);
    } finally {
      await s.close();
    }
  });

  test('init follows the catalog on an older table: adds missing columns, binds columns by name', async () => {
    const path = tempPath();
    // An "older" table: columns in another order, one catalog field missing, one retired column.
    const missing = FIELDS[FIELDS.length - 1];
    const cols = FIELDS.slice(0, -1).reverse().map((f) =>
      `"${f.name}" ${{ uuid: 'UUID', timestamp: 'TIMESTAMP', int: 'BIGINT', float: 'DOUBLE', json: 'VARCHAR', string: 'VARCHAR' }[f.type]}`);
    const inst = await DuckDBInstance.create(path);
    const c = await inst.connect();
    await c.run(`CREATE TABLE events (${cols.join(', ')}, retired VARCHAR)`);
    c.closeSync();
    inst.closeSync();

    const s = await DuckDbStore.open({ path });
    try {
      const ev = fullEvent(BASE);
      await s.appendBatch([ev], []);
      assert.deepStrictEqual(await s.get(ev.id), ev);
      assert.notEqual(ev[missing.name], null);
    } finally {
      await s.close();
    }
  });

  test('refuses a database written by a newer schema version', async () => {
    const path = tempPath();
    const s = await DuckDbStore.open({ path });
    await s.close();
    const inst = await DuckDBInstance.create(path);
    const c = await inst.connect();
    await c.run(`UPDATE meta SET value = '999' WHERE key = 'schema_version'`);
    c.closeSync();
    inst.closeSync();
    await assert.rejects(DuckDbStore.open({ path }), /schema version 999/);
  });

  test('a bad event names its index and field', async () => {
    const s = await DuckDbStore.open({ path: ':memory:' });
    try {
      const bad = { ...testEvent(BASE), bytes_out: 1.5 };
      await assert.rejects(s.appendBatch([testEvent(BASE), bad], []), (err: unknown) => {
        assert.ok(err instanceof InvalidEventError);
        assert.equal(err.index, 1);
        assert.equal(err.field, 'bytes_out');
        return true;
      });
      await assert.rejects(s.appendBatch([{ ...testEvent(BASE), id: 'nope' }], []), /event 0: id/);
    } finally {
      await s.close();
    }
  });

  test('ts with an offset comes back as UTC with ms and Z', async () => {
    const s = await DuckDbStore.open({ path: ':memory:' });
    try {
      const ev = { ...testEvent(BASE), ts: '2026-01-15T13:00:00+01:00' };
      await s.appendBatch([ev], []);
      assert.equal((await s.get(ev.id))?.ts, '2026-01-15T12:00:00.000Z');
    } finally {
      await s.close();
    }
  });

  test('concurrent batches and reads are serialized, none lost', async () => {
    const s = await DuckDbStore.open({ path: ':memory:' });
    try {
      const batches = Array.from({ length: 5 }, (_, b) => Array.from({ length: 50 }, (_, i) => testEvent(BASE + b * 100 + i)));
      const counts = await Promise.all([
        ...batches.map((evs, b) => s.appendBatch(evs, [{ writer: `w${b}`, segment: 0, offset: 50 }]).then(() => s.count())),
      ]);
      assert.ok(counts.every((c) => c % 50 === 0), 'reads never see half a batch');
      assert.equal(await s.count(), 250);
      assert.equal((await s.readCursors()).length, 5);
    } finally {
      await s.close();
    }
  });

  test('runs in worker threads, one independent store each', async () => {
    const storeUrl = new URL('./duckdb-store.js', import.meta.url).href;
    const eventUrl = new URL('../../core/event.js', import.meta.url).href;
    // Eval'd workers are CommonJS; dynamic import loads the ESM modules.
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      (async () => {
        const { DuckDbStore } = await import(workerData.storeUrl);
        const { emptyEvent } = await import(workerData.eventUrl);
        const s = await DuckDbStore.open({ path: ':memory:' });
        const evs = workerData.ids.map((id, i) => ({ ...emptyEvent(id, new Date(workerData.base + i).toISOString(), 'http', 'tollgate'), status: 200 }));
        await s.appendBatch(evs, [{ writer: 'w', segment: 1, offset: evs.length }]);
        const page = await s.search({ order: 'asc' });
        const cursors = await s.readCursors();
        await s.close();
        parentPort.postMessage({ ids: page.events.map((e) => e.id), cursors });
      })().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
    `;
    const run = (count: number) => {
      const ids = Array.from({ length: count }, (_, i) => uuidv7(BASE + i));
      return new Promise<{ expected: string[]; got: { ids?: string[]; cursors?: unknown; error?: string } }>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { storeUrl, eventUrl, ids, base: BASE } });
        w.once('message', (got) => {
          resolve({ expected: ids, got });
          void w.terminate();
        });
        w.once('error', reject);
      });
    };
    const results = await Promise.all([run(3), run(5)]);
    for (const { expected, got } of results) {
      assert.equal(got.error, undefined);
      assert.deepEqual(got.ids, expected);
      assert.deepEqual(got.cursors, [{ writer: 'w', segment: 1, offset: expected.length }]);
    }
  });

  test('append rate for 100k events (logged, not asserted)', async (t) => {
    const N = 100_000;
    const BATCH = 20_000; // the default store.batch_size
    const base = Date.now() - N;
    const events: AuditEvent[] = new Array<AuditEvent>(N);
    for (let i = 0; i < N; i++) {
      const ts = base + i;
      events[i] = {
        ...emptyEvent(uuidv7(ts), new Date(ts).toISOString(), 'http', 'tollgate'),
        duration_ms: 3.25 + (i % 97), node: 'node-1', client_ip: `10.0.${i % 256}.${i % 7}`, peer_ip: '10.0.0.1',
        user_id: `user-${i % 500}`, user_name: `User ${i % 500}`, auth_method: 'jwt', method: i % 10 ? 'GET' : 'POST',
        scheme: 'https', host: 'api.example.com', path: `/v1/items/${i % 1000}`, query: 'page=2', http_version: '1.1',
        route: 'api', service: 'items', upstream: `10.1.0.${i % 4}:8080`, upstream_status: 200, upstream_ms: 2.5,
        attempts: 1, status: i % 50 ? 200 : 503, bytes_in: 0, bytes_out: 1834, decision: 'allow', termination: 'ok',
        user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0', request_id: 'f3a9c1d2e4b5a6978877665544332211',
        trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', environment: 'prod', region: 'eu-west-1',
        headers: { 'req.accept': 'application/json', 'res.content-type': 'application/json' }, labels: { team: 'core' },
      };
    }
    const s = await DuckDbStore.open({ path: tempPath() });
    try {
      const t0 = performance.now();
      for (let i = 0; i < N; i += BATCH) {
        await s.appendBatch(events.slice(i, i + BATCH), [{ writer: 'w0', segment: 1, offset: i + BATCH }]);
      }
      const secs = (performance.now() - t0) / 1000;
      const rate = Math.round(N / secs);
      t.diagnostic(`appended ${N} events in ${secs.toFixed(2)} s: ${rate} events/s (file-backed, batches of ${BATCH})`);
      console.log(`# DuckDbStore append rate: ${rate} events/s`);
      assert.equal(await s.count(), N);
      assert.deepStrictEqual(await s.get(events[N - 1].id), events[N - 1]);
    } finally {
      await s.close();
    }
  });

  test('the bulk CSV path reads every string back as written: bare and quoted cells, the NULL marker, long rows', async () => {
    const awkward = ['', '\\N', '\\N ', ' padded ', 'a,b', 'say "hi"', '"', 'line\nbreak', 'cr\rlf', 'ü € 😀', '=1+2', 'x'.repeat(3_000_000)];
    const events: AuditEvent[] = [];
    for (let i = 0; i < 2_500; i++) {
      const v = awkward[i % awkward.length];
      events.push(testEvent(BASE + i, { path: v, user_agent: v, referer: i % 2 ? v : null, query: `q=${i}` }));
    }
    for (const bulk of [false, true]) {
      const s = await DuckDbStore.open({ path: tempPath(), bulk });
      try {
        if (bulk) {
          const rows = new CsvRows();
          for (const e of events) rows.add(e);
          await s.appendCsvRows(rows.take(), []);
        } else {
          await s.appendBatch(events, []);
        }
        assert.equal(await s.count(), events.length);
        for (const i of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 23, 2_499]) assert.deepStrictEqual(await s.get(events[i].id), events[i], `event ${i} (${bulk ? 'CsvRows' : 'appendBatch'})`);
      } finally {
        await s.close();
      }
    }
  });

  test('spool records load as they are and read back exactly as the events that were serialized', async () => {
    const awkward = ['', '\\N', ' padded ', 'a,b', 'say "hi"', 'back\\slash', 'line\nbreak', 'cr\rlf', 'tab\t', 'ctrl \u0001\u001f', 'nul \u0000 byte', 'ü € 😀', '\u2028\u2029', '=1+2', '{"not":"an object"}'];
    const events: AuditEvent[] = [fullEvent(BASE - 3_600_000), testEvent(BASE - 1, { path: '/' + 'x'.repeat(3_000_000) })];
    for (let i = 0; i < 2_500; i++) {
      const v = awkward[i % awkward.length];
      events.push(testEvent(BASE + i * 1000, { path: v, user_agent: v, referer: i % 2 ? v : null, status: i % 5 ? 200 : null, duration_ms: i / 3, bytes_out: 2 ** 40 + i, headers: i % 3 ? { 'req.x': v } : null }));
    }
    // Records as the spool has them, in several chunks (the reader hands over slices of its read buffers).
    const lines = events.map((e) => Buffer.from(serializeEvent(e) + '\n'));
    const chunks = [Buffer.concat(lines.slice(0, 7)), Buffer.concat(lines.slice(7, 1000)), Buffer.concat(lines.slice(1000))];
    assert.deepEqual(recordFacts(chunks), { count: events.length, hours: [BASE - 3_600_000, BASE] });
    const s = await DuckDbStore.open({ path: tempPath() });
    try {
      assert.equal(await s.appendRecords(chunks, [{ writer: 'w0', segment: 3, offset: 1234 }]), true);
      assert.equal(await s.count(), events.length);
      assert.deepEqual(await s.readCursors(), [{ writer: 'w0', segment: 3, offset: 1234 }]);
      for (let i = 0; i < events.length; i += i < 40 ? 1 : 97) assert.deepStrictEqual(await s.get(events[i].id), events[i], `event ${i}`);
      // The hours touched are marked for their summaries, as appendBatch does.
      assert.deepEqual(await s.buildRollups(BASE + 10 * 86_400_000), { hours: 2, days: 1 });
    } finally {
      await s.close();
    }
  });

  test('spool records the native reader must not take are refused as a batch, with nothing written', async () => {
    const good = testEvent(BASE, { status: 200 });
    const line = (text: string) => Buffer.from(serializeEvent(good) + '\n' + text + '\n');
    // Not canonical: checked before anything is written (a ts with another offset would be read wrongly).
    const other = serializeEvent(testEvent(BASE + 1, {}));
    for (const text of [other.replace(/Z"/, '+02:00"'), other.replace(/\.\d{3}Z"/, 'Z"'), other.replace(/^\{"id":"[^"]+"/, '{"id":"not-a-uuid"'), '{"id":"' + good.id + '"}']) {
      const s = await DuckDbStore.open({ path: ':memory:' });
      try {
        assert.equal(recordFacts([line(text)]), null, text);
        assert.equal(await s.appendRecords([line(text)], [{ writer: 'w0', segment: 1, offset: 10 }]), false, text);
        assert.equal(await s.count(), 0);
        assert.deepEqual(await s.readCursors(), []);
      } finally {
        await s.close();
      }
    }
    // Canonical but refused by DuckDB (a status that is not a number, broken JSON): the transaction is rolled back.
    for (const text of [other.replace(/}$/, ',"status":"teapot"}'), other.slice(0, -1)]) {
      const s = await DuckDbStore.open({ path: ':memory:' });
      try {
        await assert.rejects(s.appendRecords([line(text)], [{ writer: 'w0', segment: 1, offset: 10 }]), (err: Error) => {
          // DuckDB quotes the record in its message; what reaches the log must not.
          assert.match(err.message, /^DuckDB refused the records: /);
          assert.ok(!err.message.includes('{') && !err.message.includes(good.id), err.message);
          return true;
        });
        assert.equal(await s.count(), 0);
        assert.deepEqual(await s.readCursors(), []);
      } finally {
        await s.close();
      }
    }
  });

  test('max_line_size is raised only for rows longer than DuckDB\'s default (a large limit makes the load single-threaded)', () => {
    assert.equal(maxLineOption(1000), '');
    assert.equal(maxLineOption(699_050), '');
    assert.equal(maxLineOption(3_000_000), ', max_line_size = 9000001');
  });
});
