/**
 * Main-thread handle of the store loader worker: starts it, relays its logs,
 * exposes the store's read side over message passing (so the admin API reads
 * without touching DuckDB on this thread), and fans live events out to
 * subscribers (the events/stream endpoint).
 */
import type { Logger } from 'pino';
import type { AuditEvent } from '../../core/event.js';
import { ThreadHandle } from '../../core/thread-handle.js';
import { QueryError, type StoreReader, type EventQuery, type EventPage, type TimeseriesQuery, type TimeseriesPoint, type TopQuery, type TopRow, type LatencyQuery, type LatencyRow } from '../../store/types.js';
import type { LoaderInit, LoaderMessage, LoaderRequest, LoaderStats } from './protocol.js';

export class StoreLoader extends ThreadHandle<LoaderRequest, Extract<LoaderMessage, { type: 'events' }>> implements StoreReader {
  private subscribers = 0;

  constructor(
    private readonly init: LoaderInit,
    log: Logger,
  ) {
    super(log, 'store loader');
  }

  start(): Promise<void> {
    return this.startThread(
      new URL('./loader-worker.js', import.meta.url),
      this.init,
      (m) => {
        for (const e of m.events) this.emit('event', e);
      },
      (m) => (m.queryError ? new QueryError(m.error) : new Error(m.error)),
    );
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
    if (this.subscribers++ === 0) this.send({ type: 'stream', on: true });
    return () => {
      this.off('event', fn);
      if (--this.subscribers === 0) this.send({ type: 'stream', on: false });
    };
  }

  stop(): Promise<void> {
    return this.stopThread({ type: 'stop' });
  }
}
