/**
 * Where ingested events go: the embedded store directly (when no Tollgate
 * node holds it), a running node's spool (the node's loader picks the new
 * writer up), or standard output as NDJSON. A sink's write resolves only
 * when the events are durable, so the registry never records a position
 * whose events could still be lost.
 */
import os from 'node:os';
import type { AuditEvent } from '../core/event.js';
import { completeEvent, serializeEvent } from '../core/event-json.js';
import { DuckDbStore } from '../store/duckdb/duckdb-store.js';
import { CsvRows } from '../store/duckdb/bulk-csv.js';
import type { SqlLineFormat } from '../store/duckdb/bulk-log.js';
import { SpoolWriter } from '../audit/spool/writer.js';
import type { SpoolConfig } from '../config/schema.js';
import type { SpoolCursor } from '../store/types.js';

/** How far a batch goes in its origin, recorded with the events when the sink can (exactly once). */
export interface SinkCursor {
  /** A stable key of the origin (file identity), e.g. `dev:ino:fingerprint`. */
  key: string;
  offset: number;
  /** Line number of the next line after `offset`. */
  nextLine: number;
}

export interface EventSink {
  readonly kind: 'duckdb' | 'spool' | 'stdout';
  /** Where events go, for the summary. */
  readonly description: string;
  /**
   * Takes one event as soon as it is parsed. The store sink turns it into its
   * compact load format at once, so the event object dies young (garbage
   * collection of long-lived event objects was most of the cost of ingest).
   * Throws InvalidEventError for an event the sink cannot store.
   */
  add(event: AuditEvent): void;
  /** Events added since the last commit began. */
  readonly pending: number;
  /**
   * Makes every event added so far durable, together with the cursors (when
   * the sink keeps cursors). Takes the pending events synchronously; the
   * caller awaits one commit before starting the next.
   */
  commit(cursors: readonly SinkCursor[]): Promise<void>;
  /**
   * Only sinks that can parse text themselves (the store): stores the lines
   * of `data` that `format` takes, and the events `parseRest` adds for the
   * others (it gets their indexes in `data`; `add` throws InvalidEventError
   * for an event the sink cannot store), with `cursors`, in one commit.
   * Returns how many events were stored. Throws, having stored nothing, when
   * the text cannot be read this way.
   */
  commitLogChunk?(
    data: Buffer,
    format: SqlLineFormat,
    suspect: RegExp | null,
    parseRest: (notTaken: readonly number[], add: (e: AuditEvent) => void) => void,
    cursors: readonly SinkCursor[],
  ): Promise<number>;
  /** Positions the sink itself recorded (DuckDB: same transaction as the events), by key. */
  cursors(): Promise<Map<string, { offset: number; nextLine: number }>>;
  close(): Promise<void>;
}

const CURSOR_PREFIX = 'ingest:';

/** Ingest positions as store cursors: for an ingest cursor, `segment` holds the line number at `offset` (a spool cursor's segment has no meaning here). */
function storeCursors(cursors: readonly SinkCursor[]): SpoolCursor[] {
  return cursors.map((c) => ({ writer: CURSOR_PREFIX + c.key, segment: c.nextLine, offset: c.offset }));
}

export class DuckDbSink implements EventSink {
  readonly kind = 'duckdb';
  private readonly rows = new CsvRows();
  private constructor(
    private readonly store: DuckDbStore,
    readonly description: string,
  ) {}

  /** Opens the store; throws StoreBusyError when a running node holds it. */
  static async open(path: string): Promise<DuckDbSink> {
    // Two DuckDB threads: the CSV reader and the table writer run while we parse the next batch.
    const store = new DuckDbStore({ path, threads: Math.min(2, os.availableParallelism()), bulk: true });
    try {
      await store.init();
    } catch (err) {
      await store.close().catch(() => undefined);
      if (/lock/i.test((err as Error).message)) throw new StoreBusyError(path, err as Error);
      throw err;
    }
    return new DuckDbSink(store, `the store ${path}`);
  }

  add(event: AuditEvent): void {
    this.rows.add(event);
  }

  get pending(): number {
    return this.rows.count;
  }

  async commit(cursors: readonly SinkCursor[]): Promise<void> {
    const rows = this.rows.take();
    await this.store.appendCsvRows(rows, storeCursors(cursors));
  }

  async commitLogChunk(
    data: Buffer,
    format: SqlLineFormat,
    suspect: RegExp | null,
    parseRest: (notTaken: readonly number[], add: (e: AuditEvent) => void) => void,
    cursors: readonly SinkCursor[],
  ): Promise<number> {
    let rest = 0;
    const native = await this.store.appendLogChunk(
      data,
      format,
      suspect,
      (notTaken) => {
        const rows = new CsvRows();
        parseRest(notTaken, (e) => rows.add(e));
        const taken = rows.take();
        rest = taken.count;
        return taken;
      },
      storeCursors(cursors),
    );
    return native + rest;
  }

  async cursors(): Promise<Map<string, { offset: number; nextLine: number }>> {
    const out = new Map<string, { offset: number; nextLine: number }>();
    for (const c of await this.store.readCursors()) if (c.writer.startsWith(CURSOR_PREFIX)) out.set(c.writer.slice(CURSOR_PREFIX.length), { offset: c.offset, nextLine: c.segment });
    return out;
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

export class StoreBusyError extends Error {
  constructor(
    readonly path: string,
    cause: Error,
  ) {
    super(`the store ${path} is open in another process (a running Tollgate node?): ${cause.message}`);
  }
}

/** Spool writer streams of `tollgate ingest` runs begin so; a node's own are named otherwise. */
const INGEST_WRITER_PREFIX = 'ingest-';

/** Whether a spool writer stream is an ingest run's (not a node's). */
export function isIngestWriter(writerId: string): boolean {
  return writerId.startsWith(INGEST_WRITER_PREFIX);
}

/** Into a running node's spool: a writer stream of its own, fsynced before a batch counts as stored. */
export class SpoolSink implements EventSink {
  readonly kind = 'spool';
  private lines: string[] = [];
  private constructor(
    private readonly spool: SpoolWriter,
    readonly description: string,
  ) {}

  static async open(cfg: SpoolConfig, writerId = `${INGEST_WRITER_PREFIX}${os.hostname()}-${process.pid}`): Promise<SpoolSink> {
    const spool = new SpoolWriter({ ...cfg, fsync: 'always', writerId, memoryBuffer: 0 });
    await spool.open();
    return new SpoolSink(spool, `the spool ${cfg.dir}/${writerId} (loaded by the running node)`);
  }

  add(event: AuditEvent): void {
    this.lines.push(serializeEvent(event));
  }

  get pending(): number {
    return this.lines.length;
  }

  commit(): Promise<void> {
    const lines = this.lines;
    this.lines = [];
    if (!lines.length) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let left = lines.length;
      let failed: Error | null = null;
      for (const line of lines) {
        this.spool.append(line, (err) => {
          if (err) failed ??= err;
          if (--left === 0) {
            if (failed) reject(failed);
            else resolve();
          }
        });
      }
    });
  }

  cursors(): Promise<Map<string, { offset: number; nextLine: number }>> {
    return Promise.resolve(new Map());
  }

  close(): Promise<void> {
    return this.spool.close();
  }
}

/** NDJSON with the catalog's field names, one event per line, nothing stored. */
export class StdoutSink implements EventSink {
  readonly kind = 'stdout';
  readonly description = 'standard output (NDJSON)';
  private lines: string[] = [];

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  add(event: AuditEvent): void {
    // Every field, null when absent, in catalog order (as the events API prints them): a
    // pipeline reading this sees the same shape whatever the format (the spool's compact form leaves nulls out).
    this.lines.push(JSON.stringify(completeEvent(event)));
  }

  get pending(): number {
    return this.lines.length;
  }

  commit(): Promise<void> {
    if (!this.lines.length) return Promise.resolve();
    const text = this.lines.join('\n') + '\n';
    this.lines = [];
    if (this.out.write(text)) return Promise.resolve();
    return new Promise((resolve) => this.out.once('drain', () => resolve()));
  }

  cursors(): Promise<Map<string, { offset: number; nextLine: number }>> {
    return Promise.resolve(new Map());
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
