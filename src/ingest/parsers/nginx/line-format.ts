/**
 * The engine behind every text access-log format in this folder and in
 * ../apache: a format string (NGINX `log_format`, Apache `LogFormat`) is
 * compiled once into literal separators and fields, and each line is read
 * by walking it with indexOf and character compares, no regular expression
 * and no split.
 * The built-in formats (combined, common, main) are compiled from their
 * format strings like any custom one, so there is one reader to trust.
 *
 * Each field has a sink: the catalog field it feeds, with its conversion
 * (a status, a duration in seconds, a request line, a time...). Numbers and
 * times are read in place from the line; only values that end up in the
 * event as strings are sliced. Where two variables feed the same field
 * ($request and $uri both give a path), the one marked `weak` only fills
 * what the other left empty, whatever their order in the format.
 */
import type { AuditEvent } from '../../../core/event.js';
import type { LogParser, ParseOutcome, ParserOptions, SqlLineFormat } from '../../types.js';
import { compileLineSql } from './line-sql.js';
import {
  SKIP,
  hostWithoutPort,
  httpVersionOf,
  ingestedEvent,
  isoFromMs,
  parseClfTimeMs as parseClfMs,
  utcOffsetMs,
  reject,
  traceIdFromTraceparent,
  unescapeLogString,
} from '../common.js';
import { ALWAYS_REDACTED_HEADERS, headerFilterFor, redactFilter } from '../../../audit/redact.js';
import { localToUtc, zoneOffsetsFor, type ZoneOffsets } from '../../../core/time-zone.js';

/** What a field feeds. Declared `const` so tsc inlines the numbers into the hot switch. */
export const enum Sink {
  /** `extra[key]`, as a string. */
  Extra,
  /** `headers[key]` (`req.<name>`). */
  ReqHeader,
  /** `headers[key]` (`res.<name>`). */
  ResHeader,
  ClientIp,
  ClientPort,
  PeerIp,
  UserId,
  Node,
  ForwardedFor,
  /** "GET /p?q HTTP/1.1": method, path, query, http_version (and scheme, host in absolute form). */
  RequestLine,
  Method,
  /** "/p?q": path and query. */
  RequestUri,
  Path,
  /** The query; a leading "?" (Apache's %q) is dropped. */
  Query,
  /** "HTTP/1.1" → http_version. */
  Protocol,
  Scheme,
  /** NGINX's $https: "on" means https. */
  HttpsFlag,
  /** A Host header or server name: port dropped, lower-cased. */
  Host,
  Status,
  BytesOut,
  /** Apache's %b: "-" means 0 bytes. */
  BytesOutClf,
  BytesIn,
  DurationSeconds,
  DurationMs,
  DurationUs,
  /** A time read by the field's `time` reader. */
  Time,
  /** Milliseconds (3 digits) to add to a time logged to the second (Apache's %{msec_frac}t). */
  TimeFracMs,
  /** Microseconds (6 digits), likewise (%{usec_frac}t). */
  TimeFracUs,
  /** A UTC offset ("+0100") logged apart from a local time without one (Apache's %{%z}t next to %{%d/%b/%Y %T}t). */
  TimeZoneOffset,
  /** NGINX's $upstream_addr: a list; the last address served. */
  UpstreamAddr,
  UpstreamStatus,
  UpstreamSeconds,
  UserAgent,
  Referer,
  RequestId,
  TraceId,
  /** A W3C traceparent header: its trace id. */
  Traceparent,
  TlsVersion,
  TlsCipher,
  Sni,
  ClientCert,
  /** Apache's %X: "X" means the connection was aborted before the response completed. */
  ConnStatus,
}

/** Epoch milliseconds of the time held in s[from..to), or NaN. */
export type TimeReader = (s: string, from: number, to: number) => number;

/** What a variable or directive means, wherever it sits in a format. */
export interface FieldSpec {
  sink: Sink;
  /** Key in `extra` or `headers`. */
  key: string;
  /** Only fills the catalog field when nothing else did. */
  weak: boolean;
  /** "-" is a normal value even where the sink needs one (Apache's conditional directives). */
  optional: boolean;
  /** The value is an NGINX list ("a, b : c") whose separators contain spaces. */
  list: boolean;
  /** The value is at least this long, so a separator is not looked for inside it (the space in "10/Oct/2000:13:55:36 +0000"). */
  minWidth: number;
  time: TimeReader | null;
  /** The time is when the request ended (NGINX logs at completion), so the duration is subtracted to get `ts`. */
  timeAtEnd: boolean;
  /** Of several time fields in one line, the most precise one gives `ts` (e.g. $msec over $time_local). */
  timePrecision: number;
  /** The time is the server's local time without an offset (read in the parser's timezone). */
  timeLocal: boolean;
  /** For credentials and cookies kept in `headers` or `extra`: what is recorded instead of the value. */
  redact: ((value: string) => string) | null;
}

export function spec(sink: Sink, more: Partial<FieldSpec> = {}): FieldSpec {
  return { sink, key: '', weak: false, optional: false, list: false, minWidth: 0, time: null, timeAtEnd: false, timePrecision: 0, timeLocal: false, redact: null, ...more };
}

/**
 * A request (`req.`) or response (`res.`) header kept in `headers`. The
 * headers live traffic never records in clear (Authorization, Cookie,
 * X-Api-Key...) are redacted the same way here, whatever the ingest
 * configuration: a log that holds them must not put them in the store.
 */
export function headerSpec(direction: 'req' | 'res', name: string): FieldSpec {
  const n = name.toLowerCase();
  return spec(direction === 'req' ? Sink.ReqHeader : Sink.ResHeader, { key: `${direction}.${n}`, redact: ALWAYS_REDACTED_HEADERS.includes(n) ? headerFilterFor(n) : null });
}

/**
 * A field as `audit.redact.headers` (`configured`: lower-case names) asks:
 * a header field it names is redacted as live traffic's is. Decided once per
 * field, when a parser is made, not per line.
 */
export function withConfiguredRedaction<T extends FieldSpec>(f: T, configured: ReadonlySet<string>): T {
  if ((f.sink !== Sink.ReqHeader && f.sink !== Sink.ResHeader) || f.redact !== null) return f;
  const name = f.key.slice(f.key.indexOf('.') + 1);
  return configured.has(name) ? { ...f, redact: headerFilterFor(name, configured) } : f;
}

/** `ParserOptions.redactHeaders` as the set withConfiguredRedaction takes. */
export function configuredHeaders(opts: ParserOptions): ReadonlySet<string> {
  return new Set((opts.redactHeaders ?? []).map((n) => n.trim().toLowerCase()));
}

/** A cookie's value kept in `extra`: only that it was sent. */
export function cookieSpec(key: string): FieldSpec {
  return spec(Sink.Extra, { key, redact: redactFilter });
}

/** A field placed in a compiled format. */
export interface Field extends FieldSpec {
  /** As written in the format ("$request_time", "%{Referer}i"): used in error details. */
  label: string;
  /** Between double quotes: ends at the first quote that is not backslash-escaped. */
  quoted: boolean;
  /** The literal text that follows the value ("" when the value runs to the end of the line). */
  after: string;
  /** The value never holds a space (a number, an address, a status...). */
  token: boolean;
  /** Last time string seen and its value: lines arrive in time order, so most lines repeat it. */
  cacheRaw: string;
  cacheMs: number;
}

const TOKEN_SINKS: ReadonlySet<Sink> = new Set([
  Sink.ClientIp, Sink.ClientPort, Sink.PeerIp, Sink.Status, Sink.BytesOut, Sink.BytesOutClf, Sink.BytesIn,
  Sink.DurationSeconds, Sink.DurationMs, Sink.DurationUs, Sink.TimeFracMs, Sink.TimeFracUs, Sink.TimeZoneOffset,
  Sink.Scheme, Sink.HttpsFlag, Sink.TlsVersion, Sink.TlsCipher, Sink.ConnStatus,
]);

export function field(label: string, s: FieldSpec, quoted = false, after = ''): Field {
  const token = !quoted && !s.list && (TOKEN_SINKS.has(s.sink) || (s.sink === Sink.Time && s.minWidth === 0));
  return { ...s, label, quoted, after, token, cacheRaw: '', cacheMs: NaN };
}

export interface LineFormat {
  /** Literal text before the first field. */
  lead: string;
  fields: Field[];
  /** Whether quoted values carry backslash escapes (false for NGINX `escape=none`). */
  unescape: boolean;
}

/** Per-line state that is not an event field; one object per parser, reset for each line. */
export interface LineState {
  timeMs: number;
  timePrecision: number;
  timeAtEnd: boolean;
  timeLabel: string;
  timeLocal: boolean;
  fracMs: number;
  /** A separately logged UTC offset (ms, east positive), NaN when none. */
  offsetMs: number;
  /** The request line was absent or not HTTP: the server refused it itself. */
  badRequest: boolean;
  aborted: boolean;
}

export function newState(): LineState {
  return { timeMs: NaN, timePrecision: -1, timeAtEnd: false, timeLabel: '', timeLocal: false, fracMs: 0, offsetMs: NaN, badRequest: false, aborted: false };
}

export function resetState(st: LineState): void {
  st.timeMs = NaN;
  st.timePrecision = -1;
  st.timeAtEnd = false;
  st.timeLocal = false;
  st.fracMs = 0;
  st.offsetMs = NaN;
  st.badRequest = false;
  st.aborted = false;
}

/** Why apply() refused a value. */
export const enum Fail {
  None,
  Status,
  Number,
  Time,
}

/**
 * Sets `key` in an event's extra or header map (made when missing). Keys
 * come from the format, and `$__proto__` is a valid variable name: assigned,
 * it would set the map's prototype and vanish, so it is defined instead.
 */
function put(map: Record<string, string> | null, key: string, value: string): Record<string, string> {
  const m = map ?? {};
  if (key === '__proto__') Object.defineProperty(m, key, { value, enumerable: true, writable: true, configurable: true });
  else m[key] = value;
  return m;
}

const FAIL_REASON = ['', 'bad_status', 'bad_number', 'bad_timestamp'];
const FAIL_WHAT = ['', 'not an HTTP status', 'not a number', 'not a valid time'];

// ---------------------------------------------------------------------------
// Reading values in place

/** A non-negative decimal integer in s[a..b), or -1. At most 16 digits (epoch microseconds), and exact. */
export function readInt(s: string, a: number, b: number): number {
  if (b <= a || b - a > 16) return -1;
  let n = 0;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return -1; // also NaN past the end
    n = n * 10 + c;
  }
  return n <= Number.MAX_SAFE_INTEGER ? n : -1;
}

/** A non-negative decimal ("12", "0.345") in s[a..b), or NaN. Stricter than Number(): no signs, exponents, hex or blanks. */
export function readDecimal(s: string, a: number, b: number): number {
  if (b <= a) return NaN;
  let i = a;
  let n = 0;
  for (; i < b; i++) {
    const c = s.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) break;
    n = n * 10 + c;
  }
  if (i === a || i - a > 15) return NaN;
  if (i === b) return n;
  if (s.charCodeAt(i) !== 46 /* . */ || i + 1 === b || b - i > 10) return NaN;
  let frac = 0;
  let scale = 1;
  for (i++; i < b; i++) {
    const c = s.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return NaN;
    frac = frac * 10 + c;
    scale *= 10;
  }
  return n + frac / scale;
}

/**
 * Whether `lit` occurs in s at `at`. A plain loop: V8 inlines it, where
 * String.prototype.startsWith with a position is a call into the runtime
 * that costs more than these few characters.
 */
function matchAt(s: string, lit: string, at: number): boolean {
  const n = lit.length;
  if (at + n > s.length) return false;
  for (let i = n - 1; i >= 0; i--) if (s.charCodeAt(at + i) !== lit.charCodeAt(i)) return false;
  return true;
}

function flatCopy(v: string): string {
  return Buffer.from(v, 'utf8').toString('utf8');
}

/** Milliseconds rounded to the microsecond, as the catalog's durations are. */
function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Start of the last item of an NGINX list value in s[a..b): items are
 * separated by ", " (servers tried in turn) and " : " (an internal redirect
 * to another upstream group).
 */
function lastItemStart(s: string, a: number, b: number): number {
  // Both separators hold a space; most values (one server) have none, and indexOf finds that fast.
  const sp = s.indexOf(' ', a);
  if (sp === -1 || sp >= b) return a;
  for (let j = b - 2; j > a; j--) {
    const c = s.charCodeAt(j);
    if (s.charCodeAt(j + 1) === 32 && (c === 44 /* , */ || (c === 58 /* : */ && s.charCodeAt(j - 1) === 32))) return j + 2;
  }
  return a;
}

function listLength(s: string, a: number, b: number): number {
  let n = 1;
  for (let j = a + 1; j < b - 1; j++) {
    const c = s.charCodeAt(j);
    if (s.charCodeAt(j + 1) === 32 && (c === 44 || (c === 58 && s.charCodeAt(j - 1) === 32))) n++;
  }
  return n;
}

/** A string value of s[a..b), with escapes undone when the field is quoted. */
function text(s: string, a: number, b: number, escaped: boolean): string {
  const v = a === 0 && b === s.length ? s : s.slice(a, b);
  return escaped && v.indexOf('\\') !== -1 ? unescapeLogString(v) : v;
}

function hostOf(v: string): string {
  return hostWithoutPort(v).toLowerCase();
}

// ---------------------------------------------------------------------------
// Times

/** The common log time without brackets ("10/Oct/2000:13:55:36 -0700", NGINX's $time_local). */
export const clfTime: TimeReader = parseClfMs;

/** "[10/Oct/2000:13:55:36 -0700]" as Apache's %t writes it. */
export function clfTimeBracketed(s: string, a: number, b: number): number {
  if (s.charCodeAt(a) !== 91 || s.charCodeAt(b - 1) !== 93) return NaN;
  return parseClfMs(s, a + 1, b - 1);
}

const LAST_MS = 253402300799999; // 9999-12-31T23:59:59.999Z: four-digit years only

/**
 * ISO 8601 with a date and a time ("2024-05-01T12:00:00+02:00",
 * "…T10:00:00.123Z"). A time without an offset is taken as UTC, never as
 * the local time of the machine that happens to run the ingest.
 */
export function isoTime(s: string, a: number, b: number): number {
  if (b - a < 19 || s.charCodeAt(a + 4) !== 45 || s.charCodeAt(a + 7) !== 45) return NaN;
  const sep = s.charCodeAt(a + 10);
  if (sep !== 84 /* T */ && sep !== 32) return NaN;
  let v = s.slice(a, b);
  if (sep === 32) v = v.slice(0, 10) + 'T' + v.slice(11);
  const last = v.charCodeAt(v.length - 1);
  const hasZone = last === 90 /* Z */ || last === 122 || v.indexOf('+', 19) !== -1 || v.indexOf('-', 19) !== -1;
  const t = Date.parse(hasZone ? v : v + 'Z');
  return Number.isNaN(t) ? NaN : t;
}

/** Unix time in seconds with an optional fraction ("1700000000.123", NGINX's $msec). */
export function epochSeconds(s: string, a: number, b: number): number {
  const n = readDecimal(s, a, b);
  return n > 0 ? Math.round(n * 1000) : NaN;
}

export function epochMillis(s: string, a: number, b: number): number {
  const n = readInt(s, a, b);
  return n > 0 ? n : NaN;
}

export function epochMicros(s: string, a: number, b: number): number {
  const n = readInt(s, a, b);
  return n > 0 ? Math.round(n / 1000) : NaN;
}

/** Whatever a JSON log put in its time key: a common log time, ISO 8601, or Unix seconds (or milliseconds). */
export function anyTime(s: string, a: number, b: number): number {
  if (s.charCodeAt(a + 2) === 47) return parseClfMs(s, a, b);
  if (s.charCodeAt(a + 4) === 45) return isoTime(s, a, b);
  const n = readDecimal(s, a, b);
  if (!(n > 0)) return NaN;
  return Math.round(n >= 1e11 ? n : n * 1000); // 12+ digits can only be milliseconds
}

// ---------------------------------------------------------------------------
// Applying one value

/**
 * Puts the value s[a..b) of field f into the event (or the line state).
 * `escaped`: the value may hold backslash escapes.
 */
export function apply(f: Field, s: string, a: number, b: number, e: AuditEvent, st: LineState, escaped: boolean): Fail {
  // "-" and "" are absent values everywhere; a few sinks give them a meaning.
  if (b === a || (b === a + 1 && s.charCodeAt(a) === 45)) {
    switch (f.sink) {
      case Sink.BytesOutClf:
        if (!f.weak || e.bytes_out === null) e.bytes_out = 0;
        return Fail.None;
      case Sink.RequestLine:
        st.badRequest = true;
        e.reason ??= 'no request line received';
        return Fail.None;
      case Sink.Status:
        return f.weak || f.optional ? Fail.None : Fail.Status;
      case Sink.Time:
        return f.optional ? Fail.None : Fail.Time;
      default:
        return Fail.None;
    }
  }
  switch (f.sink) {
    case Sink.Extra: {
      const v = text(s, a, b, escaped);
      e.extra = put(e.extra, f.key, f.redact === null ? v : f.redact(v));
      return Fail.None;
    }
    case Sink.ReqHeader:
    case Sink.ResHeader: {
      const v = text(s, a, b, escaped);
      e.headers = put(e.headers, f.key, f.redact === null ? v : f.redact(v));
      return Fail.None;
    }
    case Sink.ClientIp: {
      if (f.weak && e.client_ip !== null) return Fail.None;
      let v = text(s, a, b, escaped);
      if (v.charCodeAt(0) === 91 && v.charCodeAt(v.length - 1) === 93) v = v.slice(1, -1); // "[2001:db8::1]"
      e.client_ip = v;
      return Fail.None;
    }
    case Sink.ClientPort: {
      const n = readInt(s, a, b);
      if (n < 0 || n > 65535) return Fail.Number;
      if (!f.weak || e.client_port === null) e.client_port = n;
      return Fail.None;
    }
    case Sink.PeerIp:
      if (!f.weak || e.peer_ip === null) e.peer_ip = text(s, a, b, escaped);
      return Fail.None;
    case Sink.UserId:
      if (!f.weak || e.user_id === null) e.user_id = text(s, a, b, escaped);
      return Fail.None;
    case Sink.Node:
      if (!f.weak || e.node === null) e.node = text(s, a, b, escaped);
      return Fail.None;
    case Sink.ForwardedFor:
      if (!f.weak || e.forwarded_for === null) e.forwarded_for = text(s, a, b, escaped);
      return Fail.None;
    case Sink.RequestLine:
      requestLine(e, text(s, a, b, escaped), st);
      return Fail.None;
    case Sink.Method:
      if (!f.weak || e.method === null) e.method = text(s, a, b, escaped);
      return Fail.None;
    case Sink.RequestUri:
      if (!f.weak || e.path === null) target(e, text(s, a, b, escaped), 0);
      return Fail.None;
    case Sink.Path:
      if (!f.weak || e.path === null) e.path = text(s, a, b, escaped);
      return Fail.None;
    case Sink.Query: {
      if (f.weak && e.query !== null) return Fail.None;
      if (s.charCodeAt(a) === 63 /* ? */) a++;
      if (b > a) e.query = text(s, a, b, escaped);
      return Fail.None;
    }
    case Sink.Protocol:
      if (!f.weak || e.http_version === null) e.http_version = httpVersionOf(text(s, a, b, escaped));
      return Fail.None;
    case Sink.Scheme:
      if (!f.weak || e.scheme === null) e.scheme = text(s, a, b, escaped).toLowerCase();
      return Fail.None;
    case Sink.HttpsFlag:
      if (b - a === 2 && s.startsWith('on', a) && (!f.weak || e.scheme === null)) e.scheme = 'https';
      return Fail.None;
    case Sink.Host: {
      if (f.weak && e.host !== null) return Fail.None;
      const v = text(s, a, b, escaped);
      if (v !== '_') e.host = hostOf(v); // "_" is NGINX's catch-all server name, not a host
      return Fail.None;
    }
    case Sink.Status: {
      const n = b - a === 3 ? readInt(s, a, b) : -1;
      if (n < 0 || (n > 0 && n < 100)) return Fail.Status;
      // "000": no response was sent at all.
      if (!f.weak || e.status === null) e.status = n === 0 ? null : n;
      return Fail.None;
    }
    case Sink.BytesOut:
    case Sink.BytesOutClf: {
      const n = readInt(s, a, b);
      if (n < 0) return Fail.Number;
      if (!f.weak || e.bytes_out === null) e.bytes_out = n;
      return Fail.None;
    }
    case Sink.BytesIn: {
      const n = readInt(s, a, b);
      if (n < 0) return Fail.Number;
      if (!f.weak || e.bytes_in === null) e.bytes_in = n;
      return Fail.None;
    }
    case Sink.DurationSeconds: {
      const n = readDecimal(s, a, b);
      if (Number.isNaN(n)) return Fail.Number;
      if (!f.weak || e.duration_ms === null) e.duration_ms = roundMs(n * 1000);
      return Fail.None;
    }
    case Sink.DurationMs:
    case Sink.DurationUs: {
      // Apache writes these as whole numbers.
      const n = readInt(s, a, b);
      if (n < 0) return Fail.Number;
      if (!f.weak || e.duration_ms === null) e.duration_ms = f.sink === Sink.DurationMs ? n : n / 1000;
      return Fail.None;
    }
    case Sink.Time: {
      if (f.timePrecision < st.timePrecision) return Fail.None;
      let ms: number;
      const raw = s.slice(a, b);
      if (raw === f.cacheRaw) ms = f.cacheMs;
      else {
        ms = f.time === null ? NaN : f.time(s, a, b);
        if (!(ms > 0 && ms <= LAST_MS)) return Fail.Time;
        // A copy, not a slice of this line: a flat string compares faster and does not keep the line alive.
        f.cacheRaw = flatCopy(raw);
        f.cacheMs = ms;
      }
      st.timeMs = ms;
      st.timePrecision = f.timePrecision;
      st.timeAtEnd = f.timeAtEnd;
      st.timeLabel = f.label;
      st.timeLocal = f.timeLocal;
      return Fail.None;
    }
    case Sink.TimeFracMs:
    case Sink.TimeFracUs: {
      const n = readInt(s, a, b);
      if (n < 0 || b - a !== (f.sink === Sink.TimeFracMs ? 3 : 6)) return Fail.Time;
      st.fracMs = f.sink === Sink.TimeFracMs ? n : n / 1000;
      return Fail.None;
    }
    case Sink.TimeZoneOffset: {
      const offset = b - a === 5 ? utcOffsetMs(s, a) : NaN;
      if (Number.isNaN(offset)) return Fail.Time;
      st.offsetMs = offset;
      return Fail.None;
    }
    case Sink.UpstreamAddr: {
      if (f.weak && e.upstream !== null) return Fail.None;
      const start = lastItemStart(s, a, b);
      if (start > a) {
        // Several servers answered in turn: the event names the last one, extra keeps the whole story.
        e.extra = put(e.extra, f.key, text(s, a, b, escaped));
        e.attempts = listLength(s, a, b);
      } else if (s.indexOf(':', a) === -1 || s.indexOf(':', a) >= b) {
        // No address at all: NGINX logs the upstream group's name when it could not pick a server.
        e.extra = put(e.extra, f.key, text(s, a, b, escaped));
        e.attempts = 0;
        return Fail.None;
      } else e.attempts = 1;
      e.upstream = text(s, start, b, escaped);
      return Fail.None;
    }
    case Sink.UpstreamStatus: {
      if (f.weak && e.upstream_status !== null) return Fail.None;
      const start = lastItemStart(s, a, b);
      if (start > a) e.extra = put(e.extra, f.key, text(s, a, b, escaped));
      if (b === start + 1 && s.charCodeAt(start) === 45) return Fail.None;
      const n = b - start === 3 ? readInt(s, start, b) : -1;
      if (n < 0) return Fail.Status;
      e.upstream_status = n;
      return Fail.None;
    }
    case Sink.UpstreamSeconds: {
      if (f.weak && e.upstream_ms !== null) return Fail.None;
      const start = lastItemStart(s, a, b);
      if (start > a) e.extra = put(e.extra, f.key, text(s, a, b, escaped));
      if (b === start + 1 && s.charCodeAt(start) === 45) return Fail.None;
      const n = readDecimal(s, start, b);
      if (Number.isNaN(n)) return Fail.Number;
      e.upstream_ms = roundMs(n * 1000);
      return Fail.None;
    }
    case Sink.UserAgent:
      if (!f.weak || e.user_agent === null) e.user_agent = text(s, a, b, escaped);
      return Fail.None;
    case Sink.Referer:
      if (!f.weak || e.referer === null) e.referer = text(s, a, b, escaped);
      return Fail.None;
    case Sink.RequestId:
      if (!f.weak || e.request_id === null) e.request_id = text(s, a, b, escaped);
      return Fail.None;
    case Sink.TraceId:
      if (!f.weak || e.trace_id === null) e.trace_id = text(s, a, b, escaped).toLowerCase();
      return Fail.None;
    case Sink.Traceparent: {
      const id = traceIdFromTraceparent(text(s, a, b, escaped));
      if (id !== null && (!f.weak || e.trace_id === null)) e.trace_id = id;
      return Fail.None;
    }
    case Sink.TlsVersion:
      if (!f.weak || e.tls_version === null) e.tls_version = text(s, a, b, escaped);
      return Fail.None;
    case Sink.TlsCipher:
      if (!f.weak || e.tls_cipher === null) e.tls_cipher = text(s, a, b, escaped);
      return Fail.None;
    case Sink.Sni:
      if (!f.weak || e.sni === null) e.sni = text(s, a, b, escaped);
      return Fail.None;
    case Sink.ClientCert:
      if (!f.weak || e.client_cert === null) e.client_cert = text(s, a, b, escaped);
      return Fail.None;
    case Sink.ConnStatus:
      if (b - a === 1 && s.charCodeAt(a) === 88 /* X */) st.aborted = true;
      return Fail.None;
  }
}

/**
 * The request line. One that is not HTTP at all (most often a TLS
 * handshake sent to a plain-HTTP port, which NGINX and Apache log as
 * "\x16\x03\x01…" with status 400) still makes an event: the server saw a
 * client and refused it. The raw line is kept in `extra.request`.
 */
function requestLine(e: AuditEvent, v: string, st: LineState): void {
  const sp1 = v.indexOf(' ');
  let ok = sp1 > 0 && sp1 < 32;
  for (let i = 0; ok && i < sp1; i++) {
    const c = v.charCodeAt(i);
    ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;
  }
  if (!ok) {
    st.badRequest = true;
    e.reason = v.charCodeAt(0) === 0x16 && v.charCodeAt(1) === 0x03 ? 'TLS handshake sent to a plain-HTTP port' : 'malformed request line';
    e.extra = put(e.extra, 'request', v);
    return;
  }
  e.method = v.slice(0, sp1);
  // Nearly every line ends with " HTTP/1.1" or " HTTP/2.0": look there before searching.
  const sp2 = v.charCodeAt(v.length - 9) === 32 ? v.length - 9 : v.lastIndexOf(' ');
  let end = v.length;
  if (sp2 > sp1 && matchAt(v, 'HTTP/', sp2 + 1)) {
    end = sp2;
    e.http_version = httpVersionOf(v.slice(sp2 + 1));
  }
  target(e, v, sp1 + 1, end);
}

/** A request target in v[from..to): origin form "/p?q" or absolute form "https://h:443/p?q". */
function target(e: AuditEvent, v: string, from: number, to = v.length): void {
  let p = from;
  if (v.charCodeAt(from) !== 47 /* / */) {
    const sch = v.indexOf('://', from);
    if (sch > from && sch < from + 8 && sch < to) {
      e.scheme = v.slice(from, sch).toLowerCase();
      let slash = v.indexOf('/', sch + 3);
      if (slash === -1 || slash > to) slash = to;
      if (slash > sch + 3) e.host = hostOf(v.slice(sch + 3, slash));
      p = slash;
    }
  }
  let q = v.indexOf('?', p);
  if (q >= to) q = -1;
  const pathEnd = q === -1 ? to : q;
  e.path = pathEnd > p ? (p === 0 && pathEnd === v.length ? v : v.slice(p, pathEnd)) : p === to && p > from ? '/' : null;
  e.query = q === -1 || q + 1 >= to ? null : v.slice(q + 1, to);
}

/** What NGINX's and Apache's status codes say about how the exchange ended. */
export function terminationOf(status: number | null): string | null {
  switch (status) {
    case null:
      return null;
    case 499: // NGINX: the client closed the connection before the response
      return 'client_abort';
    case 504:
      return 'upstream_timeout';
    case 502:
      return 'upstream_error';
    case 408:
      return 'request_timeout';
    case 494: // NGINX: request header or cookie too large
      return 'request_too_large';
    default:
      return 'ok';
  }
}

export interface Finisher {
  node: string | null;
  environment: string | null;
  /** The zone of times written without an offset; null: UTC. */
  zone: ZoneOffsets | null;
}

/**
 * Completes an event once all its fields are read: `ts` (from the most
 * precise time field, minus the duration when the server logged the end of
 * the request), kind and termination. Returns a rejection when there is no
 * usable time.
 */
export function finish(e: AuditEvent, st: LineState, fin: Finisher): ParseOutcome {
  if (st.timePrecision < 0) return reject('missing_time', 'no time field in the line');
  let ms = st.timeMs;
  if (st.timePrecision === 0) ms += st.fracMs;
  // A local time: its offset logged next to it, else the parser's timezone, else UTC.
  if (st.timeLocal) ms = st.offsetMs === st.offsetMs ? ms - st.offsetMs : localToUtc(ms, fin.zone);
  if (st.timeAtEnd && e.duration_ms !== null) ms -= e.duration_ms;
  ms = Math.round(ms);
  if (!(ms > 0 && ms <= LAST_MS)) return reject('bad_timestamp', `${st.timeLabel} minus the duration is not a valid time`);
  e.ts = isoFromMs(ms);
  const status = e.status;
  if (status === 101) e.kind = 'websocket';
  let t = terminationOf(status);
  // A request the server refused itself (no request line, or not HTTP) did not end "ok".
  if (st.badRequest && (t === 'ok' || t === null)) t = 'bad_request';
  if (st.aborted) t = 'client_abort';
  e.termination = t;
  if (e.node === null) e.node = fin.node;
  e.environment = fin.environment;
  return { ok: true, event: e };
}

// ---------------------------------------------------------------------------
// Walking a line

/** Index of the closing double quote from `from`, skipping backslash-escaped ones when `escaped`; -1 when none. */
function closingQuote(s: string, from: number, escaped: boolean): number {
  let j = s.indexOf('"', from);
  if (!escaped) return j;
  while (j !== -1) {
    let k = j - 1;
    while (k >= from && s.charCodeAt(k) === 92) k--;
    if (((j - 1 - k) & 1) === 0) return j;
    j = s.indexOf('"', j + 1);
  }
  return -1;
}

/** Like indexOf(sep, from), but steps over the ", " and " : " inside an NGINX list value. */
function listEnd(s: string, sep: string, from: number): number {
  let j = s.indexOf(sep, from);
  if (sep.charCodeAt(0) !== 32) return j;
  while (j !== -1) {
    const before = s.charCodeAt(j - 1);
    const colonNext = s.charCodeAt(j + 1) === 58 && s.charCodeAt(j + 2) === 32;
    const colonBefore = before === 58 && s.charCodeAt(j - 2) === 32;
    if (before !== 44 && !colonNext && !colonBefore) return j;
    j = s.indexOf(sep, j + 1);
  }
  return -1;
}

function preview(s: string, a: number, b: number): string {
  return JSON.stringify(b - a > 60 ? s.slice(a, a + 60) + '…' : s.slice(a, b));
}

export function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/** A parser for one compiled text format. */
export class LineParser implements LogParser {
  private readonly st = newState();
  private readonly fin: Finisher;
  readonly sql: SqlLineFormat | null;

  constructor(
    readonly format: string,
    readonly source: string,
    private lf: LineFormat,
    opts: ParserOptions,
  ) {
    this.fin = { node: opts.node ?? null, environment: opts.environment ?? null, zone: zoneOffsetsFor(opts.timezone) };
    const configured = configuredHeaders(opts);
    if (configured.size) this.lf = { ...lf, fields: lf.fields.map((f) => withConfiguredRedaction(f, configured)) };
    this.sql = compileLineSql(this.lf, source, this.fin);
  }

  parse(line: string): ParseOutcome {
    const n = line.length;
    if (n === 0 || isBlank(line)) return SKIP;
    const lf = this.lf;
    if (!matchAt(line, lf.lead, 0)) return reject('format_mismatch', `expected the line to start with ${JSON.stringify(lf.lead)}, found ${preview(line, 0, lf.lead.length + 8)}`);
    const e = ingestedEvent('', 'http', this.source);
    const st = this.st;
    resetState(st);
    const fields = lf.fields;
    const esc = lf.unescape;
    let pos = lf.lead.length;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      const after = f.after;
      let end: number;
      if (f.quoted) end = closingQuote(line, pos, esc);
      else if (after.length === 0) {
        // The last field runs to the end of the line, unless it cannot hold a space: then the rest is extra text.
        end = f.token ? line.indexOf(' ', pos + f.minWidth) : -1;
        if (end === -1) end = n;
      }
      else if (f.list) end = listEnd(line, after, pos + f.minWidth);
      else end = line.indexOf(after, pos + f.minWidth);
      if (end === -1) {
        // Not even the separator's first character further on: the line was cut. Otherwise it is another layout.
        const c = f.quoted ? -1 : line.indexOf(after[0], pos);
        if (c === -1) return reject('truncated', `the line ends inside ${f.label} (no ${JSON.stringify(after)} after it)`);
        return reject('format_mismatch', `expected ${JSON.stringify(after)} after ${f.label} at column ${c + 1}, found ${preview(line, c, c + after.length + 8)}`);
      }
      const r = apply(f, line, pos, end, e, st, f.quoted && esc);
      if (r !== Fail.None) return reject(FAIL_REASON[r], `${f.label} is ${preview(line, pos, end)}: ${FAIL_WHAT[r]}`);
      if (f.quoted && after.length > 1 && !matchAt(line, after, end)) {
        // The closing quote is there, but not what the format puts after it.
        if (after.startsWith(line.slice(end))) return reject('truncated', `the line ends after ${f.label} (expected ${JSON.stringify(after)})`);
        return reject('format_mismatch', `expected ${JSON.stringify(after)} after ${f.label} at column ${end + 1}, found ${preview(line, end, end + after.length + 8)}`);
      }
      pos = end + after.length;
    }
    if (pos !== n) {
      const last = fields[fields.length - 1];
      return reject('trailing_data', `${n - pos} characters after ${last.label}, the last field of the format: ${preview(line, pos, n)}`);
    }
    return finish(e, st, this.fin);
  }
}

// ---------------------------------------------------------------------------
// Telling NGINX and Apache apart

/**
 * NGINX's combined format and Apache's are the same layout; the lines still
 * differ in small ways. Returns > 0 when `lines` look written by NGINX, < 0
 * by Apache, 0 when nothing tells. NGINX writes "0" for an empty body, a
 * quote as \x22 and has its own statuses (499, 444, 494-497); Apache writes
 * "-" for an empty body (%b) and a quote as \".
 */
export function clfFlavour(lines: readonly string[]): number {
  let votes = 0;
  for (const line of lines.slice(0, 100)) {
    if (line.includes('\\x22')) votes++;
    if (line.includes('\\"')) votes--;
    const open = line.indexOf('] "');
    if (open === -1) continue;
    const close = closingQuote(line, open + 3, true);
    if (close === -1 || line.charCodeAt(close + 1) !== 32 || line.charCodeAt(close + 5) !== 32) continue;
    const status = readInt(line, close + 2, close + 5);
    if (status === 499 || status === 444 || (status >= 494 && status <= 497)) votes++;
    const bytesAt = close + 6;
    let bytesEnd = line.indexOf(' ', bytesAt);
    if (bytesEnd === -1) bytesEnd = line.length;
    if (bytesEnd === bytesAt + 1 && line.charCodeAt(bytesAt) === 45) votes--;
    else if (bytesEnd === bytesAt + 1 && line.charCodeAt(bytesAt) === 48) votes++;
  }
  return Math.sign(votes);
}

/** The share of the non-blank lines of `sample` (at most 50) that `parser` reads without error, 0 to 1. */
export function parsedShare(parser: LogParser, sample: readonly string[]): number {
  let seen = 0;
  let ok = 0;
  for (const line of sample) {
    if (seen === 50) break;
    const o = parser.parse(line);
    if (o.ok === 'skip') continue;
    seen++;
    if (o.ok === true) ok++;
  }
  return seen === 0 ? 0 : ok / seen;
}
