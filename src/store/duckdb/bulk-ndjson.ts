/**
 * Loading spool records as they are. The spool already holds every event as
 * one line of JSON (core/event-json.ts); DuckDB's JSON reader parses those
 * lines natively, so the loader writes the bytes it read to a temporary file
 * and inserts them in one statement. Parsing each record in JavaScript and
 * re-encoding it as CSV cost about 15 µs of CPU per event; this path costs
 * about 6, and the event objects never exist on the JavaScript heap.
 *
 * Only records in the serializer's canonical shape take this path (checked
 * per record without parsing it: see recordTs). Anything DuckDB refuses makes
 * the whole statement fail inside the caller's transaction, and the caller
 * loads the batch the exact way (parsed and validated event by event).
 *
 * Trust boundary: this path is for records serializeEvent wrote from events
 * the proxy built, whose field types the event model fixes. DuckDB's reader
 * converts where the exact path refuses (a string "404" in an integer field,
 * 200.5 in one, a number in a string field); the serializer never writes
 * those, so they can only come from a record altered on disk, which the
 * spool's integrity chain (planned: spool/format.ts) is to detect. Checking
 * every value's JSON type in the statement would cost two thirds more per
 * event.
 */
import os from 'node:os';
import type { DuckDBConnection } from './api.js';
import { FIELDS } from '../../core/event.js';
import { recordTs } from '../../core/event-json.js';
import { HOUR_MS } from './rollups.js';
import { ident, withBulkFile } from './bulk-file.js';

const NL = 0x0a;

/**
 * The records in `data`: how many, and the hours (epoch ms of their starts)
 * they fall in; null when one of them is not in canonical form (then the
 * batch must be loaded the exact way).
 */
export function recordFacts(data: readonly Buffer[]): { count: number; hours: number[] } | null {
  const hours = new Set<number>();
  let lastHour = '';
  let count = 0;
  for (const buf of data) {
    let pos = 0;
    while (pos < buf.length) {
      let nl = buf.indexOf(NL, pos);
      if (nl === -1) nl = buf.length;
      const ts = recordTs(buf, pos, nl);
      if (ts === null) return null;
      // Consecutive records mostly share the hour: parsed once per hour.
      if (!ts.startsWith(lastHour) || lastHour === '') {
        lastHour = ts.slice(0, 13);
        const ms = Date.parse(ts);
        if (!Number.isFinite(ms)) return null;
        hours.add(Math.floor(ms / HOUR_MS) * HOUR_MS);
      }
      count++;
      pos = nl + 1;
    }
  }
  return { count, hours: [...hours] };
}

/** read_json's column types: the reader converts the JSON values; ts and the objects are converted in the SELECT. */
const READ_TYPE = { uuid: 'UUID', timestamp: 'VARCHAR', int: 'BIGINT', float: 'DOUBLE', json: 'JSON', string: 'VARCHAR' } as const;

// Catalog names are plain identifiers (lower case and underscores): safe as quoted keys.
const COLUMNS = `{${FIELDS.map((f) => `'${f.name}': '${READ_TYPE[f.type]}'`).join(', ')}}`;
const TARGETS = FIELDS.map((f) => ident(f.name)).join(', ');
// recordTs admitted only `…Z` timestamps, which a plain cast reads exactly (it would ignore any other offset).
const SELECT = FIELDS.map((f) =>
  f.type === 'timestamp' ? `CAST(${ident(f.name)} AS TIMESTAMP)` : f.type === 'json' ? `CAST(${ident(f.name)} AS VARCHAR)` : ident(f.name),
).join(', ');

/** DuckDB's default maximum_object_size (bytes). */
const DUCKDB_MAX_OBJECT = 16 * 1024 * 1024;

/**
 * DuckDB refused the records. The message keeps DuckDB's reason but not the
 * record it quotes: it goes to the log, which must not become a second copy
 * of the audit trail (the exact load that follows reports which records, by
 * their place in the spool).
 */
export class RecordsRefusedError extends Error {
  constructor(cause: Error) {
    const first = cause.message.split('\n')[0];
    const cut = first.search(/\s(?:Object|in line|at line)\b|[{"]/);
    super(`DuckDB refused the records: ${(cut === -1 ? first : first.slice(0, cut)).trim().slice(0, 200)}`);
    this.name = 'RecordsRefusedError';
  }
}

/**
 * Inserts the `count` NDJSON records in `data` (each line one event, as the
 * spool writes them) inside the caller's open transaction.
 */
export async function insertNdjson(c: DuckDBConnection, data: readonly Buffer[], count: number, tmpDir: string = os.tmpdir()): Promise<void> {
  // A record is never larger than the chunk it came in; raise the reader's limit only when needed.
  const largest = data.reduce((m, b) => Math.max(m, b.length), 0);
  const size = largest + 1 > DUCKDB_MAX_OBJECT ? `, maximum_object_size = ${largest + 1}` : '';
  const sql = `INSERT INTO events (${TARGETS})
       SELECT ${SELECT} FROM read_json($1, format = 'newline_delimited', records = true, auto_detect = false, columns = ${COLUMNS}${size})`;
  const r = await withBulkFile(data, 'ndjson', tmpDir, (file) =>
    c.run(sql, [file]).catch((err: Error) => {
      throw new RecordsRefusedError(err);
    }),
  );
  // One row per record, or the statement read the lines differently than they were counted.
  if (r.rowsChanged !== count) throw new Error(`the JSON reader inserted ${r.rowsChanged} rows for ${count} records`);
}
