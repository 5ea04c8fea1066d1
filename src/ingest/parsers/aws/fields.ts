/**
 * Pieces shared by the three Elastic Load Balancing access-log parsers (ALB,
 * Classic ELB, NLB). Their lines are space-separated fields, some "quoted";
 * unlike NGINX/Apache lines there are no [bracketed] fields, so the common
 * splitFields() (which treats '[' as a bracket) would mangle a bracketed
 * IPv6 address. Hand-written, no regular expressions: ALB ingest speed matters.
 */
import type { AuditEvent, Termination } from '../../../core/event.js';
import { httpVersionOf, isoFromMs, reject, SKIP } from '../common.js';
import type { ParseOutcome } from '../../types.js';

/**
 * The start every AWS entry parser shares: blank and `#` lines are skipped,
 * the rest is tokenized into `out`. Returns the field count, or the outcome
 * to return as it is.
 */
export function entryFields(line: string, out: string[]): number | ParseOutcome {
  if (line.length === 0 || line.trim() === '' || line.charCodeAt(0) === 35 /* # */) return SKIP;
  const n = tokenize(line, out);
  return n < 0 ? reject('unterminated_quote', 'a quoted field has no closing quote') : n;
}

/**
 * Splits `line` into `out` (reused between calls to spare allocations).
 * A field starting with '"' runs to the next unescaped '"'; `\"` and `\\`
 * inside it are unescaped (other backslashes are kept: AWS documents no
 * escaping of its own, so anything else is the client's text). Returns the
 * number of fields, or -1 for an unterminated quote.
 */
export function tokenize(line: string, out: string[]): number {
  out.length = 0;
  const n = line.length;
  let i = 0;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (c === 32) {
      i++;
      continue;
    }
    if (c === 34) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        if (j >= n) return -1;
        const d = line.charCodeAt(j);
        if (d === 92 && j + 1 < n) {
          escaped = true;
          j += 2;
          continue;
        }
        if (d === 34) break;
        j++;
      }
      if (j + 1 < n && line.charCodeAt(j + 1) !== 32) {
        // Quotes that do not close the field (NLB's alpn_client_preference_list
        // is written "h2","http/1.1"): the field is the raw text up to the next space.
        let k = line.indexOf(' ', j + 1);
        if (k === -1) k = n;
        out.push(line.slice(i, k));
        i = k;
        continue;
      }
      const raw = line.slice(i + 1, j);
      out.push(escaped ? unescapeQuotes(raw) : raw);
      i = j + 1;
      continue;
    }
    let j = line.indexOf(' ', i);
    if (j === -1) j = n;
    out.push(line.slice(i, j));
    i = j;
  }
  return out.length;
}

function unescapeQuotes(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length && (s[i + 1] === '"' || s[i + 1] === '\\')) {
      out += s[++i];
    } else out += c;
  }
  return out;
}

/**
 * AWS ISO 8601 times ("2018-07-02T22:23:00.186641Z"; NLB's `time` may omit
 * the "Z") to ISO UTC with millisecond precision. A time without a zone is
 * UTC (AWS logs nothing else); Date.parse would read it as local time.
 */
export function awsTime(s: string): string | null {
  if (s.length < 19 || s.charCodeAt(4) !== 45 || s.charCodeAt(10) !== 84) return null;
  const last = s.charCodeAt(s.length - 1);
  const zoned = last === 90 /* Z */ || s.indexOf('+', 19) !== -1 || s.indexOf('-', 19) !== -1;
  const t = Date.parse(zoned ? s : s + 'Z');
  return Number.isNaN(t) ? null : isoFromMs(t);
}

/**
 * "ip:port" as AWS writes it: IPv4 "1.2.3.4:80", IPv6 either bare
 * ("2001:db8::1:443", the port after the last colon) or bracketed
 * ("[2001:db8::1]:443"). Returns null when there is no usable port.
 */
export function splitIpPort(a: string): [string, number] | null {
  let ip: string;
  let portText: string;
  if (a.charCodeAt(0) === 91 /* [ */) {
    const end = a.indexOf(']');
    if (end < 2 || a.charCodeAt(end + 1) !== 58) return null;
    ip = a.slice(1, end);
    portText = a.slice(end + 2);
  } else {
    const c = a.lastIndexOf(':');
    if (c <= 0) return null;
    ip = a.slice(0, c);
    portText = a.slice(c + 1);
  }
  const port = uint(portText);
  if (port === undefined || port > 65535 || !looksLikeIp(ip)) return null;
  return [ip, port];
}

/** Hex digits, dots and colons only (IPv4, IPv6, IPv4-mapped IPv6). */
function looksLikeIp(s: string): boolean {
  if (s.length < 2) return false;
  let dotsOrColons = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 || c === 58) dotsOrColons++;
    else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
  }
  return dotsOrColons > 0;
}

/** A non-negative decimal integer, or undefined. */
export function uint(s: string): number | undefined {
  if (s.length === 0 || s.length > 15) return undefined;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    n = n * 10 + c;
  }
  return n;
}

/** An integer field where "-" means absent: null, or undefined when malformed. */
export function optUint(s: string): number | null | undefined {
  return s === '-' ? null : uint(s);
}

/**
 * A status code: "-" and "0" (Classic ELB's backend_status_code when no
 * instance answered) are null; undefined when malformed.
 */
export function statusCode(s: string): number | null | undefined {
  if (s === '-' || s === '0') return null;
  const v = uint(s);
  return v === undefined || v < 100 || v > 999 ? undefined : v;
}

/**
 * A processing time in seconds ("0.001"); "-1" (AWS: could not be measured)
 * and "-" are null; undefined when malformed.
 */
export function seconds(s: string): number | null | undefined {
  if (s === '-1' || s === '-') return null;
  const c = s.charCodeAt(0);
  if (!(c >= 48 && c <= 57)) return undefined;
  const v = Number(s);
  return Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** Seconds to milliseconds, rounded to the microsecond AWS can express. */
export function ms(s: number): number {
  return Math.round(s * 1_000_000) / 1000;
}

/** "TLSv1.2" as ALB/ELB write it; NLB's "tlsv12" → "TLSv1.2" so every source reads alike. */
export function tlsVersion(v: string): string {
  const lower = v.toLowerCase();
  if (lower.startsWith('tlsv') && !lower.includes('.')) {
    const d = lower.slice(4);
    if (d === '1' || d === '10') return 'TLSv1';
    if (d.length === 2) return `TLSv${d[0]}.${d[1]}`;
  }
  return v;
}

/**
 * The request field of ALB and Classic ELB: `METHOD scheme://host:port/uri VERSION`.
 * Malformed client requests are logged as "- http://host:80- -" and TCP
 * listeners (Classic) log "- - - ": every part may be "-". Returns false when
 * the field does not have its three parts.
 */
export function applyRequest(e: AuditEvent, req: string): boolean {
  const sp1 = req.indexOf(' ');
  const sp2 = req.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 <= sp1) return false;
  const method = req.slice(0, sp1);
  const version = req.slice(sp2 + 1);
  let url = req.slice(sp1 + 1, sp2);
  if (method !== '-') e.method = method;
  e.http_version = httpVersionOf(version);
  if (url === '-' || url === '') return true;
  const sch = url.indexOf('://');
  if (sch > 0 && sch < 8) {
    e.scheme = url.slice(0, sch).toLowerCase();
    url = url.slice(sch + 3);
    let slash = url.indexOf('/');
    if (slash === -1) slash = url.length;
    let authority = url.slice(0, slash);
    // "http://host:80-" (a malformed request): the "-" stands for the missing URI.
    if (authority.endsWith('-') && slash === url.length) authority = authority.slice(0, -1);
    if (authority) e.host = hostOnly(authority);
    url = url.slice(slash);
  }
  if (url === '' || url === '-') return true;
  const q = url.indexOf('?');
  e.path = q === -1 ? url : url.slice(0, q);
  if (q !== -1 && q < url.length - 1) e.query = url.slice(q + 1);
  return true;
}

/** "Example.com:443" → "example.com"; "[2001:db8::1]:443" → "2001:db8::1". */
export function hostOnly(authority: string): string {
  let h = authority;
  if (h.charCodeAt(0) === 91) {
    const end = h.indexOf(']');
    h = end > 0 ? h.slice(1, end) : h;
  } else {
    const c = h.lastIndexOf(':');
    if (c !== -1 && c === h.indexOf(':')) h = h.slice(0, c);
  }
  return h.toLowerCase();
}

/**
 * The W3C trace id inside an X-Amzn-Trace-Id value: X-Ray's
 * "Root=1-58337262-36d228ad5d99923122bbe354" is the epoch-seconds part and
 * the 96-bit random part, which together are the 128-bit W3C trace id
 * "5833726236d228ad5d99923122bbe354" (the mapping X-Ray's own W3C support uses).
 */
export function xrayTraceId(header: string): string | null {
  const i = header.indexOf('Root=1-');
  if (i === -1) return null;
  const id = header.slice(i + 7, i + 7 + 33);
  if (id.length !== 33 || id[8] !== '-') return null;
  const hex = id.slice(0, 8) + id.slice(9);
  for (let k = 0; k < hex.length; k++) {
    const c = hex.charCodeAt(k);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return null;
  }
  return hex;
}

/** What a load balancer's own status code (no answer from a target) says about how the exchange ended. */
export const LB_STATUS: Record<number, { termination: Termination; reason: string }> = {
  400: { termination: 'bad_request', reason: 'malformed request rejected by the load balancer' },
  401: { termination: 'denied', reason: 'authentication required by the load balancer' },
  403: { termination: 'denied', reason: 'forbidden by the load balancer (AWS WAF or listener rule)' },
  408: { termination: 'request_timeout', reason: 'client did not send a complete request before the idle timeout' },
  413: { termination: 'request_too_large', reason: 'request too large' },
  414: { termination: 'request_too_large', reason: 'request URI too long' },
  431: { termination: 'request_too_large', reason: 'request headers too large' },
  460: { termination: 'client_abort', reason: 'client closed the connection before the load balancer responded' },
  463: { termination: 'bad_request', reason: 'X-Forwarded-For header with too many addresses' },
  464: { termination: 'bad_request', reason: 'request protocol incompatible with the target group protocol' },
  500: { termination: 'internal_error', reason: 'load balancer internal error' },
  502: { termination: 'upstream_error', reason: 'target connection failed or its response was malformed' },
  503: { termination: 'upstream_unavailable', reason: 'no registered or healthy targets' },
  504: { termination: 'upstream_timeout', reason: 'target did not respond before the idle timeout' },
  561: { termination: 'denied', reason: 'identity provider denied authentication' },
};

/**
 * Termination for ALB/Classic lines from the two status codes: a target that
 * answered means the exchange ended normally (its own 5xx is its business);
 * otherwise the load balancer's status tells what went wrong (LB_STATUS).
 */
export function statusTermination(e: AuditEvent, redirectOrFixed: boolean): void {
  const status = e.status;
  if (status === null) return;
  if (e.upstream_status !== null && (e.upstream_status === status || status < 500)) {
    e.termination = 'ok';
    return;
  }
  const known = LB_STATUS[status];
  if (known && !(redirectOrFixed && status < 500)) {
    e.termination = known.termination;
    e.reason = known.reason;
    return;
  }
  e.termination = status < 500 ? 'ok' : 'internal_error';
}
