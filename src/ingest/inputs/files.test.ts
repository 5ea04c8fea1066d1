import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { LineBatch } from '../types.js';
import { expandPaths, fileSize, NoMatchError, readFileLines, readStdinLines } from './files.js';
import { glob, matchSegment, segmentRegExp } from './glob.js';
import { LineSplitter, READ_CHUNK_BYTES } from './lines.js';

function tmpdir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'tollgate-files-'));
}

async function collect(it: AsyncIterable<LineBatch>): Promise<LineBatch[]> {
  const out: LineBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

const allLines = (bs: LineBatch[]): string[] => bs.flatMap((b) => b.lines);

/**
 * Checks the batch invariants: consecutive line numbers from `first`, offsets
 * increasing (for gzip only non-decreasing: several batches can come out of
 * one compressed read).
 */
function checkBatches(bs: LineBatch[], first = 1, strict = true): void {
  let next = first;
  let off = -1;
  for (const b of bs) {
    assert.equal(b.firstLine, next, 'line numbers are consecutive');
    assert.ok(strict ? b.endOffset > off : b.endOffset >= off, 'offsets increase');
    next += b.lines.length;
    off = b.endOffset;
  }
}

test('batches: line numbers, batch size and exact byte offsets', async () => {
  const dir = tmpdir();
  try {
    const lines = Array.from({ length: 5003 }, (_, i) => `line ${i + 1} ${'x'.repeat(i % 97)}`);
    const text = lines.join('\n') + '\n';
    const f = path.join(dir, 'a.log');
    writeFileSync(f, text);
    const bs = await collect(readFileLines(f, { batchLines: 1000 }));
    assert.deepEqual(
      bs.map((b) => b.lines.length),
      [1000, 1000, 1000, 1000, 1000, 3],
    );
    checkBatches(bs);
    assert.deepEqual(allLines(bs), lines);
    for (const b of bs) {
      // endOffset is just after the newline of the batch's last line.
      const upTo = lines.slice(0, b.firstLine - 1 + b.lines.length).join('\n') + '\n';
      assert.equal(b.endOffset, Buffer.byteLength(upTo));
      assert.equal(b.origin, f);
    }
    assert.equal(bs[bs.length - 1].endOffset, statSync(f).size);
    assert.equal(await fileSize(f), statSync(f).size);

    // A byte limit also ends a batch.
    const small = await collect(readFileLines(f, { batchBytes: 4096 }));
    assert.ok(small.length > 10);
    checkBatches(small);
    assert.deepEqual(allLines(small), lines);

    // Resuming from a batch's endOffset yields exactly the rest, with the right line numbers (counted or given).
    const cut = bs[2];
    const rest = await collect(readFileLines(f, { fromOffset: cut.endOffset, batchLines: 1000 }));
    assert.equal(rest[0].firstLine, 3001);
    assert.deepEqual(allLines(rest), lines.slice(3000));
    const rest2 = await collect(readFileLines(f, { fromOffset: cut.endOffset, firstLine: 77 }));
    assert.equal(rest2[0].firstLine, 77);
    assert.deepEqual(await collect(readFileLines(f, { fromOffset: statSync(f).size })), []);
    // An offset beyond the end means the file was truncated: read it all.
    assert.deepEqual(allLines(await collect(readFileLines(f, { fromOffset: 10 ** 9 }))), lines);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CRLF, empty lines, a lone CR, and a final line without newline', async () => {
  const dir = tmpdir();
  try {
    const f = path.join(dir, 'crlf.log');
    writeFileSync(f, 'a\r\nb\r\n\r\n\nc\rd\r\nlast');
    const bs = await collect(readFileLines(f));
    assert.deepEqual(allLines(bs), ['a', 'b', '', '', 'c\rd', 'last']);
    assert.equal(bs[bs.length - 1].endOffset, statSync(f).size);

    const empty = path.join(dir, 'empty.log');
    writeFileSync(empty, '');
    assert.deepEqual(await collect(readFileLines(empty)), []);
    const nl = path.join(dir, 'nl.log');
    writeFileSync(nl, '\n');
    assert.deepEqual(allLines(await collect(readFileLines(nl))), ['']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('invalid UTF-8 becomes U+FFFD; a multi-byte character split across reads is intact', async () => {
  const dir = tmpdir();
  try {
    const f = path.join(dir, 'bad.log');
    writeFileSync(f, Buffer.from([0x61, 0xff, 0x62, 0x0a, 0xe2, 0x82, 0x0a, 0x63, 0xc3]));
    assert.deepEqual(allLines(await collect(readFileLines(f))), ['a\uFFFDb', '\uFFFD', 'c\uFFFD']);

    // 'é' (2 bytes) straddles the first READ_CHUNK_BYTES boundary.
    const first = 'a'.repeat(READ_CHUNK_BYTES - 10);
    const second = '12345678é and ✓ and 😀';
    const g = path.join(dir, 'split.log');
    writeFileSync(g, `${first}\n${second}\n`);
    assert.equal(Buffer.byteLength(first + '\n12345678'), READ_CHUNK_BYTES - 1);
    assert.deepEqual(allLines(await collect(readFileLines(g))), [first, second]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an over-long line is truncated but keeps its line number and bytes', async () => {
  const dir = tmpdir();
  try {
    const f = path.join(dir, 'long.log');
    writeFileSync(f, `short\n${'x'.repeat(25)}\nafter\n${'y'.repeat(30)}`);
    const bs = await collect(readFileLines(f, { maxLineBytes: 10, batchLines: 1 }));
    assert.deepEqual(allLines(bs), ['short', 'x'.repeat(10), 'after', 'y'.repeat(10)]);
    assert.deepEqual(
      bs.map((b) => b.endOffset),
      [6, 32, 38, 68],
    );
    // Each cut line is marked with its full length, so it is rejected as too long, not misparsed.
    assert.deepEqual(
      bs.map((b) => b.truncated ?? null),
      [null, [{ index: 0, bytes: 25 }], null, [{ index: 0, bytes: 30 }]],
    );
    // The splitter path where the long line spans pushes.
    const s = new LineSplitter('t', { maxLineBytes: 4 });
    const out: LineBatch[] = [];
    s.push(Buffer.from('abc'), out);
    s.push(Buffer.from('defgh'), out);
    s.push(Buffer.from('ij\r\nk'), out);
    s.finish(out);
    assert.deepEqual(allLines(out), ['abcd', 'k']);
    assert.equal(out[out.length - 1].endOffset, 13);
    assert.deepEqual(out.flatMap((b) => b.truncated ?? []), [{ index: 0, bytes: 10 }]);
    // A line of exactly the limit, its CRLF in the next push: whole, not cut.
    const exact = new LineSplitter('t', { maxLineBytes: 4 });
    const got: LineBatch[] = [];
    exact.push(Buffer.from('ab'), got);
    exact.push(Buffer.from('cd\r\nef\r'), got);
    exact.finish(got);
    assert.deepEqual(allLines(got), ['abcd', 'ef']);
    assert.deepEqual(got.flatMap((b) => b.truncated ?? []), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gzip: detected by magic bytes, offsets in compressed bytes, read whole or not at all', async () => {
  const dir = tmpdir();
  try {
    const lines = Array.from({ length: 20000 }, (_, i) => `gz line ${i + 1} ${(i * 7919) % 100000}`);
    const gz = gzipSync(lines.join('\n') + '\n');
    const f = path.join(dir, 'a.log.gz');
    writeFileSync(f, gz);
    const bs = await collect(readFileLines(f, { batchLines: 1000 }));
    assert.deepEqual(allLines(bs), lines);
    checkBatches(bs, 1, false);
    const size = statSync(f).size;
    assert.equal(bs[bs.length - 1].endOffset, size, 'the last batch reports the compressed size');
    for (const b of bs.slice(0, -1)) assert.ok(b.endOffset < size, 'earlier batches stay below the size');
    assert.equal(await fileSize(f), size);

    // fromOffset: the size means done; anything else means read it all again.
    assert.deepEqual(await collect(readFileLines(f, { fromOffset: size })), []);
    assert.deepEqual(allLines(await collect(readFileLines(f, { fromOffset: bs[3].endOffset }))), lines);

    // Name does not matter; concatenated members (as `cat a.gz b.gz`) are read through; no final newline.
    const g = path.join(dir, 'noext');
    writeFileSync(g, Buffer.concat([gzipSync('one\r\ntwo\n'), gzipSync('three')]));
    assert.deepEqual(allLines(await collect(readFileLines(g))), ['one', 'two', 'three']);

    // A corrupt or truncated gzip file is an error naming the file.
    const bad = path.join(dir, 'bad.gz');
    writeFileSync(bad, gz.subarray(0, gz.length >> 1));
    await assert.rejects(collect(readFileLines(bad)), (err: Error) => err.message.includes(bad) && /gzip/.test(err.message));
    const bad2 = path.join(dir, 'bad2.gz');
    writeFileSync(bad2, Buffer.from([0x1f, 0x8b, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]));
    await assert.rejects(collect(readFileLines(bad2)), (err: Error) => err.message.includes(bad2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('expandPaths: files, directories (recursive, sorted, no hidden), globs, and patterns matching nothing', async () => {
  const dir = tmpdir();
  const cwd = process.cwd();
  try {
    const mk = (p: string, body = 'x\n'): void => {
      mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
      writeFileSync(path.join(dir, p), body);
    };
    mk('logs/b.log');
    mk('logs/a.log');
    mk('logs/a.log.1');
    mk('logs/c.txt');
    mk('logs/.hidden.log');
    mk('logs/.git/config');
    mk('logs/sub/z.log');
    mk('logs/sub/deeper/y.log.gz');
    mk('other/x1.log');
    mk('other/x2.log');
    mk('other/y3.log');
    mk('empty/.only-hidden');
    process.chdir(dir);

    assert.deepEqual(await expandPaths(['logs']), ['logs/a.log', 'logs/a.log.1', 'logs/b.log', 'logs/c.txt', 'logs/sub/deeper/y.log.gz', 'logs/sub/z.log']);
    assert.deepEqual(await expandPaths(['logs/*.log']), ['logs/a.log', 'logs/b.log']);
    assert.deepEqual(await expandPaths(['logs/**/*.log']), ['logs/a.log', 'logs/b.log', 'logs/sub/z.log']);
    assert.deepEqual(await expandPaths(['**/*.gz']), ['logs/sub/deeper/y.log.gz']);
    assert.deepEqual(await expandPaths(['other/x?.log']), ['other/x1.log', 'other/x2.log']);
    assert.deepEqual(await expandPaths(['other/[xy][13].log']), ['other/x1.log', 'other/y3.log']);
    assert.deepEqual(await expandPaths(['other/[!x]*']), ['other/y3.log']);
    assert.deepEqual(await expandPaths(['logs/.*.log']), ['logs/.hidden.log'], 'a pattern starting with . matches hidden files');
    // A glob matching a directory expands it; duplicates are dropped, order of arguments kept; '-' passes through.
    assert.deepEqual(await expandPaths(['other/x1.log', 'oth*', '-']), ['other/x1.log', 'other/x2.log', 'other/y3.log', '-']);
    // Absolute paths stay absolute.
    assert.deepEqual(await expandPaths([path.join(dir, 'other', '*1.log')]), [path.join(dir, 'other', 'x1.log')]);

    await assert.rejects(expandPaths(['logs/*.log', 'nothing/*.log', 'missing.log', 'empty']), (err: unknown) => {
      assert.ok(err instanceof NoMatchError);
      assert.deepEqual(err.patterns, ['nothing/*.log', 'missing.log', 'empty']);
      assert.match(err.message, /no files matched: "nothing\/\*\.log", "missing\.log", "empty"/);
      return true;
    });
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('glob segments: *, ?, classes, ranges, negation, literals', async () => {
  assert.ok(segmentRegExp('a*.log').test('abc.log'));
  assert.ok(!segmentRegExp('a*.log').test('abc.logx'));
  assert.ok(segmentRegExp('a?c').test('abc') && !segmentRegExp('a?c').test('ac'));
  assert.ok(segmentRegExp('[a-c]x').test('bx') && !segmentRegExp('[a-c]x').test('dx'));
  assert.ok(segmentRegExp('[!a-c]x').test('dx') && !segmentRegExp('[^a-c]x').test('ax'));
  assert.ok(segmentRegExp('[-a]').test('-'));
  assert.ok(segmentRegExp('x[').test('x['), 'an unclosed [ is literal');
  assert.ok(segmentRegExp('a+b(c).{d}|e^$').test('a+b(c).{d}|e^$'), 'regexp syntax is literal');
  assert.ok(!matchSegment('*', '.hidden') && matchSegment('.*', '.hidden'));
  assert.deepEqual(await glob('/definitely/not/here/*.log'), []);
});

test('stdin: any Readable, chunks split mid-line and mid-character, gzip too', async () => {
  const pt = new PassThrough();
  const done = collect(readStdinLines(pt));
  const bytes = Buffer.from('alpha\r\nbéta\ngamma\nno newline');
  // Split inside 'é' (bytes 9-10) and inside CRLF.
  for (const [a, b] of [
    [0, 6],
    [6, 9],
    [9, 13],
    [13, bytes.length],
  ]) {
    pt.write(bytes.subarray(a, b));
    await new Promise((r) => setImmediate(r));
  }
  pt.end();
  const bs = await done;
  assert.deepEqual(allLines(bs), ['alpha', 'béta', 'gamma', 'no newline']);
  assert.ok(bs.every((b) => b.origin === '-'));
  checkBatches(bs);
  assert.equal(bs[bs.length - 1].endOffset, bytes.length);

  const gz = new PassThrough();
  const gdone = collect(readStdinLines(gz));
  const z = gzipSync('x\ny\n');
  gz.write(z.subarray(0, 1)); // the magic split across chunks
  gz.end(z.subarray(1));
  const gbs = await gdone;
  assert.deepEqual(allLines(gbs), ['x', 'y']);
  assert.equal(gbs[gbs.length - 1].endOffset, z.length);

  // Stopping early releases the stream.
  const early = new PassThrough();
  early.write('a\nb\n');
  for await (const b of readStdinLines(early)) {
    assert.deepEqual(b.lines, ['a', 'b']);
    break;
  }
  assert.ok(early.destroyed);
});

test('stdin: the real process stdin of a child', async () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const mod = path.join(here, 'files.js');
  const script = `import { readStdinLines } from ${JSON.stringify(mod)};
let n = 0; const seen = [];
for await (const b of readStdinLines()) { n += b.lines.length; seen.push(b.lines[0], b.lines[b.lines.length - 1]); }
process.stdout.write(JSON.stringify({ n, first: seen[0], last: seen[seen.length - 1] }));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const total = 30000;
  for (let i = 1; i <= total; i += 1000) {
    const chunk = Array.from({ length: 1000 }, (_, k) => `stdin line ${i + k}`).join('\n') + '\n';
    if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
  }
  child.stdin.end('tail without newline');
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 0);
  assert.deepEqual(JSON.parse(out), { n: total + 1, first: 'stdin line 1', last: 'tail without newline' });
});
