/**
 * Bulk loading for large batches: the events are written as CSV to a
 * temporary file and DuckDB's native, parallel CSV reader inserts them in
 * one statement. The Appender crosses from JavaScript into DuckDB once per
 * value (about fifty per event), which caps it near 60k events/s; this path
 * crosses once per batch, so the cost is building the text — a few hundred
 * nanoseconds per event.
 *
 * Every value is validated exactly as the Appender path does (same errors,
 * with the event's index and field), so both paths accept the same events.
 */
import os from 'node:os';
import type { DuckDBConnection } from './api.js';
import { FIELDS, type AuditEvent } from '../../core/event.js';
import { InvalidEventError, eventTimeMs } from '../validate.js';
import { IsoMillis } from '../../core/iso-time.js';
import { NEEDS_ESCAPE } from '../../core/event-json.js';
import { ident, withBulkFile } from './bulk-file.js';

/** Batches at least this large take the CSV path. */
export const BULK_MIN_EVENTS = 2_000;

const NULL = '\\N';

/** Text CSV reads back as itself without quotes: not empty, not the NULL marker, no quote, comma or line break. */
const PLAIN = /^[^",\r\n]+$/;

/** A CSV cell for a string: bare when that reads back the same (most values), quoted otherwise. */
function quote(s: string): string {
  if (s !== NULL && PLAIN.test(s)) return s;
  return s.indexOf('"') === -1 ? '"' + s + '"' : '"' + s.replace(/"/g, '""') + '"';
}

/**
 * The CSV cell of an object's JSON text, as quote(JSON.stringify(o)) gives
 * it, written in one pass for the common flat object of plain strings and
 * numbers (an ingested line's `extra`, an event's `headers`): the JSON has a
 * quote around every key and string, and doubling them afterwards cost more
 * than the JSON itself. Anything else (nesting, escapes, toJSON, a
 * prototype) takes the general way.
 */
export function jsonCell(o: object): string {
  const proto = Object.getPrototypeOf(o) as unknown;
  if (proto === Object.prototype || proto === null) {
    const rec = o as Record<string, unknown>;
    let out = '"{';
    let sep = '""';
    let plain = true;
    for (const k in rec) {
      const v = rec[k];
      let text: string;
      if (typeof v === 'string') {
        if (NEEDS_ESCAPE.test(v)) {
          plain = false;
          break;
        }
        text = '""' + v + '""';
      } else if (typeof v === 'number' && Number.isFinite(v)) text = String(v);
      else if (typeof v === 'boolean') text = v ? 'true' : 'false';
      else if (v === null) text = 'null';
      else if (v === undefined) continue;
      else {
        plain = false;
        break;
      }
      if (NEEDS_ESCAPE.test(k)) {
        plain = false;
        break;
      }
      out += sep + k + '"":' + text;
      sep = ',""';
    }
    if (plain) return sep === '""' ? '{}' : out + '}"';
  }
  return quote(JSON.stringify(o));
}

const UUID = 0, TIMESTAMP = 1, INT = 2, FLOAT = 3, JSON_OBJECT = 4, STRING = 5;
const TYPE_CODE = { uuid: UUID, timestamp: TIMESTAMP, int: INT, float: FLOAT, json: JSON_OBJECT, string: STRING } as const;
const NAMES = FIELDS.map((f) => f.name as string);
const CODES = FIELDS.map((f) => TYPE_CODE[f.type]);
const WHAT = ['a UUID', 'a timestamp', 'an integer', 'a finite number', 'an object', 'a string'];

function invalid(index: number, k: number, v: unknown): InvalidEventError {
  return new InvalidEventError(index, NAMES[k], `expected ${WHAT[CODES[k]]}, got ${typeof v === 'string' ? JSON.stringify(v) : typeof v}`);
}

// The per-event work below is compiled from the static field catalog into
// straight-line code with constant property names (monomorphic access): a
// generic loop over FIELDS with ev[name] costs several times more per event.
// Code generated from the catalog only, never from input.

type Marker = (e: Record<string, unknown>, used: Uint8Array) => void;

const markUsed: Marker = (() => {
  const body = NAMES.map((name, k) => `v = e[${JSON.stringify(name)}]; if (v !== null && v !== undefined) used[${k}] = 1;`).join('\n');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('e', 'used', `let v;\n${body}`) as Marker;
})();

/**
 * The columns that have a value in at least one event of the batch: the
 * others are left out of the CSV and the INSERT (they default to NULL), which
 * makes both sides cheaper (an ingested log fills a third of the catalog).
 */
export function usedColumns(events: readonly AuditEvent[]): number[] {
  const used = new Uint8Array(NAMES.length);
  for (let i = 0; i < events.length; i++) markUsed(events[i] as unknown as Record<string, unknown>, used);
  // id and ts are required: keep them so a missing one is reported by validation.
  used[NAMES.indexOf('id')] = 1;
  used[NAMES.indexOf('ts')] = 1;
  const out: number[] = [];
  for (let k = 0; k < used.length; k++) if (used[k]) out.push(k);
  return out;
}

type RowWriter = (e: Record<string, unknown>, i: number, cells: string[]) => string;

/** Event timestamps as epoch ms: the second parsed once per second. */
const isoMillis = new IsoMillis();

/** Events of one second from a log with second resolution share one ts string: converted once. */
let lastTs: unknown = null;
let lastCell = '';

function tsCell(v: unknown, i: number): string {
  if (v === lastTs) return lastCell;
  let cell: string;
  const ms = typeof v === 'string' ? isoMillis.parse(v) : Number.NaN;
  // Other shapes (and errors) get the full check and its message.
  if (ms === ms) cell = String(ms);
  else cell = String(eventTimeMs(v, i));
  lastTs = v;
  lastCell = cell;
  return cell;
}

/** The shape of a UUID (8-4-4-4-12 hex). A regular expression is compiled to machine code: faster per event than a loop over the characters. */
const UUID_SHAPE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
function isUuid(v: string): boolean {
  return v.length === 36 && UUID_SHAPE.test(v);
}

function cellCode(k: number): string {
  const get = `e[${JSON.stringify(NAMES[k])}]`;
  const bad = `invalid(i, ${k}, v)`;
  switch (CODES[k]) {
    case UUID:
      return `v = ${get}; if (typeof v !== 'string' || !isUuid(v)) throw ${bad}; c = v;`;
    case TIMESTAMP:
      return `v = ${get}; if (v === null || v === undefined) throw ${bad}; c = tsCell(v, i);`;
    case INT:
      return `v = ${get}; if (v === null || v === undefined) c = NULL; else if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw ${bad}; else c = String(v);`;
    case FLOAT:
      return `v = ${get}; if (v === null || v === undefined) c = NULL; else if (typeof v !== 'number' || !Number.isFinite(v)) throw ${bad}; else c = String(v);`;
    case JSON_OBJECT:
      return `v = ${get}; if (v === null || v === undefined) c = NULL; else if (typeof v !== 'object' || Array.isArray(v)) throw ${bad}; else c = jsonCell(v);`;
    default:
      return `v = ${get}; if (v === null || v === undefined) c = NULL; else if (typeof v !== 'string') throw ${bad}; else c = quote(v);`;
  }
}

const writers = new Map<string, RowWriter>();

function rowWriter(columns: readonly number[]): RowWriter {
  const key = columns.join(',');
  let w = writers.get(key);
  if (!w) {
    // Cells go into a reused array and are joined once: a flat string, not a chain of
    // concatenations that the garbage collector has to walk while it waits for the load.
    const body = columns.map((k, j) => `${cellCode(k)} cells[${j}] = c;`).join('\n');
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const make = new Function('isUuid', 'NULL', 'quote', 'jsonCell', 'invalid', 'tsCell', `return function row(e, i, cells) { let v, c; ${body} return cells.join(','); };`) as (
      uuid: typeof isUuid,
      nul: string,
      q: typeof quote,
      j: typeof jsonCell,
      inv: typeof invalid,
      ts: typeof tsCell,
    ) => RowWriter;
    w = make(isUuid, NULL, quote, jsonCell, invalid, tsCell);
    writers.set(key, w);
  }
  return w;
}

/**
 * Rows are packed into a Buffer every this many characters (or 4096 rows):
 * one joined string of a whole batch would pass V8's string length limit
 * when events carry very long URLs or headers.
 */
const PACK_CHARS = 8 << 20;
const PACK_ROWS = 4096;

/** Joins rows into a Buffer, one per line. */
function packRows(parts: string[]): Buffer {
  return Buffer.from(parts.join('\n') + '\n');
}

type Outside = (e: Record<string, unknown>) => boolean;
const outsideTests = new Map<string, Outside>();

/** A compiled test: does `e` have a value in a column not in `columns`? */
function outsideOf(columns: readonly number[]): Outside {
  const key = columns.join(',');
  let f = outsideTests.get(key);
  if (!f) {
    const inSet = new Set(columns);
    const tests = NAMES.flatMap((name, k) => (inSet.has(k) ? [] : [`(e[${JSON.stringify(name)}] !== null && e[${JSON.stringify(name)}] !== undefined)`]));
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    f = new Function('e', `return ${tests.length ? tests.join(' || ') : 'false'};`) as Outside;
    outsideTests.set(key, f);
  }
  return f;
}

export interface CsvSegment {
  /** Indexes into FIELDS of the columns in these rows. */
  columns: number[];
  count: number;
  chunks: Buffer[];
  /** Length (UTF-16 code units) of the longest row. */
  longest: number;
}

/**
 * CSV rows built as events are produced (ingest): each event is converted at
 * once, so event objects die young, and rows are packed into Buffers outside
 * the JavaScript heap every few thousand, so the garbage collector never
 * walks the waiting batch. Only the columns the events use are written (an
 * access log fills a third of the catalog); an event with a value in another
 * column starts a new segment with the wider set.
 */
export class CsvRows {
  private columns: number[] | null = null;
  private write: RowWriter | null = null;
  private outside: Outside | null = null;
  private cells: string[] = [];
  private parts: string[] = [];
  private partsChars = 0;
  private chunks: Buffer[] = [];
  private segmentCount = 0;
  private longest = 0;
  private segments: CsvSegment[] = [];
  /** Hours the rows fall in (epoch ms of their starts), so the store rebuilds their summaries. */
  private hours = new Set<number>();
  /** "YYYY-MM-DDTHH" of the last row: consecutive rows mostly share the hour, parsed once. */
  private lastHour = '';
  count = 0;

  /** With `columns` (indexes into FIELDS, e.g. usedColumns of a batch known up front), rows start with that set. */
  constructor(columns?: readonly number[]) {
    if (columns) this.use([...columns]);
  }

  /** Throws InvalidEventError (nothing is added then). */
  add(e: AuditEvent): void {
    const ev = e as unknown as Record<string, unknown>;
    if (this.outside === null || this.outside(ev)) this.widen(ev);
    const row = this.write!(ev, this.count, this.cells);
    if (row.length > this.longest) this.longest = row.length;
    this.parts.push(row);
    this.partsChars += row.length;
    const ts = e.ts;
    if (typeof ts === 'string' && (this.lastHour === '' || !ts.startsWith(this.lastHour))) {
      this.lastHour = ts.slice(0, 13);
      const ms = Date.parse(ts);
      if (Number.isFinite(ms)) this.hours.add(Math.floor(ms / 3_600_000) * 3_600_000);
    }
    this.count++;
    this.segmentCount++;
    if (this.parts.length >= PACK_ROWS || this.partsChars >= PACK_CHARS) this.pack();
  }

  private widen(ev: Record<string, unknown>): void {
    this.closeSegment();
    const used = new Uint8Array(NAMES.length);
    markUsed(ev, used);
    for (const k of this.columns ?? []) used[k] = 1;
    used[ID] = 1;
    used[TS] = 1;
    const columns: number[] = [];
    for (let k = 0; k < used.length; k++) if (used[k]) columns.push(k);
    this.use(columns);
  }

  private use(columns: number[]): void {
    this.columns = columns;
    this.write = rowWriter(columns);
    this.outside = outsideOf(columns);
    this.cells = new Array<string>(columns.length);
  }

  private pack(): void {
    if (!this.parts.length) return;
    this.chunks.push(packRows(this.parts));
    this.parts = [];
    this.partsChars = 0;
  }

  private closeSegment(): void {
    this.pack();
    if (this.segmentCount && this.columns) this.segments.push({ columns: this.columns, count: this.segmentCount, chunks: this.chunks, longest: this.longest });
    this.chunks = [];
    this.segmentCount = 0;
    this.longest = 0;
  }

  /** The rows so far; the collector starts empty again (keeping its column set). */
  take(): { count: number; segments: CsvSegment[]; hours: number[] } {
    this.closeSegment();
    const out = { count: this.count, segments: this.segments, hours: [...this.hours] };
    this.segments = [];
    this.hours = new Set();
    this.lastHour = '';
    this.count = 0;
    return out;
  }
}

const ID = NAMES.indexOf('id');
const TS = NAMES.indexOf('ts');

/**
 * Inserts `events` through a temporary CSV file, inside the caller's open
 * transaction (so a ROLLBACK discards them with everything else).
 */
export async function insertViaCsv(c: DuckDBConnection, events: readonly AuditEvent[], tmpDir: string = os.tmpdir()): Promise<void> {
  // The batch's columns are known up front: one segment, one INSERT.
  const rows = new CsvRows(usedColumns(events));
  for (const e of events) rows.add(e);
  await insertCsvRows(c, rows.take().segments, tmpDir);
}

/** Inserts rows collected by CsvRows, inside the caller's open transaction. */
export async function insertCsvRows(c: DuckDBConnection, segments: readonly CsvSegment[], tmpDir: string = os.tmpdir()): Promise<void> {
  for (const seg of segments) await loadCsv(c, seg.chunks, seg.longest, seg.columns, tmpDir);
}

/** DuckDB's default max_line_size (bytes). */
const DUCKDB_MAX_LINE = 2_097_152;

/**
 * The read_csv option for rows longer than DuckDB's default line limit (a
 * multi-megabyte URL or header), else none: the reader's buffer is sized from
 * it (16 lines), and one buffer is one thread's share of the file, so a large
 * limit on ordinary rows makes the load single-threaded (half the speed).
 */
export function maxLineOption(longestUtf16: number): string {
  const bytes = longestUtf16 * 3 + 1; // UTF-8 takes at most 3 bytes per UTF-16 code unit
  return bytes <= DUCKDB_MAX_LINE ? '' : `, max_line_size = ${bytes}`;
}

async function loadCsv(c: DuckDBConnection, data: readonly Buffer[], longest: number, columns: readonly number[], tmpDir: string): Promise<void> {
  const fields = columns.map((k) => FIELDS[k]);
  const csvTypes = `{${fields.map((f) => `'${f.name}': '${f.type === 'int' || f.type === 'timestamp' ? 'BIGINT' : f.type === 'float' ? 'DOUBLE' : 'VARCHAR'}'`).join(', ')}}`;
  const select = fields.map((f) => (f.type === 'timestamp' ? `epoch_ms(${ident(f.name)})` : f.type === 'uuid' ? `CAST(${ident(f.name)} AS UUID)` : ident(f.name))).join(', ');
  await withBulkFile(data, 'csv', tmpDir, (file) =>
    // Quoted fields are never NULL (allow_quoted_nulls = false): a string "\N" stays a string.
    c.run(
      `INSERT INTO events (${fields.map((f) => ident(f.name)).join(', ')})
       SELECT ${select} FROM read_csv($1, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"',
         nullstr = '\\N', allow_quoted_nulls = false, columns = ${csvTypes}${maxLineOption(longest)})`,
      [file],
    ),
  );
}
