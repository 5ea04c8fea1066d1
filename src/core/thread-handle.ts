/**
 * The main-thread side of a worker thread that answers requests: starts it,
 * waits for `ready` (or `fatal`), relays its log lines, matches `reply`
 * messages to pending calls, fails them all if the thread dies, and stops it
 * with a message and a deadline. The store loader and the detection worker
 * are both driven through one of these.
 */
import { Worker } from 'node:worker_threads';
import { EventEmitter } from 'node:events';

type Level = 'info' | 'warn' | 'error';

/** What every such thread may send besides its own messages. */
export type ThreadMessage =
  | { type: 'ready' }
  | { type: 'stopped' }
  | { type: 'fatal'; error: string }
  | { type: 'log'; level: Level; msg: string; data?: unknown }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: string; queryError?: boolean };

export interface ThreadLog {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export class ThreadHandle<Req extends { type: string }, Own extends { type: string }> extends EventEmitter {
  private worker: Worker | null = null;
  private nextId = 1;
  private pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private exited = false;
  fatal: string | null = null;

  constructor(
    protected readonly log: ThreadLog,
    /** For messages: "store loader", "detection worker". */
    private readonly what: string,
  ) {
    super();
  }

  /** Starts the thread; resolves on `ready`, rejects on `fatal` or a crash before it. */
  protected startThread(url: URL, workerData: unknown, onOwn: (m: Own) => void, replyError: (m: Extract<ThreadMessage, { type: 'reply'; ok: false }>) => Error = (m) => new Error(m.error)): Promise<void> {
    const w = new Worker(url, { workerData });
    this.worker = w;
    return new Promise((resolve, reject) => {
      w.on('message', (m: ThreadMessage | Own) => {
        switch (m.type) {
          case 'ready':
            resolve();
            return;
          case 'fatal':
            this.fatal = (m as { error: string }).error;
            reject(new Error(this.fatal));
            return;
          case 'log': {
            const l = m as Extract<ThreadMessage, { type: 'log' }>;
            this.log[l.level]((l.data ?? {}), l.msg);
            return;
          }
          case 'reply': {
            const r = m as Extract<ThreadMessage, { type: 'reply' }>;
            const p = this.pending.get(r.id);
            if (!p) return;
            this.pending.delete(r.id);
            if (r.ok) p.resolve(r.value);
            else p.reject(replyError(r));
            return;
          }
          case 'stopped':
            return;
          default:
            onOwn(m as Own);
        }
      });
      w.on('error', (err) => {
        this.fatal = err.message;
        this.log.error({ err }, `${this.what} crashed`);
        reject(err);
      });
      w.on('exit', (code) => {
        this.exited = true;
        for (const p of this.pending.values()) p.reject(new Error(`${this.what} stopped`));
        this.pending.clear();
        if (code !== 0 && !this.fatal) this.fatal = `${this.what} exited with code ${code}`;
      });
    });
  }

  get running(): boolean {
    return this.worker !== null && !this.exited && !this.fatal;
  }

  /** Sends a request and resolves with its reply's value. */
  protected call<T>(req: WithoutId<Extract<Req, { id: number }>>): Promise<T> {
    if (!this.worker || this.exited) return Promise.reject(new Error(`${this.what} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve, reject });
      this.worker!.postMessage({ ...req, id });
    });
  }

  /** Sends a message that gets no reply. */
  protected send(m: Req): void {
    this.worker?.postMessage(m);
  }

  /** Asks the thread to stop with `stop`, terminating it if it has not exited within 15 s. */
  protected async stopThread(stop: Req): Promise<void> {
    const w = this.worker;
    if (!w || this.exited) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => void w.terminate().then(() => resolve()), 15_000);
      w.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      w.postMessage(stop);
    });
  }
}
