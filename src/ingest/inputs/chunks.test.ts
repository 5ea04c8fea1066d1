import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { gzipDeclaredSize, gzipLineChunks, gzipTextSample, plainLineChunks, type ChunkRest, type LineChunk } from './chunks.js';

async function collect(gen: AsyncGenerator<LineChunk, ChunkRest>): Promise<{ chunks: { text: string; lines: number; end: number }[]; rest: ChunkRest }> {
  const chunks: { text: string; lines: number; end: number }[] = [];
  for (;;) {
    const n = await gen.next();
    if (n.done) return { chunks, rest: n.value };
    // Copied at once: the buffer is refilled for the next chunk.
    chunks.push({ text: n.value.data.toString('latin1'), lines: n.value.lines, end: n.value.end });
  }
}

const numbered = (from: number, to: number): string => Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i} ${'x'.repeat((from + i) % 17)}\n`).join('');

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tg-chunks-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'plain file: whole lines from an offset, each chunk ending at the exact byte after its last line; the rest is left to the line path',
  withDir(async (dir) => {
    const text = numbered(1, 300) + 'no newline at the end';
    const f = path.join(dir, 'a.log');
    writeFileSync(f, text);
    const from = text.indexOf('line 11 ');
    const { chunks, rest } = await collect(plainLineChunks(f, from, 256));
    assert.equal(chunks.map((c) => c.text).join(''), text.slice(from, text.lastIndexOf('\n') + 1));
    let at = from;
    for (const c of chunks) {
      assert.ok(c.text.endsWith('\n') && c.text.length <= 256);
      assert.equal(c.lines, c.text.split('\n').length - 1);
      at += c.text.length;
      assert.equal(c.end, at);
    }
    assert.deepEqual(rest, { kind: 'offset', offset: text.lastIndexOf('\n') + 1 });
    // A line longer than a chunk stops the chunks there.
    const g = path.join(dir, 'long.log');
    writeFileSync(g, `short\n${'y'.repeat(600)}\nafter\n`);
    const long = await collect(plainLineChunks(g, 0, 256));
    assert.deepEqual(long.chunks.map((c) => c.text), ['short\n']);
    assert.deepEqual(long.rest, { kind: 'offset', offset: 6 });
  }),
);

test(
  'gzip file: the text in whole lines; positions below the compressed size until the last chunk, which records it',
  withDir(async (dir) => {
    // Two members, as `cat a.gz b.gz` makes them; incompressible-ish text so the compressed positions move.
    const text = numbered(1, 4000);
    const f = path.join(dir, 'a.log.gz');
    const gz = Buffer.concat([gzipSync(text.slice(0, 50_000)), gzipSync(text.slice(50_000))]);
    writeFileSync(f, gz);
    for (const chunkBytes of [1000, 16 << 10, 1 << 20]) {
      const { chunks, rest } = await collect(gzipLineChunks(f, gz.length, chunkBytes));
      assert.equal(chunks.map((c) => c.text).join(''), text, `chunks of ${chunkBytes}`);
      assert.deepEqual(rest, { kind: 'tail', data: Buffer.alloc(0) });
      assert.equal(chunks.reduce((n, c) => n + c.lines, 0), 4000);
      for (const [i, c] of chunks.entries()) {
        assert.ok(c.text.endsWith('\n') && c.text.length <= chunkBytes);
        if (i < chunks.length - 1) assert.ok(c.end < gz.length && c.end <= chunks[i + 1].end, `chunk ${i}: ${c.end}`);
      }
      assert.equal(chunks[chunks.length - 1].end, gz.length);
    }
  }),
);

test(
  'gzip file: a last line without a newline is the tail (which then ends the file); a line longer than a chunk asks for a re-read',
  withDir(async (dir) => {
    const f = path.join(dir, 'tail.log.gz');
    const gz = gzipSync(numbered(1, 100) + 'the last words');
    writeFileSync(f, gz);
    const t = await collect(gzipLineChunks(f, gz.length, 512));
    assert.equal(t.chunks.map((c) => c.text).join(''), numbered(1, 100));
    assert.ok(t.chunks.every((c) => c.end < gz.length), 'the tail, not a chunk, reaches the end');
    assert.equal(t.rest.kind, 'tail');
    assert.equal((t.rest as { data: Buffer }).data.toString(), 'the last words');

    const g = path.join(dir, 'long.log.gz');
    const gz2 = gzipSync(`${numbered(1, 20)}${'z'.repeat(3000)}\nafter\n`);
    writeFileSync(g, gz2);
    const r = await collect(gzipLineChunks(g, gz2.length, 1024));
    assert.equal(r.chunks.map((c) => c.text).join(''), numbered(1, 20));
    assert.deepEqual(r.rest, { kind: 'reread' });
  }),
);

test(
  'gzip file: damage is an error naming the file, after the chunks before it; the sample and the declared size',
  withDir(async (dir) => {
    const text = numbered(1, 2000);
    const gz = gzipSync(text);
    const f = path.join(dir, 'cut.log.gz');
    writeFileSync(f, gz.subarray(0, gz.length - 100));
    const before: string[] = [];
    const chunks = gzipLineChunks(f, gz.length - 100, 4096);
    await assert.rejects(
      (async () => {
        for (let n = await chunks.next(); !n.done; n = await chunks.next()) before.push(n.value.data.toString('latin1'));
      })(),
      (err: Error) => err.message.startsWith(`${f}: cannot decompress gzip data`),
    );
    assert.ok(before.length > 0, 'the chunks before the damage come first');
    assert.equal(before.join(''), text.slice(0, before.join('').length));
    const whole = path.join(dir, 'whole.log.gz');
    writeFileSync(whole, gz);
    assert.equal(await gzipDeclaredSize(whole, gz.length), text.length);
    assert.equal((await gzipTextSample(whole, 100)).toString(), text.slice(0, 100));
    const damaged = (await gzipTextSample(f, 1 << 20)).toString();
    assert.ok(damaged.length >= before.join('').length, `${damaged.length} bytes before the damage`);
    assert.equal(damaged, text.slice(0, damaged.length), 'what precedes the damage');
  }),
);
