/**
 * Write-side validation shared by Store implementations. A store refuses a
 * malformed event or cursor with a precise error instead of storing something
 * that would not read back as it went in; the loader can use
 * InvalidEventError.index to set the one bad event aside.
 */
import type { SpoolCursor } from './types.js';
import { parseTime } from './query.js';

/** An event in a batch cannot be stored as given; the whole batch was rolled back. */
export class InvalidEventError extends Error {
  constructor(
    /** Position of the event in the batch. */
    readonly index: number,
    readonly field: string,
    message: string,
  ) {
    super(`event ${index}: ${field}: ${message}`);
    this.name = 'InvalidEventError';
  }
}

/** A spool cursor that cannot be stored; the whole batch was rolled back. */
export class InvalidCursorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCursorError';
  }
}

/**
 * Epoch ms of an event's ts. The pipeline writes `toISOString()` form, which
 * takes Date.parse's fast path; anything else must be strict ISO 8601 (never
 * Date.parse's guesswork, which reads offset-less times in the local zone).
 */
export function eventTimeMs(ts: unknown, index: number): number {
  if (typeof ts === 'string') {
    if (ts.length === 24 && ts.charCodeAt(23) === 90 /* Z */ && ts.charCodeAt(10) === 84 /* T */) {
      const ms = Date.parse(ts);
      if (!Number.isNaN(ms)) return ms;
    } else if (!/^-?\d+$/.test(ts)) {
      try {
        return parseTime(ts, 'ts');
      } catch {
        // fall through to the error below
      }
    }
  }
  throw new InvalidEventError(index, 'ts', `expected an ISO 8601 timestamp, got ${JSON.stringify(ts)}`);
}

/** Checks positions and collapses repeated writers (last one wins), so one upsert statement can take them all. */
export function normalizeCursors(cursors: readonly SpoolCursor[]): SpoolCursor[] {
  const byWriter = new Map<string, SpoolCursor>();
  for (const c of cursors) {
    if (typeof c.writer !== 'string' || c.writer === '') throw new InvalidCursorError(`spool cursor writer must be a non-empty string, got ${JSON.stringify(c.writer)}`);
    for (const k of ['segment', 'offset'] as const) {
      const v = c[k];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
        throw new InvalidCursorError(`spool cursor ${c.writer}: ${k} must be a non-negative integer, got ${JSON.stringify(v)}`);
      }
    }
    byWriter.set(c.writer, { writer: c.writer, segment: c.segment, offset: c.offset });
  }
  return [...byWriter.values()];
}
