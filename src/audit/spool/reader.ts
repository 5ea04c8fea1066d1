/**
 * SpoolReader: reads events from every writer's segments, from a cursor on.
 * It never consumes a partial line of the active segment (the writer may be
 * mid-write), skips the torn tail of a sealed segment, and removes segments
 * that are sealed and fully loaded.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { AuditEvent } from '../../core/event.js';
import type { SpoolCursor } from '../../store/types.js';
import { parseSegmentFileName, segmentFileName, WRITER_ID_RE } from './format.js';

/** A record that could not be read or stored, where it is and why. */
export type BadLine = RecordPlace & { error: string };

export interface ReadResult {
  events: AuditEvent[];
  /** Cursors after this read, for every writer that advanced. */
  cursors: SpoolCursor[];
  /** Torn tails skipped in sealed segments (unacknowledged partial writes). */
  torn: number;
  bad: BadLine[];
}

/**
 * Consecutive event records of one segment exactly as they are in the file,
 * each ending with a newline: a store that parses JSON natively loads these
 * without JavaScript touching each event.
 */
export interface RawRun {
  writer: string;
  segment: number;
  /** File offset of data[0]. */
  offset: number;
  data: Buffer;
}

export interface RawReadResult {
  runs: RawRun[];
  /** Records in all runs. */
  count: number;
  cursors: SpoolCursor[];
  torn: number;
  /** Lines that are neither an event nor a control record. */
  bad: BadLine[];
}

/** Where an event record is: for reports about one that cannot be loaded. */
/** Where a record starts in the spool. */
export interface RecordPlace {
  writer: string;
  segment: number;
  offset: number;
}

const READ_CHUNK = 4 * 1024 * 1024;
/** A record longer than this is not an event the pipeline wrote (they are bounded by header and URL limits). */
const MAX_RECORD = 64 * 1024 * 1024;
const NL = 0x0a;

/** Reads an event record from buf[start, end) (without the newline); null = not handled, use JSON.parse. */
export type RecordDecoder = (buf: Buffer, start: number, end: number) => AuditEvent | null;

/**
 * Parses the records of `runs` (with `decode` first when given). A record
 * that does not parse is reported in `bad` and left out. With `places`, the
 * file position of each event is returned too (same order as `events`).
 */
export function parseRuns(runs: readonly RawRun[], decode: RecordDecoder | null = null, places = false): { events: AuditEvent[]; places: RecordPlace[]; bad: BadLine[] } {
  const out = { events: [] as AuditEvent[], places: [] as RecordPlace[], bad: [] as BadLine[] };
  for (const run of runs) {
    const buf = run.data;
    let pos = 0;
    while (pos < buf.length) {
      let nl = buf.indexOf(NL, pos);
      if (nl === -1) nl = buf.length; // a run from readRaw ends with a newline; be safe with any other
      try {
        out.events.push(decode?.(buf, pos, nl) ?? (JSON.parse(buf.toString('utf8', pos, nl)) as AuditEvent));
        if (places) out.places.push({ writer: run.writer, segment: run.segment, offset: run.offset + pos });
      } catch (err) {
        out.bad.push({ writer: run.writer, segment: run.segment, offset: run.offset + pos, error: (err as Error).message });
      }
      pos = nl + 1;
    }
  }
  return out;
}

/** Position of the first newline at or after `from` in the file, or -1 before `size`. */
async function findNewline(fh: FileHandle, from: number, size: number): Promise<number> {
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let pos = from; pos < size; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
    if (bytesRead === 0) break;
    const i = buf.indexOf(NL);
    if (i !== -1 && i < bytesRead) return pos + i;
    pos += bytesRead;
  }
  return -1;
}

export class SpoolReader {
  private start = 0;
  /** Longest record read; a longer line is reported as bad and skipped. */
  maxRecord = MAX_RECORD;
  /** A faster reader of records (e.g. only the fields detection needs); JSON.parse when absent or when it declines. */
  decode: RecordDecoder | null = null;

  constructor(readonly dir: string) {}

  async writers(): Promise<string[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: string[] = [];
    for (const n of names) {
      if (!WRITER_ID_RE.test(n)) continue;
      const st = await fsp.stat(path.join(this.dir, n)).catch(() => null);
      if (st?.isDirectory()) out.push(n);
    }
    return out.sort();
  }

  async segments(writer: string): Promise<number[]> {
    const names = await fsp.readdir(path.join(this.dir, writer)).catch(() => [] as string[]);
    const segs: number[] = [];
    for (const n of names) {
      const s = parseSegmentFileName(n);
      if (s !== null) segs.push(s);
    }
    return segs.sort((a, b) => a - b);
  }

  segmentPath(writer: string, seg: number): string {
    return path.join(this.dir, writer, segmentFileName(seg));
  }

  /** Reads up to maxEvents new events across all writers, starting at the given cursors. */
  async read(cursors: ReadonlyMap<string, SpoolCursor>, maxEvents: number): Promise<ReadResult> {
    const raw = await this.readRaw(cursors, maxEvents);
    const parsed = parseRuns(raw.runs, this.decode);
    return { events: parsed.events, cursors: raw.cursors, torn: raw.torn, bad: [...raw.bad, ...parsed.bad] };
  }

  /** Like read(), but the records are returned as they are in the files, unparsed. */
  async readRaw(cursors: ReadonlyMap<string, SpoolCursor>, maxEvents: number): Promise<RawReadResult> {
    const result: RawReadResult = { runs: [], count: 0, cursors: [], torn: 0, bad: [] };
    const writers = await this.writers();
    if (!writers.length) return result;
    // Rotate the starting writer so one busy writer cannot starve the others.
    this.start = (this.start + 1) % writers.length;
    for (let i = 0; i < writers.length && result.count < maxEvents; i++) {
      const w = writers[(this.start + i) % writers.length];
      const cur = await this.readWriter(w, cursors.get(w), maxEvents - result.count, result);
      if (cur) result.cursors.push(cur);
    }
    return result;
  }

  private async readWriter(writer: string, from: SpoolCursor | undefined, budget: number, out: RawReadResult): Promise<SpoolCursor | null> {
    const segs = await this.segments(writer);
    if (!segs.length) return null;
    let seg: number;
    let offset: number;
    if (!from || from.segment < segs[0]) {
      seg = segs[0];
      offset = 0;
    } else {
      seg = from.segment;
      offset = from.offset;
    }
    const startSeg = seg;
    const startOff = offset;
    let idx = segs.indexOf(seg);
    if (idx === -1) {
      // The cursor's segment is gone (e.g. removed after loading): go to the next one.
      idx = segs.findIndex((s) => s > seg);
      if (idx === -1) return null;
      seg = segs[idx];
      offset = 0;
    }
    let taken = 0;
    while (taken < budget) {
      const sealed = idx < segs.length - 1;
      const file = this.segmentPath(writer, seg);
      const fh = await fsp.open(file, 'r').catch(() => null);
      if (!fh) break;
      let size: number;
      try {
        size = (await fh.stat()).size;
        let chunk = READ_CHUNK;
        while (offset < size && taken < budget) {
          const len = Math.min(chunk, size - offset);
          const buf = Buffer.allocUnsafe(len);
          const { bytesRead } = await fh.read(buf, 0, len, offset);
          const last = buf.lastIndexOf(NL, bytesRead - 1);
          if (last === -1) {
            if (bytesRead < len || len < chunk) break; // partial line: wait for the writer (or it is a torn tail)
            if (chunk < this.maxRecord) {
              // One record longer than the buffer: read it whole.
              chunk = Math.min(chunk * 4, this.maxRecord);
              continue;
            }
            // Longer than any record may be: reported and skipped, so it cannot hold back every event after it.
            const nl = await findNewline(fh, offset + len, size);
            if (nl === -1) break; // its end is not written yet (or it is a torn tail)
            out.bad.push({ writer, segment: seg, offset, error: `record longer than ${this.maxRecord} bytes, skipped` });
            offset = nl + 1;
            chunk = READ_CHUNK;
            continue;
          }
          chunk = READ_CHUNK;
          // Consecutive event records are kept as one run (a slice of the buffer, no copy).
          let runStart = -1;
          let runCount = 0;
          const endRun = (end: number): void => {
            if (runCount) out.runs.push({ writer, segment: seg, offset: offset + runStart, data: buf.subarray(runStart, end) });
            out.count += runCount;
            runStart = -1;
            runCount = 0;
          };
          let pos = 0;
          while (pos <= last && taken < budget) {
            const nl = buf.indexOf(NL, pos);
            const lineStart = offset + pos;
            // `{"id":` is an event; `{"_":` a control record (skipped); anything else is bad.
            // The first line of a segment is its header; empty lines are skipped.
            if (lineStart !== 0 && nl > pos && buf[pos] === 0x7b && buf[pos + 2] === 0x69) {
              if (runStart === -1) runStart = pos;
              runCount++;
              taken++;
            } else {
              endRun(pos);
              if (lineStart !== 0 && nl > pos && !(buf[pos] === 0x7b && buf[pos + 2] === 0x5f)) {
                out.bad.push({ writer, segment: seg, offset: lineStart, error: 'not an event or control record' });
              }
            }
            pos = nl + 1;
          }
          endRun(pos);
          offset += pos;
        }
      } finally {
        await fh.close();
      }
      if (taken >= budget) break;
      if (!sealed) break;
      if (offset < size) out.torn++;
      idx++;
      seg = segs[idx];
      offset = 0;
    }
    if (seg === startSeg && offset === startOff) return null;
    return { writer, segment: seg, offset };
  }

  /** Deletes sealed segments every event of which is loaded (entirely before the cursor's segment). */
  async removeLoaded(cursors: ReadonlyMap<string, SpoolCursor>): Promise<number> {
    let removed = 0;
    for (const [writer, cur] of cursors) {
      for (const seg of await this.segments(writer)) {
        if (seg >= cur.segment) break;
        await fsp.rm(this.segmentPath(writer, seg), { force: true });
        removed++;
      }
    }
    return removed;
  }

  /** Bytes written to the spool but not loaded yet (the loader's lag). */
  async lagBytes(cursors: ReadonlyMap<string, SpoolCursor>): Promise<number> {
    let lag = 0;
    for (const writer of await this.writers()) {
      const cur = cursors.get(writer);
      for (const seg of await this.segments(writer)) {
        if (cur && seg < cur.segment) continue;
        const st = await fsp.stat(this.segmentPath(writer, seg)).catch(() => null);
        if (!st) continue;
        lag += cur && seg === cur.segment ? Math.max(0, st.size - cur.offset) : st.size;
      }
    }
    return lag;
  }
}

/** Another reader's saved position older than this is ignored: that reader is gone, and segments must not pile up for it. */
export const HOLD_MAX_AGE_MS = 5 * 60_000;

/**
 * The cursors up to which segments may be removed: `own`, moved back to the
 * segment another reader (`hold`: `{ saved_at, cursors }`, e.g. detection's
 * state file) is still reading, unless its position is stale or unreadable.
 */
export function holdCursors(own: ReadonlyMap<string, SpoolCursor>, hold: unknown, now: number): Map<string, SpoolCursor> {
  const out = new Map(own);
  const h = hold as { saved_at?: unknown; cursors?: unknown } | null;
  if (!h || typeof h.saved_at !== 'string' || !Array.isArray(h.cursors)) return out;
  if (!(now - Date.parse(h.saved_at) <= HOLD_MAX_AGE_MS)) return out;
  for (const c of h.cursors as SpoolCursor[]) {
    const mine = out.get(c?.writer);
    if (mine && typeof c.segment === 'number' && c.segment < mine.segment) out.set(c.writer, { ...mine, segment: c.segment, offset: 0 });
  }
  return out;
}
