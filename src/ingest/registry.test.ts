import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { readFileLines } from './inputs/files.js';
import { FINGERPRINT_BYTES, identifyFile, Registry } from './registry.js';

function tmpdir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'tollgate-registry-'));
}

/**
 * One ingest run the way the ingest command does it: resume each file where
 * the registry says, "store" the lines, commit after each batch, save at the
 * end. Returns the lines read (with their line numbers).
 */
async function ingest(registryFile: string, files: string[]): Promise<Array<[string, number, string]>> {
  const reg = await Registry.open(registryFile);
  const got: Array<[string, number, string]> = [];
  for (const f of files) {
    const { identity, size, firstBytes } = await identifyFile(f);
    const at = reg.lookup(f, { dev: BigInt(identity.dev), ino: BigInt(identity.ino), size }, firstBytes);
    for await (const b of readFileLines(f, { fromOffset: at.offset, firstLine: at.nextLine, batchLines: 3 })) {
      b.lines.forEach((l, i) => got.push([path.basename(f), b.firstLine + i, l]));
      reg.commit(f, identity, b.endOffset, b.firstLine + b.lines.length);
    }
  }
  await reg.save();
  return got;
}

const numbered = (from: number, to: number, tag = 'l'): string => Array.from({ length: to - from + 1 }, (_, i) => `${tag}${from + i}\n`).join('');

test('the same ingest twice reads nothing new; growth continues; truncation and rotation start over', async () => {
  const dir = tmpdir();
  try {
    const reg = path.join(dir, 'registry.json');
    const f = path.join(dir, 'access.log');
    writeFileSync(f, numbered(1, 10));

    const first = await ingest(reg, [f]);
    assert.equal(first.length, 10);
    assert.deepEqual(await ingest(reg, [f]), [], 'second run: nothing new');

    appendFileSync(f, numbered(11, 15));
    assert.deepEqual(await ingest(reg, [f]), [11, 12, 13, 14, 15].map((n) => ['access.log', n, `l${n}`]), 'growth continues with the right line numbers');
    assert.deepEqual(await ingest(reg, [f]), []);

    // Truncated and rewritten with less: starts over.
    truncateSync(f, 0);
    writeFileSync(f, numbered(1, 3, 'new'));
    assert.deepEqual(
      (await ingest(reg, [f])).map((g) => g[2]),
      ['new1', 'new2', 'new3'],
    );

    // Rotated by rename: the old file (same inode, new name) only gives what was added to it;
    // the new file at the path is read from its start.
    renameSync(f, f + '.1');
    appendFileSync(f + '.1', 'new4\n');
    writeFileSync(f, numbered(1, 2, 'fresh'));
    assert.deepEqual(
      (await ingest(reg, [f + '.1', f])).map((g) => `${g[0]}:${g[1]}:${g[2]}`),
      ['access.log.1:4:new4', 'access.log:1:fresh1', 'access.log:2:fresh2'],
    );
    assert.deepEqual(await ingest(reg, [f + '.1', f]), []);

    // The registry on disk is plain JSON, rewritten atomically (no temp files left behind).
    const data = JSON.parse(readFileSync(reg, 'utf8')) as { version: number; files: Array<{ path: string; offset: number }> };
    assert.equal(data.version, 1);
    assert.ok(data.files.some((e) => e.path === f + '.1' && e.offset === statSync(f + '.1').size));
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes('.tmp')),
      [],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a recycled inode (same dev and inode, different first bytes) is a new file', async () => {
  const dir = tmpdir();
  try {
    const reg = path.join(dir, 'registry.json');
    const f = path.join(dir, 'a.log');
    writeFileSync(f, numbered(1, 300, 'old-'));
    await ingest(reg, [f]);
    const ino = statSync(f).ino;
    // Rewritten in place, longer than before: the same inode, the size even grew past the
    // stored offset — only the fingerprint tells that this is another file.
    writeFileSync(f, numbered(1, 500, 'other-'));
    assert.equal(statSync(f).ino, ino);
    const got = await ingest(reg, [f]);
    assert.equal(got.length, 500);
    assert.equal(got[0][2], 'other-1');

    // The same with a stat and bytes made up (as after delete + create reusing the inode number).
    const r = await Registry.open(reg);
    const id = await identifyFile(f);
    const st = { dev: BigInt(id.identity.dev), ino: BigInt(id.identity.ino), size: id.size };
    assert.equal(r.lookup(f, st, id.firstBytes).reason, 'continue');
    const other = Buffer.from(id.firstBytes);
    other[5] ^= 1;
    assert.deepEqual(r.lookup(f, st, other), { offset: 0, reason: 'recycled' });
    assert.deepEqual(r.lookup(f, { ...st, ino: 12345678901234567890n }, id.firstBytes), { offset: 0, reason: 'new' });
    assert.equal(r.lookup(f, { ...st, size: 10 }, id.firstBytes).reason, 'truncated');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file shorter than the fingerprint still continues when it grows past 1 KiB', async () => {
  const dir = tmpdir();
  try {
    const reg = path.join(dir, 'registry.json');
    const f = path.join(dir, 'small.log');
    writeFileSync(f, 'a\nb\n');
    assert.equal((await ingest(reg, [f])).length, 2);
    appendFileSync(f, numbered(1, 400));
    assert.ok(statSync(f).size > FINGERPRINT_BYTES);
    const got = await ingest(reg, [f]);
    assert.equal(got.length, 400);
    assert.deepEqual(got[0], ['small.log', 3, 'l1']);
    assert.deepEqual(await ingest(reg, [f]), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gzip files: done once fully read; read again whole if a run stopped inside', async () => {
  const dir = tmpdir();
  try {
    const reg = path.join(dir, 'registry.json');
    const f = path.join(dir, 'a.log.gz');
    writeFileSync(f, gzipSync(numbered(1, 50)));
    assert.equal((await ingest(reg, [f])).length, 50);
    assert.deepEqual(await ingest(reg, [f]), []);

    // A run that stopped after a few batches: the next one reads the whole file again.
    const g = path.join(dir, 'b.log.gz');
    writeFileSync(g, gzipSync(Buffer.from(numbered(1, 50000))));
    const r = await Registry.open(reg);
    const { identity } = await identifyFile(g);
    for await (const b of readFileLines(g, { batchLines: 1000 })) {
      r.commit(g, identity, b.endOffset);
      break;
    }
    await r.save();
    const again = await ingest(reg, [g]);
    assert.equal(again.length, 50000);
    assert.deepEqual(again[0], ['b.log.gz', 1, 'l1']);
    assert.deepEqual(await ingest(reg, [g]), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('S3 objects by key and ETag; persistence; a corrupt registry is an error', async () => {
  const dir = tmpdir();
  try {
    const file = path.join(dir, 'registry.json');
    const r = await Registry.open(file);
    assert.equal(r.isObjectDone('b', 'k1', '"abc"'), false);
    r.objectDone('b', 'k1', '"abc"');
    assert.equal(r.isObjectDone('b', 'k1', '"abc"'), true);
    assert.equal(r.isObjectDone('b', 'k1', 'abc'), true, 'quoting does not matter');
    assert.equal(r.isObjectDone('b', 'k1', '"def"'), false, 'a new ETag is a new object');
    assert.equal(r.isObjectDone('other', 'k1', '"abc"'), false);
    await Promise.all([r.save(), r.save()]);
    const r2 = await Registry.open(file);
    assert.equal(r2.isObjectDone('b', 'k1', '"abc"'), true);
    assert.deepEqual(r2.size, { files: 0, objects: 1 });

    writeFileSync(file, '{"version":1,"files":[');
    await assert.rejects(Registry.open(file), /not valid JSON/);
    writeFileSync(file, '{"version":7}');
    await assert.rejects(Registry.open(file), /unknown format/);
    // A missing registry is an empty one.
    const empty = await Registry.open(path.join(dir, 'none.json'));
    assert.deepEqual(empty.size, { files: 0, objects: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
