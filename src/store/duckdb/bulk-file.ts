/**
 * What the bulk loaders (bulk-csv.ts, bulk-ndjson.ts, bulk-log.ts) share:
 * identifiers and strings quoted for SQL, and their data handed to DuckDB as
 * a temporary file that is removed whatever the statement does.
 */
import { closeSync, openSync, readdirSync, readlinkSync, writeSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { isProcessAlive } from '../../core/process-alive.js';

/** A quoted SQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A SQL string literal (for what statements cannot take as parameters: patterns, file names, constants in generated SQL). */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

let seq = 0;

/**
 * The PID namespace this process runs in (Linux), else 0. A process id means
 * something only inside its namespace: containers sharing a temporary
 * directory with each other or with the host must not judge each other's files.
 */
export const PID_NAMESPACE = (() => {
  try {
    return /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
})();

/** A bulk file's name, with the process that owns it: `tollgate-bulk-<pid namespace>-<pid>-<ms>-<seq>.<ext>`. */
const BULK_FILE = /^tollgate-bulk-(\d+)-(\d+)-\d+-\d+\.[a-z]+$/;

/** Writes `data` to a new file in `tmpDir` (owner-only), runs `read(file)`, then removes the file. */
export async function withBulkFile<T>(data: readonly Buffer[], ext: string, tmpDir: string, read: (file: string) => Promise<T>): Promise<T> {
  const file = path.join(tmpDir, `tollgate-bulk-${PID_NAMESPACE}-${process.pid}-${Date.now()}-${seq++}.${ext}`);
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

/**
 * Removes the bulk files in `tmpDir` of processes of this PID namespace that
 * no longer run: a process killed during a load (SIGKILL, the OOM killer)
 * never reaches withBulkFile's clean-up, and such a file can be hundreds of
 * MB. Returns how many were removed. Files of live processes, of other PID
 * namespaces, of other users (unlink fails) and anything else in the
 * directory are left alone.
 */
export function removeStaleBulkFiles(tmpDir: string): number {
  let names: string[];
  try {
    names = readdirSync(tmpDir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const m = BULK_FILE.exec(name);
    if (!m || m[1] !== PID_NAMESPACE || isProcessAlive(Number(m[2]))) continue;
    try {
      unlinkSync(path.join(tmpDir, name));
      removed++;
    } catch {
      // another user's file, or removed meanwhile
    }
  }
  return removed;
}
