/**
 * Following a growing log file like `tail -F`, through both rotation styles.
 *
 * - rename (logrotate `create`, or mv + reopen): the path now names another
 *   file. The old file stays open and is read to its end, including lines
 *   the writer adds to it after the rename (NGINX and HAProxy keep writing to
 *   the old file until they reopen). It is considered finished once the new
 *   file exists and the old one has not grown for `rotateGraceMs`; then its
 *   incomplete last line (if any) is yielded, and the new file is read from 0.
 *
 * - copytruncate: the same file shrinks. Detected when the file is shorter
 *   than what was read, and also when it was truncated and then grew past the
 *   old position before we looked again: every read re-reads the last bytes
 *   already seen (up to 128) and compares them. Reading continues from 0 of
 *   the same file. Lines the writer added between our last read and the
 *   truncation exist only in the copy: that is copytruncate's own data-loss
 *   window (logrotate documents it) and no reader of the original can close
 *   it; a small `pollMs` plus fs.watch keeps it short.
 *
 * Files are identified by device + inode. fs.watch (on the directory, so the
 * replacement file is seen too) wakes the reader early; polling every
 * `pollMs` is the fallback, because watch events are not delivered on every
 * filesystem (NFS, some containers) and may be coalesced.
 *
 * No line is yielded twice or lost within one run: positions only move
 * forward through yielded lines, an incomplete last line is held back until
 * its newline arrives (or the file is rotated/truncated, then it is yielded
 * as it is). Each batch carries the identity of the file it came from and
 * `endOffset` within that file, so a registry can record both.
 */
import { watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { LineBatch } from '../types.js';
import { FINGERPRINT_BYTES, fingerprintOf, type FileIdentity } from '../registry.js';
import { countNewlines } from './files.js';
import { LineSplitter, READ_CHUNK_BYTES } from './lines.js';

/** Bytes re-read before the current position to notice a truncation hidden by regrowth. */
const TAIL_CHECK_BYTES = 128;

export interface FollowBatch extends LineBatch {
  /** The file (device, inode, fingerprint) the lines come from; `endOffset` is a position in it. */
  identity: FileIdentity;
}

export interface RotateEvent {
  kind: 'rename' | 'truncate';
  path: string;
  /** The file that was finished (rename) or truncated (truncate). */
  from: FileIdentity;
  /** The file now read from offset 0 (for truncate: the same device and inode). */
  to: FileIdentity;
}

export interface FollowOptions {
  /** Where to start in the file currently at `path` (from the registry). Default 0. */
  fromOffset?: number;
  /** Line number at `fromOffset`. Default: counted. */
  firstLine?: number;
  /**
   * The device and inode `fromOffset` refers to: if the file at `path` is
   * another one by the time it is opened (rotated meanwhile), it is read from 0.
   */
  expect?: { dev: string; ino: string };
  /** Polling interval in ms. Default 250. */
  pollMs?: number;
  /** How long a renamed-away file must stay unchanged before it is considered finished. Default 1000 ms. */
  rotateGraceMs?: number;
  /** Stops following; the generator returns after the batch being handed over. */
  signal: AbortSignal;
  batchLines?: number;
  batchBytes?: number;
  maxLineBytes?: number;
  /** Called when a file is opened (the first one, and each after a rename), before its first batch. */
  onOpen?(ev: { path: string; identity: FileIdentity; offset: number }): void;
  /** Called when a rotation is handled, after the last batch of the old content and before the first of the new. */
  onRotate?(ev: RotateEvent): void;
  /**
   * Files other followers of the same run read: when rotation moves one of
   * them to this path (`--follow 'access.log*'`: access.log becomes
   * access.log.1), this follower leaves it to them instead of reading it again.
   */
  shared?: FollowedFiles;
}

/** The files a run's followers have open or have finished, by device + inode (+ first bytes, for finished ones: inodes are reused). */
export class FollowedFiles {
  private readonly open = new Map<string, symbol>();
  private readonly finished = new Set<string>();

  claim(owner: symbol, id: FileIdentity): void {
    this.open.set(`${id.dev}:${id.ino}`, owner);
  }

  release(owner: symbol, id: FileIdentity): void {
    const key = `${id.dev}:${id.ino}`;
    if (this.open.get(key) === owner) this.open.delete(key);
    this.finished.add(`${key}:${id.fingerprint}`);
  }

  /** Whether another follower has this file open, or finished it (the same text at the same inode). */
  takenBy(owner: symbol, id: FileIdentity): boolean {
    const holder = this.open.get(`${id.dev}:${id.ino}`);
    return (holder !== undefined && holder !== owner) || this.finished.has(`${id.dev}:${id.ino}:${id.fingerprint}`);
  }
}

/** Wakes the follower on a watch event, a poll tick or abort; remembers an event that arrives while it is busy. */
class Waker {
  private wake: (() => void) | null = null;
  private pending = false;
  private watcher: FSWatcher | null = null;
  private readonly onAbort = (): void => this.kick();

  constructor(
    dir: string,
    private readonly pollMs: number,
    private readonly signal: AbortSignal,
  ) {
    try {
      this.watcher = watch(dir, { persistent: false }, () => this.kick());
      this.watcher.on('error', () => this.stopWatching());
    } catch {
      // No watch support here (or too many watches): polling alone.
      this.watcher = null;
    }
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  kick(): void {
    if (this.wake) {
      const w = this.wake;
      this.wake = null;
      w();
    } else {
      this.pending = true;
    }
  }

  wait(ms = this.pollMs): Promise<void> {
    if (this.pending || this.signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const t = setTimeout(() => this.kick(), ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private stopWatching(): void {
    this.watcher?.close();
    this.watcher = null;
  }

  close(): void {
    this.stopWatching();
    this.signal.removeEventListener('abort', this.onAbort);
    this.kick();
  }
}

/** One open file being read. */
class Tail {
  readonly fh: FileHandle;
  identity: FileIdentity;
  splitter: LineSplitter;
  /** Position of the next byte to read (includes an incomplete last line). */
  readPos: number;
  /** The last bytes read, ending at readPos. */
  private tail: Buffer = Buffer.alloc(0);
  lastGrowth = Date.now();
  private readonly buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);

  constructor(
    fh: FileHandle,
    identity: FileIdentity,
    readonly origin: string,
    offset: number,
    firstLine: number,
    private readonly opts: FollowOptions,
  ) {
    this.fh = fh;
    this.identity = identity;
    this.readPos = offset;
    this.splitter = this.newSplitter(offset, firstLine);
  }

  private newSplitter(offset: number, firstLine: number): LineSplitter {
    return new LineSplitter(this.origin, {
      startOffset: offset,
      firstLine,
      batchLines: this.opts.batchLines,
      batchBytes: this.opts.batchBytes,
      maxLineBytes: this.opts.maxLineBytes,
    });
  }

  /** Loads the bytes before `readPos` for the truncation check (after opening at an offset). */
  async primeTail(): Promise<void> {
    const k = Math.min(TAIL_CHECK_BYTES, this.readPos);
    if (k === 0) return;
    const b = Buffer.alloc(k);
    const { bytesRead } = await this.fh.read(b, 0, k, this.readPos - k);
    this.tail = b.subarray(0, bytesRead);
  }

  /**
   * One read. Returns 'data' (bytes were pushed; batches may be in `out`),
   * 'eof' (nothing new) or 'truncated' (the file no longer holds what was read).
   */
  async readOnce(out: LineBatch[]): Promise<'data' | 'eof' | 'truncated'> {
    const k = this.tail.length;
    const { bytesRead } = await this.fh.read(this.buf, 0, this.buf.length, this.readPos - k);
    if (bytesRead < k || (k > 0 && this.buf.compare(this.tail, 0, k, 0, k) !== 0)) return 'truncated';
    if (bytesRead === k) return 'eof';
    this.splitter.push(this.buf.subarray(k, bytesRead), out);
    this.readPos += bytesRead - k;
    this.tail = Buffer.from(this.buf.subarray(Math.max(0, bytesRead - TAIL_CHECK_BYTES), bytesRead));
    this.lastGrowth = Date.now();
    if (this.identity.fingerprintBytes < FINGERPRINT_BYTES) await this.refreshFingerprint();
    return 'data';
  }

  /** A file opened while short (often empty, right after rotation) gets a stronger fingerprint as it grows. */
  private async refreshFingerprint(): Promise<void> {
    const b = Buffer.alloc(FINGERPRINT_BYTES);
    const { bytesRead } = await this.fh.read(b, 0, FINGERPRINT_BYTES, 0);
    if (bytesRead > this.identity.fingerprintBytes) this.identity = { ...this.identity, ...fingerprintOf(b.subarray(0, bytesRead)) };
  }

  /** Starts over at 0 of the same file (copytruncate). */
  async restart(): Promise<void> {
    this.readPos = 0;
    this.tail = Buffer.alloc(0);
    this.splitter = this.newSplitter(0, 1);
    this.identity = { ...this.identity, ...fingerprintOf(Buffer.alloc(0)) };
    await this.refreshFingerprint();
  }
}

async function openTail(file: string, opts: FollowOptions, offset: number, firstLine: number | undefined): Promise<Tail | null> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
  try {
    const st = await fh.stat({ bigint: true });
    const size = Number(st.size);
    const dev = String(st.dev);
    const ino = String(st.ino);
    if (offset > size || (opts.expect && (opts.expect.dev !== dev || opts.expect.ino !== ino))) offset = 0;
    const head = Buffer.alloc(FINGERPRINT_BYTES);
    const { bytesRead } = await fh.read(head, 0, FINGERPRINT_BYTES, 0);
    const identity: FileIdentity = { dev, ino, ...fingerprintOf(head.subarray(0, bytesRead)) };
    const line = offset === 0 ? 1 : (firstLine ?? 1 + (await countNewlines(fh, offset)));
    const t = new Tail(fh, identity, file, offset, line, opts);
    await t.primeTail();
    return t;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** The file a path names now: its identity, and its inode's change time (a recycled inode has a new one). */
async function currentIdentity(file: string): Promise<{ dev: string; ino: string; changed: string } | null> {
  try {
    const st = await stat(file, { bigint: true });
    return { dev: String(st.dev), ino: String(st.ino), changed: String(st.ctimeNs) };
  } catch {
    return null;
  }
}

/**
 * Follows `file` until `opts.signal` aborts, yielding batches as lines are
 * completed. Waits for the file to appear if it does not exist yet.
 */
export async function* followFile(file: string, opts: FollowOptions): AsyncGenerator<FollowBatch> {
  const pollMs = Math.max(5, opts.pollMs ?? 250);
  const grace = Math.max(0, opts.rotateGraceMs ?? 1000);
  const { signal } = opts;
  const waker = new Waker(path.dirname(path.resolve(file)), pollMs, signal);
  let cur: Tail | null = null;
  /**
   * Files that appeared at the path after `cur`, oldest first, opened as soon as they were
   * seen: if one is renamed away too before `cur` is finished (two rotations within the
   * grace period), its descriptor still reaches it, so no file in the chain is skipped.
   */
  const pending: Tail[] = [];
  const out: LineBatch[] = [];
  const withId = (b: LineBatch, t: Tail): FollowBatch => ({ ...b, identity: t.identity });
  const me = Symbol(file);
  const shared = opts.shared;
  try {
    let first = true;
    while (!cur) {
      if (signal.aborted) return;
      cur = await openTail(file, opts, first ? (opts.fromOffset ?? 0) : 0, first ? opts.firstLine : 1);
      if (!cur) {
        first = false;
        await waker.wait();
      }
    }
    shared?.claim(me, cur.identity);
    opts.onOpen?.({ path: file, identity: cur.identity, offset: cur.readPos });
    /** When the newest rotation was noticed (the grace period counts from there). */
    let rotatedSince: number | null = null;
    /** The file (identity and change time) the path named when it was found to be another follower's. */
    let takenSeen: string | null = null;
    const known = (id: { dev: string; ino: string }): boolean =>
      (cur !== null && cur.identity.dev === id.dev && cur.identity.ino === id.ino) || pending.some((t) => t.identity.dev === id.dev && t.identity.ino === id.ino);

    while (!signal.aborted) {
      // Read everything there is now.
      let state: 'data' | 'eof' | 'truncated';
      do {
        state = await cur.readOnce(out);
        if (state === 'eof') cur.splitter.flush(out);
        for (const b of out) {
          yield withId(b, cur);
          if (signal.aborted) return;
        }
        out.length = 0;
      } while (state === 'data');

      if (state === 'truncated') {
        const from = cur.identity;
        cur.splitter.finish(out);
        for (const b of out) yield withId(b, cur);
        out.length = 0;
        await cur.restart();
        opts.onRotate?.({ kind: 'truncate', path: file, from, to: cur.identity });
        continue;
      }

      // At the end of the current file: does the path name a file not seen yet (a rotation)?
      const now = await currentIdentity(file);
      if (now !== null && !known(now) && takenSeen !== `${now.dev}:${now.ino}:${now.changed}`) {
        const t = await openTail(file, { ...opts, expect: undefined }, 0, 1);
        // The path may have changed again between stat and open: keep whatever new file was opened.
        if (t && !known(t.identity) && !shared?.takenBy(me, t.identity)) {
          pending.push(t);
          rotatedSince = Date.now();
        } else {
          // Another follower's file (rotated from its path): not opened again while the path names it unchanged.
          if (t && t.identity.dev === now.dev && t.identity.ino === now.ino && shared?.takenBy(me, t.identity)) takenSeen = `${now.dev}:${now.ino}:${now.changed}`;
          await t?.fh.close();
        }
      }
      if (pending.length === 0) {
        await waker.wait();
        continue;
      }
      rotatedSince ??= Date.now();
      const quietSince = Math.max(rotatedSince, cur.lastGrowth);
      if (Date.now() - quietSince >= grace) {
        const from = cur.identity;
        // The old file is finished: its incomplete last line is all there will be.
        cur.splitter.finish(out);
        for (const b of out) yield withId(b, cur);
        out.length = 0;
        await cur.fh.close();
        shared?.release(me, cur.identity);
        cur = pending.shift() as Tail;
        shared?.claim(me, cur.identity);
        cur.lastGrowth = Date.now();
        rotatedSince = pending.length ? Date.now() : null;
        opts.onRotate?.({ kind: 'rename', path: file, from, to: cur.identity });
        opts.onOpen?.({ path: file, identity: cur.identity, offset: 0 });
        continue;
      }
      // Re-check soon enough to honour the grace period even without events.
      await waker.wait(Math.min(pollMs, Math.max(5, grace - (Date.now() - quietSince))));
    }
  } finally {
    waker.close();
    await cur?.fh.close();
    for (const t of pending) await t.fh.close();
  }
}
