/**
 * Small pieces every access-log parser needs: tokenizing space-separated
 * lines with "quoted" and [bracketed] fields, the common log time format,
 * the request line, and the "-" placeholder. Hand-written (no regular
 * expressions on the hot path): ingest speed is a product target.
 */
import { emptyEvent, type AuditEvent, type EventKind } from '../../core/event.js';
import { uuidv7 } from '../../core/ids.js';
import type { ParseOutcome } from '../types.js';
import { isoFromMs } from '../../core/iso-time.js';

export function reject(reason: string, detail: string): ParseOutcome {
  return { ok: false, reason, detail: detail.length > 200 ? detail.slice(0, 197) + '...' : detail };
}

export const SKIP: ParseOutcome = Object.freeze({ ok: 'skip' as const });

/** A new event for an ingested line: id from now (UUIDv7), `ts` from the log. */
export function ingestedEvent(ts: string, kind: EventKind, source: string): AuditEvent {
  return emptyEvent(uuidv7(), ts, kind, source);
}

/** "-" and "" are absent values. */
export function dash(v: string | undefined): string | null {
  return v === undefined || v === '-' || v === '' ? null : v;
}

/** A non-negative integer field, or null for "-"/"", or undefined when it is not a number. */
export function intField(v: string | undefined): number | null | undefined {
  if (v === undefined || v === '-' || v === '') return null;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  return n;
}

/** A decimal number field (e.g. "0.001"), or null for "-"/"", or undefined when it is not a number. */
export function numField(v: string | undefined): number | null | undefined {
  if (v === undefined || v === '-' || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** Seconds (as in NGINX's $request_time) to milliseconds with microsecond precision. */
export function secondsToMs(s: number | null): number | null {
  return s === null ? null : Math.round(s * 1_000_000) / 1000;
}

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

function digits(s: string, from: number, n: number): number {
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}

/** "JanFeb…Dec": months compared by char code, without slicing the line. */
const MONTH_ABBR = Object.keys(MONTHS).join('');

/** Month index (0-11) of the English abbreviation at s[at..at+3), or -1. */
function monthAt(s: string, at: number): number {
  const a = s.charCodeAt(at), b = s.charCodeAt(at + 1), c = s.charCodeAt(at + 2);
  for (let m = 0; m < 12; m++) {
    const k = m * 3;
    if (MONTH_ABBR.charCodeAt(k) === a && MONTH_ABBR.charCodeAt(k + 1) === b && MONTH_ABBR.charCodeAt(k + 2) === c) return m;
  }
  return -1;
}

/**
 * The common log time "10/Oct/2000:13:55:36 -0700" (optionally with
 * fractional seconds "…:36.123 -0700") held in s[from..to), as milliseconds
 * since the epoch; NaN when malformed. Works on offsets so a parser can read
 * the time in place without slicing the line.
 */
export function parseClfTimeMs(s: string, from = 0, to = s.length): number {
  // dd/Mon/yyyy:hh:mm:ss[.fff] ±hhmm
  if (to - from < 26 || s.charCodeAt(from + 2) !== 47 || s.charCodeAt(from + 6) !== 47 || s.charCodeAt(from + 11) !== 58
    || s.charCodeAt(from + 14) !== 58 || s.charCodeAt(from + 17) !== 58) return NaN;
  let i = from + 20;
  let ms = 0;
  if (s.charCodeAt(i) === 46 /* . */) {
    let j = i + 1;
    let scale = 100;
    while (j < to && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) {
      ms += (s.charCodeAt(j) - 48) * scale;
      scale /= 10;
      j++;
    }
    ms = Math.round(ms);
    i = j;
  }
  if (s.charCodeAt(i) !== 32 || to !== i + 6) return NaN;
  // Log lines come in time order: most share the previous line's second and zone, read once.
  if (!sameAs(lastSecond, s, from, 20) || !sameAs(lastZone, s, i + 1, 5)) {
    const t = wholeSecondMs(s, from, i + 1);
    if (Number.isNaN(t)) return NaN;
    lastSecond = s.slice(from, from + 20);
    lastZone = s.slice(i + 1, i + 6);
    lastSecondMs = t;
  }
  return lastSecondMs + ms;
}

/** The last second parseClfTimeMs read ("dd/Mon/yyyy:hh:mm:ss" and "±hhmm"), valid, and its epoch ms. */
let lastSecond = '';
let lastZone = '';
let lastSecondMs = Number.NaN;

/** s[from, from + text.length) equals `text`. */
function sameAs(text: string, s: string, from: number, n: number): boolean {
  if (text.length !== n) return false;
  for (let k = n - 1; k >= 0; k--) if (s.charCodeAt(from + k) !== text.charCodeAt(k)) return false;
  return true;
}

/** A UTC offset "±hhmm" at s[at, at + 5) in ms (east positive); NaN unless hh ≤ 23 and mm ≤ 59. */
export function utcOffsetMs(s: string, at: number): number {
  const sign = s.charCodeAt(at) === 45 ? -1 : s.charCodeAt(at) === 43 ? 1 : 0;
  const hh = digits(s, at + 1, 2);
  const mm = digits(s, at + 3, 2);
  if (sign === 0 || !(hh <= 23 && mm <= 59)) return NaN;
  return sign * (hh * 60 + mm) * 60_000;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days in month (0-11) of a proleptic Gregorian year. */
function daysInMonth(year: number, month: number): number {
  return month === 1 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : DAYS_IN_MONTH[month];
}

/**
 * Whether day `day` of month `month` (0-11) exists: Date.UTC and Date.parse
 * roll impossible dates over (31 Feb becomes 2 or 3 Mar), so every time
 * reader refuses them first.
 */
export function isCalendarDay(year: number, month: number, day: number): boolean {
  return month >= 0 && month <= 11 && day >= 1 && day <= daysInMonth(year, month);
}

/** "dd/Mon/yyyy:hh:mm:ss" at s[from] and "±hhmm" at s[zone] as epoch ms; NaN when malformed. */
function wholeSecondMs(s: string, from: number, zone: number): number {
  const day = digits(s, from, 2);
  const month = monthAt(s, from + 3);
  const year = digits(s, from + 7, 4);
  const hh = digits(s, from + 12, 2);
  const mm = digits(s, from + 15, 2);
  const ss = digits(s, from + 18, 2);
  const offset = utcOffsetMs(s, zone);
  // NaN in any part makes the sum NaN, so one check covers every digit group.
  if (month < 0 || Number.isNaN(day + year + hh + mm + ss + offset)) return NaN;
  // Impossible dates are refused, not rolled over (31/Feb is not 3/Mar). A second 60 is
  // a leap second: it reads as the next minute's first.
  if (!isCalendarDay(year, month, day) || hh > 23 || mm > 59 || ss > 60) return NaN;
  return Date.UTC(year, month, day, hh, mm, ss) - offset;
}

/**
 * "10/Oct/2000:13:55:36 -0700" (optionally with fractional seconds
 * "…:36.123 -0700") to ISO 8601 UTC, or null when malformed.
 */
export function parseClfTime(s: string): string | null {
  const t = parseClfTimeMs(s);
  return Number.isNaN(t) ? null : isoFromMs(t);
}

export { isoFromMs };

/** The latest time a Date can hold (ECMA-262 21.4.1.1). */
export const MAX_DATE_MS = 8.64e15;

/** An ISO 8601 time with an offset or Z (as in ALB logs or JSON logs) to ISO UTC, or null. */
export function parseIsoTime(s: string): string | null {
  if (s.length < 20 || s[4] !== '-' || s[10] !== 'T') return null;
  if (!isCalendarDay(Number(s.slice(0, 4)), Number(s.slice(5, 7)) - 1, Number(s.slice(8, 10)))) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : isoFromMs(t);
}

/** Unix time in seconds, possibly fractional ("1700000000.123"), to ISO UTC, or null. */
export function parseEpochSeconds(s: string): string | null {
  const ms = Math.round(Number(s) * 1000);
  // Past Date's range (±8.64e15 ms) there is no ISO form: a wrong value, not an exception.
  if (!(ms > 0 && ms <= MAX_DATE_MS)) return null;
  return isoFromMs(ms);
}

export interface RequestLine {
  method: string | null;
  path: string | null;
  query: string | null;
  /** "1.1", "2.0", … */
  httpVersion: string | null;
  scheme: string | null;
  host: string | null;
}

/**
 * "GET /a?b=1 HTTP/1.1" → parts. Absolute-form targets
 * ("GET https://h:443/p HTTP/1.1", as in ALB logs) give scheme and host too.
 * Returns null when the line does not look like a request line at all (e.g.
 * a TLS handshake logged as "\x16\x03\x01…" by NGINX).
 */
export function parseRequestLine(line: string): RequestLine | null {
  const sp1 = line.indexOf(' ');
  if (sp1 <= 0) return null;
  const method = line.slice(0, sp1);
  for (let i = 0; i < method.length; i++) {
    const c = method.charCodeAt(i);
    if (!((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95)) return null;
  }
  const sp2 = line.lastIndexOf(' ');
  let target: string;
  let httpVersion: string | null = null;
  if (sp2 > sp1 && line.startsWith('HTTP/', sp2 + 1)) {
    target = line.slice(sp1 + 1, sp2);
    // The catalog spells HTTP/2 and HTTP/3 as "2" and "3", as live traffic records them.
    httpVersion = httpVersionOf(line.slice(sp2 + 1));
  } else {
    target = line.slice(sp1 + 1); // HTTP/0.9 or a truncated line
  }
  let scheme: string | null = null;
  let host: string | null = null;
  const sch = target.indexOf('://');
  if (sch > 0 && sch < 8 && target[0] !== '/') {
    scheme = target.slice(0, sch).toLowerCase();
    const rest = target.slice(sch + 3);
    const slash = rest.indexOf('/');
    host = slash === -1 ? rest : rest.slice(0, slash);
    target = slash === -1 ? '/' : rest.slice(slash);
  }
  const q = target.indexOf('?');
  return {
    method,
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 || q === target.length - 1 ? null : target.slice(q + 1),
    httpVersion,
    scheme,
    host,
  };
}

/** Host without port: "example.com:443" → "example.com", "[::1]:80" → "::1". */
export function hostWithoutPort(h: string): string {
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const c = h.indexOf(':');
  return c !== -1 && c === h.lastIndexOf(':') ? h.slice(0, c) : h;
}

/** "1.2.3.4:5678" / "[::1]:80" / "::1" → [ip, port|null]. */
export function splitAddress(a: string): [string, number | null] {
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    if (end < 0) return [a, null];
    const port = a[end + 1] === ':' ? Number(a.slice(end + 2)) : NaN;
    return [a.slice(1, end), Number.isInteger(port) ? port : null];
  }
  const c = a.lastIndexOf(':');
  if (c === -1 || a.indexOf(':') !== c) return [a, null]; // no port, or bare IPv6
  const port = Number(a.slice(c + 1));
  return [a.slice(0, c), Number.isInteger(port) && port >= 0 && port <= 65535 ? port : null];
}

/**
 * Splits a log line into fields separated by single spaces, where a field
 * may be "double quoted" (backslash escapes \" and \\ kept verbatim except
 * for the quote, as NGINX and Apache write them) or [bracketed]. Returns
 * null on an unterminated quote or bracket.
 */
export function splitFields(line: string, out: string[] = []): string[] | null {
  out.length = 0;
  let i = 0;
  const n = line.length;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (c === 32) {
      i++;
      continue;
    }
    if (c === 34 /* " */) {
      let j = i + 1;
      let hasEscape = false;
      while (j < n) {
        const d = line.charCodeAt(j);
        if (d === 92 /* \ */ && j + 1 < n) {
          hasEscape = true;
          j += 2;
          continue;
        }
        if (d === 34) break;
        j++;
      }
      if (j >= n) return null;
      const raw = line.slice(i + 1, j);
      out.push(hasEscape ? unescapeLogString(raw) : raw);
      i = j + 1;
      continue;
    }
    if (c === 91 /* [ */) {
      const j = line.indexOf(']', i + 1);
      if (j === -1) return null;
      out.push(line.slice(i + 1, j));
      i = j + 1;
      continue;
    }
    let j = line.indexOf(' ', i);
    if (j === -1) j = n;
    out.push(line.slice(i, j));
    i = j;
  }
  return out;
}

/**
 * Undoes the escaping NGINX (`\xHH` by default; `\"`, `\\`, `\n`, `\uXXXX`
 * … with `escape=json`) and Apache (`\"`, `\\`, `\b`, `\n`, `\r`, `\t`,
 * `\v`, `\xHH`) apply to quoted fields. Consecutive `\xHH` escapes are the
 * bytes of one value as the server received them, so they are decoded
 * together as UTF-8 ("\xC3\xA9" is "é"); bytes that are not UTF-8 become
 * U+FFFD, as they do when a raw log file is read.
 */
export function unescapeLogString(s: string): string {
  const n = s.length;
  let out = '';
  let from = 0; // start of the text not yet copied to out
  let bs = s.indexOf('\\');
  while (bs !== -1 && bs + 1 < n) {
    out += s.slice(from, bs);
    const d = s.charCodeAt(bs + 1);
    if (d === 120 /* x */ && hexByte(s, bs + 2) >= 0) {
      let end = bs;
      let high = false;
      while (end + 3 < n && s.charCodeAt(end) === 92 && s.charCodeAt(end + 1) === 120) {
        const b = hexByte(s, end + 2);
        if (b < 0) break;
        if (b >= 0x80) high = true;
        end += 4;
      }
      const count = (end - bs) / 4;
      if (high) {
        const buf = Buffer.allocUnsafe(count);
        for (let k = 0; k < count; k++) buf[k] = hexByte(s, bs + 4 * k + 2);
        out += buf.toString('utf8');
      } else {
        for (let k = 0; k < count; k++) out += String.fromCharCode(hexByte(s, bs + 4 * k + 2));
      }
      from = end;
    } else if (d === 117 /* u */ && bs + 5 < n && hexByte(s, bs + 2) >= 0 && hexByte(s, bs + 4) >= 0) {
      // Surrogate pairs arrive as two escapes; their halves concatenate into one character.
      out += String.fromCharCode(hexByte(s, bs + 2) * 256 + hexByte(s, bs + 4));
      from = bs + 6;
    } else {
      out += d === 110 ? '\n' : d === 116 ? '\t' : d === 114 ? '\r' : d === 98 ? '\b' : d === 102 ? '\f' : d === 118 ? '\v' : s[bs + 1];
      from = bs + 2;
    }
    bs = s.indexOf('\\', from);
  }
  return from === 0 ? s : out + s.slice(from);
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** The byte written as two hex digits at s[i..i+2), or -1. */
function hexByte(s: string, i: number): number {
  if (i + 1 >= s.length) return -1;
  const h = hexDigit(s.charCodeAt(i));
  const l = hexDigit(s.charCodeAt(i + 1));
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/**
 * "HTTP/1.1" / "1.1" → "1.1"; "HTTP/2.0" → "2" and "HTTP/3.0" → "3", as the
 * catalog spells them. Null for "-", "" and anything that is not a protocol
 * version (e.g. the path of a truncated request line).
 */
export function httpVersionOf(v: string | null): string | null {
  if (v === null) return null;
  const s = v.startsWith('HTTP/') ? v.slice(5) : /^\d(\.\d)?$/.test(v) ? v : '';
  if (s === '' || s === '-') return null;
  return s === '2.0' ? '2' : s === '3.0' ? '3' : s;
}

/** The trace id of a W3C `traceparent` ("00-<32 hex>-<16 hex>-<2 hex>"), lower-cased; null when it is not one. */
export function traceIdFromTraceparent(v: string): string | null {
  if (v.length < 55 || v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return null;
  let zero = true;
  for (let i = 3; i < 35; i++) {
    const h = hexDigit(v.charCodeAt(i));
    if (h < 0) return null;
    if (h !== 0) zero = false;
  }
  return zero ? null : v.slice(3, 35).toLowerCase();
}

/**
 * Share of the sample's entries (skipped lines aside) that `parser` accepts,
 * scaled by how distinctive a successful parse is: for formats whose own
 * validation (field count, type word, times, addresses) is stricter than any
 * signature test would be, parsing is the detector.
 */
export function parseRatio(parser: { parse(line: string): ParseOutcome }, sample: readonly string[], certainty: number): number {
  let entries = 0;
  let ok = 0;
  for (const line of sample.slice(0, 50)) {
    const o = parser.parse(line);
    if (o.ok === 'skip') continue;
    entries++;
    if (o.ok === true) ok++;
  }
  return entries === 0 ? 0 : (ok / entries) * certainty;
}

/**
 * Whether `s` is one quoted word of a config file (nginx.conf, haproxy.cfg)
 * followed by nothing but `trailer` (a `;`, a `# comment`): the format given
 * as the config file quotes it, not a format that merely begins with a quote
 * of its own. Backslash escapes count inside double quotes.
 */
export function isWholeQuoted(s: string, quotes: string, trailer: RegExp): boolean {
  const q = s[0];
  if (q === undefined || !quotes.includes(q)) return false;
  let j = 1;
  for (; j < s.length && s[j] !== q; j++) if (q === '"' && s[j] === '\\') j++;
  return j < s.length && trailer.test(s.slice(j + 1));
}
