/**
 * Parsing inside the store must store exactly what parsing in JavaScript
 * stores. Each case is ingested three ways into its own store: JavaScript
 * only, in the store in one chunk, and in the store in chunks of a few
 * lines (many transactions, the end of the file read by the line path).
 * The stored rows (all columns but the id), the counts and the samples of
 * rejected lines must be the same, and so must a gzip copy of each file
 * read the same three ways. The inputs are the golden files of the text
 * formats and a corpus of the edge cases where the two readers could part
 * ways.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { DuckDBInstance } from '../../../store/duckdb/api.js';
import { ALL_FACTORIES } from '../index.js';
import { runIngest, type IngestOptions, type IngestSummary } from '../../run.js';
import { DuckDbSink } from '../../sinks.js';
import { createQueryFilter } from '../../../audit/redact.js';
import { sourceDirOf } from '../golden.js';
import { NGINX_COMBINED } from './index.js';

const here = sourceDirOf(import.meta.url);
const apacheData = path.join(here, '..', 'apache', 'testdata');
const nginxData = path.join(here, 'testdata');
const redactQuery = createQueryFilter(['token', 'password', 'sig']);

type Way = 'javascript' | 'store' | 'store-small-chunks';
const WAYS: Record<Way, { minBytes: number; chunkBytes?: number }> = {
  javascript: { minBytes: Infinity },
  store: { minBytes: 0 },
  'store-small-chunks': { minBytes: 0, chunkBytes: 700 },
};

/** Ingests `file` into a new store at `db`. */
async function ingestInto(db: string, file: string, format: string, inStore: IngestOptions['inStore'], more: Partial<IngestOptions> = {}): Promise<IngestSummary> {
  const sink = await DuckDbSink.open(db);
  try {
    return await runIngest({
      format,
      parserOptions: {},
      factories: ALL_FACTORIES,
      input: { kind: 'paths', args: [file] },
      sink,
      registry: null,
      signal: new AbortController().signal,
      inStore,
      ...more,
    });
  } finally {
    await sink.close();
  }
}

async function ingest(dir: string, file: string, format: string, logFormat: string | undefined, way: Way): Promise<{ summary: IngestSummary; rows: string[] }> {
  const db = path.join(dir, `${path.basename(file)}-${format}-${way}.duckdb`);
  const summary = await ingestInto(db, file, format, WAYS[way], { parserOptions: { logFormat, node: 'lb-test', environment: 'staging' }, redactQuery });
  const instance = await DuckDBInstance.create(db);
  const c = await instance.connect();
  // As DuckDB's own JSON text: the client's string conversion would hide some differences (it drops a leading U+FEFF).
  const reader = await c.runAndReadAll('SELECT to_json(e)::VARCHAR FROM (SELECT * EXCLUDE (id) FROM events) e');
  const rows = reader.getRows().map((r) => String(r[0])).sort();
  c.closeSync();
  instance.closeSync();
  return { summary, rows };
}

/** The summary without what differs by design (time, the store's path, how many lines the store parsed). */
function comparable(s: IngestSummary): Partial<IngestSummary> {
  const { elapsedMs: _e, linesPerSecond: _l, parsedInStore: _p, sink: _s, ...rest } = s;
  return rest;
}

/**
 * Ingests `file` and a gzip copy of it every way; all must store the same
 * rows with the same summaries (rejected samples name the file read, so each
 * copy is compared with the JavaScript reading of that copy).
 */
async function sameEverywhere(file: string, format: string, logFormat?: string): Promise<Record<Way, IngestSummary>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tg-line-sql-'));
  try {
    const gz = path.join(dir, `${path.basename(file)}.gz`);
    writeFileSync(gz, gzipSync(readFileSync(file)));
    const out = {} as Record<Way, IngestSummary>;
    let plainRows: string[] = [];
    for (const copy of [file, gz]) {
      const js = await ingest(dir, copy, format, logFormat, 'javascript');
      assert.equal(js.summary.parsedInStore, 0);
      if (copy === file) plainRows = js.rows;
      else assert.deepEqual(js.rows, plainRows, `${format} ${path.basename(copy)}: the gzip copy stores what the file does`);
      for (const way of ['store', 'store-small-chunks'] as const) {
        const other = await ingest(dir, copy, format, logFormat, way);
        assert.deepEqual(comparable(other.summary), comparable(js.summary), `${format} ${path.basename(copy)}: summary, ${way}`);
        assert.deepEqual(other.rows, js.rows, `${format} ${path.basename(copy)}: stored rows, ${way}`);
        if (copy === gz) assert.equal(other.summary.parsedInStore, out[way].parsedInStore, `${format} ${path.basename(copy)}: as many lines in the store as from the file, ${way}`);
        else out[way] = other.summary;
      }
      if (copy === file) out.javascript = js.summary;
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';
function combined(p: { ip?: string; user?: string; time?: string; req?: string; status?: string; bytes?: string; ref?: string; ua?: string }): string {
  return `${p.ip ?? '203.0.113.9'} - ${p.user ?? '-'} [${p.time ?? '24/Nov/2026:10:00:00 +0000'}] "${p.req ?? 'GET /a?b=1 HTTP/1.1'}" ${p.status ?? '200'} ${p.bytes ?? '512'} "${p.ref ?? 'https://shop.example/'}" "${p.ua ?? ua}"`;
}

/** Lines where the readers could part ways; all valid UTF-8, LF only (the chunk is the store's). */
const EDGE_LINES = [
  combined({}),
  combined({ ip: '2001:db8::7', user: 'alice' }),
  // Byte order marks (a second log appended with cat): one of these starts a small chunk, where DuckDB's reader would drop it.
  ...Array.from({ length: 5 }, (_, i) => '\uFEFF' + combined({ req: `GET /bom/${i} HTTP/1.1` })),
  combined({ ip: '[2001:db8::8]' }),
  combined({ ip: '-' }),
  combined({ ip: 'client.example.net' }),
  combined({ user: 'bob smith' }),
  combined({ user: '' }),
  combined({ ua: 'curl/8 \\x22quoted\\x22' }),
  combined({ ua: 'said \\"hi\\"' }),
  combined({ ua: '' }),
  combined({ ua: '-', ref: '-' }),
  combined({ ua: 'Mozilla/5.0 ünïcødé 🚀' }),
  combined({ req: '-', status: '400', bytes: '0' }),
  combined({ req: '\\x16\\x03\\x01\\x00\\xF7\\x01', status: '400' }),
  combined({ req: 'GET / HTTP/2.0' }),
  combined({ req: 'GET / HTTP/2' }),
  combined({ req: 'GET / HTTP/3.0' }),
  combined({ req: 'GET /old HTTP/1.0' }),
  combined({ req: 'GET /' }),
  combined({ req: 'GET http://example.com/x?y=1 HTTP/1.1' }),
  combined({ req: 'GET /with space HTTP/1.1' }),
  combined({ req: 'GET /p? HTTP/1.1' }),
  combined({ req: 'GET /p?a=1?b=2&c HTTP/1.1' }),
  combined({ req: 'GET /login?user=a&token=s3cret HTTP/1.1' }),
  // Impossible dates and offsets (refused by both readers), a leap day and a leap second.
  combined({ time: '31/Feb/2023:10:00:00 +0000' }),
  combined({ time: '29/Feb/2024:10:00:00 +0000' }),
  combined({ time: '24/Nov/2026:10:00:00 +0060' }),
  combined({ time: '24/Nov/2026:10:00:00 +2400' }),
  combined({ time: '24/Nov/2026:10:00:00 -2359' }),
  combined({ time: '31/Dec/2016:23:59:60 +0000' }),
  // A secret in the Referer's query: redacted on both paths (the store leaves the line to JavaScript).
  combined({ ref: 'https://idp.example/cb?token=s3cret&state=1' }),
  combined({ req: 'GET /login?TOKEN=s3cret HTTP/1.1' }),
  combined({ req: 'GET /login?pass%77ord=x HTTP/1.1' }),
  combined({ req: 'GET /login?a+b=x HTTP/1.1' }),
  combined({ req: 'GET /café HTTP/1.1' }),
  combined({ req: 'get /lower HTTP/1.1' }),
  combined({ req: 'M-SEARCH * HTTP/1.1' }),
  combined({ req: 'PROPFIND_X /dav HTTP/1.1' }),
  combined({ req: `${'A'.repeat(40)} / HTTP/1.1` }),
  combined({ req: `GET /${'x'.repeat(5000)} HTTP/1.1` }),
  combined({ status: '000', bytes: '0' }),
  combined({ status: '099' }),
  combined({ status: '101', req: 'GET /ws HTTP/1.1' }),
  combined({ status: '499' }),
  combined({ status: '502' }),
  combined({ status: '504' }),
  combined({ status: '408' }),
  combined({ status: '494' }),
  combined({ status: '1000' }),
  combined({ status: '-' }),
  combined({ bytes: '-' }),
  combined({ bytes: '007' }),
  combined({ bytes: '999999999999999' }),
  combined({ bytes: '9999999999999999' }),
  combined({ bytes: '99999999999999999999' }),
  combined({ bytes: '1.5' }),
  combined({ time: '31/Apr/2026:10:00:00 +0000' }),
  combined({ time: '29/Feb/2023:10:00:00 +0000' }),
  combined({ time: '29/Feb/2024:23:59:59 -0130' }),
  combined({ time: '24/Nov/2026:23:59:60 +0000' }),
  combined({ time: '24/Nov/2026:24:00:00 +0000' }),
  combined({ time: '00/Nov/2026:10:00:00 +0000' }),
  combined({ time: '31/Dec/1969:23:59:59 +0000' }),
  combined({ time: '01/Jan/1970:00:00:00 +0000' }),
  combined({ time: '01/Jan/1970:00:00:01 +0000' }),
  combined({ time: '01/Jan/1970:00:30:00 +0100' }),
  combined({ time: '31/Dec/9999:23:59:59 +0000' }),
  combined({ time: '31/Dec/9999:23:59:59 -0100' }),
  combined({ time: '24/Nov/2026:10:00:00 +1400' }),
  combined({ time: '24/Nov/2026:10:00:00 -0000' }),
  combined({ time: '24/Nov/2026:10:00:00 +9999' }),
  combined({ time: '24/Nov/2026:10:00:00.123 +0000' }),
  combined({ time: '24/nov/2026:10:00:00 +0000' }),
  combined({ time: '24/Nov/2026:10:00:00 0000' }),
  combined({}) + ' trailing',
  combined({}).slice(0, 60),
  '',
  '   ',
  '# a comment',
  'not a log line at all',
  combined({ ip: '198.51.100.4', user: 'carol', req: 'POST /api/v1/orders HTTP/1.1', status: '201', bytes: '87' }),
];

function writeLines(dir: string, name: string, lines: readonly (string | Buffer)[], end = '\n'): string {
  const file = path.join(dir, name);
  writeFileSync(file, Buffer.concat(lines.map((l) => Buffer.concat([typeof l === 'string' ? Buffer.from(l) : l, Buffer.from(end)]))));
  return file;
}

test('the store parses what the format can read exactly, and its events equal the JavaScript parser’s: edge cases, NGINX and Apache', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tg-line-sql-corpus-'));
  try {
    const file = writeLines(dir, 'edge.log', EDGE_LINES);
    for (const format of ['nginx-combined', 'apache-combined']) {
      const got = await sameEverywhere(file, format);
      // Most lines are for the JavaScript parser; the plain ones were parsed in the store.
      assert.ok(got.store.parsedInStore >= 20 && got.store.parsedInStore < got.store.linesRead, `${format}: ${got.store.parsedInStore} of ${got.store.linesRead} in the store`);
      assert.ok(got.store.events > 0 && got.store.rejected > 0 && got.store.skipped > 0);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--format auto picks the format from the first lines of a file parsed in the store', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tg-line-sql-auto-'));
  try {
    const lines = Array.from({ length: 40 }, (_, i) => combined({ req: `GET /auto/${i} HTTP/1.1`, bytes: String(i) }));
    const file = writeLines(dir, 'auto.log', lines);
    const s = await ingestInto(path.join(dir, 'auto.duckdb'), file, 'auto', { minBytes: 0 });
    assert.equal(s.format, 'nginx-combined');
    assert.equal(s.formatDetected, true);
    assert.equal(s.parsedInStore, 40);
    assert.equal(s.events, 40);
    // CRLF: detected from lines without their CR, as the line path splits them (the chunks then go the line path).
    const crlf = writeLines(dir, 'auto-crlf.log', lines, '\r\n');
    const s2 = await ingestInto(path.join(dir, 'auto-crlf.duckdb'), crlf, 'auto', { minBytes: 0 });
    assert.equal(s2.format, 'nginx-combined');
    assert.equal(s2.events, 40);
    assert.equal(s2.parsedInStore, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a custom log_format with a request id, the node and extra fields is parsed in the store the same way', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tg-line-sql-custom-'));
  try {
    // $__proto__: an extra key that a plain object would swallow.
    const format = `${NGINX_COMBINED} $request_id $hostname $connection "$geo_region" $__proto__`;
    const lines = EDGE_LINES.slice(0, 30).flatMap((l, i) => [`${l} req-${i} lb-${i % 3} ${i * 7} "eu-${i}" p${i}`, `${l} - - - "" -`, `${l} r"q lb {} "a\\"b" x`]);
    const file = writeLines(dir, 'custom.log', lines);
    const got = await sameEverywhere(file, 'nginx', format);
    assert.ok(got.store.parsedInStore > 10, `${got.store.parsedInStore} lines in the store`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('chunks the store cannot read as lines (not UTF-8, CR line ends, NUL) are parsed in JavaScript, alone', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tg-line-sql-dirty-'));
  try {
    const plain = EDGE_LINES.slice(0, 2);
    const file = writeLines(dir, 'dirty.log', [
      ...plain,
      Buffer.concat([Buffer.from(combined({}).slice(0, 100)), Buffer.from([0xff, 0xfe]), Buffer.from(combined({}).slice(100))]),
      ...plain,
      combined({ ua: 'with\u0000nul' }),
      ...plain,
      combined({}) + '\r',
      ...plain,
      combined({ ua: 'x'.repeat(1_100_000) }),
      ...plain,
    ]);
    for (const format of ['nginx-combined', 'apache-combined']) {
      const got = await sameEverywhere(file, format);
      assert.equal(got.store.parsedInStore, 0, 'one chunk with everything: refused, parsed in JavaScript');
      assert.ok(got['store-small-chunks'].parsedInStore > 0, 'small chunks: the clean ones in the store');
    }
    // A byte order mark at the start of the file: the line path keeps it in the first line, DuckDB's reader would drop it.
    const bom = writeLines(dir, 'bom.log', ['\uFEFF' + combined({}), ...EDGE_LINES.slice(0, 5)]);
    assert.equal((await sameEverywhere(bom, 'nginx-combined')).store.parsedInStore, 0);
    // CRLF throughout: the line path strips the CRs; the store never sees them.
    const crlf = writeLines(dir, 'crlf.log', EDGE_LINES.slice(0, 10), '\r\n');
    assert.equal((await sameEverywhere(crlf, 'nginx-combined')).store.parsedInStore, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('golden files of the NGINX and Apache text formats: the same events both ways', async () => {
  const cases: [string, string, string | undefined][] = [];
  for (const [data, prefix] of [[nginxData, 'nginx'], [apacheData, 'apache']] as const) {
    for (const f of readdirSync(data).filter((n) => n.endsWith('.log')).sort()) {
      const name = f.slice(0, -4);
      if (name.startsWith('json') || name.startsWith('custom-json')) continue; // JSON formats have no SQL form
      const fmtFile = path.join(data, `${name}.format`);
      const custom = name.startsWith('custom-');
      cases.push([path.join(data, f), custom ? prefix : `${prefix}-${name}`, custom ? readFileSync(fmtFile, 'utf8').trim() : undefined]);
    }
  }
  assert.ok(cases.length >= 8);
  let inStore = 0;
  // The golden files hold non-UTF-8 and CRLF lines: in one chunk the store refuses them; in small ones it reads the rest.
  for (const [file, format, logFormat] of cases) inStore += (await sameEverywhere(file, format, logFormat))['store-small-chunks'].parsedInStore;
  assert.ok(inStore >= 10, `${inStore} golden lines parsed in the store`);
});

test('formats with fields the store cannot read exactly have no SQL form', () => {
  const make = (format: string, logFormat?: string) => ALL_FACTORIES.find((f) => f.format === format)!.create({ logFormat });
  assert.ok(make('nginx-combined').sql);
  assert.ok(make('apache-combined').sql);
  assert.equal(make('nginx', '$remote_addr [$time_local] "$request" $status $request_time').sql, null, 'a duration');
  assert.equal(make('nginx', '$remote_addr [$time_iso8601] "$request" $status').sql, null, 'an ISO time');
  assert.equal(make('nginx', '$remote_addr [$time_local] "$request" $status "$http_cookie"').sql, null, 'a redacted header');
  assert.equal(make('nginx', '$remote_addr [$time_local] "$request" $status $upstream_addr').sql, null, 'an upstream list');
  assert.equal(make('nginx', '$remote_addr [$time_local] "$request" $status $connection $1').sql, null, 'an integer-like extra key (JSON.stringify puts it first)');
  assert.ok(make('nginx', '$remote_addr [$time_local] "$request" $status $connection').sql);
  assert.equal(make('alb').sql ?? null, null);
});

test('lines the store does not take are found by their place in a large chunk read in parallel', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tg-line-sql-order-'));
  try {
    const N = 200_000;
    const bad = new Set([7_777, 33_333, 50_001, 99_999, 123_456, 150_000, 177_777, 199_998]);
    const escaped = new Set([1, 12_345, 66_666, 111_111, 188_888, 200_000]);
    const lines: string[] = [];
    for (let i = 1; i <= N; i++) {
      const status = bad.has(i) ? '-' : '200';
      lines.push(`192.0.2.${i % 250} - - [24/Nov/2026:10:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')} +0000] "GET /n/${i} HTTP/1.1" ${status} ${i} "-" "${escaped.has(i) ? 'a\\x22b' : 't'}"`);
    }
    const file = writeLines(dir, 'big.log', lines);
    const db = path.join(dir, 'big.duckdb');
    const summary = await ingestInto(db, file, 'nginx-combined', { minBytes: 0 });
    assert.equal(summary.linesRead, N);
    assert.equal(summary.parsedInStore, N - bad.size - escaped.size);
    assert.equal(summary.events, N - bad.size);
    assert.deepEqual(summary.samples.map((x) => [x.line, x.reason]), [...bad].map((i) => [i, 'bad_status']));
    const instance = await DuckDBInstance.create(db);
    const c = await instance.connect();
    const paths = (await c.runAndReadAll(`SELECT path FROM events WHERE user_agent = 'a"b' ORDER BY bytes_out`)).getRows().map((r) => String(r[0]));
    const total = (await c.runAndReadAll(`SELECT count(DISTINCT path) FROM events`)).getRows()[0][0];
    c.closeSync();
    instance.closeSync();
    assert.deepEqual(paths, [...escaped].map((i) => `/n/${i}`));
    assert.equal(Number(total), N - bad.size);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
