/**
 * The spool's on-disk format, shared by the writer (proxy processes) and the
 * reader (the store loader).
 *
 *   <spool dir>/<writer id>/<segment, 20 digits>.ndjson
 *
 * A segment is newline-delimited JSON. Its first line is a header record; the
 * rest are audit events (one JSON object per line, always starting with
 * `{"id":`) or control records (`{"_":"<type>", ...}`) that readers which do
 * not know the type skip. A segment is sealed when a later segment of the same
 * writer exists: it is never written again, so a sealed segment's trailing
 * bytes without a newline are a torn write (the event was never acknowledged)
 * and are skipped.
 *
 * Room for the integrity chain: the header carries `chain` (null for now);
 * hash-chained events and signed checkpoints will be added as a `chain`
 * object in the header (the previous segment's last hash) and `checkpoint`
 * control records, without changing how events are stored.
 */

export const SPOOL_FORMAT_VERSION = 1;
export const SEGMENT_EXT = '.ndjson';
export const SEGMENT_DIGITS = 20;

export interface SegmentHeader {
  _: 'header';
  spool: number;
  writer: string;
  segment: number;
  created: string;
  pid: number;
  chain: null;
}

export function segmentFileName(seq: number): string {
  return String(seq).padStart(SEGMENT_DIGITS, '0') + SEGMENT_EXT;
}

/** Segment sequence number from a file name, or null for other files. */
export function parseSegmentFileName(name: string): number | null {
  if (!name.endsWith(SEGMENT_EXT) || name.length !== SEGMENT_DIGITS + SEGMENT_EXT.length) return null;
  const n = Number(name.slice(0, SEGMENT_DIGITS));
  return Number.isSafeInteger(n) ? n : null;
}

export function headerLine(writer: string, segment: number): string {
  const h: SegmentHeader = { _: 'header', spool: SPOOL_FORMAT_VERSION, writer, segment, created: new Date().toISOString(), pid: process.pid, chain: null };
  return JSON.stringify(h) + '\n';
}

/** Writer ids name directories: keep them to a safe alphabet. */
export const WRITER_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
