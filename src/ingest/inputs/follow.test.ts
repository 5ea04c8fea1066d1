import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { followFile, type FollowBatch, type FollowOptions, type RotateEvent } from './follow.js';

function tmpdir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'tollgate-follow-'));
}

/** Numbered lines of varying length, so that a lost or doubled line cannot hide. */
const lineOf = (i: number): string => `line ${String(i).padStart(7, '0')} ${'p'.repeat(i % 53)}\n`;
const numberOf = (l: string): number => {
  const m = /^line (\d{7}) p*$/.exec(l);
  if (!m) throw new Error(`unexpected line ${JSON.stringify(l)}`);
  return Number(m[1]);
};

async function waitFor(cond: () => boolean, what: string, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Runs a follower in the background, collecting lines and rotation events. */
function follower(file: string, opts: Partial<FollowOptions> = {}) {
  const ac = new AbortController();
  const lines: string[] = [];
  const batches: FollowBatch[] = [];
  const events: RotateEvent[] = [];
  const done = (async () => {
    for await (const b of followFile(file, { pollMs: 20, rotateGraceMs: 150, ...opts, signal: ac.signal, onRotate: (e) => events.push(e) })) {
      batches.push(b);
      lines.push(...b.lines);
    }
  })();
  return {
    lines,
    batches,
    events,
    async stop(): Promise<void> {
      ac.abort();
      await done;
    },
  };
}

function assertExactlyOnce(lines: string[], n: number): void {
  const nums = lines.map(numberOf);
  const expected = Array.from({ length: n }, (_, i) => i + 1);
  if (nums.length !== n || nums.some((v, i) => v !== i + 1)) {
    const seen = new Map<number, number>();
    for (const v of nums) seen.set(v, (seen.get(v) ?? 0) + 1);
    const missing = expected.filter((v) => !seen.has(v));
    const doubled = [...seen].filter(([, c]) => c > 1).map(([v]) => v);
    assert.fail(`got ${nums.length} lines for ${n}; missing ${missing.slice(0, 10).join(',')}; doubled ${doubled.slice(0, 10).join(',')}`);
  }
}

test('follow: a partial last line waits for its newline; offsets and identity per batch', async (t) => {
  const dir = tmpdir();
  try {
    const p = path.join(dir, 'a.log');
    writeFileSync(p, 'one\ntwo\npart');
    const f = follower(p);
    t.after(() => f.stop());
    await waitFor(() => f.lines.length === 2, 'two lines');
    await sleep(150);
    assert.deepEqual(f.lines, ['one', 'two'], 'the partial line is held back');
    assert.equal(f.batches[f.batches.length - 1].endOffset, 8);
    const fd = openSync(p, 'a');
    writeSync(fd, 'ial\r\nthree\n');
    await waitFor(() => f.lines.length === 4, 'the completed line');
    assert.deepEqual(f.lines, ['one', 'two', 'partial', 'three']);
    const last = f.batches[f.batches.length - 1];
    assert.equal(last.endOffset, statSync(p).size);
    assert.equal(last.identity.ino, String(statSync(p).ino));
    assert.equal(last.firstLine + last.lines.length - 1, 4);
    closeSync(fd);
    await f.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follow: starts at fromOffset (line numbers counted), waits for a missing file, stops on abort', async (t) => {
  const dir = tmpdir();
  try {
    const p = path.join(dir, 'b.log');
    writeFileSync(p, 'l1\nl2\nl3\n');
    const f = follower(p, { fromOffset: 6 });
    t.after(() => f.stop());
    await waitFor(() => f.lines.length === 1, 'line 3');
    assert.deepEqual(f.lines, ['l3']);
    assert.equal(f.batches[0].firstLine, 3);
    await f.stop();

    // Another file under the path than the one the offset was for: read from 0.
    const g = follower(p, { fromOffset: 6, expect: { dev: '1', ino: '2' } });
    t.after(() => g.stop());
    await waitFor(() => g.lines.length === 3, 'all lines');
    await g.stop();

    const q = path.join(dir, 'later.log');
    const h = follower(q, { pollMs: 10_000 });
    t.after(() => h.stop());
    await sleep(50);
    writeFileSync(q, 'hello\n');
    // fs.watch on the directory wakes the follower long before the 10 s poll.
    await waitFor(() => h.lines.length === 1, 'the file to appear', 5000);
    const t0 = Date.now();
    await h.stop();
    assert.ok(Date.now() - t0 < 1000, 'abort ends the wait at once');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follow: rename rotation with a writer appending all along — every line exactly once, in order', async (t) => {
  const dir = tmpdir();
  try {
    const p = path.join(dir, 'access.log');
    let fd = openSync(p, 'a');
    const f = follower(p);
    t.after(() => f.stop());
    const N = 6000;
    for (let i = 1; i <= N; i++) {
      writeSync(fd, lineOf(i));
      if (i % 20 === 0) await sleep(1);
      if (i === 2000) {
        // mv, no new file yet; the writer keeps writing to the old (renamed) file.
        renameSync(p, p + '.1');
      } else if (i === 2300) {
        // The writer reopens (like NGINX on USR1): a new file at the path.
        closeSync(fd);
        fd = openSync(p, 'a');
      } else if (i === 4000) {
        // logrotate `create`: renamed, new empty file created at once; the writer
        // still writes 300 more lines to the old file before it reopens.
        renameSync(p, p + '.2');
        writeFileSync(p, '');
      } else if (i === 4300) {
        closeSync(fd);
        fd = openSync(p, 'a');
      }
    }
    await waitFor(() => f.lines.length >= N, `${N} lines (have ${f.lines.length})`);
    await sleep(100);
    await f.stop();
    closeSync(fd);
    assertExactlyOnce(f.lines, N);
    assert.deepEqual(
      f.events.map((e) => e.kind),
      ['rename', 'rename'],
    );
    // Each batch's offset belongs to the file it came from.
    const files = [p + '.1', p + '.2', p].map((x) => ({ ino: String(statSync(x).ino), size: statSync(x).size }));
    for (const { ino, size } of files) {
      const mine = f.batches.filter((b) => b.identity.ino === ino);
      assert.ok(mine.length > 0);
      assert.equal(mine[mine.length - 1].endOffset, size);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follow: a partial last line of a renamed file is yielded when the file is finished', async (t) => {
  const dir = tmpdir();
  try {
    const p = path.join(dir, 'c.log');
    writeFileSync(p, 'a\nno newline');
    const f = follower(p);
    t.after(() => f.stop());
    await waitFor(() => f.lines.length === 1, 'first line');
    renameSync(p, p + '.1');
    writeFileSync(p, 'b\n');
    await waitFor(() => f.lines.length === 3, 'rotation');
    assert.deepEqual(f.lines, ['a', 'no newline', 'b']);
    await f.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('follow: copytruncate, including a file that regrew past the old position — every line exactly once', async (t) => {
  const dir = tmpdir();
  try {
    const p = path.join(dir, 'access.log');
    // O_APPEND, as log writers open their files: after truncation, writes land at the new end.
    const fd = openSync(p, 'a');
    const f = follower(p);
    t.after(() => f.stop());
    const N = 7000;
    let copies = 0;
    for (let i = 1; i <= N; i++) {
      if (i === 2000 || i === 4000) {
        // copytruncate loses what the writer added between the reader's last read and the
        // truncation (it is only in the copy); this test is about the reader, so it rotates
        // at a moment the reader has caught up. The writer does not pause otherwise.
        await waitFor(() => f.lines.length === i - 1, 'the reader to catch up');
        copyFileSync(p, `${p}.${++copies}`);
        truncateSync(p, 0);
        if (i === 4000) {
          // Before the reader looks again, the file grows past the old position: only the
          // re-read of the last bytes seen can tell that it was truncated.
          const before = statSync(`${p}.${copies}`).size;
          let j = i;
          for (; statSync(p).size <= before + 4096; j++) writeSync(fd, lineOf(j));
          i = j - 1;
          continue;
        }
      }
      writeSync(fd, lineOf(i));
      if (i % 20 === 0) await sleep(1);
    }
    await waitFor(() => f.lines.length >= N, `${N} lines (have ${f.lines.length})`);
    await sleep(100);
    await f.stop();
    closeSync(fd);
    assertExactlyOnce(f.lines, N);
    assert.deepEqual(
      f.events.map((e) => e.kind),
      ['truncate', 'truncate'],
    );
    assert.ok(f.events.every((e) => e.from.ino === e.to.ino), 'same file');
    // Together, the copies and the live file hold each line exactly once too.
    const all = [1, 2].map((k) => readFileSync(`${p}.${k}`, 'utf8')).join('') + readFileSync(p, 'utf8');
    assertExactlyOnce(all.split('\n').slice(0, -1), N);
    assert.equal(f.batches[f.batches.length - 1].endOffset, statSync(p).size);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
