import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { testEvent } from '../../store/conformance.js';
import { serializeEvent } from '../../core/event-json.js';
import { headerLine, segmentFileName } from '../spool/format.js';
import { StoreLoader } from './loader.js';

const dir = await mkdtemp(join(tmpdir(), 'tollgate-loader-'));
after(() => rm(dir, { recursive: true, force: true }));

const BASE = Date.UTC(2026, 0, 15, 12, 0, 0);

async function segment(spool: string, writer: string, seq: number, lines: string[]): Promise<void> {
  await mkdir(join(spool, writer), { recursive: true });
  await writeFile(join(spool, writer, segmentFileName(seq)), headerLine(writer, seq) + lines.map((l) => l + '\n').join(''));
}

test('the loader loads spool records natively, and a batch with damaged records event by event: the damaged ones are reported and set aside, the rest loaded', async () => {
  const spool = join(dir, 'spool');
  const good = Array.from({ length: 40 }, (_, i) => testEvent(BASE + i * 1000, { status: 200, path: `/p/${i}` }));
  // Segment 1: only well-formed records (the native path). Segment 2: two damaged ones among good ones.
  await segment(spool, 'w0', 1, good.slice(0, 20).map(serializeEvent));
  const teapot = serializeEvent(testEvent(BASE + 99_000, {})).replace(/}$/, ',"status":"teapot"}');
  const broken = serializeEvent(testEvent(BASE + 98_000, {})).slice(0, -1);
  const rest = good.slice(20).map(serializeEvent);
  await segment(spool, 'w0', 2, [...rest.slice(0, 5), teapot, '{"_":"note","x":1}', ...rest.slice(5, 12), broken, ...rest.slice(12)]);
  // Segment 3 (active): a partial last line the writer has not finished.
  await segment(spool, 'w0', 3, []);
  await writeFile(join(spool, 'w0', segmentFileName(3)), headerLine('w0', 3) + serializeEvent(testEvent(BASE + 97_000, {})).slice(0, 30));

  const logs: unknown[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s)) });
  const loader = new StoreLoader({ spoolDir: spool, storePath: join(dir, 'store.duckdb'), batchSize: 1000, pollMs: 20, retentionDays: 0, housekeepingMs: 3_600_000, nice: 0 }, log);
  await loader.start();
  try {
    await loader.flush();
    assert.equal(await loader.count(), good.length);
    for (const e of good) assert.deepStrictEqual(await loader.get(e.id), e);
    const stats = await loader.stats();
    assert.equal(stats.loaded, good.length);
    assert.equal(stats.badLines, 2);
    assert.ok(stats.exactLoads >= 1, `exact loads ${stats.exactLoads}`);
    // Each damaged record is reported with the segment and byte offset where it is.
    const text = JSON.stringify(logs);
    assert.match(text, /"segment":2,"offset":\d+,"error":"event \d+: status: expected an integer/);
    assert.match(text, /"segment":2,"offset":\d+,"error":"[^"]*JSON/);

    // Later records load natively again.
    const before = (await loader.stats()).exactLoads;
    const more = Array.from({ length: 10 }, (_, i) => testEvent(BASE + 200_000 + i, { status: 404 }));
    await segment(spool, 'w0', 4, more.map(serializeEvent));
    await loader.flush();
    assert.equal(await loader.count(), good.length + more.length);
    assert.equal((await loader.stats()).exactLoads, before);
  } finally {
    await loader.stop();
  }
});
