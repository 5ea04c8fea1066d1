/**
 * The audit trail is as private as the spool's 0640 segments: files a
 * Tollgate process creates (the store, its WAL, the ingest registry...) are
 * not readable by other users. An umask that is stricter already stays.
 */
export function keepFilesPrivate(): void {
  process.umask(process.umask() | 0o027);
}
