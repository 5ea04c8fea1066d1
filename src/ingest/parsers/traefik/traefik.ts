/**
 * Traefik access logs: the JSON format (one object per request with the
 * documented field names, request headers as `request_<Name>`) and the
 * default "common" format (CLF followed by referer, user agent, request
 * count, router, service URL and duration).
 */
import type { AuditEvent } from '../../../core/event.js';
import { httpVersionOf, ingestedEvent, parseClfTime, parseIsoTime, reject, SKIP, splitAddress } from '../common.js';
import type { LogParser, ParseOutcome, ParserOptions } from '../../types.js';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' && v !== '-' ? v : null;
}

function nonNeg(v: unknown): number | null | undefined {
  if (v === undefined || v === null || v === '-' || v === '') return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function hostOnly(h: string): string {
  let out = h;
  if (out.startsWith('[')) out = out.slice(1, out.indexOf(']') > 0 ? out.indexOf(']') : out.length);
  else if (out.indexOf(':') !== -1 && out.indexOf(':') === out.lastIndexOf(':')) out = out.slice(0, out.indexOf(':'));
  return out.toLowerCase();
}

function applyUri(e: AuditEvent, uri: string): void {
  const q = uri.indexOf('?');
  e.path = q === -1 ? uri : uri.slice(0, q);
  if (q !== -1 && q < uri.length - 1) e.query = uri.slice(q + 1);
}

/** "http://10.0.0.3:80" → "10.0.0.3:80" (the catalog's upstream is host:port). */
function urlHost(u: string): string {
  const sch = u.indexOf('://');
  const rest = sch === -1 ? u : u.slice(sch + 3);
  const slash = rest.indexOf('/');
  return slash === -1 ? rest : rest.slice(0, slash);
}

/** Termination from the two statuses: Traefik answered itself when no origin status is logged. */
function terminate(e: AuditEvent, originStatus: number | null): void {
  const s = e.status;
  if (s === null) {
    e.termination = 'client_abort';
    return;
  }
  if (originStatus !== null || s < 400) {
    e.termination = 'ok';
    return;
  }
  // No origin answer: Traefik's own error pages (no route, no healthy server, timeouts, middlewares).
  const own: Record<number, AuditEvent['termination']> = {
    400: 'bad_request', 401: 'denied', 403: 'denied', 404: 'no_route', 408: 'request_timeout', 413: 'request_too_large',
    429: 'rate_limited', 499: 'client_abort', 500: 'internal_error', 502: 'upstream_error', 503: 'upstream_unavailable', 504: 'upstream_timeout',
  };
  e.termination = own[s] ?? (s >= 500 ? 'internal_error' : 'ok');
}

export class TraefikJsonParser implements LogParser {
  readonly format = 'traefik-json';
  readonly source = 'traefik';

  constructor(private readonly opts: ParserOptions = {}) {}

  parse(line: string): ParseOutcome {
    const text = line.trim();
    if (text === '') return SKIP;
    if (text[0] !== '{') return reject('not_json', 'a Traefik JSON access log line is a JSON object');
    let o: unknown;
    try {
      o = JSON.parse(text);
    } catch (err) {
      return reject('bad_json', (err as Error).message);
    }
    if (!isObject(o)) return reject('not_json', 'a Traefik JSON access log line is a JSON object');
    // Traefik's own log lines (JSON too) have none of the access-log fields.
    if (o.ClientHost === undefined && o.ClientAddr === undefined && o.DownstreamStatus === undefined) {
      return typeof o.msg === 'string' || typeof o.message === 'string' ? SKIP : reject('missing_field', 'none of ClientHost, ClientAddr, DownstreamStatus');
    }
    const start = str(o.StartUTC) ?? str(o.StartLocal) ?? str(o.time);
    const ts = start !== null ? parseIsoTime(start) : null;
    if (ts === null) return reject('bad_timestamp', `StartUTC ${JSON.stringify(o.StartUTC ?? o.StartLocal ?? null)?.slice(0, 60)}`);

    const http = o.RequestMethod !== undefined || o.RequestProtocol !== undefined;
    const e: AuditEvent = ingestedEvent(ts, http ? 'http' : 'tcp', 'traefik');
    e.node = this.opts.node ?? null;
    e.environment = this.opts.environment ?? null;

    let ip = str(o.ClientHost);
    let port = nonNeg(o.ClientPort);
    const addr = str(o.ClientAddr);
    if (addr !== null && (ip === null || port === null)) {
      const [a, p] = splitAddress(addr);
      ip ??= a;
      if (port === null) port = p;
    }
    if (ip === null) return reject('missing_field', 'ClientHost is missing');
    if (port === undefined || (port !== null && port > 65535)) return reject('bad_number', `ClientPort ${JSON.stringify(o.ClientPort)}`);
    e.client_ip = ip;
    e.peer_ip = ip;
    e.client_port = port;

    e.method = str(o.RequestMethod);
    const path = str(o.RequestPath);
    if (path !== null) applyUri(e, path);
    const reqHost = str(o.RequestHost) ?? str(o.RequestAddr);
    if (reqHost !== null) e.host = hostOnly(reqHost);
    e.http_version = httpVersionOf(str(o.RequestProtocol));
    e.scheme = str(o.RequestScheme) ?? (http ? (str(o.TLSVersion) !== null ? 'https' : 'http') : null);

    const status = nonNeg(o.DownstreamStatus);
    const origin = nonNeg(o.OriginStatus);
    const reqSize = nonNeg(o.RequestContentSize);
    const respSize = nonNeg(o.DownstreamContentSize);
    const duration = nonNeg(o.Duration);
    const originDuration = nonNeg(o.OriginDuration);
    const retries = nonNeg(o.RetryAttempts);
    if ([status, origin, reqSize, respSize, duration, originDuration, retries].includes(undefined)) {
      return reject('bad_number', 'a status, size, duration or retry count is not a number');
    }
    // 0 is Traefik's "no status": OriginStatus is 0 when it answered by itself.
    e.status = status === 0 ? null : (status ?? null);
    e.upstream_status = origin === 0 ? null : (origin ?? null);
    e.bytes_in = reqSize ?? null;
    e.bytes_out = respSize ?? null;
    // Durations are nanoseconds.
    e.duration_ms = duration === null || duration === undefined ? null : Math.round(duration / 1000) / 1000;
    e.upstream_ms = originDuration === null || originDuration === undefined || e.upstream_status === null ? null : Math.round(originDuration / 1000) / 1000;

    e.route = str(o.RouterName);
    e.service = str(o.ServiceName);
    const serviceAddr = str(o.ServiceAddr);
    const serviceUrl = o.ServiceURL;
    // ServiceURL is a string in recent versions and a Go url.URL object in older ones.
    const url = typeof serviceUrl === 'string' ? str(serviceUrl) : isObject(serviceUrl) ? str(serviceUrl.Host) : null;
    e.upstream = serviceAddr ?? (url !== null ? urlHost(url) : null);
    if (retries !== null && retries !== undefined) e.attempts = e.upstream === null ? 0 : retries + 1;

    const tlsv = str(o.TLSVersion);
    e.tls_version = tlsv === null ? null : /^\d/.test(tlsv) ? `TLSv${tlsv === '1.0' ? '1' : tlsv}` : tlsv;
    e.tls_cipher = str(o.TLSCipher);
    e.client_cert = str(o.TLSClientSubject);
    e.user_id = str(o.ClientUsername);
    e.user_agent = str(o['request_User-Agent']);
    e.referer = str(o.request_Referer);
    e.forwarded_for = str(o['request_X-Forwarded-For']);
    e.request_id = str(o['request_X-Request-Id']) ?? str(o['request_X-Request-ID']);
    e.trace_id = str(o.TraceId) ?? traceparent(str(o.request_Traceparent));

    const extra: Record<string, string> = {};
    if (typeof o.entryPointName === 'string') extra.entrypoint = o.entryPointName;
    if (typeof serviceUrl === 'string' && serviceUrl !== '' && serviceUrl !== '-') extra.service_url = serviceUrl;
    if (typeof o.RequestCount === 'number') extra.request_count = String(o.RequestCount);
    if (typeof o.SpanId === 'string') extra.span_id = o.SpanId;
    if (typeof o.GzipRatio === 'number' && o.GzipRatio !== 0) extra.gzip_ratio = String(o.GzipRatio);
    if (typeof o.Overhead === 'number') extra.overhead_ms = String(Math.round(o.Overhead / 1000) / 1000);
    e.extra = Object.keys(extra).length ? extra : null;

    if (e.status === 101) e.kind = 'websocket';
    if (http) terminate(e, e.upstream_status);
    else e.termination = 'ok';
    return { ok: true, event: e };
  }
}

function traceparent(v: string | null): string | null {
  if (v === null) return null;
  const parts = v.split('-');
  return parts.length >= 4 && /^[0-9a-f]{32}$/.test(parts[1]) && !/^0+$/.test(parts[1]) ? parts[1] : null;
}

/**
 * Go's %q quoting, which Traefik's common format uses for the referer, user
 * agent, router and service URL: \" \\ \n \t \r \xHH \uHHHH \UHHHHHHHH.
 * Returns the unquoted text and the index after the closing quote, or null.
 */
export function goUnquote(line: string, open: number): [string, number] | null {
  let out = '';
  let bytes: number[] | null = null;
  const flush = () => {
    if (bytes) {
      out += Buffer.from(bytes).toString('utf8');
      bytes = null;
    }
  };
  for (let i = open + 1; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      flush();
      return [out, i + 1];
    }
    if (c !== '\\') {
      flush();
      out += c;
      continue;
    }
    const d = line[++i];
    if (d === 'x' && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 1, i + 3))) {
      // \xHH are raw bytes (invalid UTF-8 in the original): collect and decode them together.
      (bytes ??= []).push(Number.parseInt(line.slice(i + 1, i + 3), 16));
      i += 2;
      continue;
    }
    flush();
    if (d === 'u' && /^[0-9a-fA-F]{4}$/.test(line.slice(i + 1, i + 5))) {
      out += String.fromCharCode(Number.parseInt(line.slice(i + 1, i + 5), 16));
      i += 4;
    } else if (d === 'U' && /^[0-9a-fA-F]{8}$/.test(line.slice(i + 1, i + 9))) {
      out += String.fromCodePoint(Number.parseInt(line.slice(i + 1, i + 9), 16));
      i += 8;
    } else if (d === 'n') out += '\n';
    else if (d === 't') out += '\t';
    else if (d === 'r') out += '\r';
    else if (d !== undefined) out += d;
  }
  return null;
}

export class TraefikClfParser implements LogParser {
  readonly format = 'traefik-clf';
  readonly source = 'traefik';

  constructor(private readonly opts: ParserOptions = {}) {}

  parse(line: string): ParseOutcome {
    if (line.trim() === '') return SKIP;
    // <client> - <user> [<time>] "<method> <path> <proto>" <status> <size> "<referer>" "<ua>" <count> "<router>" "<url>" <n>ms
    let i = 0;
    const word = (): string | null => {
      while (line.charCodeAt(i) === 32) i++;
      if (i >= line.length) return null;
      let j = line.indexOf(' ', i);
      if (j === -1) j = line.length;
      const w = line.slice(i, j);
      i = j;
      return w;
    };
    const quoted = (): string | null | undefined => {
      while (line.charCodeAt(i) === 32) i++;
      if (line.charCodeAt(i) !== 34) return undefined;
      const r = goUnquote(line, i);
      if (r === null) return null;
      i = r[1];
      return r[0];
    };
    const client = word();
    const ident = word();
    const user = word();
    while (line.charCodeAt(i) === 32) i++;
    if (client === null || ident !== '-' || user === null || line.charCodeAt(i) !== 91 /* [ */) return reject('field_count', 'not a common log format line');
    const close = line.indexOf(']', i);
    if (close === -1) return reject('field_count', 'unclosed [time]');
    const ts = parseClfTime(line.slice(i + 1, close));
    if (ts === null) return reject('bad_timestamp', `time ${JSON.stringify(line.slice(i + 1, close).slice(0, 40))}`);
    i = close + 1;
    // The request line is written unescaped between quotes: it ends at the quote before the status.
    while (line.charCodeAt(i) === 32) i++;
    if (line.charCodeAt(i) !== 34) return reject('bad_request_line', 'no quoted request line');
    const reqEnd = line.indexOf('" ', i + 1);
    if (reqEnd === -1) return reject('unterminated_quote', 'the request line has no closing quote');
    const request = line.slice(i + 1, reqEnd);
    i = reqEnd + 1;
    const statusText = word();
    const sizeText = word();
    const referer = quoted();
    const agent = quoted();
    const countText = word();
    const router = quoted();
    const serviceUrl = quoted();
    const durText = word();
    if (referer === null || agent === null || router === null || serviceUrl === null) return reject('unterminated_quote', 'a quoted field has no closing quote');
    if (statusText === null || sizeText === null || referer === undefined || agent === undefined || countText === null || router === undefined || serviceUrl === undefined || durText === null) {
      return reject('field_count', 'fewer fields than Traefik\'s common format (referer, user agent, count, router, URL, duration)');
    }
    if (word() !== null) return reject('field_count', 'text after the duration');
    if (!durText.endsWith('ms')) return reject('bad_number', `duration ${JSON.stringify(durText.slice(0, 20))}`);
    const status = nonNeg(statusText);
    const size = nonNeg(sizeText);
    const duration = nonNeg(durText.slice(0, -2));
    const count = nonNeg(countText);
    if (status === undefined || (status !== null && status > 999)) return reject('bad_status', `status ${JSON.stringify(statusText.slice(0, 20))}`);
    if (size === undefined || duration === undefined || count === undefined) return reject('bad_number', `size/count/duration ${sizeText} ${countText} ${durText}`.slice(0, 100));

    const e: AuditEvent = ingestedEvent(ts, 'http', 'traefik');
    e.node = this.opts.node ?? null;
    e.environment = this.opts.environment ?? null;
    e.client_ip = client;
    e.peer_ip = client;
    e.user_id = user === '-' ? null : user;
    const sp1 = request.indexOf(' ');
    const sp2 = request.lastIndexOf(' ');
    if (request !== '- - -' && sp1 > 0 && sp2 > sp1) {
      e.method = request.slice(0, sp1);
      applyUri(e, request.slice(sp1 + 1, sp2));
      e.http_version = httpVersionOf(request.slice(sp2 + 1));
    } else if (request !== '- - -' && request !== '') {
      return reject('bad_request_line', `request ${JSON.stringify(request.slice(0, 80))}`);
    }
    e.status = status === 0 ? null : (status ?? null);
    e.bytes_out = size ?? null;
    e.duration_ms = duration ?? null;
    e.referer = referer === '-' || referer === '' ? null : referer;
    e.user_agent = agent === '-' || agent === '' ? null : agent;
    e.route = router === '-' || router === '' ? null : router;
    if (serviceUrl !== '-' && serviceUrl !== '') e.upstream = urlHost(serviceUrl);
    const extra: Record<string, string> = {};
    if (serviceUrl !== '-' && serviceUrl !== '') extra.service_url = serviceUrl;
    if (count !== null) extra.request_count = String(count);
    e.extra = Object.keys(extra).length ? extra : null;
    if (e.status === 101) e.kind = 'websocket';
    // No origin status in this format: a request with no service URL was answered by Traefik itself.
    terminate(e, e.upstream !== null ? e.status : null);
    return { ok: true, event: e };
  }
}
