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
import { writeFileSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { FIELDS, type AuditEvent } from '../../core/event.js';
import { InvalidEventError, eventTimeMs } from '../validate.js';

/** Batches at least this large take the CSV path. */
export const BULK_MIN_EVENTS = 2_000;

const NULL = '\\N';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function quote(s: string): string {
  return s.indexOf('"') === -1 ? '"' + s + '"' : '"' + s.replace(/"/g, '""') + '"';
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

type RowWriter = (e: Record<string, unknown>, i: number) => string;

/** Consecutive events mostly share their timestamp string: parse each distinct one once. */
let lastTs: unknown = null;
let lastMs = 0;
function tsMs(v: unknown, i: number): number {
  if (v === lastTs) return lastMs;
  const ms = eventTimeMs(v, i);
  lastTs = v;
  lastMs = ms;
  return ms;
}

function cellCode(k: number): string {
  const get = `e[${JSON.stringify(NAMES[k])}]`;
  const bad = `invalid(i, ${k}, v)`;
  switch (CODES[k]) {
    case UUID:
      return `v = ${get}; if (typeof v !== 'string' || !UUID_RE.test(v)) throw ${bad}; c = v;`;
    case TIMESTAMP:
      return `v = ${get}; if (v === null || v === undefined) throw ${bad}; c = String(tsMs(v, i));`;
    case INT:
      return `v = ${get}; if (v === null || v === undefined) c = NULL; else if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw ${bad}; else c = String(v);`;
    case FLOAT:
      return `v = ${get}; if (v === null || v === undefined) c = NULL; else if (typeof v !== 'number' || !Number.isFinite(v)) throw ${bad}; else c = String(v);`;
    case JSON_OBJECT:
      return `v = ${get}; if (v === null || v === undefined) c = NULL; else if (typeof v !== 'object' || Array.isArray(v)) throw ${bad}; else c = quote(JSON.stringify(v));`;
    default:
      return `v = ${get}; if (v === null || v === undefined) c = NULL; else if (typeof v !== 'string') throw ${bad}; else c = quote(v);`;
  }
}

const writers = new Map<string, RowWriter>();

function rowWriter(columns: readonly number[]): RowWriter {
  const key = columns.join(',');
  let w = writers.get(key);
  if (!w) {
    const body = columns.map((k, j) => `${cellCode(k)} r = ${j === 0 ? 'c' : "r + ',' + c"};`).join('\n');
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const make = new Function('UUID_RE', 'NULL', 'quote', 'invalid', 'tsMs', `return function row(e, i) { let v, c, r = ''; ${body} return r; };`) as (
      re: RegExp,
      nul: string,
      q: typeof quote,
      inv: typeof invalid,
      ts: typeof tsMs,
    ) => RowWriter;
    w = make(UUID_RE, NULL, quote, invalid, tsMs);
    writers.set(key, w);
  }
  return w;
}

/** One CSV row per event with the `columns` (indexes into FIELDS); throws InvalidEventError like the Appender encoders. */
export function csvRows(events: readonly AuditEvent[], columns: readonly number[], firstIndex = 0): string {
  const write = rowWriter(columns);
  const rows = new Array<string>(events.length);
  for (let i = 0; i < events.length; i++) rows[i] = write(events[i] as unknown as Record<string, unknown>, firstIndex + i);
  return rows.join('\n') + '\n';
}

const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

let seq = 0;

/**
 * Inserts `events` through a temporary CSV file, inside the caller's open
 * transaction (so a ROLLBACK discards them with everything else).
 */
export async function insertViaCsv(c: DuckDBConnection, events: readonly AuditEvent[], tmpDir: string = os.tmpdir()): Promise<void> {
  const columns = usedColumns(events);
  const file = path.join(tmpDir, `tollgate-bulk-${process.pid}-${Date.now()}-${seq++}.csv`);
  writeFileSync(file, csvRows(events, columns), { mode: 0o600 });
  const fields = columns.map((k) => FIELDS[k]);
  const csvTypes = `{${fields.map((f) => `'${f.name}': '${f.type === 'int' || f.type === 'timestamp' ? 'BIGINT' : f.type === 'float' ? 'DOUBLE' : 'VARCHAR'}'`).join(', ')}}`;
  const select = fields.map((f) => (f.type === 'timestamp' ? `epoch_ms(${ident(f.name)})` : f.type === 'uuid' ? `CAST(${ident(f.name)} AS UUID)` : ident(f.name))).join(', ');
  try {
    // Quoted fields are never NULL (allow_quoted_nulls = false): a string "\N" stays a string.
    await c.run(
      `INSERT INTO events (${fields.map((f) => ident(f.name)).join(', ')})
       SELECT ${select} FROM read_csv($1, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"',
         nullstr = '\\N', allow_quoted_nulls = false, columns = ${csvTypes}, max_line_size = 67108864)`,
      [file],
    );
  } finally {
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  }
}
