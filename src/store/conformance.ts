/**
 * The Store conformance suite. Every Store implementation runs it (DuckDB
 * now, PostgreSQL later) so they behave the same to the loader, the admin API
 * and the CLI:
 *
 *   runStoreConformance('duckdb', async () => new DuckDbStore({ path: ':memory:' }));
 *
 * makeStore must return a NEW, EMPTY store that is not initialized yet; the
 * suite calls init() and close(). Stores must reject malformed events and
 * spool cursors (validate.ts has the shared checks): the atomicity tests use
 * them to make a batch fail halfway.
 *
 * Test data is generated from the field catalog where possible, so a field
 * added to FIELDS is covered by the round-trip test without an edit here.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FIELDS, emptyEvent, type AuditEvent } from '../core/event.js';
import { EQUALITY_FILTERS } from './query.js';
import { QueryError, type SpoolCursor, type Store } from './types.js';

/** A UUIDv7 for the given time with random low bits, so ids at one ts sort unlike insertion order. */
export function testId(ms: number): string {
  const h = ms.toString(16).padStart(12, '0');
  const r = randomBytes(10).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-7${r.slice(0, 3)}-${'89ab'[parseInt(r[3], 16) % 4]}${r.slice(4, 7)}-${r.slice(7, 19)}`;
}

/** An http event at `ms` with the given fields set; everything else null. */
export function testEvent(ms: number, fields: Partial<AuditEvent> = {}): AuditEvent {
  return { ...emptyEvent(testId(ms), new Date(ms).toISOString(), 'http', 'tollgate'), ...fields };
}

/**
 * An event with every catalog field set to an awkward value of its type:
 * quotes, commas, newlines, non-ASCII, formula-looking text, integers past
 * 32 bits, fractional floats, JSON maps with the same.
 */
export function fullEvent(ms: number): AuditEvent {
  const ev: Record<string, unknown> = {};
  FIELDS.forEach((f, i) => {
    switch (f.type) {
      case 'uuid': ev[f.name] = testId(ms); break;
      case 'timestamp': ev[f.name] = new Date(ms).toISOString(); break;
      case 'int': ev[f.name] = 2 ** 33 + i; break;
      case 'float': ev[f.name] = 1234.5678 + i / 7; break;
      case 'json': ev[f.name] = { 'req.accept': 'text/html, "x"', 'ünï/cödé': 'a\nb\tc', empty: '', formula: '=1+1' }; break;
      case 'string': ev[f.name] = `${f.name} "q", c,\n ü 🚀 =SUM(A1) '%_\\`; break;
    }
  });
  return ev as unknown as AuditEvent;
}

const BASE = Date.UTC(2026, 0, 15, 12, 0, 0); // on a minute boundary
const DAY = 86_400_000;

function cmpKey(a: AuditEvent, b: AuditEvent): number {
  const t = Date.parse(a.ts) - Date.parse(b.ts);
  return t !== 0 ? t : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function ids(events: readonly AuditEvent[]): string[] {
  return events.map((e) => e.id);
}

function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function near(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${actual}`);
}

/** A dozen events whose filter fields vary, so every filter selects a proper subset. */
function filterData(): AuditEvent[] {
  const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length];
  const paths = ['/api/users', '/api/users/1', '/api_x', '/apiXusers', '/a%b', '/a_b/c', null];
  const statuses = [200, 201, 404, 500, 503, null, 302];
  return Array.from({ length: 14 }, (_, i) =>
    testEvent(BASE + i * 1000, {
      client_ip: pick(['10.0.0.1', '10.0.0.2', '2001:db8::1'], i),
      user_id: pick(['alice', 'bob', 'u-3', null], i),
      user_name: pick(['Alice A', 'Bob', 'alice', null, 'Carol'], i),
      method: pick(['GET', 'POST', 'DELETE', 'get'], i),
      path: pick(paths, i),
      status: pick(statuses, i),
      decision: pick(['allow', 'deny', 'ratelimit'], i),
      rule_id: pick(['r-1', null, 'r-2'], i),
      route: pick(['api', 'web', null], i),
      upstream: pick(['10.1.0.1:80', '10.1.0.2:80'], i),
      request_id: `req-${i % 5}`,
      host: pick(['api.example.com', 'www.example.com'], i),
      service: pick(['users', 'web', 'billing'], i),
      termination: pick(['ok', 'client_abort', 'upstream_timeout', 'ok'], i),
      trace_id: pick(['t-a', 't-b', null], i),
      kind: pick(['http', 'websocket'] as const, i),
      source: pick(['tollgate', 'nginx'], i),
    }),
  );
}

async function all(store: Store, q: Parameters<Store['search']>[0]): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await store.search({ ...q, cursor, limit: q.limit ?? 1000 });
    out.push(...page.events);
    if (!page.next_cursor) return out;
    cursor = page.next_cursor;
  }
}

/** What a store declares beyond the required interface, so the suite holds it to it. */
export interface StoreTraits {
  /** Keeps summaries (buildRollups) that long-range queries read. */
  summaries?: boolean;
}

export function runStoreConformance(name: string, makeStore: () => Promise<Store>, traits: StoreTraits = {}): void {
  async function withStore(fn: (s: Store) => Promise<void>): Promise<void> {
    const s = await makeStore();
    await s.init();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  }

  describe(`Store conformance: ${name}`, () => {
    test('an empty store: init twice, nothing found', () =>
      withStore(async (s) => {
        await s.init();
        assert.equal(await s.count(), 0);
        assert.deepEqual(await s.readCursors(), []);
        assert.deepEqual(await s.search({}), { events: [], next_cursor: null });
        assert.equal(await s.get(testId(BASE)), null);
        assert.deepEqual(await s.timeseries({}), []);
        assert.deepEqual(await s.top({ by: 'path' }), []);
      }));

    test('round trip of every field, nulls, empty strings and JSON maps', () =>
      withStore(async (s) => {
        const full = fullEvent(BASE);
        const nulls = testEvent(BASE + 1);
        const empties = testEvent(BASE + 2, { headers: {}, labels: {}, extra: { k: '' }, path: '', user_name: '' });
        await s.appendBatch([full, nulls, empties], []);
        for (const ev of [full, nulls, empties]) {
          const got = await s.get(ev.id);
          assert.deepStrictEqual(got, ev);
          for (const f of FIELDS) assert.ok(Object.hasOwn(got, f.name), `field ${f.name} present`);
        }
        // Ids are case-insensitive on the way in (UUIDs), lower-case on the way out.
        assert.deepStrictEqual(await s.get(full.id.toUpperCase()), full);
        assert.deepStrictEqual((await s.search({ order: 'asc' })).events, [full, nulls, empties]);
        assert.equal(await s.get(testId(BASE)), null);
        assert.equal(await s.get('not-a-uuid'), null);
      }));

    test('large batches (a store may bulk-load them) round-trip every awkward value and stay atomic', () =>
      withStore(async (s) => {
        const awkward = ['', '"', '""', 'a,b', 'line\nbreak', 'cr\r\nlf', '\\N', 'NULL', '\\', 'tab\there', 'ünïcødé ✓ 😀', '=cmd()', ' lead', 'trail '];
        const batch: AuditEvent[] = [];
        for (let i = 0; i < 5000; i++) {
          const ev = i % 997 === 0 ? fullEvent(BASE + i) : testEvent(BASE + i, { status: i % 5 === 0 ? null : 200 + (i % 300), path: awkward[i % awkward.length], bytes_out: 2 ** 40 + i, duration_ms: i / 7 });
          if (i % 3 === 0) ev.extra = { k: awkward[(i + 1) % awkward.length] };
          batch.push(ev);
        }
        await s.appendBatch(batch, [{ writer: 'ingest:a', segment: 0, offset: 5000 }]);
        assert.equal(await s.count(), 5000);
        for (const i of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 997, 4999]) assert.deepStrictEqual(await s.get(batch[i].id), batch[i], `event ${i}`);
        assert.deepEqual(await s.readCursors(), [{ writer: 'ingest:a', segment: 0, offset: 5000 }]);
        // A bad event anywhere in a large batch fails all of it.
        const more = Array.from({ length: 3000 }, (_, i) => testEvent(BASE + 10_000 + i));
        more[2500] = { ...more[2500], status: 1.5 };
        await assert.rejects(s.appendBatch(more, [{ writer: 'ingest:a', segment: 0, offset: 8000 }]));
        assert.equal(await s.count(), 5000);
        assert.deepEqual(await s.readCursors(), [{ writer: 'ingest:a', segment: 0, offset: 5000 }]);
      }));

    test('appendBatch is atomic: a failing batch leaves neither events nor cursors', () =>
      withStore(async (s) => {
        const first = testEvent(BASE);
        await s.appendBatch([first], [{ writer: 'w0', segment: 1, offset: 100 }]);
        const batch = [testEvent(BASE + 1), testEvent(BASE + 2)];
        const cursors: SpoolCursor[] = [{ writer: 'w0', segment: 1, offset: 300 }, { writer: 'w1', segment: 0, offset: 10 }];

        // Fails on the last event, after the others were written.
        const badEvent = { ...testEvent(BASE + 3), ts: 'not a time' };
        await assert.rejects(s.appendBatch([...batch, badEvent], cursors));
        assert.equal(await s.count(), 1);
        assert.deepEqual(await s.readCursors(), [{ writer: 'w0', segment: 1, offset: 100 }]);

        // Fails on a cursor, after all events were written.
        await assert.rejects(s.appendBatch(batch, [{ writer: 'w0', segment: 2, offset: -1 }]));
        await assert.rejects(s.appendBatch(batch, [{ writer: 'w0', segment: 2.5, offset: 0 }]));
        assert.equal(await s.count(), 1);
        assert.deepEqual(await s.readCursors(), [{ writer: 'w0', segment: 1, offset: 100 }]);

        // A wrongly typed field fails too.
        const badStatus = { ...testEvent(BASE + 4), status: '200' } as unknown as AuditEvent;
        await assert.rejects(s.appendBatch([...batch, badStatus], cursors));
        assert.equal(await s.count(), 1);

        // And the store is still usable afterwards.
        await s.appendBatch(batch, cursors);
        assert.equal(await s.count(), 3);
        assert.deepEqual(await s.readCursors(), cursors);
      }));

    test('cursors are upserted per writer', () =>
      withStore(async (s) => {
        await s.appendBatch([], [{ writer: 'w1', segment: 0, offset: 5 }, { writer: 'w0', segment: 1, offset: 10 }]);
        assert.deepEqual(await s.readCursors(), [{ writer: 'w0', segment: 1, offset: 10 }, { writer: 'w1', segment: 0, offset: 5 }]);
        await s.appendBatch([testEvent(BASE)], [{ writer: 'w0', segment: 2, offset: 0 }]);
        assert.deepEqual(await s.readCursors(), [{ writer: 'w0', segment: 2, offset: 0 }, { writer: 'w1', segment: 0, offset: 5 }]);
        // The same writer twice in one batch: the last position wins.
        await s.appendBatch([], [{ writer: 'w1', segment: 3, offset: 1 }, { writer: 'w1', segment: 3, offset: 2 ** 40 }]);
        assert.deepEqual(await s.readCursors(), [{ writer: 'w0', segment: 2, offset: 0 }, { writer: 'w1', segment: 3, offset: 2 ** 40 }]);
        // Events without cursors.
        await s.appendBatch([testEvent(BASE + 1)], []);
        assert.equal(await s.count(), 2);
      }));

    test('paging over many identical timestamps yields every event once, in order, both ways', () =>
      withStore(async (s) => {
        const events = Array.from({ length: 250 }, (_, i) => testEvent(BASE + (i % 5) * 1000, { status: i % 3 === 0 ? 500 : 200 }));
        const mixed = shuffled(events);
        await s.appendBatch(mixed.slice(0, 100), []);
        await s.appendBatch(mixed.slice(100), []);
        const asc = [...events].sort(cmpKey);
        for (const order of ['desc', 'asc'] as const) {
          const expected = order === 'asc' ? asc : [...asc].reverse();
          const got: AuditEvent[] = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await s.search({ order, limit: 7, cursor });
            assert.ok(page.events.length <= 7);
            got.push(...page.events);
            cursor = page.next_cursor ?? undefined;
            pages++;
          } while (cursor);
          assert.equal(pages, Math.ceil(250 / 7));
          assert.deepEqual(ids(got), ids(expected), `order=${order}`);
          // Filters and cursors combine.
          const errs = await all(s, { order, status: '5xx', limit: 9 });
          assert.deepEqual(ids(errs), ids(expected.filter((e) => e.status === 500)));
        }
        // A full last page has no next page.
        const exact = await s.search({ limit: 250 });
        assert.equal(exact.events.length, 250);
        assert.equal(exact.next_cursor, null);
        // Default page size is 100, newest first.
        const first = await s.search({});
        assert.equal(first.events.length, 100);
        assert.notEqual(first.next_cursor, null);
        assert.deepEqual(ids(first.events), ids([...asc].reverse().slice(0, 100)));
      }));

    test('every filter selects exactly the matching events; count agrees', () =>
      withStore(async (s) => {
        const data = filterData();
        await s.appendBatch(shuffled(data), []);
        const check = async (q: Record<string, string>, expected: AuditEvent[], what: string) => {
          const got = await all(s, q);
          assert.deepEqual(new Set(ids(got)), new Set(ids(expected)), what);
          assert.equal(got.length, expected.length, what);
          assert.equal(await s.count(q), expected.length, `count ${what}`);
        };
        for (const key of EQUALITY_FILTERS) {
          const values = new Set(data.map((e) => e[key]).filter((v): v is string => typeof v === 'string'));
          assert.ok(values.size > 1, `test data varies ${key}`);
          for (const v of values) await check({ [key]: v }, data.filter((e) => e[key] === v), `${key}=${v}`);
          await check({ [key]: 'no-such-value' }, [], `${key} absent`);
        }
        await check({ user: 'alice' }, data.filter((e) => e.user_id === 'alice' || e.user_name === 'alice'), 'user');
        await check({ user: 'Bob' }, data.filter((e) => e.user_id === 'Bob' || e.user_name === 'Bob'), 'user by name');
        await check({ path_prefix: '/api/' }, data.filter((e) => e.path?.startsWith('/api/')), 'path_prefix');
        await check({ path_prefix: '/a%' }, data.filter((e) => e.path === '/a%b'), 'path_prefix % is literal');
        await check({ path_prefix: '/a_' }, data.filter((e) => e.path === '/a_b/c'), 'path_prefix _ is literal');
        await check({ status: '404' }, data.filter((e) => e.status === 404), 'status code');
        await check({ status: '2xx' }, data.filter((e) => e.status !== null && e.status >= 200 && e.status < 300), 'status 2xx');
        await check({ status: '5XX' }, data.filter((e) => e.status !== null && e.status >= 500), 'status 5XX');
        await check({ status: 'none' }, data.filter((e) => e.status === null), 'status none');
        await check({ host: 'API.Example.com' }, data.filter((e) => e.host === 'api.example.com'), 'host is case-insensitive');
        await check(
          { method: 'GET', status: '2xx', source: 'tollgate' },
          data.filter((e) => e.method === 'GET' && e.status !== null && e.status < 300 && e.source === 'tollgate'),
          'filters combine with AND',
        );
      }));

    test('from is inclusive, to exclusive; ISO 8601 and epoch ms', () =>
      withStore(async (s) => {
        const data = Array.from({ length: 10 }, (_, k) => testEvent(BASE + k * 1000));
        await s.appendBatch(data, []);
        const range = async (from: string | undefined, to: string | undefined) =>
          ids(await all(s, { from, to, order: 'asc' }));
        const iso = (ms: number) => new Date(ms).toISOString();
        assert.deepEqual(await range(iso(BASE + 2000), iso(BASE + 5000)), ids(data.slice(2, 5)));
        assert.deepEqual(await range(String(BASE + 2000), String(BASE + 5000)), ids(data.slice(2, 5)));
        assert.deepEqual(await range('2026-01-15T13:00:02+01:00', '2026-01-15T12:00:05Z'), ids(data.slice(2, 5)));
        assert.deepEqual(await range('2026-01-15T12:00:02', undefined), ids(data.slice(2)), 'no offset means UTC');
        assert.deepEqual(await range(iso(BASE + 1500), iso(BASE + 3001)), ids(data.slice(2, 4)));
        assert.deepEqual(await range(undefined, iso(BASE + 1000)), ids(data.slice(0, 1)));
        assert.deepEqual(await range('2026-01-15', '2026-01-16'), ids(data), 'dates');
        assert.deepEqual(await range(iso(BASE + 3000), iso(BASE + 3000)), []);
        assert.equal(await s.count({ from: iso(BASE + 8000) }), 2);
        for (const bad of ['yesterday', '2026-13-01', '2026-02-30T00:00:00Z', '2026-01-15T25:00:00Z', '']) {
          await assert.rejects(s.search({ from: bad }), QueryError, `from=${bad}`);
        }
        await assert.rejects(s.search({ from: iso(BASE + 2000), to: iso(BASE) }), QueryError, 'from after to');
      }));

    test('invalid input throws QueryError', () =>
      withStore(async (s) => {
        await s.appendBatch(Array.from({ length: 3 }, (_, i) => testEvent(BASE + i)), []);
        const page = await s.search({ limit: 1 });
        assert.ok(page.next_cursor);
        await assert.rejects(s.search({ cursor: 'garbage!' }), QueryError);
        await assert.rejects(s.search({ cursor: 'eyJ2IjoxfQ' }), QueryError); // {"v":1}
        await assert.rejects(s.search({ cursor: page.next_cursor.slice(0, -3) }), QueryError);
        await assert.rejects(s.search({ cursor: page.next_cursor, order: 'asc' }), /order=desc/);
        for (const status of ['abc', '99', '6xx', '4x', '2000']) await assert.rejects(s.search({ status }), QueryError, status);
        for (const limit of [0, -1, 1.5]) await assert.rejects(s.search({ limit }), QueryError, `limit ${limit}`);
        await assert.rejects(s.search({ order: 'up' as 'asc' }), QueryError);
        await assert.rejects(s.search({ stauts: '500' } as Record<string, string>), /unknown search parameter "stauts".*allowed: from, to/);
        await assert.rejects(s.count({ limit: 3 } as Record<string, unknown>), QueryError);
        await assert.rejects(s.top({ by: 'password' as 'path' }), QueryError);
        await assert.rejects(s.latency({ by: 'user_agent' as 'host' }), QueryError);
        await assert.rejects(s.timeseries({ bucket_seconds: 0 }), QueryError);
        await assert.rejects(s.timeseries({ from: '2020-01-01', to: '2021-01-01', bucket_seconds: 1 }), /buckets/);
        // A limit above the maximum is capped, not refused.
        assert.equal((await s.search({ limit: 1_000_000 })).events.length, 3);
      }));

    test('timeseries counts by bucket and status class, with empty buckets as zeros', () =>
      withStore(async (s) => {
        const at = (sec: number, status: number | null) => testEvent(BASE + sec * 1000, { status });
        await s.appendBatch([at(10, 200), at(20, 404), at(70, 500), at(75, null), at(200, 201), at(299, 302), at(300, 200)], []);
        const zero = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, none: 0 };
        const iso = (sec: number) => new Date(BASE + sec * 1000).toISOString();
        const ts = (await s.timeseries({ from: iso(0), to: iso(300), bucket_seconds: 60 })).map(({ ts, total, by_class }) => ({ ts, total, by_class }));
        assert.deepEqual(ts, [
          { ts: iso(0), total: 2, by_class: { ...zero, '2xx': 1, '4xx': 1 } },
          { ts: iso(60), total: 2, by_class: { ...zero, '5xx': 1, none: 1 } },
          { ts: iso(120), total: 0, by_class: zero },
          { ts: iso(180), total: 1, by_class: { ...zero, '2xx': 1 } },
          { ts: iso(240), total: 1, by_class: { ...zero, '3xx': 1 } },
        ]);
        // Buckets align to multiples of their width, whatever the range start.
        const offset = await s.timeseries({ from: iso(30), to: iso(90), bucket_seconds: 60 });
        assert.deepEqual(offset.map((p) => [p.ts, p.total]), [[iso(0), 0], [iso(60), 2]]);
        // Default width: about 60 buckets over the range.
        const hour = await s.timeseries({ from: iso(0), to: iso(3600) });
        assert.equal(hour.length, 60);
        assert.equal(Date.parse(hour[1].ts) - Date.parse(hour[0].ts), 60_000);
        assert.equal(hour.reduce((n, p) => n + p.total, 0), 7);
        // No range: the extent of the matching data.
        const open = await s.timeseries({ bucket_seconds: 60 });
        assert.equal(open[0].ts, iso(0));
        assert.equal(open[open.length - 1].ts, iso(300));
        assert.equal(open.reduce((n, p) => n + p.total, 0), 7);
        // Filters apply.
        const ok = await s.timeseries({ from: iso(0), to: iso(300), bucket_seconds: 300, status: '2xx' });
        assert.deepEqual(ok.map(({ ts, total, by_class }) => ({ ts, total, by_class })), [{ ts: iso(0), total: 2, by_class: { ...zero, '2xx': 2 } }]);
      }));

    test('timeseries carries refusals and latency percentiles per bucket; "!value" excludes', () =>
      withStore(async (s) => {
        const ev = (sec: number, f: Partial<AuditEvent>) => testEvent(BASE + sec * 1000, f);
        const batch = [ev(1, { decision: 'deny', status: 403 }), ev(2, { decision: 'ratelimit', status: 429 }), ev(3, { decision: 'block', status: 403 }), ev(4, { kind: 'admin', status: 200 })];
        for (let i = 0; i < 100; i++) batch.push(ev(5 + i / 100, { decision: 'allow', status: 200, duration_ms: i + 1 }));
        await s.appendBatch(batch, []);
        const iso = (sec: number) => new Date(BASE + sec * 1000).toISOString();
        const [p] = await s.timeseries({ from: iso(0), to: iso(60), bucket_seconds: 60 });
        assert.equal(p.total, 104);
        assert.deepEqual([p.denied, p.rate_limited, p.blocked], [1, 1, 1]);
        assert.ok(p.p50 !== null && Math.abs(p.p50 - 50) <= 3, `p50 ${p.p50}`);
        assert.ok(p.p95 !== null && Math.abs(p.p95 - 95) <= 3, `p95 ${p.p95}`);
        assert.ok(p.p99 !== null && Math.abs(p.p99 - 99) <= 3, `p99 ${p.p99}`);
        const [noAdmin] = await s.timeseries({ from: iso(0), to: iso(60), bucket_seconds: 60, kind: '!admin' });
        assert.equal(noAdmin.total, 103);
        assert.equal(await s.count({ kind: '!http' }), 1);
        const [empty] = await s.timeseries({ from: iso(120), to: iso(180), bucket_seconds: 60 });
        assert.deepEqual([empty.total, empty.p50, empty.denied], [0, null, 0]);
      }));

    if (traits.summaries)
    test('summaries answer like the events: counts and tops exactly, percentiles within 2.5 %, late events and retention included', () =>
      withStore(async (s) => {
        assert.ok(s.buildRollups, 'a store that declares summaries builds them');
        const H = 3_600_000;
        const start = Date.UTC(2026, 0, 10, 0, 0, 0);
        const batch: AuditEvent[] = [];
        let seed = 11;
        const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
        for (let i = 0; i < 3000; i++) {
          const r = rnd();
          batch.push(
            testEvent(start + Math.floor(rnd() * 3 * 24 * H), {
              kind: r < 0.05 ? 'admin' : 'http',
              client_ip: `10.0.0.${Math.floor(rnd() * 40)}`,
              path: `/p${Math.floor(rnd() * 30)}`,
              status: r < 0.1 ? 500 : r < 0.2 ? 404 : r < 0.22 ? null : 200,
              decision: r < 0.25 ? 'deny' : r < 0.27 ? 'ratelimit' : r < 0.28 ? 'block' : 'allow',
              duration_ms: Math.round(rnd() * rnd() * 2000 * 1000) / 1000,
            }),
          );
        }
        await s.appendBatch(batch, []);
        const q = { from: new Date(start - H / 2).toISOString(), to: new Date(start + 3 * 24 * H + H / 3).toISOString(), kind: '!admin' };
        // The same selection in a form summaries cannot answer (source matches every event): the events' answer.
        const raw = { ...q, source: 'tollgate' };
        const strip = (ps: Awaited<ReturnType<Store['timeseries']>>) => ps.map(({ ts, total, by_class, denied, rate_limited, blocked }) => ({ ts, total, by_class, denied, rate_limited, blocked }));
        const check = async (what: string) => {
          for (const bucket_seconds of [3600, 3 * 3600, 86400]) {
            const a = await s.timeseries({ ...q, bucket_seconds });
            const b = await s.timeseries({ ...raw, bucket_seconds });
            assert.deepEqual(strip(a), strip(b), `${what}: timeseries counts, ${bucket_seconds} s buckets`);
            for (let i = 0; i < a.length; i++) {
              for (const k of ['p50', 'p95', 'p99'] as const) {
                const x = a[i][k];
                const y = b[i][k];
                assert.ok(x === y || (x !== null && y !== null && Math.abs(x - y) <= 0.05 * Math.max(x, y) + 0.02), `${what}: ${k} ${x} vs ${y}`);
              }
            }
          }
          for (const by of ['client_ip', 'path', 'status', 'decision'] as const) assert.deepEqual(await s.top({ ...q, by, limit: 50 }), await s.top({ ...raw, by, limit: 50 }), `${what}: top ${by}`);
          const [la] = await s.latency(q);
          const [lb] = await s.latency(raw);
          assert.equal(la.count, lb.count, `${what}: latency count`);
          assert.equal(la.max, lb.max, `${what}: latency max`);
          for (const k of ['p50', 'p90', 'p95', 'p99'] as const) assert.ok(Math.abs(la[k]! - lb[k]!) <= 0.05 * lb[k]! + 1, `${what}: latency ${k} ${la[k]} vs ${lb[k]}`);
        };
        await check('before any summary');
        const built = await s.buildRollups(start + 10 * 24 * H);
        assert.ok(built.hours >= 70 && built.days === 3, `built ${JSON.stringify(built)}`);
        await check('from summaries');
        // A late event into a summarized hour is counted at once (its hour is scanned until rebuilt).
        await s.appendBatch([testEvent(start + 5 * H + 123, { kind: 'http', client_ip: '10.0.0.1', path: '/late', status: 503, decision: 'allow', duration_ms: 42 })], []);
        await check('after a late event');
        await s.buildRollups(start + 10 * 24 * H);
        await check('rebuilt');
        // Retention cuts an hour and a day in two.
        await s.deleteOlderThan(new Date(start + 30 * H + 17 * 60_000));
        await check('after retention');
        await s.buildRollups(start + 10 * 24 * H);
        await check('after retention, rebuilt');
      }));

    test('top values with counts and errors', () =>
      withStore(async (s) => {
        const ev = (path: string | null, status: number | null) => testEvent(BASE, { path, status });
        await s.appendBatch([
          ev('/a', 200), ev('/a', 200), ev('/a', 500), ev('/a', null), ev('/a', 404),
          ev('/b', 200), ev('/b', 200), ev('/b', 200),
          ev('/c', 503), ev(null, 200),
        ], []);
        assert.deepEqual(await s.top({ by: 'path' }), [
          { value: '/a', count: 5, errors: 2 },
          { value: '/b', count: 3, errors: 0 },
          { value: '/c', count: 1, errors: 1 },
          { value: null, count: 1, errors: 0 },
        ]);
        assert.deepEqual(await s.top({ by: 'path', limit: 2 }), [
          { value: '/a', count: 5, errors: 2 },
          { value: '/b', count: 3, errors: 0 },
        ]);
        assert.deepEqual(await s.top({ by: 'status', path_prefix: '/a' }), [
          { value: '200', count: 2, errors: 0 },
          { value: '404', count: 1, errors: 0 },
          { value: '500', count: 1, errors: 1 },
          { value: null, count: 1, errors: 1 },
        ]);
      }));

    test('latency percentiles on known data, overall and grouped', () =>
      withStore(async (s) => {
        const data = Array.from({ length: 100 }, (_, i) =>
          testEvent(BASE + i, { duration_ms: i + 1, route: (i + 1) % 2 === 1 ? 'odd' : 'even' }));
        data.push(testEvent(BASE, { duration_ms: null, route: 'none' }), testEvent(BASE, { duration_ms: null, route: 'odd' }));
        await s.appendBatch(data, []);
        const [overall, ...rest] = await s.latency({});
        assert.equal(rest.length, 0);
        assert.equal(overall.group, null);
        assert.equal(overall.count, 100);
        near(overall.p50, 50.5, 'p50');
        near(overall.p90, 90.1, 'p90');
        near(overall.p95, 95.05, 'p95');
        near(overall.p99, 99.01, 'p99');
        assert.equal(overall.max, 100);

        const byRoute = await s.latency({ by: 'route' });
        assert.deepEqual(byRoute.map((r) => [r.group, r.count]), [['even', 50], ['odd', 50], ['none', 0]]);
        const [even, odd, none] = byRoute;
        near(odd.p50, 50, 'odd p50');
        near(odd.p90, 89.2, 'odd p90');
        assert.equal(odd.max, 99);
        near(even.p50, 51, 'even p50');
        assert.equal(even.max, 100);
        assert.deepEqual(none, { group: 'none', count: 0, p50: null, p90: null, p95: null, p99: null, max: null });

        const filtered = await s.latency({ route: 'odd', from: new Date(BASE + 50).toISOString() });
        assert.equal(filtered[0].count, 25);
        assert.equal(filtered[0].max, 99);
      }));

    test('deleteOlderThan removes exactly the older events', () =>
      withStore(async (s) => {
        const data = [-3, -2, -1, 0].map((d) => testEvent(BASE + d * DAY));
        await s.appendBatch(data, [{ writer: 'w0', segment: 1, offset: 1 }]);
        assert.equal(await s.deleteOlderThan(new Date(BASE - 1.5 * DAY)), 2);
        assert.deepEqual(ids(await all(s, { order: 'asc' })), ids(data.slice(2)));
        assert.equal(await s.deleteOlderThan(new Date(BASE - 1.5 * DAY)), 0);
        assert.equal(await s.deleteOlderThan(new Date(BASE - DAY)), 0, 'ts < before, not <=');
        assert.equal(await s.get(data[0].id), null);
        assert.deepEqual(await s.readCursors(), [{ writer: 'w0', segment: 1, offset: 1 }], 'cursors are kept');
      }));
  });
}
