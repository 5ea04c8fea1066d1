/**
 * `tollgate ingest` as a user runs it: following a file across both rotation
 * styles into the store (no line lost or doubled, positions remembered), and
 * ingesting while a node runs (the node holds the store, so events go
 * through its spool and appear in its admin API), with bad lines reported by
 * file and line and the summary as JSON.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, readFile, rename, rm, truncate, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { startBackend, startTollgate, tempDir, withTempDir, waitFor, sleep, allEvents, CLI, TEST_ADMIN_TOKEN } from './helpers.js';
import { ALL_FACTORIES } from '../src/ingest/parsers/index.js';
import { openRegistry } from '../src/ingest/registry.js';
import { runIngest, type IngestOptions, type IngestSummary } from '../src/ingest/run.js';
import { DuckDbSink, type EventSink } from '../src/ingest/sinks.js';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { DuckDbStore } from '../src/store/duckdb/duckdb-store.js';
import { createQueryFilter } from '../src/audit/redact.js';

const run = promisify(execFile);

function line(n: number): string {
  const sec = String(n % 60).padStart(2, '0');
  return `192.0.2.${n % 250} - - [24/Nov/2026:10:00:${sec} +0000] "GET /n/${n} HTTP/1.1" 200 ${n} "-" "follow-test"\n`;
}

test('--follow across rename and copytruncate rotation: every line exactly once, and a restart resumes', { timeout: 60_000 }, async () => {
  await withTempDir('tg-follow-', async (dir) => {
    const log = path.join(dir, 'access.log');
    const storePath = path.join(dir, 'store.duckdb');
    await writeFile(log, '');
    let written = 0;
    const write = async (k: number) => {
      for (let i = 0; i < k; i++) await appendFile(log, line(++written));
    };
    /** Follows until `events` have been stored in this run, then stops. */
    const follow = async (events: number, args = [log]) => {
      const abort = new AbortController();
      const sink = await DuckDbSink.open(storePath);
      const registry = await openRegistry(`${storePath}.ingest.json`);
      let stored = 0;
      const done = runIngest({
        format: 'nginx-combined',
        parserOptions: {},
        factories: ALL_FACTORIES,
        input: { kind: 'follow', args },
        sink,
        registry,
        signal: abort.signal,
        onProgress: (p) => (stored = p.events),
      });
      await waitFor(() => stored >= events, `${events} events to be stored (have ${stored})`, 30_000, 100);
      await sleep(600); // anything beyond would be a duplicate: give it the chance to show
      abort.abort();
      const summary = await done;
      await sink.close();
      return summary;
    };
    const stored = async () => {
      const s = await DuckDbStore.open({ path: storePath });
      try {
        return (await s.search({ order: 'asc', limit: 10_000 })).events.map((e) => Number(e.path!.slice(3)));
      } finally {
        await s.close();
      }
    };
    await write(50);
    const writer = (async () => {
      await sleep(300);
      await write(50);
      // logrotate "create": rename, and the writer keeps appending to the old file for a moment…
      await rename(log, `${log}.1`);
      for (let i = 0; i < 10; i++) await appendFile(`${log}.1`, line(++written));
      // …then a new file at the same path.
      await writeFile(log, '');
      await write(50);
      // copytruncate, once the follower has read the new file (the old one is finished after 1 s of quiet).
      await sleep(2500);
      await copyFile(log, `${log}.2`);
      await truncate(log, 0);
      await write(40);
    })();
    const total = 50 + 50 + 10 + 50 + 40;
    const first = await follow(total);
    await writer;
    assert.equal(first.events, total, 'every line once, none twice');
    const got = await stored();
    assert.deepEqual([...got].sort((x, y) => x - y), Array.from({ length: total }, (_, i) => i + 1));

    // A restart reads only what was written since.
    await write(25);
    const second = await follow(25);
    assert.equal(second.events, 25);
    const again = await stored();
    assert.equal(again.length, total + 25);
    assert.equal(new Set(again).size, again.length, 'no duplicates');

    // Rotated while no ingest ran: the old file's last lines are read under its new name, then the new
    // file. The path named twice (./) is followed once.
    await write(10);
    await rename(log, `${log}.3`);
    await writeFile(log, '');
    await write(20);
    const third = await follow(30, [log, `${dir}/./access.log`]);
    assert.equal(third.events, 30);
    const last = await stored();
    assert.equal(last.length, total + 25 + 30);
    assert.deepEqual([...last].sort((x, y) => x - y), Array.from({ length: total + 55 }, (_, i) => i + 1), 'every line once');

    // copytruncate while no ingest ran: the unread lines are in the copy.
    await write(10);
    await copyFile(log, `${log}.4`);
    await truncate(log, 0);
    await write(15);
    assert.equal((await follow(25)).events, 25);
    // compress while no ingest ran: the file read last time was renamed and compressed (a new inode).
    await write(5);
    await rename(log, `${log}.5`);
    await writeFile(`${log}.5.gz`, gzipSync(await readFile(`${log}.5`)));
    await rm(`${log}.5`);
    await writeFile(log, '');
    await write(7);
    assert.equal((await follow(12)).events, 12);
    const all = await stored();
    assert.deepEqual([...all].sort((x, y) => x - y), Array.from({ length: total + 55 + 37 }, (_, i) => i + 1), 'every line once, after both');
  });
});

test('ingest while a node runs: through its spool into its store; bad lines reported with file and line; JSON summary', { timeout: 60_000 }, async () => {
  const backend = await startBackend();
  const tg = await startTollgate({ app: [backend.address] });
  try {
    const log = path.join(tg.dir, 'haproxy.log');
    await writeFile(
      log,
      [
        '<134>Nov 24 10:00:01 lb1 haproxy[123]: 203.0.113.7:51234 [24/Nov/2026:10:00:01.123] fe be/app1 0/0/1/2/3 200 512 - - ---- 1/1/0/0/0 0/0 "GET /from-haproxy?token=s3cret HTTP/1.1"',
        'this is not an access log line',
        '<134>Nov 24 10:00:02 lb1 haproxy[123]: 203.0.113.8:51235 [24/Nov/2026:10:00:02.456] fe be/app2 0/0/1/5/6 503 212 - - sH-- 1/1/0/0/0 0/0 "POST /api HTTP/1.1"',
        '',
      ].join('\n'),
    );
    const r = await run(process.execPath, [CLI, 'ingest', '-c', path.join(tg.dir, 'tollgate.yaml'), '--json', log], { env: { ...process.env, TOLLGATE_ADMIN_TOKEN: TEST_ADMIN_TOKEN } });
    const summary = JSON.parse(r.stdout) as { format: string; events: number; rejected: number; samples: { origin: string; line: number; reason: string }[]; sink: string };
    assert.equal(summary.format, 'haproxy-http');
    assert.equal(summary.events, 2);
    assert.equal(summary.rejected, 1);
    assert.deepEqual(summary.samples.map((x) => [path.basename(x.origin), x.line]), [['haproxy.log', 2]]);
    assert.match(summary.sink, /spool/, 'the running node holds the store: events go through its spool');
    const events = await waitFor(async () => {
      const ev = (await allEvents(tg.admin, { source: 'haproxy' })).filter((e) => e.source === 'haproxy');
      return ev.length === 2 ? ev : null;
    }, 'the node to load the ingested events');
    const first = events.find((e) => e.path === '/from-haproxy')!;
    assert.equal(first.client_ip, '203.0.113.7');
    assert.equal(first.node, 'lb1');
    assert.ok(!(first.query ?? '').includes('s3cret'), `secret query parameters are redacted: ${first.query}`);
    const second = events.find((e) => e.path === '/api')!;
    assert.equal(second.status, 503);
    assert.equal(second.termination, 'upstream_timeout');
  } finally {
    await tg.stop();
    await backend.close();
  }
});

test('a store held by another program and no node running: ingest refuses with the reason instead of spooling events nothing loads', { timeout: 60_000 }, async () => {
  const dir = await tempDir('tg-busy-store-');
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const storePath = path.join(dir, 'store.duckdb');
  const holder = await DuckDBInstance.create(storePath);
  try {
    const cfg = path.join(dir, 'tollgate.yaml');
    await writeFile(cfg, `listeners: [{ address: "127.0.0.1:0" }]\nstore: { path: ${JSON.stringify(storePath)} }\naudit: { spool: { dir: ${JSON.stringify(path.join(dir, 'spool'))} } }\n`);
    const log = path.join(dir, 'access.log');
    await writeFile(log, line(1));
    const failed = await run(process.execPath, [CLI, 'ingest', '-c', cfg, '--registry', path.join(dir, 'r.json'), '--json', log]).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    assert.ok(failed, 'the ingest fails');
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /open in another process/);
    assert.match(failed.stderr, /No Tollgate node writes to the spool/);
  } finally {
    holder.closeSync();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a wrong format rejects every line: the summary says so, the next run skips the file and points to --reread, which reads it again; a --log-format no format reads is refused', { timeout: 60_000 }, async () => {
  await withTempDir('tg-reread-', async (dir) => {
    const storePath = path.join(dir, 'store.duckdb');
    const cfg = path.join(dir, 'tollgate.yaml');
    await writeFile(cfg, `listeners: [{ address: "127.0.0.1:0" }]\nstore: { path: ${JSON.stringify(storePath)} }\naudit: { spool: { dir: ${JSON.stringify(path.join(dir, 'spool'))} } }\n`);
    const log = path.join(dir, 'access.log');
    await writeFile(log, line(1) + line(2) + line(3));
    const ingest = (...args: string[]) => run(process.execPath, [CLI, 'ingest', '-c', cfg, ...args, log]);
    const wrong = await ingest('--format', 'nginx', '--log-format', '$remote_addr [$time_local] "$request" $status');
    assert.match(wrong.stdout, /events\s+0/);
    assert.match(wrong.stdout, /nothing was stored: every line was rejected.*--reread/s);
    const skipped = await ingest('--format', 'nginx-combined');
    assert.match(skipped.stdout, /already read, skipped; --reread reads them again/);
    const again = JSON.parse((await ingest('--format', 'nginx-combined', '--reread', '--json')).stdout) as { events: number; rejected: number };
    assert.deepEqual([again.events, again.rejected], [3, 0]);
    assert.equal((await storedPaths(storePath)).length, 3);
    for (const args of [['--format', 'nginx-combined', '--log-format', '$remote_addr'], ['--log-format', '$remote_addr']]) {
      const refused = await ingest('--reread', '--stdout', ...args).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      assert.equal(refused?.code, 1, args.join(' '));
      assert.match(refused.stderr, /--log-format is only read by the custom formats \(--format haproxy, nginx, apache\)/);
    }
    await assert.rejects(run(process.execPath, [CLI, 'ingest', '-c', cfg, '--reread', '--follow', log]), /--reread reads files again/);
  });
});

/** A store sink whose `failAt`-th commit fails (nothing of it stored), as a full disk or a kill would leave it. */
function failingCommit(sink: DuckDbSink, failAt: number): EventSink {
  let commits = 0;
  return {
    kind: sink.kind,
    description: sink.description,
    add: (e) => sink.add(e),
    get pending() {
      return sink.pending;
    },
    commit: (cursors) => (++commits === failAt ? Promise.reject(new Error('disk full')) : sink.commit(cursors)),
    commitLogChunk: (...args) => (++commits === failAt ? Promise.reject(new Error('disk full')) : sink.commitLogChunk(...args)),
    cursors: () => sink.cursors(),
    close: () => sink.close(),
  };
}

/** One ingest of `file` into the store at `storePath`, with its registry; `stopWhen` stops it (as Ctrl-C does), `failAt` fails that commit. */
async function ingestFile(
  file: string | string[],
  storePath: string,
  opts: { inStore: { minBytes: number; chunkBytes?: number }; batchEvents: number; failAt?: number; stopWhen?: (p: IngestProgress) => boolean },
) {
  const abort = new AbortController();
  const sink = await DuckDbSink.open(storePath);
  const registry = await openRegistry(`${storePath}.ingest.json`);
  try {
    return await runIngest({
      format: 'nginx-combined',
      parserOptions: {},
      factories: ALL_FACTORIES,
      input: { kind: 'paths', args: Array.isArray(file) ? file : [file] },
      sink: opts.failAt ? failingCommit(sink, opts.failAt) : sink,
      registry,
      signal: abort.signal,
      batchEvents: opts.batchEvents,
      inStore: opts.inStore,
      onProgress: (p) => {
        if (opts.stopWhen?.(p)) abort.abort();
      },
    });
  } finally {
    await sink.close();
  }
}

type IngestProgress = { events: number; bytes: number; totalBytes: number | null };

/** A stopWhen that never stops and keeps every progress report. */
function progressRecorder(): { reports: IngestProgress[]; stopWhen: (p: IngestProgress) => boolean } {
  const reports: IngestProgress[] = [];
  return { reports, stopWhen: (p) => (reports.push({ events: p.events, bytes: p.bytes, totalBytes: p.totalBytes }), false) };
}

/** Progress only moves forward, never past the total, and ends at it. */
function assertProgressForward(reports: readonly IngestProgress[], what: string): void {
  assert.ok(reports.length > 1, `${what}: progress was reported`);
  const total = reports[0].totalBytes;
  assert.ok(total !== null && total > 0, `${what}: a total is known`);
  for (let i = 1; i < reports.length; i++) {
    assert.ok(reports[i].bytes >= reports[i - 1].bytes, `${what}: progress went back from ${reports[i - 1].bytes} to ${reports[i].bytes} bytes (report ${i})`);
    assert.ok(reports[i].bytes <= total, `${what}: ${reports[i].bytes} bytes done of ${total}`);
  }
  assert.equal(reports.at(-1)!.bytes, total, `${what}: ends at the total`);
}

/** One run into a new store sink at `storePath` (closed after): nginx-combined, no registry, unless `over` says otherwise. */
async function ingestInto(storePath: string, over: Partial<IngestOptions> & Pick<IngestOptions, 'input'>): Promise<IngestSummary> {
  const sink = await DuckDbSink.open(storePath);
  try {
    return await runIngest({ format: 'nginx-combined', parserOptions: {}, factories: ALL_FACTORIES, sink, registry: null, signal: new AbortController().signal, ...over });
  } finally {
    await sink.close();
  }
}

/** The paths of the events in a store. */
async function storedPaths(storePath: string): Promise<string[]> {
  return (await storedEvents(storePath)).map((e) => e.path!);
}

/** The events in a store, oldest first. */
async function storedEvents(storePath: string) {
  const s = await DuckDbStore.open({ path: storePath });
  try {
    return (await s.search({ limit: 20_000, order: 'asc' })).events;
  } finally {
    await s.close();
  }
}

for (const [way, inStore] of [
  ['line by line', { minBytes: Infinity }],
  ['in the store, in chunks', { minBytes: 0, chunkBytes: 64 << 10 }],
] as const) {
  test(`a gzip file read ${way} and stopped after a commit resumes without duplicates (it is re-read, the stored lines skipped); once done it is not read again`, { timeout: 60_000 }, async () => {
    await withTempDir('tg-gz-', async (dir) => {
      // The last line has no newline: it is read after the chunks, and it is what marks the file done.
      const text = Array.from({ length: 5000 }, (_, i) => line(i + 1)).join('').slice(0, -1);
      const gz = path.join(dir, 'old.log.gz');
      await writeFile(gz, gzipSync(text));
      const once = (storePath: string, stopAfter: number | null) => ingestFile(gz, storePath, { inStore, batchEvents: 2000, stopWhen: (p) => stopAfter !== null && p.events >= stopAfter });
      const stopped = path.join(dir, 'stopped.duckdb');
      const first = await once(stopped, 2000);
      assert.ok(first.events >= 2000 && first.events < 5000, `stopped part-way (${first.events})`);
      if (inStore.minBytes === 0) assert.equal(first.parsedInStore, first.events);
      const second = await once(stopped, null);
      assert.equal(first.events + second.events, 5000);
      const paths = await storedPaths(stopped);
      assert.equal(paths.length, 5000);
      assert.equal(new Set(paths).size, 5000, 'no line stored twice');

      const whole = path.join(dir, 'whole.duckdb');
      const all = await once(whole, null);
      assert.equal(all.events, 5000);
      // In the store: every line but the last, which has no newline.
      assert.equal(all.parsedInStore, inStore.minBytes === 0 ? 4999 : 0);
      const again = await once(whole, null);
      assert.deepEqual([again.events, again.alreadyRead], [0, 1], 'the registry marks the file done');
      assert.equal((await storedPaths(whole)).length, 5000);
    });
  });
}

test('rotation between runs with the glob access.log*: compress (access.log.1 → .gz) and copytruncate store every line once', { timeout: 60_000 }, async () => {
  await withTempDir('tg-rot-', async (dir) => {
    const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => line(from + i)).join('');
    const store = path.join(dir, 'store.duckdb');
    const log = path.join(dir, 'access.log');
    const glob = `${log}*`;
    const once = () => ingestFile(glob, store, { inStore: { minBytes: Infinity }, batchEvents: 1000 });
    // Lines 1-100, read; then 101-120 written before a rename rotation; the new file gets 121-150.
    await writeFile(log, lines(1, 100));
    assert.equal((await once()).events, 100);
    await appendFile(log, lines(101, 120));
    await rename(log, `${log}.1`);
    await writeFile(log, lines(121, 150));
    assert.equal((await once()).events, 50);
    // logrotate's `compress`: access.log.1 becomes access.log.1.gz, a new inode with the same text.
    const rotated = await import('node:fs/promises').then((fs) => fs.readFile(`${log}.1`));
    await writeFile(`${log}.1.gz`, gzipSync(rotated));
    await rm(`${log}.1`);
    assert.equal((await once()).events, 0, 'the compressed file holds nothing new');
    // copytruncate: access.log (121-150, plus 151-160 not read yet) copied to access.log.2, then emptied and written on.
    await appendFile(log, lines(151, 160));
    await copyFile(log, `${log}.2`);
    await truncate(log, 0);
    await writeFile(log, lines(161, 170));
    assert.equal((await once()).events, 20, 'the copy gives its 10 unread lines, the emptied file its 10 new ones');
    const paths = await storedPaths(store);
    assert.equal(paths.length, 170);
    assert.equal(new Set(paths).size, 170, 'no line stored twice');
  });
});

test('a gzip file stopped part-way in the store is finished by the next run, every line once: a chunk parsed in JavaScript (CRLF) or a stop while skipping a re-read', { timeout: 60_000 }, async () => {
  await withTempDir('tg-gz-stop-', async (dir) => {
    const go = (file: string, storePath: string, opts: { failAt?: number; stopWhen?: (p: IngestProgress) => boolean; chunkBytes?: number }) =>
      ingestFile(file, storePath, { inStore: { minBytes: 0, chunkBytes: opts.chunkBytes }, batchEvents: 1000, failAt: opts.failAt, stopWhen: opts.stopWhen });
    // CRLF: the one chunk goes to the line path in batches of 1,000; the second commit fails.
    // Only the last batch of the last chunk may record the file's size, or the rest would never be read.
    const crlf = path.join(dir, 'crlf.log.gz');
    await writeFile(crlf, gzipSync(Array.from({ length: 5000 }, (_, i) => line(i + 1).replace('\n', '\r\n')).join('')));
    const a = path.join(dir, 'a.duckdb');
    await assert.rejects(go(crlf, a, { failAt: 2 }), /disk full/);
    const resumed = await go(crlf, a, {});
    assert.equal(resumed.alreadyRead, 0, 'the file is not taken as read');
    const pathsA = await storedPaths(a);
    assert.equal(pathsA.length, 5000);
    assert.equal(new Set(pathsA).size, 5000);

    // A line longer than a chunk sends the file back to the line path, which skips the 6,000 lines stored;
    // stopped during that skip, the position must not move back.
    const long = path.join(dir, 'long.log.gz');
    // Random tokens make the compressed file larger than the 1 MiB the reader takes at a time, so positions in it move as it is read.
    const lines = Array.from({ length: 8000 }, (_, i) => line(i + 1).replace('/n/', `/n/${i === 6000 ? 'x'.repeat(100_000) : randomBytes(200).toString('hex')}/`));
    await writeFile(long, gzipSync(lines.join('')));
    const b = path.join(dir, 'b.duckdb');
    let atSixThousand = 0;
    const first = await go(long, b, { chunkBytes: 64 << 10, stopWhen: (p) => p.events >= 6000 && ++atSixThousand === 2 });
    assert.equal(first.events, 6000, 'stopped in the re-read, before its first new line');
    // Resumed in the middle of a gzip file: it is read from its start, and the total counts all of it.
    const resumedProgress = progressRecorder();
    await go(long, b, { stopWhen: resumedProgress.stopWhen });
    assertProgressForward(resumedProgress.reports, 'resumed gzip file');
    const pathsB = await storedPaths(b);
    assert.equal(pathsB.length, 8000);
    assert.equal(new Set(pathsB).size, 8000, 'no line stored twice');

    // Read whole: the re-read after the long line does not move the bar back to the start.
    const wholeProgress = progressRecorder();
    const whole = await go(long, path.join(dir, 'c.duckdb'), { chunkBytes: 64 << 10, stopWhen: wholeProgress.stopWhen });
    assert.equal(whole.events, 8000);
    assertProgressForward(wholeProgress.reports, 'gzip file re-read after a long line');
  });
});

test('progress over several files, in the store and line by line: forward only, each file its share, ending at the total', { timeout: 60_000 }, async () => {
  await withTempDir('tg-progress-', async (dir) => {
    const text = (from: number, n: number) => Array.from({ length: n }, (_, i) => line(from + i).replace('/n/', `/n/${randomBytes(200).toString('hex')}/`)).join('');
    const plain = path.join(dir, 'a.log');
    await writeFile(plain, text(1, 3000));
    // No newline after its last line: the store parses its chunks and the line path the rest.
    const gz = path.join(dir, 'b.log.gz');
    await writeFile(gz, gzipSync(text(3001, 3000).slice(0, -1)));
    for (const inStore of [{ minBytes: 0, chunkBytes: 256 << 10 }, { minBytes: Infinity }]) {
      const recorder = progressRecorder();
      const summary = await ingestFile([plain, gz], path.join(dir, `${inStore.minBytes}.duckdb`), { inStore, batchEvents: 1000, stopWhen: recorder.stopWhen });
      assert.equal(summary.events, 6000);
      assertProgressForward(recorder.reports, inStore.minBytes === 0 ? 'in the store' : 'line by line');
    }
  });
});

test('a failing store stops a continuous ingest at once with the error', { timeout: 30_000 }, async () => {
  await withTempDir('tg-fail-', async (dir) => {
    const log = path.join(dir, 'access.log');
    await writeFile(log, line(1));
    let n = 1;
    const writer = setInterval(() => void appendFile(log, line(++n)), 20);
    let pending = 0;
    const failing: EventSink = {
      kind: 'duckdb',
      description: 'a store whose disk is full',
      get pending() {
        return pending;
      },
      add() {
        pending++;
      },
      commit() {
        pending = 0;
        return Promise.reject(new Error('disk full'));
      },
      cursors: () => Promise.resolve(new Map()),
      close: () => Promise.resolve(),
    };
    const started = Date.now();
    await assert.rejects(
      runIngest({ format: 'nginx-combined', parserOptions: {}, factories: ALL_FACTORIES, input: { kind: 'follow', args: [log] }, sink: failing, registry: null, signal: new AbortController().signal }),
      /disk full/,
    );
    clearInterval(writer);
    assert.ok(Date.now() - started < 5000, 'it stopped promptly instead of reading on with nothing stored');
  });
});

test('an event the store refuses, or a parser that throws, rejects its line (invalid_event, parser_error, with file and line), on both parsing paths', { timeout: 30_000 }, async () => {
  await withTempDir('tg-invalid-event-', async (dir) => {
    // NGINX combined, except that a line for /bad gets a status the catalog refuses (not an integer).
    const combined = ALL_FACTORIES.find((f) => f.format === 'nginx-combined')!;
    const factory = {
      ...combined,
      format: 'combined-with-bad-status',
      create: (opts: Parameters<typeof combined.create>[0]) => {
        const p = combined.create(opts);
        return {
          format: 'combined-with-bad-status',
          source: p.source,
          sql: p.sql,
          parse: (text: string) => {
            if (text.includes('/boom ')) throw new Error('a parser bug');
            const r = p.parse(text);
            if (r.ok === true && r.event.path === '/bad') (r.event as unknown as Record<string, unknown>).status = 'oops';
            return r;
          },
        };
      },
    };
    const log = path.join(dir, 'access.log');
    // "\x22" in the user agent: the store does not take these lines, the JavaScript parser reads them.
    const special: Record<number, string> = { 2: '/boom', 3: '/bad' };
    await writeFile(log, [1, 2, 3, 4].map((n) => line(n).replace(`/n/${n}`, special[n] ?? `/n/${n}`).replace('follow-test', special[n] ? 'a\\x22b' : 'ok')).join(''));
    for (const minBytes of [Infinity, 0]) {
      const s = await ingestInto(path.join(dir, `s-${minBytes}.duckdb`), { format: 'combined-with-bad-status', factories: [factory], input: { kind: 'paths', args: [log] }, inStore: { minBytes } });
      assert.equal(s.parsedInStore, minBytes === 0 ? 2 : 0);
      assert.equal(s.events, 2);
      assert.deepEqual(s.rejectedByReason, { parser_error: 1, invalid_event: 1 });
      assert.deepEqual(s.samples.map((x) => [x.origin, x.line, x.reason]), [[log, 2, 'parser_error'], [log, 3, 'invalid_event']]);
      assert.match(s.samples[0].detail, /a parser bug/);
      assert.match(s.samples[1].detail, /status/);
    }
  });
});

test('syslog: the sender names the node (over --node), frames that are not syslog are rejected with a sample, nothing is silent', { timeout: 30_000 }, async () => {
  await withTempDir('tg-syslog-run-', async (dir) => {
    const storePath = path.join(dir, 'store.duckdb');
    const stop = new AbortController();
    let port = 0;
    const done = ingestInto(storePath, {
      parserOptions: { node: 'fallback-node' },
      input: { kind: 'syslog', udp: '127.0.0.1:0', onListening: (p) => (port = p.udp!) },
      signal: stop.signal,
    });
    await waitFor(() => port, 'the receiver');
    const { createSocket } = await import('node:dgram');
    const udp = createSocket('udp4');
    const send = (text: string) => new Promise<void>((r) => udp.send(text, port, '127.0.0.1', () => r()));
    await send(`<190>Nov 24 10:00:01 lb-a nginx[4242]: ${line(1).trimEnd()}`);
    await send('garbage without a priority');
    await send(`<190>Nov 24 10:00:02 nginx: ${line(2).trimEnd()}`);
    await send(`<190>1 2026-11-24T10:00:03Z lb-b nginx 77 - - ${line(3).trimEnd()}`);
    udp.close();
    await sleep(400);
    stop.abort();
    const s = await done;
    assert.equal(s.events, 3);
    assert.equal(s.linesRead, 4);
    assert.deepEqual(s.rejectedByReason, { syslog_malformed: 1 });
    assert.match(s.samples[0].origin, /^syslog from 127\.0\.0\.1:\d+$/);
    assert.equal(s.samples[0].line, 2, 'the second frame received');
    assert.match(s.samples[0].detail, /garbage without a priority/);
    assert.deepEqual(
      (await storedEvents(storePath)).map((e) => [e.path, e.node]),
      [['/n/1', 'lb-a'], ['/n/2', 'fallback-node'], ['/n/3', 'lb-b']],
    );
    // The sender's process id (the TAG's [pid], RFC 5424's PROCID) as extra.pid, as from a file.
    assert.deepEqual(
      (await storedEvents(storePath)).map((e) => e.extra?.pid ?? null),
      ['4242', null, '77'],
    );
  });
});

for (const [way, inStore] of [
  ['line by line', { minBytes: Infinity }],
  ['in the store', { minBytes: 0 }],
] as const) {
  test(`a secret parameter in a logged Referer's query is redacted (${way})`, { timeout: 30_000 }, async () => {
    await withTempDir('tg-referer-', async (dir) => {
      const log = path.join(dir, 'access.log');
      const plain = line(2);
      await writeFile(log, line(1).replace('"-" "', '"https://idp.example/cb?token=s3cret&state=1" "') + plain);
      assert.notEqual(line(1).replace('"-" "', '"https://idp.example/cb?token=s3cret&state=1" "'), line(1), 'the test line has a Referer to replace');
      const storePath = path.join(dir, 'store.duckdb');
      const s = await ingestInto(storePath, { input: { kind: 'paths', args: [log] }, inStore, redactQuery: createQueryFilter(['token']) });
      assert.equal(s.events, 2);
      const refs = (await storedEvents(storePath)).map((e) => e.referer);
      assert.ok(refs.includes('https://idp.example/cb?token=REDACTED&state=1'), JSON.stringify(refs));
      assert.ok(!JSON.stringify(refs).includes('s3cret'));
    });
  });
}

test('headers named in audit.redact.headers are redacted in ingested events too, as in live traffic', { timeout: 30_000 }, async () => {
  await withTempDir('tg-redact-ingest-', async (dir) => {
    const log = path.join(dir, 'custom.log');
    await writeFile(log, '192.0.2.1 [24/Nov/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 "s3cr3t-token" "Bearer abc.def" "fine"\n');
    const storePath = path.join(dir, 'store.duckdb');
    const s = await ingestInto(storePath, {
      format: 'nginx',
      parserOptions: { logFormat: '$remote_addr [$time_local] "$request" $status "$http_x_auth_token" "$http_authorization" "$http_x_trace_note"', redactHeaders: ['X-Auth-Token'] },
      input: { kind: 'paths', args: [log] },
    });
    assert.equal(s.events, 1);
    const [e] = await storedEvents(storePath);
    assert.deepEqual(e.headers, { 'req.x-auth-token': 'REDACTED', 'req.authorization': 'Bearer REDACTED', 'req.x-trace-note': 'fine' });
  });
});

for (const [way, inStore] of [
  ['line by line', { minBytes: Infinity }],
  ['in the store, in chunks', { minBytes: 0, chunkBytes: 8 << 10 }],
] as const) {
  test(`damaged gzip, a missing argument, a named pipe (${way}): the good lines are stored, the bad inputs reported, the rest read`, { timeout: 60_000 }, async () => {
    await withTempDir('tg-damaged-', async (dir) => {
      const text = Array.from({ length: 2000 }, (_, i) => line(i + 1)).join('');
      const whole = gzipSync(text);
      const damaged = path.join(dir, 'a.log.gz');
      await writeFile(damaged, whole.subarray(0, Math.floor(whole.length * 0.6)));
      const good = path.join(dir, 'b.log');
      await writeFile(good, Array.from({ length: 30 }, (_, i) => line(5000 + i)).join(''));
      const fifo = path.join(dir, 'pipe');
      await run('mkfifo', [fifo]);
      const writer = run('sh', ['-c', `printf '%s' "$1" > "$2"`, 'sh', line(9000) + line(9001), fifo]);
      let last: IngestProgress | null = null;
      const s = await ingestFile([damaged, good, fifo, path.join(dir, 'missing.log')], path.join(dir, 'store.duckdb'), {
        inStore,
        batchEvents: 500,
        stopWhen: (p) => ((last = p), false),
      });
      await writer;
      const end = last as IngestProgress | null;
      assert.ok(end !== null && end.totalBytes !== null && end.bytes === end.totalBytes, `progress ends at the total after a damaged input: ${JSON.stringify(end)}`);
      assert.deepEqual(
        s.inputErrors.map((x) => [path.basename(x.origin), /gzip|no such file/.test(x.error)]).sort(),
        [['a.log.gz', true], ['missing.log', true]],
        JSON.stringify(s.inputErrors),
      );
      const paths = await storedPaths(path.join(dir, 'store.duckdb'));
      const fromDamaged = paths.filter((p) => Number(p.slice(3)) < 5000).length;
      assert.ok(fromDamaged > 100 && fromDamaged < 2000, `the lines before the damage are stored (${fromDamaged})`);
      assert.equal(paths.filter((p) => Number(p.slice(3)) >= 5000 && Number(p.slice(3)) < 9000).length, 30, 'the good file is read');
      assert.equal(paths.filter((p) => Number(p.slice(3)) >= 9000).length, 2, 'the named pipe is read');
      assert.equal(new Set(paths).size, paths.length);
    });
  });
}

test('--stdout: one NDJSON event per line with every catalog field (null when absent), the summary on stderr, nothing stored', { timeout: 30_000 }, async () => {
  await withTempDir('tg-stdout-', async (dir) => {
    const log = path.join(dir, 'access.log');
    await writeFile(log, line(1) + line(2));
    const r = await run(process.execPath, [CLI, 'ingest', '--stdout', '--json', '--format', 'nginx-combined', log], { cwd: dir });
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(events.length, 2);
    const { FIELDS } = await import('../src/core/event.js');
    for (const e of events) assert.deepEqual(Object.keys(e), FIELDS.map((f) => f.name), 'every field, in catalog order');
    assert.equal(events[0].user_id, null);
    assert.equal(events[0].path, '/n/1');
    assert.equal((JSON.parse(r.stderr) as { events: number }).events, 2);
    assert.ok(!existsSync(path.join(dir, 'data')), 'nothing stored, nothing remembered');
  });
});

test('a line over the 1 MiB limit is rejected as line_too_long with its length, on both paths; the lines around it are read', { timeout: 30_000 }, async () => {
  await withTempDir('tg-long-', async (dir) => {
    const log = path.join(dir, 'access.log');
    const long = line(2).replace('/n/2', `/n/2?q=${'a'.repeat(2 << 20)}`);
    await writeFile(log, line(1) + long + line(3));
    for (const inStore of [{ minBytes: Infinity }, { minBytes: 0 }]) {
      const s = await ingestFile(log, path.join(dir, `s-${inStore.minBytes}.duckdb`), { inStore, batchEvents: 100 });
      assert.equal(s.events, 2);
      assert.deepEqual(s.rejectedByReason, { line_too_long: 1 });
      assert.equal(s.samples[0].line, 2);
      assert.match(s.samples[0].detail, new RegExp(`^${Buffer.byteLength(long) - 1} bytes`));
    }
  });
});

for (const [way, inStore] of [
  ['line by line', { minBytes: Infinity }],
  ['in the store', { minBytes: 0 }],
] as const) {
test(`--format auto over a directory of mixed logs (${way}): each file detected from its own lines; one of no known format is reported, the others stored`, { timeout: 30_000 }, async () => {
  await withTempDir('tg-mixed-', async (dir) => {
    const logs = path.join(dir, 'logs');
    await run('mkdir', [logs]);
    await writeFile(path.join(logs, 'a-nginx.log'), Array.from({ length: 25 }, (_, i) => line(i + 1)).join(''));
    await writeFile(
      path.join(logs, 'b-envoy.log'),
      '[2024-03-05T10:15:30.310Z] "GET /api/v1/items?limit=10 HTTP/1.1" 200 - 0 512 12 10 "203.0.113.7" "curl/8.5.0" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "api.example.com" "10.0.2.1:8080"\n' +
        '[2024-03-05T10:15:31.310Z] "GET /h3 HTTP/3" 200 - 0 512 12 10 "203.0.113.7" "curl/8.5.0" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd3" "api.example.com" "10.0.2.1:8080"\n',
    );
    await writeFile(path.join(logs, 'c-notes.txt'), Array.from({ length: 30 }, (_, i) => `shopping list item ${i}\n`).join(''));
    const detected: string[] = [];
    const s = await ingestInto(path.join(dir, 'store.duckdb'), {
      format: 'auto',
      input: { kind: 'paths', args: [logs] },
      inStore,
      onFormat: (format, _d, _s, input) => detected.push(`${path.basename(input ?? '?')}=${format}`),
    });
    assert.deepEqual(detected, ['a-nginx.log=nginx-combined', 'b-envoy.log=envoy']);
    assert.equal(s.format, 'nginx-combined, envoy');
    assert.equal(s.events, 27);
    // The lines looked at (here the whole file, both ways) are read and rejected.
    assert.deepEqual(s.rejectedByReason, { unknown_format: 30 });
    assert.deepEqual(s.inputErrors.map((x) => path.basename(x.origin)), ['c-notes.txt']);
    assert.match(s.inputErrors[0].error, /cannot detect the log format/);
  });
});
}

test('--format auto: the good lines of a damaged gzip file are parsed as its own format, not the next file\'s', { timeout: 30_000 }, async () => {
  await withTempDir('tg-damaged-auto-', async (dir) => {
    const logs = path.join(dir, 'logs');
    await run('mkdir', [logs]);
    // A truncated gzip file: the reader gives the lines it could decompress (fewer than detection waits for), then fails.
    const gz = gzipSync(Array.from({ length: 12 }, (_, i) => line(i + 1).replace(`/n/${i + 1}`, `/n/${i + 1}/${'abcdefghij'.repeat(i % 7)}`)).join(''));
    await writeFile(path.join(logs, 'a.log.gz'), gz.subarray(0, Math.floor(gz.length * 0.7)));
    await writeFile(
      path.join(logs, 'b-envoy.log'),
      '[2024-03-05T10:15:30.310Z] "GET /api/v1/items?limit=10 HTTP/1.1" 200 - 0 512 12 10 "203.0.113.7" "curl/8.5.0" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "api.example.com" "10.0.2.1:8080"\n',
    );
    const s = await ingestInto(path.join(dir, 'store.duckdb'), { format: 'auto', input: { kind: 'paths', args: [logs] } });
    assert.equal(s.rejected, 0, JSON.stringify(s.rejectedByReason));
    const paths = await storedPaths(path.join(dir, 'store.duckdb'));
    assert.ok(paths.filter((p) => p.startsWith('/n/')).length >= 3, `the good lines of the damaged file are stored: ${paths.join(' ')}`);
    assert.ok(paths.includes('/api/v1/items'), 'and the next file');
    assert.deepEqual(s.inputErrors.map((x) => path.basename(x.origin)), ['a.log.gz']);
    assert.equal(s.format, 'nginx-combined, envoy');
  });
});

test('a store that fails while parsing a chunk ends the run with its error, whatever its code, instead of blaming the file', { timeout: 30_000 }, async () => {
  await withTempDir('tg-chunk-fail-', async (dir) => {
    const log = path.join(dir, 'access.log');
    await writeFile(log, Array.from({ length: 50 }, (_, i) => line(i + 1)).join(''));
    const sink = await DuckDbSink.open(path.join(dir, 'store.duckdb'));
    const failing = Object.assign(Object.create(sink) as DuckDbSink, {
      commitLogChunk: () => Promise.reject(Object.assign(new Error('temporary file: permission denied'), { code: 'EACCES' })),
    });
    try {
      await assert.rejects(
        runIngest({ format: 'nginx-combined', parserOptions: {}, factories: ALL_FACTORIES, input: { kind: 'paths', args: [log] }, sink: failing, registry: null, signal: new AbortController().signal, inStore: { minBytes: 0 } }),
        /permission denied/,
      );
    } finally {
      await sink.close();
    }
  });
});

test('tollgate ingest creates its store and registry not readable by other users', { timeout: 30_000 }, async () => {
  await withTempDir('tg-ingest-private-', async (dir) => {
    const log = path.join(dir, 'access.log');
    await writeFile(log, line(1));
    const cfg = path.join(dir, 'tollgate.yaml');
    await writeFile(cfg, `listeners: [{ address: "127.0.0.1:0" }]\nstore: { path: ${JSON.stringify(path.join(dir, 'data', 'store.duckdb'))} }\n`);
    // Started with the usual umask 022: an earlier in-process node in this file has already tightened ours.
    const umask = process.umask(0o022);
    const ingest = run(process.execPath, [CLI, 'ingest', '-c', cfg, '--quiet', '--format', 'nginx-combined', log]);
    process.umask(umask);
    await ingest;
    const { stat } = await import('node:fs/promises');
    for (const f of ['data', 'data/store.duckdb', 'data/store.duckdb.ingest.json']) assert.equal((await stat(path.join(dir, f))).mode & 0o007, 0, `${f} is not open to others`);
  });
});

/** Follows `args` into the store until `events` are stored in this run (then 600 ms more, for duplicates to show), with the registry. */
async function followUntil(storePath: string, args: string[], events: number): Promise<IngestSummary> {
  const abort = new AbortController();
  const sink = await DuckDbSink.open(storePath);
  const registry = await openRegistry(`${storePath}.ingest.json`);
  let stored = 0;
  try {
    const done = runIngest({ format: 'nginx-combined', parserOptions: {}, factories: ALL_FACTORIES, input: { kind: 'follow', args }, sink, registry, signal: abort.signal, onProgress: (p) => (stored = p.events) });
    await waitFor(() => stored >= events, `${events} events to be stored (have ${stored})`, 30_000, 100);
    await sleep(600);
    abort.abort();
    return await done;
  } finally {
    await sink.close();
  }
}

test('--follow restarts: a caught-up copy compressed later is not read again; a rotated file that is followed itself is read once', { timeout: 60_000 }, async () => {
  await withTempDir('tg-follow-restart-', async (dir) => {
    const store = path.join(dir, 'store.duckdb');
    const log = path.join(dir, 'access.log');
    const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => line(from + i)).join('');
    await writeFile(log, lines(1, 10));
    assert.equal((await followUntil(store, [log], 10)).events, 10);
    // copytruncate while down; the restart catches the copy up.
    await appendFile(log, lines(11, 15));
    await copyFile(log, `${log}.1`);
    await truncate(log, 0);
    assert.equal((await followUntil(store, [log], 5)).events, 5);
    // Then logrotate compresses the copy: nothing in it is new.
    await writeFile(`${log}.1.gz`, gzipSync(await readFile(`${log}.1`)));
    await rm(`${log}.1`);
    await appendFile(log, lines(16, 18));
    assert.equal((await followUntil(store, [log], 3)).events, 3);
    // A rename while down, with the rotated name followed too: its own follower reads it, the catch-up leaves it.
    await appendFile(log, lines(19, 22));
    await rename(log, `${log}.2`);
    await writeFile(log, lines(23, 25));
    const both = await followUntil(store, [log, `${log}.2`], 7);
    assert.equal(both.events, 7);
    assert.equal(both.inputs, 2, 'the two followed files, and no catch-up of one of them');
    const paths = (await storedEvents(store)).map((e) => Number(e.path!.slice(3))).sort((x, y) => x - y);
    assert.deepEqual(paths, Array.from({ length: 25 }, (_, i) => i + 1), 'every line once');
  });
});

test('--follow of a glob that matches the rotated names too: a file moved from one followed path to another is read once', { timeout: 60_000 }, async () => {
  await withTempDir('tg-follow-glob-', async (dir) => {
    const store = path.join(dir, 'store.duckdb');
    const log = path.join(dir, 'access.log');
    const lines = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => line(from + i)).join('');
    await writeFile(`${log}.1`, lines(1, 10));
    await writeFile(log, lines(11, 20));
    const abort = new AbortController();
    const sink = await DuckDbSink.open(store);
    let stored = 0;
    try {
      const done = runIngest({ format: 'nginx-combined', parserOptions: {}, factories: ALL_FACTORIES, input: { kind: 'follow', args: [`${log}*`] }, sink, registry: await openRegistry(`${store}.ingest.json`), signal: abort.signal, onProgress: (p) => (stored = p.events) });
      await waitFor(() => stored >= 20, 'the first 20 lines', 30_000, 100);
      // logrotate: .1 → .2, access.log → .1, a new access.log.
      await rename(`${log}.1`, `${log}.2`);
      await rename(log, `${log}.1`);
      await writeFile(log, lines(21, 30));
      await waitFor(() => stored >= 30, 'the new file', 30_000, 100);
      await sleep(2500); // past the rotation grace: a second reading of access.log.1 would show now
      abort.abort();
      await done;
    } finally {
      await sink.close();
    }
    const paths = (await storedEvents(store)).map((e) => Number(e.path!.slice(3))).sort((x, y) => x - y);
    assert.deepEqual(paths, Array.from({ length: 30 }, (_, i) => i + 1), 'every line once');
  });
});
