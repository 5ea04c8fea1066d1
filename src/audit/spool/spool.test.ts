import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdtemp, rm, appendFile, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SpoolWriter, type SpoolWriterOptions } from './writer.js';
import { SpoolReader, holdCursors, HOLD_MAX_AGE_MS } from './reader.js';
import type { SpoolCursor } from '../../store/types.js';
import { emptyEvent } from '../../core/event.js';
import { uuidv7 } from '../../core/ids.js';

function opts(dir: string, over: Partial<SpoolWriterOptions> = {}): SpoolWriterOptions {
  return { dir, writerId: 'w0', segment_size: 1 << 20, segment_age: 0, group_commit: 0, fsync: 'never', fsync_interval: 1000, memoryBuffer: 1000, retryIntervalMs: 20, ...over };
}

function line(i: number): string {
  const e = emptyEvent(uuidv7(), new Date().toISOString(), 'http', 'tollgate');
  e.status = 200;
  e.path = `/item/${i}`;
  return JSON.stringify(e);
}

async function readAll(reader: SpoolReader, cursors: Map<string, SpoolCursor>): Promise<string[]> {
  const paths: string[] = [];
  for (;;) {
    const r = await reader.read(cursors, 37);
    for (const c of r.cursors) cursors.set(c.writer, c);
    for (const e of r.events) paths.push(e.path!);
    if (!r.events.length && !r.cursors.length) return paths;
  }
}

test('events appended are acknowledged once on disk and read back in order, across segment rotation', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-spool-'));
  try {
    const w = new SpoolWriter(opts(dir, { segment_size: 64 * 1024 }));
    await w.open();
    const acks: (Error | null)[] = [];
    // In rounds, as traffic would arrive: rotation happens between batches.
    for (let round = 0; round < 20; round++) {
      for (let i = round * 100; i < (round + 1) * 100; i++) w.append(line(i), (err) => acks.push(err));
      assert.equal(acks.length, round * 100, 'nothing is acknowledged before it is written');
      await w.flush();
    }
    assert.equal(acks.length, 2000);
    assert.ok(acks.every((a) => a === null));
    const segs = (await readdir(path.join(dir, 'w0'))).filter((n) => n.endsWith('.ndjson'));
    assert.ok(segs.length > 1, `expected rotation, got ${segs.length} segment(s)`);
    const reader = new SpoolReader(dir);
    const cursors = new Map<string, SpoolCursor>();
    const paths = await readAll(reader, cursors);
    assert.deepEqual(paths, Array.from({ length: 2000 }, (_, i) => `/item/${i}`));
    // Nothing new: a second pass reads nothing.
    assert.deepEqual(await readAll(reader, cursors), []);
    // Fully loaded sealed segments are removed; the active one stays.
    const removed = await reader.removeLoaded(cursors);
    assert.equal(removed, segs.length - 1);
    await w.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a restarted writer never appends to an old segment; a torn tail in a sealed segment is skipped', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-spool-'));
  try {
    const w1 = new SpoolWriter(opts(dir));
    await w1.open();
    for (let i = 0; i < 10; i++) w1.append(line(i));
    await w1.flush();
    await w1.close();
    // Simulate a crash mid-write: half a line at the end of the segment.
    const seg1 = path.join(dir, 'w0', String(1).padStart(20, '0') + '.ndjson');
    await appendFile(seg1, '{"id":"0190-torn","ts":"2026');
    const w2 = new SpoolWriter(opts(dir));
    await w2.open();
    for (let i = 10; i < 20; i++) w2.append(line(i));
    await w2.flush();
    const reader = new SpoolReader(dir);
    const cursors = new Map<string, SpoolCursor>();
    let torn = 0;
    const paths: string[] = [];
    for (;;) {
      const r = await reader.read(cursors, 1000);
      torn += r.torn;
      for (const c of r.cursors) cursors.set(c.writer, c);
      for (const e of r.events) paths.push(e.path!);
      if (!r.cursors.length) break;
    }
    assert.equal(torn, 1);
    assert.deepEqual(paths, Array.from({ length: 20 }, (_, i) => `/item/${i}`));
    await w2.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a reader never consumes a partial line of the active segment', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-spool-'));
  try {
    const w = new SpoolWriter(opts(dir));
    await w.open();
    w.append(line(0));
    await w.flush();
    const seg = path.join(dir, 'w0', String(1).padStart(20, '0') + '.ndjson');
    const full = line(1);
    await appendFile(seg, full.slice(0, 20)); // the writer is "mid-write"
    const reader = new SpoolReader(dir);
    const cursors = new Map<string, SpoolCursor>();
    assert.deepEqual(await readAll(reader, cursors), ['/item/0']);
    await appendFile(seg, full.slice(20) + '\n');
    assert.deepEqual(await readAll(reader, cursors), ['/item/1']);
    await w.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('write failure is reported, events stay queued, and are written once after recovery', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-spool-'));
  try {
    const w = new SpoolWriter(opts(dir));
    await w.open();
    const health: boolean[] = [];
    w.on('health', (h: { ok: boolean }) => health.push(h.ok));
    for (let i = 0; i < 5; i++) w.append(line(i));
    await w.flush();
    // Break the open segment under the writer (as an I/O error would).
    fs.closeSync((w as unknown as { fd: number }).fd);
    const errs: (Error | null)[] = [];
    for (let i = 5; i < 10; i++) w.append(line(i), (e) => errs.push(e));
    await new Promise((r) => setTimeout(r, 10));
    assert.ok(errs.length > 0 && errs.every((e) => e !== null), 'appends during failure are told about it');
    assert.equal(errs.length, 5, 'every one of them');
    assert.equal(w.healthy, false);
    assert.match(w.health().error ?? '', /EBADF/);
    for (let i = 10; i < 15; i++) w.append(line(i));
    // The retry opens a fresh segment and writes everything queued, in order.
    for (let i = 0; i < 100 && !w.healthy; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(w.healthy, true);
    await w.flush();
    assert.deepEqual(health, [false, true]);
    const reader = new SpoolReader(dir);
    const paths = await readAll(reader, new Map());
    assert.deepEqual(paths, Array.from({ length: 15 }, (_, i) => `/item/${i}`));
    await w.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('past the memory buffer, events are dropped and counted, never silently', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-spool-'));
  try {
    const w = new SpoolWriter(opts(dir, { memoryBuffer: 3, retryIntervalMs: 60_000 }));
    await w.open();
    fs.closeSync((w as unknown as { fd: number }).fd);
    let droppedEvents = 0;
    w.on('dropped', (n: number) => (droppedEvents += n));
    w.append(line(0));
    await new Promise((r) => setTimeout(r, 10));
    const told: (Error | null)[] = [];
    for (let i = 1; i < 6; i++) w.append(line(i), (err) => told.push(err));
    assert.equal(told.length, 5, 'queued and dropped appends alike are told at once');
    assert.ok(told.every((e) => e instanceof Error), 'none is acknowledged as written');
    assert.equal(droppedEvents, 3, 'each drop is announced');
    assert.equal(w.health().queued, 3);
    assert.equal(w.stats.dropped, 3);
    assert.equal(w.health().dropped, 3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('two writers cannot share one writer directory', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-spool-'));
  try {
    const a = new SpoolWriter(opts(dir));
    await a.open();
    // Same process id is allowed to retake (restart in-process); simulate another live process.
    await fs.promises.writeFile(path.join(dir, 'w0', 'writer.lock'), String(process.ppid));
    const b = new SpoolWriter(opts(dir));
    await assert.rejects(b.open(), /in use by process/);
    await fs.promises.writeFile(path.join(dir, 'w0', 'writer.lock'), String(process.pid));
    await a.close();
    assert.equal(await readFile(path.join(dir, 'w0', 'writer.lock'), 'utf8').catch(() => 'gone'), 'gone');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('lag is the spooled bytes not yet loaded, and 0 once everything is read', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-spool-'));
  try {
    const w = new SpoolWriter(opts(dir));
    await w.open();
    for (let i = 0; i < 50; i++) w.append(line(i));
    await w.flush();
    const reader = new SpoolReader(dir);
    const segFile = path.join(dir, 'w0', String(1).padStart(20, '0') + '.ndjson');
    const size = (await fs.promises.stat(segFile)).size;
    assert.equal(await reader.lagBytes(new Map()), size, 'nothing loaded: the whole segment');
    const cursors = new Map<string, SpoolCursor>();
    const r = await reader.read(cursors, 20);
    for (const c of r.cursors) cursors.set(c.writer, c);
    assert.equal(await reader.lagBytes(cursors), size - cursors.get('w0')!.offset);
    await readAll(reader, cursors);
    assert.equal(await reader.lagBytes(cursors), 0);
    await w.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('segments another reader (detection) has not read are kept; a stale or unreadable position holds nothing', () => {
  const own = new Map<string, SpoolCursor>([
    ['w0', { writer: 'w0', segment: 9, offset: 500 }],
    ['w1', { writer: 'w1', segment: 4, offset: 10 }],
  ]);
  const now = Date.parse('2026-11-24T12:00:00Z');
  const fresh = { saved_at: new Date(now - 5000).toISOString(), cursors: [{ writer: 'w0', segment: 6, offset: 80 }, { writer: 'w1', segment: 7, offset: 0 }, { writer: 'w9', segment: 1, offset: 0 }] };
  const held = holdCursors(own, fresh, now);
  assert.deepEqual(held.get('w0'), { writer: 'w0', segment: 6, offset: 0 }, 'behind: held back to its segment');
  assert.deepEqual(held.get('w1'), own.get('w1'), 'ahead: the loader decides');
  assert.equal(held.has('w9'), false, 'writers the loader does not know are not invented');
  assert.deepEqual(holdCursors(own, { ...fresh, saved_at: new Date(now - HOLD_MAX_AGE_MS - 1).toISOString() }, now), own, 'stale: ignored');
  for (const bad of [null, 'x', {}, { saved_at: 'never', cursors: [] }, { saved_at: fresh.saved_at, cursors: 'no' }]) assert.deepEqual(holdCursors(own, bad, now), own);
});

test('a record longer than the read buffer is read whole; one longer than any record may be is reported and skipped, and reading goes on', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-spool-'));
  try {
    const w = new SpoolWriter(opts(dir, { segment_size: 64 << 20 }));
    await w.open();
    const big = emptyEvent(uuidv7(), new Date().toISOString(), 'http', 'tollgate');
    big.path = '/' + 'x'.repeat(5 << 20); // longer than the 4 MiB read buffer
    w.append(line(0));
    w.append(JSON.stringify(big));
    w.append(line(1));
    await w.flush();
    const reader = new SpoolReader(dir);
    const r = await reader.read(new Map(), 100);
    assert.deepEqual(r.events.map((e) => e.path!.length), [7, big.path.length, 7]);
    assert.deepEqual(r.bad, []);
    // With a lower limit the long record is skipped, reported at its place, and the one after it is still read.
    const strict = new SpoolReader(dir);
    strict.maxRecord = 4 << 20;
    const s = await strict.read(new Map(), 100);
    assert.deepEqual(s.events.map((e) => e.path), ['/item/0', '/item/1']);
    assert.equal(s.bad.length, 1);
    assert.match(s.bad[0].error, /record longer than 4194304 bytes, skipped/);
    const seg = (await readdir(path.join(dir, 'w0'))).find((n) => n.endsWith('.ndjson'))!;
    const text = await readFile(path.join(dir, 'w0', seg), 'utf8');
    assert.equal(s.bad[0].offset, Buffer.byteLength(text.slice(0, text.indexOf(`{"id":"${big.id}"`))));
    await w.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
