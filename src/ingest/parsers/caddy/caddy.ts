/**
 * Caddy's structured access log (the `log` directive, JSON encoder): one JSON
 * object per request from the `http.log.access[.<name>]` logger. Other
 * loggers writing to the same file (Caddy's own messages) are skipped.
 */
import type { AuditEvent } from '../../../core/event.js';
import { httpVersionOf, ingestedEvent, isCalendarDay, isoFromMs, parseClfTime, parseEpochSeconds, parseIsoTime, reject, SKIP } from '../common.js';
import { localToUtc, zoneOffsetsFor, type ZoneOffsets } from '../../../core/time-zone.js';
import type { LogParser, ParseOutcome, ParserOptions } from '../../types.js';
import { cipherSuiteName, tlsVersionName } from './tls.js';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * `ts` in any of Caddy's `time_format`s: epoch numbers in seconds (the
 * default), milliseconds, microseconds or nanoseconds — told apart by size,
 * as a time in seconds stays below 1e11 until the year 5138 — ISO 8601 /
 * RFC 3339 text, `common_log` ("02/Jan/2006:15:04:05 -0700"), and `wall`
 * ("2006/01/02 15:04:05[.frac]", the server's local time without a zone:
 * read in `zone`, UTC when null).
 */
export function caddyTime(v: unknown, zone: ZoneOffsets | null = null): string | null {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v)) n = Number(v);
  else if (typeof v === 'string') {
    const wall = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)$/.exec(v);
    if (wall) {
      if (!isCalendarDay(Number(wall[1]), Number(wall[2]) - 1, Number(wall[3]))) return null;
      const ms = Date.parse(`${wall[1]}-${wall[2]}-${wall[3]}T${wall[4]}Z`);
      return Number.isNaN(ms) ? null : isoFromMs(localToUtc(ms, zone));
    }
    return parseIsoTime(v) ?? parseClfTime(v);
  } else return null;
  if (!Number.isFinite(n) || n <= 0) return null;
  const seconds = n < 1e11 ? n : n < 1e14 ? n / 1e3 : n < 1e17 ? n / 1e6 : n / 1e9;
  return parseEpochSeconds(String(seconds));
}

/** A header's first value; Caddy logs headers as {"Name": ["value", …]} with canonical names. */
function header(headers: unknown, name: string): string | null {
  if (!isObject(headers)) return null;
  let v = headers[name];
  if (v === undefined) {
    // Canonical form is the norm, but a filter or an older version may differ in case.
    const lower = name.toLowerCase();
    for (const k of Object.keys(headers)) if (k.toLowerCase() === lower) v = headers[k];
  }
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' && first !== '' ? first : null;
}

/** "00-<trace id>-<span id>-<flags>" → the 32-hex trace id. */
function traceparent(v: string | null): string | null {
  if (v === null) return null;
  const parts = v.trim().split('-');
  if (parts.length < 4 || parts[1].length !== 32 || !/^[0-9a-f]{32}$/i.test(parts[1]) || /^0+$/.test(parts[1])) return null;
  return parts[1].toLowerCase();
}

/**
 * Caddy's duration: seconds as a float by default; with duration_format
 * "string" a Go duration ("1.5ms", "2m3.4s"), with "ms"/"nanoseconds" a number
 * the log's config decides — only seconds and Go strings are self-describing.
 */
function durationMs(v: unknown): number | null | undefined {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v * 1_000_000) / 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, 'µs': 0.001, ns: 0.000001 };
  let total = 0;
  let i = 0;
  if (v === '0s' || v === '0') return 0;
  while (i < v.length) {
    let j = i;
    while (j < v.length && ((v[j] >= '0' && v[j] <= '9') || v[j] === '.')) j++;
    if (j === i) return undefined;
    const n = Number(v.slice(i, j));
    let k = j;
    while (k < v.length && !((v[k] >= '0' && v[k] <= '9') || v[k] === '.')) k++;
    const unit = units[v.slice(j, k)];
    if (unit === undefined || Number.isNaN(n)) return undefined;
    total += n * unit;
    i = k;
  }
  return Math.round(total * 1000) / 1000;
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function int(v: unknown): number | null | undefined {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : undefined;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return undefined;
}

export class CaddyParser implements LogParser {
  readonly format = 'caddy';
  readonly source = 'caddy';

  private readonly zone: ZoneOffsets | null;

  constructor(private readonly opts: ParserOptions = {}) {
    this.zone = zoneOffsetsFor(opts.timezone);
  }

  parse(line: string): ParseOutcome {
    const text = line.trim();
    if (text === '') return SKIP;
    if (text[0] !== '{') return reject('not_json', 'a Caddy access log line is a JSON object');
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch (err) {
      return reject('bad_json', (err as Error).message);
    }
    if (!isObject(o)) return reject('not_json', 'a Caddy access log line is a JSON object');
    const logger = o.logger;
    if (typeof logger === 'string' && !logger.startsWith('http.log.access')) return SKIP;
    const req = o.request;
    if (!isObject(req)) return reject('missing_request', 'no "request" object');

    const ts = caddyTime(o.ts, this.zone);
    if (ts === null) return reject('bad_timestamp', `ts ${JSON.stringify(o.ts)?.slice(0, 40) ?? 'missing'}`);

    const e: AuditEvent = ingestedEvent(ts, 'http', 'caddy');
    e.node = this.opts.node ?? null;
    e.environment = this.opts.environment ?? null;

    const remote = str(req.remote_ip);
    const client = str(req.client_ip) ?? remote;
    if (client === null) return reject('missing_field', 'request.remote_ip is missing');
    e.client_ip = client;
    e.peer_ip = remote;
    const port = int(req.remote_port);
    if (port === undefined || (port !== null && port > 65535)) return reject('bad_number', `remote_port ${JSON.stringify(req.remote_port)}`);
    // The port belongs to the socket peer: meaningless once client_ip was resolved through a proxy.
    e.client_port = client === remote ? port : null;

    e.method = str(req.method);
    const host = str(req.host);
    if (host !== null) {
      let h = host;
      if (h.startsWith('[')) h = h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : h.length);
      else if (h.indexOf(':') !== -1 && h.indexOf(':') === h.lastIndexOf(':')) h = h.slice(0, h.indexOf(':'));
      e.host = h.toLowerCase();
    }
    const uri = str(req.uri);
    if (uri !== null) {
      const q = uri.indexOf('?');
      e.path = q === -1 ? uri : uri.slice(0, q);
      if (q !== -1 && q < uri.length - 1) e.query = uri.slice(q + 1);
    }
    e.http_version = httpVersionOf(str(req.proto));

    const headers = req.headers;
    e.user_agent = header(headers, 'User-Agent');
    e.referer = header(headers, 'Referer');
    e.forwarded_for = header(headers, 'X-Forwarded-For');
    e.request_id = header(headers, 'X-Request-Id') ?? header(o.resp_headers, 'X-Request-Id');
    e.trace_id = traceparent(header(headers, 'Traceparent'));

    const tls = req.tls;
    e.scheme = isObject(tls) ? 'https' : 'http';
    const extra: Record<string, string> = {};
    if (typeof logger === 'string' && logger !== 'http.log.access') extra.logger = logger;
    if (isObject(tls)) {
      if (typeof tls.version === 'number') e.tls_version = tlsVersionName(tls.version);
      if (typeof tls.cipher_suite === 'number') e.tls_cipher = cipherSuiteName(tls.cipher_suite);
      e.sni = str(tls.server_name);
      const cn = str(tls.client_common_name);
      if (cn !== null) e.client_cert = `CN=${cn}`;
      if (tls.resumed === true) extra.tls_resumed = 'true';
      if (str(tls.proto) !== null) extra.alpn = tls.proto as string;
      if (str(tls.client_serial) !== null) extra.client_serial = tls.client_serial as string;
    }

    const status = int(o.status);
    const size = int(o.size);
    const read = int(o.bytes_read);
    if (status === undefined || size === undefined || read === undefined) {
      return reject('bad_number', `status/size/bytes_read ${JSON.stringify([o.status, o.size, o.bytes_read])}`.slice(0, 150));
    }
    // Status 0: Caddy wrote no response (the client went away first).
    e.status = status === 0 ? null : status;
    e.bytes_out = size;
    e.bytes_in = read;
    const d = durationMs(o.duration);
    if (d === undefined) return reject('bad_number', `duration ${JSON.stringify(o.duration)}`.slice(0, 80));
    e.duration_ms = d;
    const user = str(o.user_id);
    if (user !== null) e.user_id = user;
    if (typeof o.msg === 'string' && o.msg !== 'handled request') extra.msg = o.msg;
    if (typeof o.err_id === 'string') extra.err_id = o.err_id;
    if (typeof o.err_trace === 'string') extra.err_trace = o.err_trace;

    if (e.status === 101) e.kind = 'websocket';
    if (e.status === null) e.termination = 'client_abort';
    else if (typeof o.err_id === 'string' && e.status >= 500) {
      // A handler error (err_id): Caddy generated the 5xx, typically reverse_proxy failing to reach or hear from the upstream.
      e.termination = e.status === 502 ? 'upstream_error' : e.status === 503 ? 'upstream_unavailable' : e.status === 504 ? 'upstream_timeout' : 'internal_error';
      e.reason = typeof o.msg === 'string' && o.msg !== 'handled request' ? o.msg : `handler error ${o.err_id}`;
    } else e.termination = 'ok';
    e.extra = Object.keys(extra).length ? extra : null;
    return { ok: true, event: e };
  }
}
