/**
 * Main-thread handle of the store loader worker: starts it, relays its logs,
 * exposes the store's read side over message passing (so the admin API reads
 * without touching DuckDB on this thread), and fans live events out to
 * subscribers (the events/stream endpoint).
 */
import { Worker } from 'node:worker_threads';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { AuditEvent } from '../../core/event.js';
import { QueryError, type StoreReader, type EventQuery, type EventPage, type TimeseriesQuery, type TimeseriesPoint, type TopQuery, type TopRow, type LatencyQuery, type LatencyRow } from '../../store/types.js';
import type { LoaderInit, LoaderMessage, LoaderRequest, LoaderStats } from './protocol.js';

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export class StoreLoader extends EventEmitter implements StoreReader {
  private worker: Worker | null = null;
  private nextId = 1;
  private pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private subscribers = 0;
  private exited = false;
  fatal: string | null = null;

  constructor(
    private readonly init: LoaderInit,
    private readonly log: Logger,
  ) {
    super();
  }

  start(): Promise<void> {
    const url = new URL('./loader-worker.js', import.meta.url);
    const w = new Worker(url, { workerData: this.init });
    this.worker = w;
    return new Promise((resolve, reject) => {
      w.on('message', (m: LoaderMessage) => {
        switch (m.type) {
          case 'ready':
            resolve();
            break;
          case 'fatal':
            this.fatal = m.error;
            reject(new Error(m.error));
            break;
          case 'log':
            this.log[m.level](m.data ?? {}, m.msg);
            break;
          case 'events':
            for (const e of m.events) this.emit('event', e);
            break;
          case 'reply': {
            const p = this.pending.get(m.id);
            if (!p) break;
            this.pending.delete(m.id);
            if (m.ok) p.resolve(m.value);
            else p.reject(m.queryError ? new QueryError(m.error) : new Error(m.error));
            break;
          }
          case 'stopped':
            break;
        }
      });
      w.on('error', (err) => {
        this.fatal = err.message;
        this.log.error({ err }, 'store loader crashed');
        reject(err);
      });
      w.on('exit', (code) => {
        this.exited = true;
        for (const p of this.pending.values()) p.reject(new Error('store loader stopped'));
        this.pending.clear();
        if (code !== 0 && !this.fatal) this.fatal = `store loader exited with code ${code}`;
      });
    });
  }

  get running(): boolean {
    return this.worker !== null && !this.exited && !this.fatal;
  }

  private call<T>(req: WithoutId<Extract<LoaderRequest, { id: number }>>): Promise<T> {
    if (!this.worker || this.exited) return Promise.reject(new Error('store loader is not running'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve, reject });
      this.worker!.postMessage({ ...req, id });
    });
  }

  private read<T>(method: keyof StoreReader, ...args: unknown[]): Promise<T> {
    return this.call<T>({ type: 'read', method, args });
  }

  search(q: EventQuery): Promise<EventPage> {
    return this.read('search', q);
  }
  get(id: string): Promise<AuditEvent | null> {
    return this.read('get', id);
  }
  timeseries(q: TimeseriesQuery): Promise<TimeseriesPoint[]> {
    return this.read('timeseries', q);
  }
  top(q: TopQuery): Promise<TopRow[]> {
    return this.read('top', q);
  }
  latency(q: LatencyQuery): Promise<LatencyRow[]> {
    return this.read('latency', q);
  }
  count(q?: Omit<EventQuery, 'limit' | 'cursor' | 'order'>): Promise<number> {
    return this.read('count', q);
  }

  stats(): Promise<LoaderStats> {
    return this.call({ type: 'stats' });
  }

  /** Loads everything spooled so far; resolves with the total loaded count. */
  flush(): Promise<number> {
    return this.call({ type: 'flush' });
  }

  /** Live events as they are loaded; returns the unsubscribe function. */
  subscribe(fn: (e: AuditEvent) => void): () => void {
    this.on('event', fn);
    if (this.subscribers++ === 0) this.worker?.postMessage({ type: 'stream', on: true } satisfies LoaderRequest);
    return () => {
      this.off('event', fn);
      if (--this.subscribers === 0) this.worker?.postMessage({ type: 'stream', on: false } satisfies LoaderRequest);
    };
  }

  async stop(): Promise<void> {
    const w = this.worker;
    if (!w || this.exited) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => void w.terminate().then(() => resolve()), 15_000);
      w.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      w.postMessage({ type: 'stop' } satisfies LoaderRequest);
    });
  }
}
