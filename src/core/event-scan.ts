/**
 * Reads only some fields of a spool record, straight from its bytes. The
 * detection worker needs a dozen of an event's fields; JSON.parse of the
 * whole record (header maps included) was most of its cost per event. The
 * scanner walks the record once, decodes the wanted values and skips the
 * rest without building strings or objects for them.
 *
 * It expects what serializeEvent writes (a flat object; strings, numbers,
 * null, and JSON objects for the map fields) and returns null for anything
 * else, so the caller falls back to JSON.parse: never a wrong answer, at
 * worst the slow path.
 */
import { FIELDS, type AuditEvent } from './event.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const SPACE = 0x20;

const KEYS = FIELDS.map((f) => Buffer.from(f.name, 'latin1'));
const NAMES = FIELDS.map((f) => f.name as string);

/** Values up to this many bytes are remembered per field (see decode). */
const CACHED_MAX = 48;

export type EventScanner = (buf: Buffer, start: number, end: number) => Partial<AuditEvent> | null;

/** A scanner that returns the `wanted` fields (absent ones left out, as in the record). */
export function createEventScanner(wanted: ReadonlySet<string>): EventScanner {
  const want = FIELDS.map((f) => wanted.has(f.name));
  const n = FIELDS.length;

  /** Index of the field whose name is buf[a, b), trying the catalog order from `from` first. */
  function fieldAt(buf: Buffer, a: number, b: number, from: number): number {
    const len = b - a;
    for (let k = 0; k < n; k++) {
      const i = (from + k) % n;
      const key = KEYS[i];
      if (key.length !== len) continue;
      let same = true;
      for (let j = 0; j < len; j++) {
        if (buf[a + j] !== key[j]) {
          same = false;
          break;
        }
      }
      if (same) return i;
    }
    return -1;
  }

  /**
   * The last short value decoded per field and its bytes: most fields
   * (method, host, route, decision...) repeat from one event to the next,
   * and comparing a few bytes costs less than decoding them.
   */
  const lastBytes: Uint8Array[] = FIELDS.map(() => new Uint8Array(CACHED_MAX));
  const lastLength: number[] = FIELDS.map(() => -1);
  const lastValue: string[] = FIELDS.map(() => '');

  function decode(buf: Buffer, a: number, q: number, idx: number): string {
    const len = q - a;
    if (len > CACHED_MAX) return buf.toString('utf8', a, q);
    const prev = lastBytes[idx];
    if (lastLength[idx] === len) {
      let i = 0;
      while (i < len && prev[i] === buf[a + i]) i++;
      if (i === len) return lastValue[idx];
    }
    const v = buf.toString('utf8', a, q);
    for (let i = 0; i < len; i++) prev[i] = buf[a + i];
    lastLength[idx] = len;
    lastValue[idx] = v;
    return v;
  }

  return (buf, start, end) => {
    const out: Record<string, unknown> = {};
    let p = start;
    if (buf[p] !== OPEN) return null;
    p++;
    let next = 0;
    let first = true;
    while (p < end) {
      if (buf[p] === CLOSE && first) return out;
      first = false;
      if (buf[p] !== QUOTE) return null;
      const ka = p + 1;
      let kb = ka;
      while (kb < end && buf[kb] !== QUOTE && buf[kb] !== BACKSLASH) kb++;
      if (buf[kb] !== QUOTE || buf[kb + 1] !== COLON) return null;
      const idx = fieldAt(buf, ka, kb, next);
      p = kb + 2;
      const keep = idx !== -1 && want[idx];
      if (idx !== -1) next = idx + 1;
      const c = buf[p];
      if (c === QUOTE) {
        // A string: find its end, noting escapes.
        const a = p + 1;
        let q = a;
        let escaped = false;
        while (q < end) {
          const b = buf[q];
          if (b === QUOTE) break;
          if (b === BACKSLASH) {
            escaped = true;
            q += 2;
          } else q++;
        }
        if (q >= end) return null;
        if (keep) out[NAMES[idx]] = escaped ? (JSON.parse(buf.toString('utf8', a - 1, q + 1)) as string) : decode(buf, a, q, idx);
        p = q + 1;
      } else if (c === OPEN) {
        // A map (headers, labels, extra): skip to the matching brace, minding strings.
        const a = p;
        let depth = 0;
        let q = p;
        for (; q < end; q++) {
          const b = buf[q];
          if (b === QUOTE) {
            q++;
            while (q < end && buf[q] !== QUOTE) q += buf[q] === BACKSLASH ? 2 : 1;
          } else if (b === OPEN) depth++;
          else if (b === CLOSE && --depth === 0) break;
        }
        if (q >= end) return null;
        if (keep) out[NAMES[idx]] = JSON.parse(buf.toString('utf8', a, q + 1)) as unknown;
        p = q + 1;
      } else {
        // A number, null, true or false.
        const a = p;
        while (p < end && buf[p] !== COMMA && buf[p] !== CLOSE && buf[p] !== SPACE) p++;
        if (keep) {
          const text = buf.toString('latin1', a, p);
          if (text === 'null') out[NAMES[idx]] = null;
          else {
            const v = Number(text);
            if (text === '' || !Number.isFinite(v)) return null;
            out[NAMES[idx]] = v;
          }
        }
      }
      if (buf[p] === COMMA) p++;
      else if (buf[p] === CLOSE) return p + 1 === end ? out : null;
      else return null;
    }
    return null;
  };
}
