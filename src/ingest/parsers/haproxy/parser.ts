/**
 * One parser for every HAProxy format: the syslog header is stripped, the
 * message is walked along the compiled log-format, and the values are mapped
 * to the catalog (see README.md for the table and the termination mapping).
 */
import type { AuditEvent, Termination } from '../../../core/event.js';
import { httpVersionOf, ingestedEvent, isoFromMs, MAX_DATE_MS, parseClfTime, parseClfTimeMs, reject, SKIP } from '../common.js';
import { localToUtc, zoneOffsetsFor, type ZoneOffsets } from '../../../core/time-zone.js';
import type { LogParser, ParseOutcome, ParserOptions } from '../../types.js';
import { V, type CompiledFormat } from './format.js';
import { Matcher } from './match.js';
import { syslogHeader } from './syslog.js';

/** Messages HAProxy logs about itself, not about a connection: not entries. */
const OPERATIONAL = ['Proxy ', 'Server ', 'backend ', 'Backend ', 'Stopping ', 'Pausing ', 'Resuming ', 'Health check ', '[WARNING]', '[ALERT]', '[NOTICE]'];

const WHO: Record<string, string> = {
  C: 'client aborted', S: 'server aborted or refused the connection', P: 'HAProxy blocked the session', L: 'handled locally by HAProxy',
  R: 'HAProxy ran out of a resource', I: 'HAProxy internal error', D: 'killed: the server went down', U: 'killed: an active server came back (backup session)',
  K: 'killed by an administrator', c: 'client-side timeout', s: 'server-side timeout',
};
const PHASE: Record<string, string> = {
  R: 'while waiting for the request', Q: 'while queued', C: 'while connecting to the server', H: 'while waiting for the response headers',
  D: 'during the data transfer', L: 'while sending the last data', T: 'while tarpitted', '-': 'after the transfer',
};

/**
 * The 2 (TCP) or 4 (HTTP) character termination state to the catalog's
 * termination. Only the first two characters matter; the last two are about
 * the persistence cookie. The README has this table.
 */
export function haproxyTermination(state: string, status: number | null, noServer: boolean): Termination {
  const who = state[0];
  const phase = state[1];
  switch (who) {
    case '-':
    case 'L':
      return 'ok';
    case 'C':
      return 'client_abort';
    case 'c':
      return phase === 'R' ? 'request_timeout' : 'client_abort';
    case 'S':
      // "SC" with no server: the backend had none available (all down).
      return phase === 'C' && noServer ? 'upstream_unavailable' : 'upstream_error';
    case 's':
      return phase === 'Q' ? 'upstream_unavailable' : 'upstream_timeout';
    case 'P':
      if (phase === 'H' || phase === 'D') return 'upstream_error';
      if (phase === 'C') return 'internal_error';
      if (status === 400) return 'bad_request';
      if (status === 408) return 'request_timeout';
      if (status === 413 || status === 414 || status === 431) return 'request_too_large';
      if (status === 429) return 'rate_limited';
      return 'denied';
    case 'D':
    case 'U':
      return 'upstream_error';
    default:
      // R (resource exhausted), I (internal error), K (killed by an admin).
      return 'internal_error';
  }
}

function validState(s: string): boolean {
  if (s.length !== 2 && s.length !== 4) return false;
  return 'CSPLRIDUKcs-'.includes(s[0]) && 'RQCHDLT-'.includes(s[1]);
}

/** A timer or counter: "-1" (not reached) is null, a "+" (option logasap) is dropped; undefined if malformed. */
function num(s: string, hex: boolean): number | null | undefined {
  if (s === '-1' || s === '-' || s === '') return null;
  let i = s.charCodeAt(0) === 43 ? 1 : 0;
  if (i === s.length) return undefined;
  if (hex) {
    const v = Number.parseInt(s.slice(i), 16);
    return Number.isNaN(v) ? undefined : v;
  }
  let v = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    v = v * 10 + c;
  }
  return v;
}

/** HAProxy writes non-printable characters (and '"', '#', '{', '|', '}') as "#XX" (8.6). */
export function unhash(s: string): string {
  if (s.indexOf('#') === -1) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) === 35 && i + 2 < s.length && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) {
      out += String.fromCharCode(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out += s[i];
  }
  return out;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

function looksLikeIp(s: string): boolean {
  if (s.length < 2) return false;
  let sep = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 || c === 58) sep++;
    else if (!isHex(c)) return false;
  }
  return sep > 0;
}

/** %ci with flag X: 8 hex digits for IPv4, 32 for IPv6. */
function hexIp(s: string): string | null {
  if (s.length === 8) return [0, 2, 4, 6].map((k) => Number.parseInt(s.slice(k, k + 2), 16)).join('.');
  if (s.length !== 32) return null;
  // Eight groups without leading zeros, the longest run of zero groups as "::" (RFC 5952).
  const groups = Array.from({ length: 8 }, (_, k) => Number.parseInt(s.slice(k * 4, k * 4 + 4), 16).toString(16));
  let best = -1;
  let bestLen = 1;
  for (let k = 0; k < 8; ) {
    if (groups[k] !== '0') {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && groups[e] === '0') e++;
    if (e - k > bestLen) {
      best = k;
      bestLen = e - k;
    }
    k = e;
  }
  if (best === -1) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * "06/Feb/2009:12:14:14.655" (no zone: HAProxy's local time, read in `zone`,
 * UTC when null) or "…:14 +0100".
 */
function haproxyDate(s: string, zone: ZoneOffsets | null): string | null {
  if (s.length > 24 && s[s.length - 6] === ' ') return parseClfTime(s);
  const ms = parseClfTimeMs(`${s} +0000`);
  if (Number.isNaN(ms)) return null;
  return isoFromMs(localToUtc(ms, zone));
}

/** "Host.Example:443" → "host.example". */
function hostOnly(h: string): string {
  let out = h;
  if (out.startsWith('[')) {
    const end = out.indexOf(']');
    if (end > 0) out = out.slice(1, end);
  } else {
    const c = out.indexOf(':');
    if (c !== -1 && c === out.lastIndexOf(':')) out = out.slice(0, c);
  }
  return out.toLowerCase();
}

/** Splits a URI (possibly absolute, as HTTP/2 requests are logged) into the event. */
function applyUri(e: AuditEvent, uri: string): void {
  let target = uri;
  const sch = target.indexOf('://');
  if (sch > 0 && sch < 8 && target[0] !== '/') {
    e.scheme = target.slice(0, sch).toLowerCase();
    const rest = target.slice(sch + 3);
    const slash = rest.indexOf('/');
    e.host = hostOnly(slash === -1 ? rest : rest.slice(0, slash));
    target = slash === -1 ? '/' : rest.slice(slash);
  }
  const q = target.indexOf('?');
  e.path = q === -1 ? target : target.slice(0, q);
  if (q !== -1 && q < target.length - 1) e.query = target.slice(q + 1);
}

/** The request line; "<BADREQ>" and "" (nothing received) leave the request fields empty. */
function applyRequest(e: AuditEvent, extra: Record<string, string>, raw: string): void {
  const line = unhash(raw);
  const sp1 = line.indexOf(' ');
  const method = sp1 === -1 ? '' : line.slice(0, sp1);
  let ok = method.length > 0;
  for (let i = 0; i < method.length && ok; i++) {
    const c = method.charCodeAt(i);
    ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;
  }
  if (!ok) {
    if (raw !== '' && raw !== '-') extra.request = raw;
    return;
  }
  e.method = method;
  const sp2 = line.lastIndexOf(' ');
  let target = line.slice(sp1 + 1);
  if (sp2 > sp1 && line.startsWith('HTTP/', sp2 + 1)) {
    e.http_version = httpVersionOf(line.slice(sp2 + 1));
    target = line.slice(sp1 + 1, sp2);
  }
  applyUri(e, target);
}

/** W3C trace id from a traceparent value. */
function traceparent(v: string): string | null {
  const parts = v.split('-');
  return parts.length >= 4 && parts[1].length === 32 && parts[1] !== '0'.repeat(32) ? parts[1].toLowerCase() : null;
}

/** Sample fetches with an obvious catalog field; anything else goes to extra as "sample:<expr>". */
function applySample(e: AuditEvent, extra: Record<string, string>, expr: string, value: string): void {
  const key = expr.replace(/\s+/g, '').toLowerCase();
  switch (key) {
    case 'ssl_fc_sni':
      e.sni = value;
      return;
    case 'ssl_fc_protocol':
      e.tls_version = value;
      return;
    case 'ssl_fc_cipher':
      e.tls_cipher = value;
      return;
    case 'ssl_c_s_dn':
      e.client_cert = value;
      return;
    case 'unique-id':
    case 'req.hdr(x-request-id)':
      e.request_id = value;
      return;
    case 'req.hdr(user-agent)':
    case 'req.fhdr(user-agent)':
      e.user_agent = unhash(value);
      return;
    case 'req.hdr(referer)':
    case 'req.fhdr(referer)':
      e.referer = unhash(value);
      return;
    case 'req.hdr(host)':
    case 'req.fhdr(host)':
      e.host = hostOnly(value);
      return;
    case 'req.hdr(x-forwarded-for)':
    case 'req.fhdr(x-forwarded-for)':
      e.forwarded_for = value;
      return;
    case 'req.hdr(traceparent)':
      e.trace_id = traceparent(value);
      return;
    default:
      extra[`sample:${expr}`] = value;
  }
}

const EXTRA_NUM: Partial<Record<V, string>> = {
  [V.TR]: 'TR', [V.Tw]: 'Tw', [V.Tc]: 'Tc', [V.Th]: 'Th', [V.Ti]: 'Ti', [V.Tq]: 'Tq', [V.Td]: 'Td', [V.Tu]: 'Tu',
  [V.ac]: 'actconn', [V.fc]: 'feconn', [V.bc]: 'beconn', [V.sc]: 'srv_conn', [V.sq]: 'srv_queue', [V.bq]: 'backend_queue',
  [V.lc]: 'log_counter', [V.rt]: 'request_counter', [V.fp]: 'frontend_port', [V.bp]: 'backend_source_port',
};

export class HaproxyParser implements LogParser {
  readonly source = 'haproxy';
  private readonly matcher: Matcher;

  private readonly zone: ZoneOffsets | null;

  constructor(
    readonly format: string,
    private readonly cf: CompiledFormat,
    private readonly opts: ParserOptions = {},
  ) {
    this.matcher = new Matcher(cf);
    this.zone = zoneOffsetsFor(opts.timezone);
  }

  parse(line: string): ParseOutcome {
    if (line.length === 0 || line.trim() === '') return SKIP;
    const header = syslogHeader(line);
    const start = header.start;
    if (start >= line.length) return reject('format_mismatch', 'a syslog header without a message');
    for (const p of OPERATIONAL) if (line.startsWith(p, start)) return SKIP;
    const err = this.matcher.match(line, start);
    if (err !== null) {
      if (err.reason === 'format_mismatch') {
        const failed = errorLogLine(line, start, header.host ?? this.opts.node ?? null, this.opts.environment ?? null, this.zone);
        if (failed !== null) return failed;
      }
      return reject(err.reason, err.detail);
    }
    return this.build(header.host, header.pid);
  }

  private build(syslogHost: string | null, syslogPid: string | null): ParseOutcome {
    const { vars } = this.cf;
    const values = this.matcher.values;
    const e: AuditEvent = ingestedEvent('', this.cf.http ? 'http' : 'tcp', 'haproxy');
    const extra: Record<string, string> = {};
    let dateRequest: string | null = null;
    let dateAccept: string | null = null;
    let tsEpoch: string | null = null;
    let acceptMs: number | null = null;
    let ta: number | null = null;
    let tt: number | null = null;
    let server: string | null = null;
    let serverIp: string | null = null;
    let serverPort: string | null = null;
    let state: string | null = null;
    let retries: number | null = null;
    let hostName: string | null = null;
    let logasap = false;

    for (let k = 0; k < vars.length; k++) {
      const v = vars[k];
      const raw = values[k];
      switch (v.id) {
        case V.ci: {
          const ip = v.hex && !raw.includes('.') && !raw.includes(':') ? hexIp(raw) : raw;
          if (ip === null || !(looksLikeIp(ip) || ip === 'unix')) return reject('bad_client_address', `client address ${JSON.stringify(raw.slice(0, 60))}`);
          e.client_ip = ip;
          e.peer_ip = ip;
          break;
        }
        case V.cp: {
          const p = num(raw, v.hex);
          if (p === undefined || (p !== null && p > 65535)) return reject('bad_client_address', `client port ${JSON.stringify(raw.slice(0, 20))}`);
          e.client_port = p;
          break;
        }
        case V.tr:
        case V.trg:
        case V.trl:
        case V.t:
        case V.T:
        case V.Tl: {
          if (haproxyDate(raw, this.zone) === null) return reject('bad_timestamp', `date ${JSON.stringify(raw.slice(0, 40))}`);
          // Request dates (%tr…) are when the request started; %t is the accept date.
          if (v.id === V.tr || v.id === V.trg || v.id === V.trl) dateRequest ??= raw;
          else dateAccept ??= raw;
          break;
        }
        case V.Ts: {
          const s = num(raw, v.hex);
          // Past Date's range there is no time to record (toISOString would throw).
          if (s === undefined || s === null || s * 1000 > MAX_DATE_MS) return reject('bad_timestamp', `timestamp ${JSON.stringify(raw.slice(0, 20))}`);
          tsEpoch = isoFromMs(s * 1000);
          break;
        }
        case V.ms: {
          const m = num(raw, false);
          if (m === undefined || (m !== null && m > 999)) return reject('bad_number', `%ms ${JSON.stringify(raw.slice(0, 20))}`);
          acceptMs = m;
          break;
        }
        case V.Ta:
        case V.Tt:
        case V.Tr: {
          const t = num(raw, false);
          if (t === undefined) return reject('bad_number', `%${v.name} ${JSON.stringify(raw.slice(0, 20))}`);
          if (raw.charCodeAt(0) === 43) logasap = true;
          if (v.id === V.Ta) ta = t;
          else if (v.id === V.Tt) tt = t;
          else e.upstream_ms = t;
          break;
        }
        case V.ST: {
          const s = num(raw, false);
          if (s === undefined || (s !== null && s !== 0 && (s < 100 || s > 999))) return reject('bad_status', `status ${JSON.stringify(raw.slice(0, 20))}`);
          e.status = s === 0 ? null : s;
          break;
        }
        case V.B:
        case V.U: {
          const b = num(raw, false);
          if (b === undefined) return reject('bad_number', `%${v.name} ${JSON.stringify(raw.slice(0, 20))}`);
          if (raw.charCodeAt(0) === 43) logasap = true;
          if (v.id === V.B) e.bytes_out = b;
          else e.bytes_in = b;
          break;
        }
        case V.rc: {
          const r = num(raw, false);
          if (r === undefined) return reject('bad_number', `retries ${JSON.stringify(raw.slice(0, 20))}`);
          retries = r;
          if (raw.charCodeAt(0) === 43) extra.redispatched = 'true';
          if (r !== null) extra.retries = String(r);
          break;
        }
        case V.ts:
        case V.tsc:
          if (!validState(raw)) return reject('bad_termination_state', `termination state ${JSON.stringify(raw.slice(0, 20))}`);
          state = raw;
          extra.termination_state = raw;
          break;
        case V.f:
        case V.ft:
          if (raw.endsWith('~')) {
            // "~" marks a frontend that accepted the connection over SSL/TLS.
            extra.frontend = raw.slice(0, -1);
            extra.tls = 'true';
          } else if (raw !== '' && raw !== '-') extra.frontend = raw;
          break;
        case V.b:
          if (raw !== '' && raw !== '-') {
            e.route = raw;
            e.service = raw;
          }
          break;
        case V.s:
          server = raw;
          break;
        case V.si:
          if (raw !== '' && raw !== '-') serverIp = raw;
          break;
        case V.sp:
          if (raw !== '' && raw !== '-' && raw !== '0') serverPort = raw;
          break;
        case V.fi:
          if (raw !== '' && raw !== '-') extra.frontend_ip = raw;
          break;
        case V.bi:
          if (raw !== '' && raw !== '-') extra.backend_source_ip = raw;
          break;
        case V.r:
          applyRequest(e, extra, raw);
          break;
        case V.HM:
          if (raw !== '' && raw !== '-') e.method = raw;
          break;
        case V.HU:
        case V.HP:
        case V.HPO:
          if (raw !== '' && raw !== '-' && e.path === null) applyUri(e, unhash(raw));
          break;
        case V.HQ:
          if (raw.length > 1 && raw !== '-') e.query = unhash(raw[0] === '?' ? raw.slice(1) : raw);
          break;
        case V.HV:
          e.http_version = httpVersionOf(raw);
          break;
        case V.ID:
          if (raw !== '' && raw !== '-') e.request_id = raw;
          break;
        case V.H:
          if (raw !== '' && raw !== '-') hostName = raw;
          break;
        case V.pid:
          if (raw !== '' && raw !== '-') extra.pid = raw;
          break;
        case V.sslc:
          if (raw !== '' && raw !== '-') e.tls_cipher = raw;
          break;
        case V.sslv:
          if (raw !== '' && raw !== '-') e.tls_version = raw;
          break;
        case V.CC:
          if (raw !== '' && raw !== '-') extra.captured_request_cookie = unhash(raw);
          break;
        case V.CS:
          if (raw !== '' && raw !== '-') extra.captured_response_cookie = unhash(raw);
          break;
        case V.hr:
        case V.hrl:
          if (raw !== '') extra.captured_request_headers = unhash(raw);
          break;
        case V.hs:
        case V.hsl:
          if (raw !== '') extra.captured_response_headers = unhash(raw);
          break;
        case V.sample:
          if (raw !== '' && raw !== '-') applySample(e, extra, v.expr ?? v.name, raw);
          break;
        default: {
          const key = EXTRA_NUM[v.id];
          if (key !== undefined) {
            const x = num(raw, v.hex);
            if (x === undefined) return reject('bad_number', `%${v.name} ${JSON.stringify(raw.slice(0, 20))}`);
            if (x !== null) extra[key] = String(x);
          }
        }
      }
    }

    const date = dateRequest ?? dateAccept;
    let ts = date !== null ? haproxyDate(date, this.zone) : tsEpoch;
    if (ts === null) return reject('bad_timestamp', 'the log-format has no date variable (%tr, %t, %T, %Ts, …)');
    // "[06/Feb/2009:12:14:14 +0100]" (CLF) has whole seconds; %ms holds the milliseconds.
    if (acceptMs !== null && acceptMs > 0 && (date === null || date.charCodeAt(20) !== 46)) ts = new Date(Date.parse(ts) + acceptMs).toISOString();
    e.ts = ts;
    e.node = syslogHost ?? hostName ?? this.opts.node ?? null;
    e.environment = this.opts.environment ?? null;
    if (syslogPid !== null && extra.pid === undefined) extra.pid = syslogPid;
    if (logasap) extra.logasap = 'true';

    // Ta (HTTP: request start to end) is the catalog's duration; TCP logs only have Tt.
    e.duration_ms = ta ?? tt;
    if (ta !== null && tt !== null) extra.Tt = String(tt);

    // "<NOSRV>": no server was reached; "<STATS>", "<CACHE>"…: answered by HAProxy itself.
    const noServer = server === null || server === '' || server === '-' || server.startsWith('<');
    if (serverIp !== null) {
      e.upstream = serverPort !== null ? (serverIp.includes(':') ? `[${serverIp}]:${serverPort}` : `${serverIp}:${serverPort}`) : serverIp;
      if (server !== null && !noServer) extra.server = server;
    } else if (!noServer) {
      e.upstream = server;
    }
    if (noServer && server !== null && server !== '' && server !== '-') extra.server = server;
    if (retries !== null) e.attempts = noServer && (e.upstream === null) ? 0 : retries + 1;

    if (e.kind === 'http') {
      if (e.scheme === null) e.scheme = extra.tls === 'true' ? 'https' : 'http';
      if (e.status === 101) e.kind = 'websocket';
    }
    if (state !== null) {
      e.termination = haproxyTermination(state, e.status, noServer);
      if (state[0] !== '-') e.reason = `${state.slice(0, 2)}: ${WHO[state[0]] ?? state[0]} ${PHASE[state[1]] ?? ''}`.trim();
    }
    e.extra = Object.keys(extra).length ? extra : null;
    return { ok: true, event: e };
  }
}

/**
 * The fixed "error log format" (8.2.5) HAProxy uses, whatever the configured
 * format, when a connection fails before a request (SSL handshake, bad PROXY
 * header): `client:port [accept_date] frontend/bind: message`.
 */
function errorLogLine(line: string, start: number, node: string | null, environment: string | null, zone: ZoneOffsets | null): ParseOutcome | null {
  const open = line.indexOf(' [', start);
  if (open === -1) return null;
  const addr = line.slice(start, open);
  const colon = addr.lastIndexOf(':');
  const close = line.indexOf('] ', open);
  if (colon <= 0 || close === -1) return null;
  const spAfter = line.indexOf(' ', close + 2);
  if (spAfter === -1 || line.charCodeAt(spAfter - 1) !== 58 /* : */) return null;
  const where = line.slice(close + 2, spAfter - 1);
  const slash = where.indexOf('/');
  if (slash <= 0) return null;
  const ip = addr.slice(0, colon);
  const port = num(addr.slice(colon + 1), false);
  const iso = haproxyDate(line.slice(open + 2, close), zone);
  if (!looksLikeIp(ip) || port === undefined || iso === null) return null;
  const e = ingestedEvent(iso, 'tcp', 'haproxy');
  e.client_ip = ip;
  e.peer_ip = ip;
  e.client_port = port;
  e.node = node;
  e.environment = environment;
  e.termination = 'bad_request';
  e.reason = line.slice(spAfter + 1).trim() || null;
  e.extra = { frontend: where.slice(0, slash), bind: where.slice(slash + 1), error_log: 'true' };
  return { ok: true, event: e };
}
