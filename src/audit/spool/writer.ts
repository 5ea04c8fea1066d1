/**
 * SpoolWriter: the durable, append-only first home of every audit event.
 *
 * Group commit: events finishing in the same event-loop turn (plus an optional
 * extra wait) are written with one write(2). While a write is in flight new
 * events queue up and go in the next one, so batches grow with load and an
 * idle proxy adds no wait. Each append carries a callback that fires once its
 * bytes are in the file (and fsynced, with `fsync: always`): the recorder
 * holds the last bytes of the response until then, so a client never gets a
 * complete response whose event could still be lost to a crash.
 *
 * Failure (disk full, permissions, I/O error) is loud: health flips, the
 * callbacks get the error, the owner decides (reject or continue), and the
 * events stay queued in memory and are retried into a fresh segment. Bytes of
 * a partial write that form complete lines count as written; the torn rest is
 * rewritten in the next segment and skipped by readers in the sealed one.
 */
import { EventEmitter } from 'node:events';
import { promises as fsp, constants as fsc } from 'node:fs';
import fs from 'node:fs';
import path from 'node:path';
import type { SpoolConfig } from '../../config/schema.js';
import { headerLine, parseSegmentFileName, segmentFileName, WRITER_ID_RE } from './format.js';
import { isProcessAlive } from '../../core/process-alive.js';

export type AppendCallback = (err: Error | null) => void;

/**
 * The writers of a spool directory whose process is alive (their lock names
 * a live pid), other than this process: a running node's proxies and admin
 * API write here, and its loader reads what is written.
 */
export async function liveSpoolWriters(dir: string): Promise<{ writer: string; pid: number }[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const out: { writer: string; pid: number }[] = [];
  for (const writer of names) {
    if (!WRITER_ID_RE.test(writer)) continue;
    const pid = Number((await fsp.readFile(path.join(dir, writer, 'writer.lock'), 'utf8').catch(() => '')).trim());
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isProcessAlive(pid)) out.push({ writer, pid });
  }
  return out;
}

export interface SpoolWriterOptions extends Pick<SpoolConfig, 'dir' | 'segment_size' | 'segment_age' | 'group_commit' | 'fsync' | 'fsync_interval'> {
  writerId: string;
  /** Most events kept in memory while the disk fails; beyond, new events are dropped and counted. */
  memoryBuffer: number;
  /** How often a failed spool is retried. */
  retryIntervalMs?: number;
}

export interface SpoolHealth {
  ok: boolean;
  error: string | null;
  since: string | null;
  /** Events accepted but not yet written. */
  queued: number;
  dropped: number;
  segment: number;
}

export interface SpoolStats {
  events: number;
  batches: number;
  bytes: number;
  errors: number;
  dropped: number;
  fsyncs: number;
}

const NOOP: AppendCallback = () => {};

export class SpoolWriter extends EventEmitter {
  readonly dir: string;
  readonly stats: SpoolStats = { events: 0, batches: 0, bytes: 0, errors: 0, dropped: 0, fsyncs: 0 };

  private fd: number | null = null;
  private segment = 0;
  private segmentBytes = 0;
  private segmentEvents = 0;
  private segmentOpenedAt = 0;
  private lines: string[] = [];
  private callbacks: AppendCallback[] = [];
  private scheduled = false;
  private writing = false;
  private closed = false;
  private failure: { error: Error; since: Date } | null = null;
  private rotateRequested = false;
  private dirtySinceSync = false;
  private timers: NodeJS.Timeout[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  private lockPath: string;

  constructor(private readonly opts: SpoolWriterOptions) {
    super();
    if (!WRITER_ID_RE.test(opts.writerId)) throw new Error(`invalid spool writer id "${opts.writerId}"`);
    this.dir = path.join(opts.dir, opts.writerId);
    this.lockPath = path.join(this.dir, 'writer.lock');
  }

  /** Creates the directory, takes the writer lock and opens a new segment. */
  async open(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    await this.takeLock();
    const names = await fsp.readdir(this.dir);
    let max = 0;
    for (const n of names) {
      const seq = parseSegmentFileName(n);
      if (seq !== null && seq > max) max = seq;
    }
    // Never append to an old segment: after a crash its tail may be torn.
    this.segment = max;
    await this.openNextSegment();
    if (this.opts.fsync === 'interval') {
      const t = setInterval(() => this.syncNow(), Math.max(10, this.opts.fsync_interval));
      t.unref();
      this.timers.push(t);
    }
    if (this.opts.segment_age > 0) {
      const t = setInterval(() => {
        if (this.segmentEvents > 0 && Date.now() - this.segmentOpenedAt >= this.opts.segment_age) {
          this.rotateRequested = true;
          this.schedule();
        }
      }, Math.max(50, Math.floor(this.opts.segment_age / 4)));
      t.unref();
      this.timers.push(t);
    }
  }

  /** Queues one event line (without newline). `done` fires when it is on disk, or with the error. */
  append(line: string, done: AppendCallback = NOOP): void {
    if (this.closed) {
      done(new Error('spool writer is closed'));
      return;
    }
    if (this.failure && this.lines.length >= this.opts.memoryBuffer) {
      this.stats.dropped++;
      this.emit('dropped', 1);
      done(this.failure.error);
      return;
    }
    this.lines.push(line);
    if (this.failure) {
      // Tell the owner at once; the line stays queued for the retry.
      this.callbacks.push(NOOP);
      done(this.failure.error);
      return;
    }
    this.callbacks.push(done);
    this.schedule();
  }

  get healthy(): boolean {
    return this.failure === null;
  }

  health(): SpoolHealth {
    return {
      ok: this.failure === null,
      error: this.failure ? this.failure.error.message : null,
      since: this.failure ? this.failure.since.toISOString() : null,
      queued: this.lines.length,
      dropped: this.stats.dropped,
      segment: this.segment,
    };
  }

  /** Resolves when everything queued so far has been written (or the spool failed). */
  flush(): Promise<void> {
    if (this.lines.length === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.schedule();
    });
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      try {
        if (this.opts.fsync !== 'never') await new Promise<void>((r) => fs.fdatasync(fd, () => r()));
      } finally {
        await new Promise<void>((r) => fs.close(fd, () => r()));
      }
    }
    await fsp.rm(this.lockPath, { force: true });
  }

  private schedule(): void {
    if (this.scheduled || this.writing || this.failure) return;
    this.scheduled = true;
    if (this.opts.group_commit > 0) setTimeout(() => this.writeBatch(), this.opts.group_commit);
    else setImmediate(() => this.writeBatch());
  }

  private writeBatch(): void {
    this.scheduled = false;
    if (this.writing || this.failure) return;
    if (this.lines.length === 0 && !this.rotateRequested) {
      this.notifyIdle();
      return;
    }
    this.writing = true;
    const lines = this.lines;
    const callbacks = this.callbacks;
    this.lines = [];
    this.callbacks = [];
    const text = lines.length ? lines.join('\n') + '\n' : '';
    const buf = Buffer.from(text, 'utf8');
    const needRotate = this.rotateRequested || (this.segmentEvents > 0 && this.segmentBytes + buf.length > this.opts.segment_size);
    const start = needRotate ? this.rotate() : Promise.resolve();
    start
      .then(() => (buf.length ? this.writeAll(buf) : 0))
      .then(async () => {
        if (buf.length && this.opts.fsync === 'always') await this.fdatasync();
        this.stats.events += lines.length;
        this.stats.batches++;
        this.stats.bytes += buf.length;
        this.segmentBytes += buf.length;
        this.segmentEvents += lines.length;
        this.dirtySinceSync = true;
        this.writing = false;
        for (const cb of callbacks) cb(null);
        if (this.lines.length) this.schedule();
        else this.notifyIdle();
      })
      .catch((err: Error & { written?: number }) => {
        this.writing = false;
        // Lines completely written before the failure are done; requeue the rest in order.
        const written = err.written ?? 0;
        let done = 0;
        if (written > 0) {
          let pos = 0;
          for (const l of lines) {
            const len = Buffer.byteLength(l, 'utf8') + 1;
            if (pos + len > written) break;
            pos += len;
            done++;
          }
        }
        this.stats.events += done;
        for (let i = 0; i < done; i++) callbacks[i](null);
        this.lines = lines.slice(done).concat(this.lines);
        this.callbacks = callbacks.slice(done).map(() => NOOP).concat(this.callbacks);
        this.fail(err, callbacks.slice(done));
      });
  }

  private writeAll(buf: Buffer): Promise<number> {
    const fd = this.fd;
    if (fd === null) return Promise.reject(new Error('no open segment'));
    if (this.opts.fsync !== 'always') {
      // Without a per-batch fsync a write only copies a few KB into the page
      // cache. Done inline it costs microseconds; through the thread pool it
      // costs a hand-off to another thread and back, which on a busy machine
      // is a scheduling delay added to every response waiting for the batch.
      let off = 0;
      try {
        while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
      } catch (err) {
        (err as Error & { written?: number }).written = off;
        return Promise.reject(err);
      }
      return Promise.resolve(off);
    }
    return new Promise((resolve, reject) => {
      let off = 0;
      const step = () => {
        fs.write(fd, buf, off, buf.length - off, null, (err, n) => {
          if (err) {
            (err as Error & { written?: number }).written = off;
            reject(err);
            return;
          }
          off += n;
          if (off < buf.length) step();
          else resolve(off);
        });
      };
      step();
    });
  }

  private fail(err: Error, pendingCallbacks: AppendCallback[]): void {
    this.stats.errors++;
    const first = this.failure === null;
    if (first) this.failure = { error: err, since: new Date() };
    if (first) this.emit('health', this.health());
    for (const cb of pendingCallbacks) cb(err);
    // Callers waiting on flush() must not hang while the disk is failing.
    this.notifyIdle();
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.retry();
    }, this.opts.retryIntervalMs ?? 1000);
    this.retryTimer.unref();
  }

  private async retry(): Promise<void> {
    if (!this.failure || this.closed) return;
    try {
      // The old segment may hold a torn tail: seal it by moving on.
      await this.openNextSegment();
    } catch (err) {
      this.stats.errors++;
      this.failure = { error: err as Error, since: this.failure.since };
      this.scheduleRetry();
      return;
    }
    this.failure = null;
    this.emit('health', this.health());
    this.schedule();
  }

  private async rotate(): Promise<void> {
    this.rotateRequested = false;
    await this.openNextSegment();
  }

  private async openNextSegment(): Promise<void> {
    const old = this.fd;
    this.fd = null;
    if (old !== null) {
      if (this.opts.fsync !== 'never' && this.dirtySinceSync) await new Promise<void>((r) => fs.fdatasync(old, () => r()));
      await new Promise<void>((r) => fs.close(old, () => r()));
    }
    const seq = this.segment + 1;
    const file = path.join(this.dir, segmentFileName(seq));
    const fd = await new Promise<number>((resolve, reject) =>
      fs.open(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_APPEND, 0o640, (err, f) => (err ? reject(err) : resolve(f))),
    );
    const header = Buffer.from(headerLine(this.opts.writerId, seq));
    this.fd = fd;
    try {
      await this.writeAll(header);
      if (this.opts.fsync !== 'never') await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      this.fd = null;
      await new Promise<void>((r) => fs.close(fd, () => r()));
      await fsp.rm(file, { force: true });
      throw err;
    }
    this.segment = seq;
    this.segmentBytes = header.length;
    this.segmentEvents = 0;
    this.segmentOpenedAt = Date.now();
    this.emit('segment', seq);
  }

  private fdatasync(): Promise<void> {
    const fd = this.fd;
    if (fd === null) return Promise.resolve();
    this.stats.fsyncs++;
    return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  }

  private syncNow(): void {
    if (!this.dirtySinceSync || this.fd === null || this.failure) return;
    this.dirtySinceSync = false;
    this.stats.fsyncs++;
    fs.fdatasync(this.fd, (err) => {
      if (err) {
        this.dirtySinceSync = true;
        this.emit('sync-error', err);
      }
    });
  }

  private notifyIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of w) r();
  }

  /** One writer per directory: a live process holding the lock is an error, a dead one's lock is taken over. */
  private async takeLock(): Promise<void> {
    for (let i = 0; i < 2; i++) {
      try {
        await fsp.writeFile(this.lockPath, String(process.pid), { flag: 'wx' });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number((await fsp.readFile(this.lockPath, 'utf8').catch(() => '')).trim());
        if (pid && pid !== process.pid && isProcessAlive(pid)) {
          throw new Error(`spool writer ${this.opts.writerId} in ${this.opts.dir} is in use by process ${pid}`);
        }
        await fsp.rm(this.lockPath, { force: true });
      }
    }
    throw new Error(`cannot take spool writer lock ${this.lockPath}`);
  }
}
