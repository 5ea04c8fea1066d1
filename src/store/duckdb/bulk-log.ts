/**
 * Parsing access-log text inside DuckDB. A chunk of whole lines is written
 * to a temporary file; DuckDB's reader splits it into lines on all its
 * threads, a regular expression compiled from the log format
 * (ingest/parsers/nginx/line-sql.ts) takes each line apart, and SQL
 * converts the values. JavaScript never makes a string per line: ingesting
 * a large file costs about half the CPU of parsing it in JavaScript and
 * loading the events as CSV (bench/ingest.ts).
 *
 * The lines the format does not take (anything it cannot read exactly as
 * the JavaScript parser would) are reported by their index in the chunk,
 * and the caller parses those itself; their events go into the same
 * transaction. So the result is the same as parsing every line in
 * JavaScript, line for line.
 */
import { isUtf8 } from 'node:buffer';
import type { DuckDBConnection } from './api.js';
import { ident, sqlString, withBulkFile } from './bulk-file.js';

/** A text log format compiled for DuckDB. */
export interface SqlLineFormat {
  /** An anchored RE2 pattern; capture group i is named groups[i] in the STRUCT `m`. */
  pattern: string;
  groups: string[];
  /** Event column → SQL expression over `m`; values of lines not taken are never stored. */
  columns: [column: string, expr: string][];
  /** SQL boolean over `m`: the line matched the pattern. */
  matched: string;
  /** SQL boolean over the columns of a matched line: every conversion succeeded, the line is taken. */
  taken: string;
}

/** Session-local staging table of one chunk, written before the load transaction and dropped after it. */
const STAGE = 'tollgate_log_chunk';
const DELIMITER = '\u0001';
/**
 * The reader refuses a chunk with a longer line (the line path reads it).
 * Below the line path's own limit (inputs/lines.ts truncates past 1 MiB), so
 * no line is read whole here and truncated there; and a larger limit makes
 * DuckDB's reader use larger buffers, which costs it its parallelism.
 */
const MAX_LINE_BYTES = 1_000_000;

/**
 * What the reader can take as it is: valid UTF-8 (DuckDB refuses anything
 * else), and nothing its line splitting would read differently from ours:
 * CR (a line break to it), NUL, the column delimiter, and a byte order mark
 * at the start (it drops the mark; the line path keeps it in the line).
 */
export function readableAsLines(data: Buffer): boolean {
  const bom = data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf;
  return !bom && data.indexOf(0x0d) === -1 && data.indexOf(0x01) === -1 && data.indexOf(0x00) === -1 && isUtf8(data);
}

/**
 * Parses `data` (whole lines, each ending in LF) into the staging table and
 * returns the indexes (0-based, ascending) of the lines not taken.
 * `suspect`: queries it matches are not taken (they may hold a secret
 * parameter; the caller's redaction reads them).
 */
export async function stageLogChunk(c: DuckDBConnection, data: Buffer, format: SqlLineFormat, suspect: RegExp | null, tmpDir: string): Promise<number[]> {
  const exprs = format.columns.map(([col, expr]) => `${expr} AS ${ident(col)}`).join(', ');
  const names = format.columns.map(([col]) => ident(col)).join(', ');
  let taken = `_matched AND (${format.taken})`;
  // A query or a Referer that may hold a secret parameter is left to the caller, whose redaction reads it.
  if (suspect) {
    const pattern = sqlString((suspect.flags.includes('i') ? '(?i)' : '') + suspect.source);
    if (format.columns.some(([c]) => c === 'query')) taken += ` AND NOT coalesce(regexp_matches("query", ${pattern}), false)`;
    // Only a Referer with a query can hold a secret parameter: the others skip the pattern (most lines).
    if (format.columns.some(([c]) => c === 'referer')) taken += ` AND NOT (CASE WHEN contains("referer", '?') THEN coalesce(regexp_matches("referer", ${pattern}), false) ELSE false END)`;
  }
  const groups = format.groups.map(sqlString).join(', ');
  await withBulkFile([data], 'log', tmpDir, async (file) => {
    const source =
      `read_csv(${sqlString(file)}, columns = {'line': 'VARCHAR'}, delim = ${sqlString(DELIMITER)}, quote = '', escape = '', ` +
      `new_line = '\\n', header = false, auto_detect = false, strict_mode = false, max_line_size = ${MAX_LINE_BYTES})`;
    // Row ids in the staging table are line indexes only if rows keep the file's order.
    await c.run('SET preserve_insertion_order = true');
    try {
      await c.run(
        `CREATE OR REPLACE TEMP TABLE ${STAGE} AS SELECT ${names}, coalesce(${taken}, false) AS _taken FROM (` +
          `SELECT ${exprs}, coalesce(${format.matched}, false) AS _matched FROM (` +
          `SELECT regexp_extract(line, ${sqlString(format.pattern)}, [${groups}]) AS m FROM ${source}))`,
      );
    } finally {
      await c.run('SET preserve_insertion_order = false');
    }
  });
  const rows = (await c.runAndReadAll(`SELECT rowid FROM ${STAGE} WHERE NOT _taken ORDER BY rowid`)).getRows();
  return rows.map((r) => Number(r[0]));
}

/** Inserts the staged lines that were taken; returns how many and the hours (epoch ms of their starts) they fall in. */
export async function insertStaged(c: DuckDBConnection, format: SqlLineFormat): Promise<{ count: number; hours: number[] }> {
  const names = format.columns.map(([col]) => ident(col)).join(', ');
  const r = await c.run(`INSERT INTO events (id, ${names}) SELECT uuidv7(), ${names} FROM ${STAGE} WHERE _taken`);
  const hours = (await c.runAndReadAll(`SELECT DISTINCT epoch_ms(date_trunc('hour', ts)) FROM ${STAGE} WHERE _taken`)).getRows().map((h) => Number(h[0]));
  return { count: Number(r.rowsChanged), hours };
}

/** Frees the staging table's memory; a failure only leaves it to the next chunk, which replaces it. */
export async function dropStaged(c: DuckDBConnection): Promise<void> {
  await c.run(`DROP TABLE IF EXISTS ${STAGE}`).catch(() => undefined);
}

/** DuckDB could not read a chunk as lines (nothing was stored): parse it another way. */
export class LogChunkRefusedError extends Error {
  constructor(cause: unknown) {
    super(`the store could not read the chunk as log lines: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}
