/**
 * Apache httpd `LogFormat` strings (mod_log_config, plus mod_ssl's %{VAR}x
 * and %{name}c): what each directive means in the audit event catalog, and
 * the compiler that turns a format into a LineFormat for the shared engine
 * (../nginx/line-format.ts: the same literal-and-field walk serves both).
 *
 * Unlike NGINX, Apache refuses unknown directives at startup, so an unknown
 * one here is a typo in the format and create() says so.
 */
import {
  Sink,
  clfTimeBracketed,
  cookieSpec,
  epochMicros,
  epochMillis,
  field,
  headerSpec,
  spec,
  type Field,
  type FieldSpec,
  type LineFormat,
  type TimeReader,
} from '../nginx/line-format.js';
import { isCalendarDay, utcOffsetMs } from '../common.js';

const S = spec;

/** Request headers (%{name}i) with a catalog field, by lower-case name. */
const REQUEST_HEADERS: Record<string, FieldSpec> = {
  referer: S(Sink.Referer),
  'user-agent': S(Sink.UserAgent),
  'x-forwarded-for': S(Sink.ForwardedFor),
  host: S(Sink.Host),
  'x-request-id': S(Sink.RequestId, { weak: true }),
  traceparent: S(Sink.Traceparent, { weak: true }),
};

/** mod_ssl variables (%{VAR}x) with a catalog field. */
const SSL_VARS: Record<string, FieldSpec> = {
  SSL_PROTOCOL: S(Sink.TlsVersion),
  SSL_CIPHER: S(Sink.TlsCipher),
  SSL_TLS_SNI: S(Sink.Sni),
  SSL_CLIENT_S_DN: S(Sink.ClientCert),
};

/** mod_ssl's %{name}c. */
const SSL_C: Record<string, FieldSpec> = {
  version: S(Sink.TlsVersion),
  cipher: S(Sink.TlsCipher),
  subjectdn: S(Sink.ClientCert),
};

const extra = (key: string): FieldSpec => S(Sink.Extra, { key });

/** A directive (letter, optional {arg}) as a FieldSpec; throws on an unknown one. */
function directive(letter: string, arg: string | null, mod: string): FieldSpec {
  const needArg = (what: string): string => {
    if (arg === null || arg === '') throw new Error(`LogFormat: %${letter} needs a ${what} in braces, e.g. %{${letter === 'i' ? 'User-Agent' : 'NAME'}}${letter}`);
    return arg;
  };
  switch (letter) {
    case 'a':
      // %{c}a is the socket peer; %a the client (mod_remoteip's, when configured).
      return arg === 'c' ? S(Sink.PeerIp) : S(Sink.ClientIp);
    case 'A':
      return extra('local_ip');
    case 'B':
      return S(Sink.BytesOut);
    case 'b':
      return S(Sink.BytesOutClf);
    case 'C':
      return cookieSpec('cookie.' + needArg('cookie name'));
    case 'D':
      return S(Sink.DurationUs);
    case 'e': {
      const name = needArg('variable name');
      return name === 'UNIQUE_ID' ? S(Sink.RequestId) : extra('env.' + name);
    }
    case 'f':
      return extra('filename');
    case 'h':
      // The remote host: a name when HostnameLookups is on, so %a wins when both are logged.
      return arg === 'c' ? S(Sink.PeerIp, { weak: true }) : S(Sink.ClientIp, { weak: true });
    case 'H':
      return S(Sink.Protocol, { weak: true });
    case 'i': {
      const name = needArg('header name').toLowerCase();
      return (Object.hasOwn(REQUEST_HEADERS, name) ? REQUEST_HEADERS[name] : undefined) ?? headerSpec('req', name);
    }
    case 'k':
      return extra('keepalive_requests');
    case 'l':
      return extra('logname');
    case 'L':
      return S(Sink.RequestId);
    case 'm':
      return S(Sink.Method);
    case 'n':
      return extra('note.' + needArg('note name'));
    case 'o':
      return headerSpec('res', needArg('header name'));
    case 'p':
      if (arg === 'remote') return S(Sink.ClientPort);
      if (arg === 'local') return extra('local_port');
      if (arg === null || arg === 'canonical') return extra('server_port');
      throw new Error(`LogFormat: %{${arg}}p: the port is canonical, local or remote`);
    case 'P':
      if (arg === null || arg === 'pid') return extra('pid');
      if (arg === 'tid' || arg === 'hextid') return extra('tid');
      throw new Error(`LogFormat: %{${arg}}P: expected pid, tid or hextid`);
    case 'q':
      return S(Sink.Query, { weak: true });
    case 'r':
      return S(Sink.RequestLine);
    case 'R':
      return extra('handler');
    case 's':
      // %s is the original request's status when it was internally redirected; %>s the final one.
      return S(Sink.Status, { weak: mod !== '>' });
    case 't':
      return timeDirective(arg);
    case 'T':
      if (arg === null || arg === 's') return S(Sink.DurationSeconds, { weak: true }); // whole seconds: %D is finer
      if (arg === 'ms') return S(Sink.DurationMs);
      if (arg === 'us') return S(Sink.DurationUs);
      throw new Error(`LogFormat: %{${arg}}T: the unit is s, ms or us`);
    case 'u':
      return S(Sink.UserId);
    case 'U':
      return S(Sink.Path, { weak: true });
    case 'V':
      // The server name per UseCanonicalName (by default the Host the client sent)...
      return S(Sink.Host);
    case 'v':
      // ...rather than the canonical ServerName of the virtual host.
      return S(Sink.Host, { weak: true });
    case 'X':
      return S(Sink.ConnStatus);
    case 'I':
      return S(Sink.BytesIn);
    case 'O':
      return S(Sink.BytesOut, { weak: true }); // headers included: only when %b/%B are not logged
    case 'S':
      return extra('bytes_transferred');
    case 'x': {
      const name = needArg('mod_ssl variable');
      return SSL_VARS[name] ?? extra('ssl.' + name);
    }
    case 'c': {
      const name = needArg('mod_ssl name');
      return SSL_C[name] ?? extra('ssl.' + name);
    }
    case '^ti':
      return extra('trailer_in.' + needArg('trailer name'));
    case '^to':
      return extra('trailer_out.' + needArg('trailer name'));
    default:
      throw new Error(`LogFormat: unknown directive %${letter}`);
  }
}

/**
 * %t and %{format}t. Apache logs the time the request was received unless
 * the format starts with `end:`.
 */
function timeDirective(arg: string | null): FieldSpec {
  if (arg === null) return S(Sink.Time, { time: clfTimeBracketed, minWidth: 28 });
  let fmt = arg;
  let timeAtEnd = false;
  if (fmt.startsWith('begin:')) fmt = fmt.slice(6);
  else if (fmt.startsWith('end:')) {
    fmt = fmt.slice(4);
    timeAtEnd = true;
  }
  switch (fmt) {
    case 'sec':
      return S(Sink.Time, { time: epochSecondsInt, timeAtEnd });
    case 'msec':
      return S(Sink.Time, { time: epochMillis, timeAtEnd, timePrecision: 3 });
    case 'usec':
      return S(Sink.Time, { time: epochMicros, timeAtEnd, timePrecision: 3 });
    case 'msec_frac':
      return S(Sink.TimeFracMs);
    case 'usec_frac':
      return S(Sink.TimeFracUs);
    case '%z':
      // The offset alone, as mod_log_config's own example logs it apart from the date and time.
      return S(Sink.TimeZoneOffset);
  }
  const { reader, minWidth, local } = compileStrftime(fmt);
  return S(Sink.Time, { time: reader, minWidth, timeAtEnd, timeLocal: local });
}

function epochSecondsInt(s: string, a: number, b: number): number {
  const n = epochMillis(s, a, b);
  return n * 1000;
}

// ---------------------------------------------------------------------------
// strftime, the part of it that can be read back

type Part =
  | { kind: 'lit'; text: string }
  | { kind: 'num'; unit: 'Y' | 'y' | 'm' | 'd' | 'H' | 'I' | 'M' | 'S' | 'j'; width: number; spacePad: boolean }
  | { kind: 'month' }
  | { kind: 'word' }
  | { kind: 'ampm' }
  | { kind: 'zone' }
  | { kind: 'zoneName' }
  | { kind: 'epoch' }
  | { kind: 'digit' };

const EXPAND: Record<string, string> = { T: '%H:%M:%S', F: '%Y-%m-%d', D: '%m/%d/%y', R: '%H:%M', r: '%I:%M:%S %p' };

/**
 * Compiles a strftime format (as in %{%Y-%m-%d %H:%M:%S}t) into a reader.
 * Without %z the server wrote its local time, which the log does not say:
 * it is read in the parser's `timezone` (UTC unless given; or log %z).
 */
export function compileStrftime(fmt: string): { reader: TimeReader; minWidth: number; local: boolean } {
  const parts: Part[] = [];
  const lit = (t: string): void => {
    const last = parts[parts.length - 1];
    if (last !== undefined && last.kind === 'lit') last.text += t;
    else parts.push({ kind: 'lit', text: t });
  };
  const expanded = fmt.replace(/%([TFDRr])/g, (_, c: string) => EXPAND[c]);
  for (let i = 0; i < expanded.length; i++) {
    const c = expanded[i];
    if (c !== '%') {
      lit(c);
      continue;
    }
    const d = expanded[++i];
    switch (d) {
      case 'Y':
        parts.push({ kind: 'num', unit: 'Y', width: 4, spacePad: false });
        break;
      case 'y':
      case 'm':
      case 'd':
      case 'H':
      case 'I':
      case 'M':
      case 'S':
        parts.push({ kind: 'num', unit: d, width: 2, spacePad: false });
        break;
      case 'e':
        parts.push({ kind: 'num', unit: 'd', width: 2, spacePad: true });
        break;
      case 'j':
        parts.push({ kind: 'num', unit: 'j', width: 3, spacePad: false });
        break;
      case 'b':
      case 'h':
        parts.push({ kind: 'month' });
        break;
      case 'a':
      case 'A':
        // Day names: skipped, the date says it all.
        parts.push({ kind: 'word' });
        break;
      case 'B':
        throw new Error('LogFormat: %B (full month name) in a time format is not supported; use %b or %m');
      case 'p':
        parts.push({ kind: 'ampm' });
        break;
      case 'z':
        parts.push({ kind: 'zone' });
        break;
      case 'Z':
        parts.push({ kind: 'zoneName' });
        break;
      case 's':
        parts.push({ kind: 'epoch' });
        break;
      case 'u':
      case 'w':
        parts.push({ kind: 'digit' });
        break;
      case 'n':
        lit('\n');
        break;
      case 't':
        lit('\t');
        break;
      case '%':
        lit('%');
        break;
      default:
        throw new Error(`LogFormat: time format ${JSON.stringify(fmt)}: %${d ?? ''} cannot be read back (supported: %Y %y %m %d %e %j %b %h %a %A %H %I %M %S %p %z %Z %s %T %F %D %R %r %u %w %%)`);
    }
  }
  const has = (unit: string): boolean => parts.some((p) => (p.kind === 'num' && p.unit === unit) || (unit === 'b' && p.kind === 'month') || (unit === 's' && p.kind === 'epoch'));
  const hasDate = has('s') || ((has('Y') || has('y')) && (has('j') || ((has('m') || has('b')) && has('d'))));
  if (!hasDate) throw new Error(`LogFormat: time format ${JSON.stringify(fmt)} does not hold a full date (year, month and day)`);
  let minWidth = 0;
  for (const p of parts) minWidth += p.kind === 'lit' ? p.text.length : p.kind === 'num' ? p.width : p.kind === 'month' ? 3 : p.kind === 'zone' ? 5 : p.kind === 'ampm' ? 2 : 1;
  const reader: TimeReader = (s, a, b) => readStrftime(parts, s, a, b);
  // Without an offset (or epoch seconds) the server's local time was written: the parser's timezone applies.
  const local = !parts.some((p) => p.kind === 'zone' || p.kind === 'zoneName' || p.kind === 'epoch');
  return { reader, minWidth, local };
}

const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';

function isLetter(c: number): boolean {
  return (c | 32) >= 97 && (c | 32) <= 122;
}

function readStrftime(parts: readonly Part[], s: string, a: number, b: number): number {
  let i = a;
  let year = NaN, month = 0, day = 1, hour = 0, minute = 0, second = 0, yday = 0, pm = -1, offset = 0, epoch = NaN;
  for (const p of parts) {
    switch (p.kind) {
      case 'lit':
        if (!s.startsWith(p.text, i)) return NaN;
        i += p.text.length;
        break;
      case 'num': {
        let v = 0;
        for (let k = 0; k < p.width; k++) {
          const ch = s.charCodeAt(i + k);
          if (ch === 32 && p.spacePad && k === 0) continue;
          const dg = ch - 48;
          if (!(dg >= 0 && dg <= 9)) return NaN;
          v = v * 10 + dg;
        }
        i += p.width;
        if (p.unit === 'Y') year = v;
        else if (p.unit === 'y') year = v < 69 ? 2000 + v : 1900 + v;
        else if (p.unit === 'm') month = v - 1;
        else if (p.unit === 'd') day = v;
        else if (p.unit === 'H' || p.unit === 'I') hour = v;
        else if (p.unit === 'M') minute = v;
        else if (p.unit === 'S') second = v;
        else yday = v;
        break;
      }
      case 'month': {
        const m = MONTHS.indexOf(s.slice(i, i + 3));
        if (m < 0 || m % 3 !== 0) return NaN;
        month = m / 3;
        i += 3;
        break;
      }
      case 'word':
        while (i < b && isLetter(s.charCodeAt(i))) i++;
        break;
      case 'ampm': {
        const t = s.slice(i, i + 2).toUpperCase();
        if (t !== 'AM' && t !== 'PM') return NaN;
        pm = t === 'PM' ? 1 : 0;
        i += 2;
        break;
      }
      case 'zone': {
        offset = i + 5 <= b ? utcOffsetMs(s, i) : NaN;
        if (Number.isNaN(offset)) return NaN;
        i += 5;
        break;
      }
      case 'zoneName': {
        let j = i;
        while (j < b && isLetter(s.charCodeAt(j))) j++;
        const z = s.slice(i, j);
        // A zone name says nothing certain about the offset (CST is three different ones); only UTC does.
        if (z !== 'UTC' && z !== 'GMT' && z !== 'Z') return NaN;
        i = j;
        break;
      }
      case 'epoch': {
        let j = i;
        while (j < b && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) j++;
        if (j === i) return NaN;
        epoch = Number(s.slice(i, j)) * 1000;
        i = j;
        break;
      }
      case 'digit':
        if (!(s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57)) return NaN;
        i++;
        break;
    }
  }
  if (i !== b) return NaN;
  if (!Number.isNaN(epoch)) return epoch;
  if (pm === 1 && hour < 12) hour += 12;
  else if (pm === 0 && hour === 12) hour = 0;
  // Impossible dates are refused, not rolled over (31 Feb is not 2 Mar).
  if (!isCalendarDay(year, month, day) || hour > 23 || minute > 59 || second > 60) return NaN;
  const t = yday > 0 ? Date.UTC(year, 0, yday, hour, minute, second) : Date.UTC(year, month, day, hour, minute, second);
  return t - offset;
}

// ---------------------------------------------------------------------------
// The format string

/**
 * Accepts the format as written in httpd.conf as well as bare:
 *
 *   LogFormat "%h %l %u %t \"%r\" %>s %b" common
 *   CustomLog logs/access_log "%h %l %u %t \"%r\" %>s %b"
 *   "%h %l %u %t \"%r\" %>s %b"
 *   %h %l %u %t \"%r\" %>s %b
 *   %h %l %u %t "%r" %>s %b
 */
export function unwrapLogFormat(input: string): string {
  let s = input.trim();
  const m = /^(LogFormat|CustomLog)\s+/i.exec(s);
  if (m) {
    s = s.slice(m[0].length);
    if (m[1].toLowerCase() === 'customlog') {
      // The first argument is the log file (or a pipe), possibly quoted.
      const arg = s.startsWith('"') ? /^"(?:[^"\\]|\\.)*"\s*/.exec(s) : /^\S+\s*/.exec(s);
      if (!arg) throw new Error('CustomLog: expected a file and a format');
      s = s.slice(arg[0].length);
    }
    // Double or single quotes: httpd's configuration reader takes both (ap_getword_conf).
    if (s.startsWith('"') || s.startsWith("'")) {
      const q = /^(["'])((?:(?!\1)[^\\]|\\.)*)\1/.exec(s);
      if (!q) throw new Error('LogFormat: unterminated quoted format');
      return configUnescape(q[2]);
    }
    return configUnescape(s.split(/\s+/)[0]);
  }
  // A whole format in quotes, with its inner quotes escaped as the config file has them.
  if (s.length > 1 && s.startsWith('"') && s.endsWith('"') && /^(?:[^"\\]|\\.)*$/.test(s.slice(1, -1))) return configUnescape(s.slice(1, -1));
  return s.includes('\\') ? configUnescape(s) : s;
}

/** httpd.conf quoting (\" and \\) and mod_log_config's own \n and \t. */
function configUnescape(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

/** Compiles an Apache LogFormat into a LineFormat. Throws an Error that says what to change. */
export function compileApacheFormat(input: string): LineFormat {
  const text = unwrapLogFormat(input);
  if (text.trim() === '') throw new Error('LogFormat is empty');
  if (text.includes('\n') || text.includes('\r')) throw new Error('LogFormat contains a line break (\\n): each request must be one line');
  const literals: string[] = [];
  const specs: { label: string; spec: FieldSpec }[] = [];
  let lit = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    const start = i++;
    if (text[i] === '%') {
      lit += '%';
      i++;
      continue;
    }
    // Modifiers: status conditions ("400,501", "!200") and < or >, before or after {arg}.
    let mod = '';
    let arg: string | null = null;
    for (;;) {
      const d = text[i];
      if (d === '{' && arg === null) {
        const close = text.indexOf('}', i + 1);
        if (close === -1) throw new Error(`LogFormat: "{" without "}" at column ${i + 1}`);
        arg = text.slice(i + 1, close);
        i = close + 1;
      } else if (d === '<' || d === '>') {
        mod = d;
        i++;
      } else if (d !== undefined && (d === '!' || d === ',' || (d >= '0' && d <= '9'))) {
        mod = mod || 'cond';
        i++;
      } else break;
    }
    let letter = text[i];
    if (letter === undefined) throw new Error(`LogFormat: "%" at column ${start + 1} ends the format`);
    if (letter === '^') {
      letter = text.slice(i, i + 3);
      i += 3;
    } else i++;
    const s = directive(letter, arg, mod);
    literals.push(lit);
    lit = '';
    // A condition makes Apache log "-" when the status does not match: then "-" is a normal value.
    specs.push({ label: text.slice(start, i), spec: mod === 'cond' ? { ...s, optional: true } : s });
  }
  literals.push(lit);
  if (!specs.length) throw new Error('LogFormat has no directives');
  const fields: Field[] = [];
  for (let k = 0; k < specs.length; k++) {
    const before = literals[k];
    const after = literals[k + 1];
    if (k + 1 < specs.length && after === '') {
      throw new Error(`LogFormat: ${specs[k].label} and ${specs[k + 1].label} are adjacent; the parser cannot tell where one ends and the next begins (put a separator between them, e.g. a space)`);
    }
    const quoted = before.endsWith('"') && after.startsWith('"');
    const s = specs[k].spec;
    fields.push(field(specs[k].label, s.key ? s : { ...s, key: specs[k].label }, quoted, after));
  }
  if (!fields.some((f) => f.sink === Sink.Time)) throw new Error('LogFormat has no time directive: add %t (or %{...}t)');
  if (fields.some((f) => f.sink === Sink.TimeZoneOffset) && !fields.some((f) => f.sink === Sink.Time && f.timeLocal)) {
    throw new Error('LogFormat: %{%z}t alone needs a time without an offset next to it (e.g. %{%d/%b/%Y %T}t)');
  }
  if (fields.some((f) => f.sink === Sink.TimeFracMs || f.sink === Sink.TimeFracUs) && !fields.some((f) => f.sink === Sink.Time && f.timePrecision === 0)) {
    throw new Error('LogFormat: %{msec_frac}t / %{usec_frac}t need a time to the second next to them (e.g. %{%d/%b/%Y:%H:%M:%S}t)');
  }
  return { lead: literals[0], fields, unescape: true };
}

