/**
 * DuckDB store (id `store.duckdb`): the embedded default. One database file,
 * written by the store writer (a worker thread) and read by the admin API.
 *
 * Layout and why:
 * - `events` has one column per catalog field, generated from FIELDS; init()
 *   adds columns for fields added to the catalog later, so a new field needs
 *   no edit here. Columns are bound by name, never by position.
 * - No indexes. DuckDB is columnar and keeps min/max zone maps per row group;
 *   the loader appends in spool order, which is roughly ts order, so time
 *   ranges (every dashboard query) skip most row groups, and so do id lookups
 *   (UUIDv7 ids are time-ordered too). An ART index on id would cost memory
 *   and insert speed for a lookup the zone maps already make cheap.
 * - `spool_cursors` is updated in the same transaction as the events it
 *   accounts for: that is the exactly-once guarantee (see types.ts).
 * - `meta` records the store schema version so an old binary refuses a newer
 *   database instead of corrupting it.
 *
 * Concurrency: one connection for writes (serialized: an explicit transaction
 * spans several awaits) and one for reads (serialized too; DuckDB already
 * parallelizes each query). Reads never see a half-written batch (MVCC).
 * Nothing is process-global (no instance cache), so it runs in a worker.
 */
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DuckDBInstance,
  DuckDBTimestampValue,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBValue,
} from './api.js';
import { EVENT_SCHEMA_VERSION, FIELDS, type AuditEvent, type FieldSpec, type FieldType } from '../../core/event.js';
import { uuidv7Time } from '../../core/ids.js';
import { BULK_MIN_EVENTS, insertCsvRows, insertViaCsv, type CsvSegment } from './bulk-csv.js';
import { insertNdjson, recordFacts } from './bulk-ndjson.js';
import { LogChunkRefusedError, dropStaged, insertStaged, stageLogChunk, type SqlLineFormat } from './bulk-log.js';
import { ident, removeStaleBulkFiles } from './bulk-file.js';
import { ROLLUP_DDL, ROLLUP_DIMS, HOUR_MS, DAY_MS, CLASS_SQL, binSql, buildPending, forgetBefore, histogramQuantile, perInterval, markAllPending, markPending, planRange, touched, unitsSql } from './rollups.js';
import {
  DEFAULT_LIMIT, DEFAULT_TOP_LIMIT, EVENT_QUERY_KEYS, FILTER_KEYS, LATENCY_QUERY_KEYS, MAX_LATENCY_GROUPS, MAX_LIMIT,
  MAX_TOP_LIMIT, TIMESERIES_QUERY_KEYS, TOP_QUERY_KEYS,
  bucketStarts, checkKeys, decodeCursor, defaultBucketSeconds, emptyByClass, encodeCursor, isUuid, parseBucketSeconds,
  parseFilter, parseLatencyGroup, parseLimit, parseOrder, parseTopDimension, type Filter,
} from '../query.js';
import type {
  EventPage, EventQuery, LatencyQuery, LatencyRow, SpoolCursor, Store, TimeseriesPoint, TimeseriesQuery, TopQuery, TopRow,
} from '../types.js';
import { InvalidEventError, eventTimeMs, normalizeCursors } from '../validate.js';

/** Version of the table layout below (not of the event catalog, which init() follows by itself). */
export const DUCKDB_SCHEMA_VERSION = 1;

export interface DuckDbStoreOptions {
  /** Database file, or ':memory:' (tests). */
  path: string;
  /**
   * WAL size that triggers a checkpoint (DuckDB `checkpoint_threshold`).
   * DuckDB's 16MB default checkpoints every batch or two, and each checkpoint
   * rewrites the partly filled last row group: that, not the appending,
   * dominated load time. A larger WAL costs only a longer replay after a crash.
   */
  checkpointThreshold?: string;
  /**
   * DuckDB worker threads. The loader appends from one thread anyway; more
   * threads mostly compete with the proxy for cores. Default: 1.
   */
  threads?: number;
  /**
   * Bulk loading (tollgate ingest, which holds the store alone): checkpoints
   * do not vacuum. A parallel insert leaves one partly filled row group per
   * thread per batch; vacuuming merges them by decompressing and
   * recompressing the neighbouring row groups, which cost as much as the
   * load itself. The rows are as queryable either way; a node that opens the
   * store afterwards vacuums as usual (retention's deletes need it).
   */
  bulk?: boolean;
}

const DEFAULT_CHECKPOINT_THRESHOLD = '256MB';

const SQL_TYPE: Record<FieldType, string> = {
  uuid: 'UUID',
  timestamp: 'TIMESTAMP',
  // One integer type for the catalog's `int`: bytes_* exceed 32 bits, and
  // DuckDB bit-packs integer columns, so the wider type costs no space.
  int: 'BIGINT',
  float: 'DOUBLE',
  // JSON text. The json extension type would add nothing the dashboard needs
  // and is not guaranteed to be loadable in every build.
  json: 'VARCHAR',
  string: 'VARCHAR',
};

/** Bulk files of dead processes are looked for once per process, by the first store opened. */
let staleBulkFilesChecked = false;

/** A get() first looks this far around the time in the UUIDv7 id (long requests get ids late). */
const GET_WINDOW_MS = 24 * 3600 * 1000;

function tsValue(ms: number): DuckDBTimestampValue {
  return new DuckDBTimestampValue(BigInt(ms) * 1000n);
}

/** Promise-chain mutex: runs tasks one at a time, in call order. */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Collects bound parameters; `p(v)` returns the placeholder. User input only ever goes through here. */
class Params {
  readonly values: DuckDBValue[] = [];
  p(v: DuckDBValue): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

function whereSql(f: Filter, ps: Params): string[] {
  const w: string[] = [];
  if (f.from !== null) w.push(`ts >= ${ps.p(tsValue(f.from))}`);
  if (f.to !== null) w.push(`ts < ${ps.p(tsValue(f.to))}`);
  if (f.user !== null) {
    const u = ps.p(f.user);
    w.push(`(user_id = ${u} OR user_name = ${u})`);
  }
  // starts_with is literal: '%' and '_' in the prefix mean themselves.
  if (f.pathPrefix !== null) w.push(`starts_with(path, ${ps.p(f.pathPrefix)})`);
  if (f.status) {
    const s = f.status;
    if (s.kind === 'code') w.push(`status = ${ps.p(s.code)}`);
    else if (s.kind === 'class') w.push(`status >= ${ps.p(s.min)} AND status < ${ps.p(s.max)}`);
    else w.push('status IS NULL');
  }
  for (const { column, value, not } of f.equals) w.push(not ? `(${ident(column)} IS NULL OR ${ident(column)} <> ${ps.p(value)})` : `${ident(column)} = ${ps.p(value)}`);
  return w;
}

/**
 * The part of a filter the summaries can answer: only the time range and
 * `kind` (what the dashboard's overview asks). Returns that kind-only filter
 * (no time bounds), or null when the filter needs the events themselves.
 */
function rollupFilter(f: Filter): Filter | null {
  if (f.user !== null || f.pathPrefix !== null || f.status !== null) return null;
  if (f.equals.some((e) => e.column !== 'kind')) return null;
  return { from: null, to: null, user: null, pathPrefix: null, status: null, equals: f.equals };
}

function whereClause(conds: string[]): string {
  return conds.length ? `WHERE ${conds.join(' AND ')}` : '';
}

type Encoder = (a: DuckDBAppender, ev: AuditEvent, index: number) => void;

/** Appends one field of an event, checking its type so a bad event fails with a precise error. */
function encoderFor(field: FieldSpec | undefined): Encoder {
  if (!field) return (a) => a.appendNull(); // a column the catalog no longer has
  const name = field.name;
  const bad = (index: number, what: string, v: unknown) =>
    new InvalidEventError(index, name, `expected ${what}, got ${typeof v === 'string' ? JSON.stringify(v) : typeof v}`);
  switch (field.type) {
    case 'uuid':
      return (a, ev, i) => {
        const v = ev[name];
        if (!isUuid(v)) throw bad(i, 'a UUID', v);
        a.appendVarchar(v); // DuckDB casts to UUID
      };
    case 'timestamp':
      return (a, ev, i) => {
        const v = ev[name];
        if (v === null || v === undefined) throw bad(i, 'a timestamp', v);
        a.appendTimestamp(tsValue(eventTimeMs(v, i)));
      };
    case 'int':
      return (a, ev, i) => {
        const v = ev[name];
        if (v === null || v === undefined) a.appendNull();
        else if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(i, 'an integer', v);
        else if (v >= -0x80000000 && v <= 0x7fffffff) a.appendInteger(v); // no BigInt allocation
        else a.appendBigInt(BigInt(v));
      };
    case 'float':
      return (a, ev, i) => {
        const v = ev[name];
        if (v === null || v === undefined) a.appendNull();
        // NaN/Infinity cannot come back through JSON; refuse rather than alter.
        else if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(i, 'a finite number', v);
        else a.appendDouble(v);
      };
    case 'json':
      return (a, ev, i) => {
        const v = ev[name];
        if (v === null || v === undefined) a.appendNull();
        else if (typeof v !== 'object' || Array.isArray(v)) throw bad(i, 'an object', v);
        else a.appendVarchar(JSON.stringify(v));
      };
    case 'string':
      return (a, ev, i) => {
        const v = ev[name];
        if (v === null || v === undefined) a.appendNull();
        else if (typeof v !== 'string') throw bad(i, 'a string', v);
        else a.appendVarchar(v);
      };
  }
}

/**
 * Every catalog field as a bare column, decoded in JS. Deliberately no
 * expressions (like epoch_ms(ts) AS ts): they would also capture ORDER BY ts,
 * and a Top-N over expressions cannot use late materialization, which made
 * "latest 100 events" read every column of every row (10x slower on 2M rows).
 */
const SELECT_EVENT = FIELDS.map((f) => ident(f.name)).join(', ');

function num(v: DuckDBValue): number | null {
  if (v === null) return null;
  if (typeof v === 'bigint' || typeof v === 'number') return Number(v);
  throw new Error(`expected a number from DuckDB, got ${typeof v}`);
}

function tsMs(v: DuckDBValue): number {
  if (v instanceof DuckDBTimestampValue) return Number(v.micros / 1000n);
  throw new Error(`expected a TIMESTAMP from DuckDB, got ${typeof v}`);
}

function decodeRow(row: readonly DuckDBValue[]): AuditEvent {
  const ev: Record<string, unknown> = {};
  for (let i = 0; i < FIELDS.length; i++) {
    const f = FIELDS[i];
    const v = row[i];
    if (v === null) ev[f.name] = null;
    else if (f.type === 'timestamp') ev[f.name] = new Date(tsMs(v)).toISOString();
    else if (f.type === 'int' || f.type === 'float') ev[f.name] = num(v);
    else if (f.type === 'json') ev[f.name] = JSON.parse(String(v));
    else ev[f.name] = String(v);
  }
  return ev as unknown as AuditEvent;
}

export class DuckDbStore implements Store {
  readonly id = 'store.duckdb';
  private readonly path: string;
  private readonly checkpointThreshold: string;
  private instance: DuckDBInstance | null = null;
  private writer: DuckDBConnection | null = null;
  private reader: DuckDBConnection | null = null;
  private readonly writes = new Serial();
  private readonly reads = new Serial();
  /** One encoder per physical column of `events`, in table order (what the Appender expects). */
  private encoders: Encoder[] = [];
  private closed = false;

  private readonly threads: number;
  private readonly bulk: boolean;

  constructor(opts: DuckDbStoreOptions) {
    this.path = opts.path;
    this.checkpointThreshold = opts.checkpointThreshold ?? DEFAULT_CHECKPOINT_THRESHOLD;
    this.threads = opts.threads ?? 1;
    this.bulk = opts.bulk ?? false;
  }

  /** Creates and initializes a store. */
  static async open(opts: DuckDbStoreOptions): Promise<DuckDbStore> {
    const s = new DuckDbStore(opts);
    await s.init();
    return s;
  }

  async init(): Promise<void> {
    if (this.closed) throw new Error('DuckDbStore: closed');
    if (this.instance) return;
    // Rows have no meaningful physical order (every query orders by ts, id); without this, a bulk
    // INSERT … SELECT runs single-threaded to keep the source's order, at half the speed.
    // A store path in a folder that does not exist yet (the default ./data in a fresh directory)
    // is created, as the spool's is; DuckDB itself only creates the file.
    if (!this.path.startsWith(':memory:')) mkdirSync(path.dirname(path.resolve(this.path)), { recursive: true, mode: 0o750 });
    const instance = await DuckDBInstance.create(this.path, {
      checkpoint_threshold: this.checkpointThreshold,
      threads: String(this.threads),
      preserve_insertion_order: 'false',
      ...(this.bulk ? { max_vacuum_tasks: '0' } : {}),
    });
    this.instance = instance;
    if (!staleBulkFilesChecked) {
      staleBulkFilesChecked = true;
      removeStaleBulkFiles(os.tmpdir());
    }
    try {
      const writer = (this.writer = await instance.connect());
      this.reader = await instance.connect();
      await this.writes.run(() => this.migrate(writer));
    } catch (err) {
      this.closeConnections();
      throw err;
    }
  }

  private async migrate(c: DuckDBConnection): Promise<void> {
    await c.run('BEGIN TRANSACTION');
    try {
      await c.run('CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)');
      const found = (await c.runAndReadAll(`SELECT value FROM meta WHERE key = 'schema_version'`)).getRows();
      const version = found.length ? Number(found[0][0]) : 0;
      if (version > DUCKDB_SCHEMA_VERSION) {
        throw new Error(`DuckDB store ${this.path} has schema version ${version}; this Tollgate understands up to ${DUCKDB_SCHEMA_VERSION}. Upgrade Tollgate.`);
      }
      await c.run(`CREATE TABLE IF NOT EXISTS events (${FIELDS.map((f) => `${ident(f.name)} ${SQL_TYPE[f.type]}`).join(', ')})`);
      await c.run('CREATE TABLE IF NOT EXISTS spool_cursors (writer VARCHAR PRIMARY KEY, segment BIGINT NOT NULL, "offset" BIGINT NOT NULL)');

      // Follow the catalog: add columns for new fields; refuse a type change.
      const cols = await this.eventColumns(c);
      for (const f of FIELDS) {
        const have = cols.get(f.name);
        if (have === undefined) {
          await c.run(`ALTER TABLE events ADD COLUMN ${ident(f.name)} ${SQL_TYPE[f.type]}`);
        } else if (have !== SQL_TYPE[f.type]) {
          throw new Error(`events.${f.name} is ${have} in ${this.path} but the catalog needs ${SQL_TYPE[f.type]}; migrate the column first`);
        }
      }
      const byName = new Map(FIELDS.map((f) => [f.name as string, f]));
      this.encoders = [...(await this.eventColumns(c)).keys()].map((name) => encoderFor(byName.get(name)));

      for (const ddl of ROLLUP_DDL) await c.run(ddl);
      // A store made before summaries existed: every hour and day with events is to be built.
      const rolled = (await c.runAndReadAll(`SELECT value FROM meta WHERE key = 'rollups'`)).getRows();
      if (!rolled.length) await markAllPending(c);

      const upsert = `INSERT INTO meta VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`;
      await c.run(upsert, ['rollups', '1']);
      await c.run(upsert, ['schema_version', String(DUCKDB_SCHEMA_VERSION)]);
      await c.run(upsert, ['event_schema_version', String(EVENT_SCHEMA_VERSION)]);
      await c.run('COMMIT');
    } catch (err) {
      await c.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /** Column name -> SQL type of `events`, in physical order. */
  private async eventColumns(c: DuckDBConnection): Promise<Map<string, string>> {
    const r = await c.runAndReadAll(
      `SELECT column_name, data_type FROM duckdb_columns()
       WHERE database_name = current_database() AND schema_name = 'main' AND table_name = 'events'
       ORDER BY column_index`,
    );
    return new Map(r.getRows().map((row) => [String(row[0]), String(row[1])]));
  }

  private conns(): { writer: DuckDBConnection; reader: DuckDBConnection } {
    if (this.closed) throw new Error('DuckDbStore: closed');
    if (!this.writer || !this.reader) throw new Error('DuckDbStore: call init() first');
    return { writer: this.writer, reader: this.reader };
  }

  private read<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    const { reader } = this.conns();
    return this.reads.run(() => fn(reader));
  }

  async appendBatch(events: readonly AuditEvent[], cursors: readonly SpoolCursor[]): Promise<void> {
    if (!events.length) return this.load(null, cursors);
    const hours = events.map((e) => Date.parse(e.ts));
    const insert = events.length >= BULK_MIN_EVENTS ? (c: DuckDBConnection) => insertViaCsv(c, events) : (c: DuckDBConnection) => this.appendRows(c, events);
    await this.load(async (c) => {
      await insert(c);
      return hours;
    }, cursors);
  }

  /** Small batches: the Appender, which takes part in the open transaction (ROLLBACK discards its rows). */
  private async appendRows(c: DuckDBConnection, events: readonly AuditEvent[]): Promise<void> {
    const encoders = this.encoders; // set by migrate(), which runs under the same lock
    const appender = await c.createAppender('events');
    try {
      for (let i = 0; i < events.length; i++) {
        const ev = events[i];
        for (let k = 0; k < encoders.length; k++) encoders[k](appender, ev, i);
        appender.endRow();
      }
    } catch (err) {
      try {
        appender.clear(); // drop the half-written row and buffered rows
        appender.closeSync();
      } catch {
        // the caller's rollback discards whatever it flushed
      }
      throw err;
    }
    appender.closeSync(); // flushes into the transaction
  }

  /**
   * Loads rows collected by CsvRows (bulk-csv.ts) and upserts `cursors`, in
   * one transaction: for producers that convert events as they go (ingest).
   */
  async appendCsvRows(rows: { count: number; segments: readonly CsvSegment[]; hours: readonly number[] }, cursors: readonly SpoolCursor[]): Promise<void> {
    await this.load(rows.count ? async (c) => (await insertCsvRows(c, rows.segments), rows.hours) : null, cursors);
  }

  /**
   * Parses `data` (whole lines of a log file, each ending in LF; see
   * readableAsLines) with `format` inside DuckDB, and stores the lines it
   * takes. The indexes of the other lines go to `rest`, which parses them
   * and returns their rows (or null); those are stored in the same
   * transaction, with `cursors`. Returns how many lines were stored the
   * DuckDB way. A chunk DuckDB's reader refuses throws LogChunkRefusedError,
   * having stored nothing: parse it the other way. Any other error is a
   * failed load, as for the other append methods.
   */
  async appendLogChunk(
    data: Buffer,
    format: SqlLineFormat,
    suspect: RegExp | null,
    rest: (notTaken: readonly number[]) => { count: number; segments: readonly CsvSegment[]; hours: readonly number[] } | null,
    cursors: readonly SpoolCursor[],
  ): Promise<number> {
    let stored = 0;
    let rows: ReturnType<typeof rest> = null;
    try {
      await this.load(
        async (c) => {
          const native = await insertStaged(c, format);
          stored = native.count;
          if (!rows?.count) return native.hours;
          await insertCsvRows(c, rows.segments);
          return [...native.hours, ...rows.hours];
        },
        cursors,
        // Parsed into a temporary table before the transaction: DuckDB reads a table
        // written inside a transaction on one thread only, and this one is throwaway.
        async (c) => {
          let notTaken: number[];
          try {
            notTaken = await stageLogChunk(c, data, format, suspect, os.tmpdir());
          } catch (err) {
            throw new LogChunkRefusedError(err); // the staging table is dropped below
          }
          rows = notTaken.length ? rest(notTaken) : null;
        },
      );
    } finally {
      await this.writes.run(() => dropStaged(this.conns().writer));
    }
    return stored;
  }

  /**
   * Loads spool records as they are (NDJSON lines written by serializeEvent)
   * and upserts `cursors`, in one transaction. Returns false, having written
   * nothing, when a record is not in the serializer's canonical shape; throws
   * when DuckDB refuses a record (nothing written either). Both mean: load
   * these events parsed, through appendBatch, which checks each one.
   */
  async appendRecords(data: readonly Buffer[], cursors: readonly SpoolCursor[]): Promise<boolean> {
    const facts = recordFacts(data);
    if (facts === null) return false;
    await this.load(facts.count ? async (c) => (await insertNdjson(c, data, facts.count), facts.hours) : null, cursors);
    return true;
  }

  /**
   * One transaction: `insert` (null: no rows), which returns the hours its
   * rows fall in (any epoch ms inside them) to mark for their summaries, and
   * the cursors that account for the rows.
   */
  private async load(insert: ((c: DuckDBConnection) => Promise<readonly number[]>) | null, cursors: readonly SpoolCursor[], before?: (c: DuckDBConnection) => Promise<void>): Promise<void> {
    const { writer: c } = this.conns();
    await this.writes.run(async () => {
      if (before) await before(c);
      await c.run('BEGIN TRANSACTION');
      try {
        if (insert) {
          const t = touched(await insert(c));
          await markPending(c, t.hours, t.days);
        }
        await this.upsertCursors(c, cursors);
        await c.run('COMMIT');
      } catch (err) {
        await c.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  private async upsertCursors(c: DuckDBConnection, cursors: readonly SpoolCursor[]): Promise<void> {
    const cs = normalizeCursors(cursors);
    if (cs.length === 0) return;
    const ps = new Params();
    const rows = cs.map((x) => `(${ps.p(x.writer)}, ${ps.p(BigInt(x.segment))}, ${ps.p(BigInt(x.offset))})`);
    await c.run(
      `INSERT INTO spool_cursors (writer, segment, "offset") VALUES ${rows.join(', ')}
       ON CONFLICT (writer) DO UPDATE SET segment = excluded.segment, "offset" = excluded."offset"`,
      ps.values,
    );
  }

  async readCursors(): Promise<SpoolCursor[]> {
    const { writer } = this.conns();
    // On the writer connection, after pending writes: the loader resumes from what it committed.
    return this.writes.run(async () => {
      const r = await writer.runAndReadAll('SELECT writer, segment, "offset" FROM spool_cursors ORDER BY writer');
      return r.getRows().map((row) => ({ writer: String(row[0]), segment: Number(row[1]), offset: Number(row[2]) }));
    });
  }

  async deleteOlderThan(before: Date): Promise<number> {
    const ms = before.getTime();
    if (Number.isNaN(ms)) throw new TypeError('deleteOlderThan: invalid date');
    const { writer } = this.conns();
    return this.writes.run(async () => {
      await writer.run('BEGIN TRANSACTION');
      let n: number;
      try {
        n = (await writer.run('DELETE FROM events WHERE ts < $1', [tsValue(ms)])).rowsChanged;
        if (n > 0) await forgetBefore(writer, ms);
        await writer.run('COMMIT');
      } catch (err) {
        await writer.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
      if (n > 0) {
        // Emptied row groups are only reclaimed at a checkpoint, and a DELETE
        // writes too little WAL to trigger one soon. A checkpoint can fail
        // while a read is running; the automatic one will do it later then.
        await writer.run('CHECKPOINT').catch(() => undefined);
      }
      return n;
    });
  }

  /**
   * Builds the summaries of hours and days that are over (rollups.ts); the
   * store loader calls it as housekeeping. Returns how many were built.
   */
  async buildRollups(now = Date.now()): Promise<{ hours: number; days: number }> {
    const { writer } = this.conns();
    return this.writes.run(async () => {
      await writer.run('BEGIN TRANSACTION');
      try {
        const built = await buildPending(writer, now);
        await writer.run('COMMIT');
        return built;
      } catch (err) {
        await writer.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  async search(q: EventQuery): Promise<EventPage> {
    checkKeys(q, EVENT_QUERY_KEYS, 'search');
    const f = parseFilter(q);
    const limit = parseLimit(q.limit, DEFAULT_LIMIT, MAX_LIMIT);
    const order = parseOrder(q.order);
    const ps = new Params();
    const conds = whereSql(f, ps);
    if (q.cursor !== undefined && q.cursor !== null) {
      const cur = decodeCursor(q.cursor, order);
      const t = ps.p(tsValue(cur.ts));
      const id = ps.p(cur.id);
      // The plain `ts <= t` conjunct is what lets DuckDB skip row groups.
      conds.push(order === 'desc'
        ? `ts <= ${t} AND (ts < ${t} OR id < CAST(${id} AS UUID))`
        : `ts >= ${t} AND (ts > ${t} OR id > CAST(${id} AS UUID))`);
    }
    const dir = order === 'desc' ? 'DESC' : 'ASC';
    // One extra row tells whether there is a next page without a count.
    const sql = `SELECT ${SELECT_EVENT} FROM events ${whereClause(conds)} ORDER BY ts ${dir}, id ${dir} LIMIT ${ps.p(limit + 1)}`;
    const rows = await this.read(async (c) => (await c.runAndReadAll(sql, ps.values)).getRows());
    const more = rows.length > limit;
    const events = (more ? rows.slice(0, limit) : rows).map(decodeRow);
    const last = events[events.length - 1];
    return {
      events,
      next_cursor: more ? encodeCursor({ ts: Date.parse(last.ts), id: last.id }, order) : null,
    };
  }

  async get(id: string): Promise<AuditEvent | null> {
    if (!isUuid(id)) return null;
    const key = id.toLowerCase();
    return this.read(async (c) => {
      const find = async (extra: string, values: DuckDBValue[]) =>
        (await c.runAndReadAll(`SELECT ${SELECT_EVENT} FROM events WHERE id = CAST($1 AS UUID) ${extra} LIMIT 1`, [key, ...values])).getRows();
      let rows: DuckDBValue[][] = [];
      // UUIDv7 carries its creation time: look near it first, so only a few row groups are read.
      if (key[14] === '7') {
        const t = uuidv7Time(key);
        rows = await find('AND ts >= $2 AND ts < $3', [tsValue(t - GET_WINDOW_MS), tsValue(t + GET_WINDOW_MS)]);
      }
      // Ids made elsewhere (ingested logs) need not be near ts: fall back to the whole table.
      if (rows.length === 0) rows = await find('', []);
      return rows.length ? decodeRow(rows[0]) : null;
    });
  }

  async count(q: Omit<EventQuery, 'limit' | 'cursor' | 'order'> = {}): Promise<number> {
    checkKeys(q, FILTER_KEYS, 'count');
    const ps = new Params();
    const sql = `SELECT count(*) FROM events ${whereClause(whereSql(parseFilter(q), ps))}`;
    return this.read(async (c) => Number((await c.runAndReadAll(sql, ps.values)).getRows()[0][0]));
  }

  async timeseries(q: TimeseriesQuery): Promise<TimeseriesPoint[]> {
    checkKeys(q, TIMESERIES_QUERY_KEYS, 'timeseries');
    const f = parseFilter(q);
    const bucketSeconds = parseBucketSeconds(q.bucket_seconds);
    return this.read(async (c) => {
      let { from, to } = f;
      if (from === null || to === null) {
        // An open end of the range is the extent of the matching data.
        const ps = new Params();
        const r = await c.runAndReadAll(`SELECT epoch_ms(min(ts)), epoch_ms(max(ts)) FROM events ${whereClause(whereSql(f, ps))}`, ps.values);
        const [lo, hi] = r.getRows()[0];
        if (lo === null || hi === null) return [];
        from ??= Number(lo);
        to ??= Number(hi) + 1;
      }
      if (to <= from) return [];
      const bucketMs = (bucketSeconds ?? defaultBucketSeconds(to - from)) * 1000;
      const starts = bucketStarts(from, to, bucketMs);
      // Whole hours with summaries come from them (when the filter allows); the rest is scanned.
      const plan = rollupFilter(f) && bucketMs % HOUR_MS === 0 ? await planRange(c, 'hour', from, to) : { built: [], raw: null };
      /** One statement (its own parameters): per bucket either counts by class and decision, or duration histogram bins. */
      const statement = (what: 'counts' | 'bins'): { sql: string; values: DuckDBValue[] } => {
        const ps = new Params();
        const b = ps.p(bucketMs);
        const bucket = (col: string) => `CAST(floor(epoch_ms(${col}) / ${b}) AS BIGINT)`;
        const select = (where: string[]) =>
          what === 'counts'
            ? `SELECT ${bucket('ts')} AS bucket, ${CLASS_SQL} AS cls, decision, count(*) AS n FROM events ${whereClause(where)} GROUP BY ALL`
            : `SELECT ${bucket('ts')} AS bucket, ${binSql('duration_ms')} AS bin, count(*) AS n FROM events ${whereClause([...where, 'duration_ms IS NOT NULL'])} GROUP BY ALL`;
        if (!plan.raw) return { sql: select(whereSql({ ...f, from, to }, ps)), values: ps.values };
        const kind = whereSql(rollupFilter(f)!, ps);
        const parts: string[] = [];
        const raw = perInterval(plan.raw, ps.values, (w) => select([w, ...kind]));
        if (raw) parts.push(raw);
        if (plan.built.length) {
          const rolled = whereClause([unitsSql('hour', plan.built, HOUR_MS, ps.values), ...kind]);
          parts.push(what === 'counts' ? `SELECT ${bucket('hour')}, cls, decision, sum(n) FROM rollup_hour ${rolled} GROUP BY ALL` : `SELECT ${bucket('hour')}, bin, sum(n) FROM rollup_hour_lat ${rolled} GROUP BY ALL`);
        }
        return { sql: parts.join(' UNION ALL '), values: ps.values };
      };
      const counts = statement('counts');
      const hist = statement('bins');
      const points: TimeseriesPoint[] = starts.map((s) => ({ ts: new Date(s).toISOString(), total: 0, by_class: emptyByClass(), denied: 0, rate_limited: 0, blocked: 0, p50: null, p95: null, p99: null }));
      const first = starts[0] / bucketMs;
      for (const [bk, cls, decision, n] of (await c.runAndReadAll(counts.sql, counts.values)).getRows()) {
        const p = points[Number(bk) - first];
        if (!p) continue;
        const count = Number(n);
        p.total += count;
        if (String(cls) in p.by_class) p.by_class[String(cls)] += count;
        if (decision === 'deny') p.denied += count;
        else if (decision === 'ratelimit') p.rate_limited += count;
        else if (decision === 'block') p.blocked += count;
      }
      const bins = new Map<number, Map<number, number>>();
      for (const [bk, bin, n] of (await c.runAndReadAll(hist.sql, hist.values)).getRows()) {
        let m = bins.get(Number(bk));
        if (!m) bins.set(Number(bk), (m = new Map()));
        m.set(Number(bin), (m.get(Number(bin)) ?? 0) + Number(n));
      }
      for (const [bk, m] of bins) {
        const p = points[bk - first];
        if (!p) continue;
        p.p50 = histogramQuantile(m, 0.5);
        p.p95 = histogramQuantile(m, 0.95);
        p.p99 = histogramQuantile(m, 0.99);
      }
      return points;
    });
  }

  async top(q: TopQuery): Promise<TopRow[]> {
    checkKeys(q, TOP_QUERY_KEYS, 'top');
    const by = parseTopDimension(q.by);
    const limit = parseLimit(q.limit, DEFAULT_TOP_LIMIT, MAX_TOP_LIMIT);
    const f = parseFilter(q);
    return this.read(async (c) => {
      const ps = new Params();
      const kindOnly = rollupFilter(f);
      const plan = kindOnly && (ROLLUP_DIMS as readonly string[]).includes(by) ? await planRange(c, 'day', f.from ?? 0, f.to ?? Date.now() + DAY_MS) : null;
      const errors = `count(*) FILTER (WHERE status >= 500 OR status IS NULL)`;
      let sql: string;
      if (plan && plan.built.length) {
        // Whole days from the daily summaries, the rest of the range from the events.
        const kind = whereSql(kindOnly!, ps);
        const days = [`dim = ${ps.p(by)}`, unitsSql('day', plan.built, DAY_MS, ps.values), ...kind];
        const raw = perInterval(plan.raw, ps.values, (w) => `SELECT CAST(${ident(by)} AS VARCHAR), count(*), ${errors} FROM events ${whereClause([w, ...kind])} GROUP BY 1`);
        sql = `SELECT value, sum(n) AS n, sum(errors) AS errors FROM (
            SELECT value, n, errors FROM rollup_day_top ${whereClause(days)}
            ${raw ? `UNION ALL ${raw}` : ''}
          ) GROUP BY value ORDER BY n DESC, value ASC NULLS LAST LIMIT ${ps.p(limit)}`;
      } else {
        sql = `SELECT CAST(${ident(by)} AS VARCHAR) AS value, count(*) AS n, ${errors} AS errors
          FROM events ${whereClause(whereSql(f, ps))}
          GROUP BY 1 ORDER BY n DESC, value ASC NULLS LAST LIMIT ${ps.p(limit)}`;
      }
      return (await c.runAndReadAll(sql, ps.values)).getRows().map(([value, n, e]) => ({
        value: value === null ? null : String(value),
        count: Number(n),
        errors: Number(e),
      }));
    });
  }

  async latency(q: LatencyQuery): Promise<LatencyRow[]> {
    checkKeys(q, LATENCY_QUERY_KEYS, 'latency');
    const by = parseLatencyGroup(q.by);
    const f = parseFilter(q);
    const kindOnly = rollupFilter(f);
    if (!by && kindOnly) {
      const summarized = await this.read(async (c) => {
        const plan = await planRange(c, 'hour', f.from ?? 0, f.to ?? Date.now() + DAY_MS);
        if (!plan.built.length) return null;
        // Over whole hours with summaries: percentiles from the histograms (within 2.5 %), exact count and max.
        const ps = new Params();
        const kind = whereSql(kindOnly, ps);
        const hours = [unitsSql('hour', plan.built, HOUR_MS, ps.values), ...kind];
        const raw = perInterval(plan.raw, ps.values, (w) => `SELECT ${binSql('duration_ms')} AS bin, count(*) AS n, max(duration_ms) AS mx FROM events ${whereClause([w, 'duration_ms IS NOT NULL', ...kind])} GROUP BY 1`);
        const rows = (
          await c.runAndReadAll(
            `SELECT bin, sum(n), max(mx) FROM (
              SELECT bin, n, mx FROM rollup_hour_lat ${whereClause(hours)}
              ${raw ? `UNION ALL ${raw}` : ''}
            ) GROUP BY bin`,
            ps.values,
          )
        ).getRows();
        const bins = new Map<number, number>();
        let count = 0;
        let max: number | null = null;
        for (const [bin, n, mx] of rows) {
          bins.set(Number(bin), Number(n));
          count += Number(n);
          if (mx !== null && (max === null || Number(mx) > max)) max = Number(mx);
        }
        return [{ group: null, count, p50: histogramQuantile(bins, 0.5), p90: histogramQuantile(bins, 0.9), p95: histogramQuantile(bins, 0.95), p99: histogramQuantile(bins, 0.99), max }];
      });
      if (summarized) return summarized;
    }
    const ps = new Params();
    const conds = whereSql(f, ps);
    // quantile_cont interpolates like PostgreSQL's percentile_cont, so both stores agree.
    // count is the number of events with a duration: the sample behind the percentiles.
    const aggs = `count(duration_ms) AS n, quantile_cont(duration_ms, [0.5, 0.9, 0.95, 0.99]) AS q, max(duration_ms) AS mx`;
    const sql = by
      ? `SELECT CAST(${ident(by)} AS VARCHAR) AS grp, ${aggs} FROM events ${whereClause(conds)}
         GROUP BY 1 ORDER BY n DESC, grp ASC NULLS LAST LIMIT ${MAX_LATENCY_GROUPS}`
      : `SELECT NULL AS grp, ${aggs} FROM events ${whereClause(conds)}`;
    return this.read(async (c) =>
      (await c.runAndReadAll(sql, ps.values)).getRowsJS().map(([grp, n, qs, mx]) => {
        const p = Array.isArray(qs) ? (qs as (number | null)[]) : [null, null, null, null];
        return {
          group: grp === null ? null : String(grp),
          count: Number(n),
          p50: p[0] ?? null,
          p90: p[1] ?? null,
          p95: p[2] ?? null,
          p99: p[3] ?? null,
          max: mx === null ? null : Number(mx),
        };
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let running work finish, so a batch is either committed or rolled back.
    await Promise.all([this.writes.run(async () => undefined), this.reads.run(async () => undefined)]);
    this.closeConnections();
  }

  private closeConnections(): void {
    this.writer?.closeSync();
    this.reader?.closeSync();
    this.instance?.closeSync();
    this.writer = this.reader = null;
    this.instance = null;
  }
}
