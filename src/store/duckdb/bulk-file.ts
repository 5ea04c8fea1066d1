/**
 * What the bulk loaders (bulk-csv.ts, bulk-ndjson.ts, bulk-log.ts) share:
 * identifiers and strings quoted for SQL, and their data handed to DuckDB as
 * a temporary file that is removed whatever the statement does.
 */
import { closeSync, openSync, writeSync, unlinkSync } from 'node:fs';
import path from 'node:path';

/** A quoted SQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A SQL string literal (for what statements cannot take as parameters: patterns, file names, constants in generated SQL). */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

let seq = 0;

/** Writes `data` to a new file in `tmpDir` (owner-only), runs `read(file)`, then removes the file. */
export async function withBulkFile<T>(data: readonly Buffer[], ext: string, tmpDir: string, read: (file: string) => Promise<T>): Promise<T> {
  const file = path.join(tmpDir, `tollgate-bulk-${process.pid}-${Date.now()}-${seq++}.${ext}`);
  try {
    const fd = openSync(file, 'w', 0o600);
    try {
      for (const b of data) {
        // writeSync may write less than asked: keep going until the chunk is out.
        for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
      }
    } finally {
      closeSync(fd);
    }
    return await read(file);
  } finally {
    try {
      unlinkSync(file);
    } catch {
      // never created, or already gone
    }
  }
}
