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

/**
 * The columns that have a value in at least one event of the batch: the
 * others are left out of the CSV and the INSERT (they default to NULL), which
 * makes both sides cheaper (an ingested log fills a third of the catalog).
 */
export function usedColumns(events: readonly AuditEvent[]): number[] {
  const n = NAMES.length;
  const used = new Array<boolean>(n).fill(false);
  let missing = n;
  for (let i = 0; i < events.length && missing > 0; i++) {
    const ev = events[i] as unknown as Record<string, unknown>;
    for (let k = 0; k < n; k++) {
      if (!used[k] && ev[NAMES[k]] !== null && ev[NAMES[k]] !== undefined) {
        used[k] = true;
        missing--;
      }
    }
  }
  // id and ts are required: keep them so a missing one is reported by validation.
  used[NAMES.indexOf('id')] = true;
  used[NAMES.indexOf('ts')] = true;
  return used.flatMap((u, k) => (u ? [k] : []));
}

/** One CSV row per event with the `columns` (indexes into FIELDS); throws InvalidEventError like the Appender encoders. */
export function csvRows(events: readonly AuditEvent[], columns: readonly number[], firstIndex = 0): string {
  const m = columns.length;
  const rows = new Array<string>(events.length);
  const cells = new Array<string>(m);
  for (let i = 0; i < events.length; i++) {
    const ev = events[i] as unknown as Record<string, unknown>;
    for (let j = 0; j < m; j++) {
      const k = columns[j];
      const v = ev[NAMES[k]];
      let cell: string;
      switch (CODES[k]) {
        case UUID:
          if (typeof v !== 'string' || !UUID_RE.test(v)) throw invalid(firstIndex + i, k, v);
          cell = v;
          break;
        case TIMESTAMP:
          if (v === null || v === undefined) throw invalid(firstIndex + i, k, v);
          cell = String(eventTimeMs(v, firstIndex + i));
          break;
        case INT:
          if (v === null || v === undefined) cell = NULL;
          else if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(firstIndex + i, k, v);
          else cell = String(v);
          break;
        case FLOAT:
          if (v === null || v === undefined) cell = NULL;
          else if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(firstIndex + i, k, v);
          else cell = String(v);
          break;
        case JSON_OBJECT:
          if (v === null || v === undefined) cell = NULL;
          else if (typeof v !== 'object' || Array.isArray(v)) throw invalid(firstIndex + i, k, v);
          else cell = quote(JSON.stringify(v));
          break;
        default:
          if (v === null || v === undefined) cell = NULL;
          else if (typeof v !== 'string') throw invalid(firstIndex + i, k, v);
          else cell = quote(v);
      }
      cells[j] = cell;
    }
    rows[i] = cells.join(',');
  }
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
