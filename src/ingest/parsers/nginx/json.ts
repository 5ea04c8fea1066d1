/**
 * NGINX JSON access logs (`log_format ... escape=json '{"remote_addr":"$remote_addr",...}'`).
 * There is no standard layout, so keys are matched by name: the NGINX
 * variable names themselves (most formats use them) and the other spellings
 * people commonly give them (`client_ip`, `@timestamp`, `http_referrer`,
 * `user_agent`...). A key in a nested object is matched as `parent_key`
 * when that names a catalog field (`"ssl":{"protocol":...}` is
 * $ssl_protocol), otherwise as `key`. Every other key
 * is kept in `extra`, nested ones as `parent.key`.
 */
import type { LogParser, ParseOutcome, ParserOptions } from '../../types.js';
import { SKIP, ingestedEvent, reject, unescapeLogString } from '../common.js';
import { Fail, Sink, anyTime, apply, configuredHeaders, field, finish, isBlank, newState, resetState, spec, withConfiguredRedaction, type Field, type FieldSpec, type Finisher, type LineState } from './line-format.js';
import { nginxVariable } from './log-format.js';
import type { AuditEvent } from '../../../core/event.js';

/** Other spellings of NGINX variables seen in JSON formats, lower-case. */
const ALIASES: Record<string, string> = {
  client_ip: 'remote_addr',
  clientip: 'remote_addr',
  remote_ip: 'remote_addr',
  client_port: 'remote_port',
  user: 'remote_user',
  method: 'request_method',
  request_type: 'request_method',
  url: 'request_uri',
  path: 'uri',
  query: 'args',
  protocol: 'server_protocol',
  http_version: 'server_protocol',
  status_code: 'status',
  bytes_out: 'body_bytes_sent',
  total_bytes_sent: 'bytes_sent',
  bytes_in: 'request_length',
  duration: 'request_time',
  user_agent: 'http_user_agent',
  useragent: 'http_user_agent',
  agent: 'http_user_agent',
  referer: 'http_referer',
  referrer: 'http_referer',
  http_referrer: 'http_referer',
  x_forwarded_for: 'http_x_forwarded_for',
  forwarded_for: 'http_x_forwarded_for',
  xff: 'http_x_forwarded_for',
  upstream: 'upstream_addr',
  req_id: 'request_id',
  x_request_id: 'http_x_request_id',
  traceparent: 'http_traceparent',
  trace_id: 'otel_trace_id',
  tls_version: 'ssl_protocol',
  tls_protocol: 'ssl_protocol',
  tls_cipher: 'ssl_cipher',
  sni: 'ssl_server_name',
};

/**
 * Time keys. Whatever the key says, the value is read by its shape (a
 * common log time, ISO 8601 or Unix seconds): formats often name a key
 * `time` or `timestamp` and put any of them in it.
 */
const TIME_KEYS: Record<string, number> = { msec: 3, '@timestamp': 2, time_iso8601: 2, timestamp: 2, time: 2, datetime: 2, time_local: 1 };

/** Keys that only NGINX JSON formats tend to have: tell them from Caddy's, Traefik's or Envoy's JSON. */
const NGINX_KEYS = new Set(['remote_addr', 'time_local', 'time_iso8601', 'msec', 'request', 'body_bytes_sent', 'request_time', 'http_user_agent', 'http_referer', 'http_referrer', 'upstream_addr', 'upstream_response_time', 'http_x_forwarded_for', 'remote_user', 'server_protocol', 'request_uri']);

function keySpec(name: string): FieldSpec {
  const precision = TIME_KEYS[name];
  if (precision !== undefined) return spec(Sink.Time, { time: anyTime, timeAtEnd: true, timePrecision: precision });
  return nginxVariable(ALIASES[name] ?? name);
}

/** Whether a key feeds a catalog field (not only extra or headers). */
function isCatalogField(s: FieldSpec): boolean {
  return s.sink !== Sink.Extra && s.sink !== Sink.ReqHeader && s.sink !== Sink.ResHeader;
}

const MAX_KEYS = 1000;
const MAX_DEPTH = 4;

/**
 * Default-escaped NGINX output in a JSON-shaped format (escape=json
 * forgotten) writes \xHH, which JSON does not allow: rewrite each run of
 * escapes as the JSON for the text it stands for.
 */
function jsonFromNginxEscapes(line: string): string {
  let out = '';
  let from = 0;
  let i = line.indexOf('\\x');
  while (i !== -1) {
    let end = i;
    while (line.startsWith('\\x', end) && end + 4 <= line.length) end += 4;
    out += line.slice(from, i) + JSON.stringify(unescapeLogString(line.slice(i, end))).slice(1, -1);
    from = end;
    i = line.indexOf('\\x', from);
  }
  return out + line.slice(from);
}

export class NginxJsonParser implements LogParser {
  readonly format = 'nginx-json';
  readonly source = 'nginx';
  private readonly fields = new Map<string, Field>();
  private readonly st: LineState = newState();
  private readonly fin: Finisher;

  private readonly configured: ReadonlySet<string>;

  constructor(opts: ParserOptions) {
    this.fin = { node: opts.node ?? null, environment: opts.environment ?? null, zone: null }; // NGINX writes every time with its offset
    this.configured = configuredHeaders(opts);
  }

  parse(line: string): ParseOutcome {
    if (isBlank(line)) return SKIP;
    const obj = parseObject(line);
    if (typeof obj === 'string') return reject('bad_json', obj);
    const e = ingestedEvent('', 'http', this.source);
    const st = this.st;
    resetState(st);
    const failed = this.walk(obj, '', 0, e, st);
    if (failed) return failed;
    if (st.timePrecision < 0) return reject('missing_time', `no time key (${Object.keys(TIME_KEYS).join(', ')})`);
    return finish(e, st, this.fin);
  }

  private walk(obj: Record<string, unknown>, prefix: string, depth: number, e: AuditEvent, st: LineState): ParseOutcome | null {
    for (const key in obj) {
      const v = obj[key];
      if (v === null || v === undefined) continue;
      if (typeof v === 'object' && !Array.isArray(v) && depth < MAX_DEPTH) {
        const failed = this.walk(v as Record<string, unknown>, prefix + key + '.', depth + 1, e, st);
        if (failed) return failed;
        continue;
      }
      const s = typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
      const f = this.field(prefix, key);
      const r = apply(f, s, 0, s.length, e, st, false);
      if (r !== Fail.None) {
        const reason = r === Fail.Status ? 'bad_status' : r === Fail.Time ? 'bad_timestamp' : 'bad_number';
        return reject(reason, `"${prefix}${key}" is ${JSON.stringify(s.length > 60 ? s.slice(0, 60) + '…' : s)}`);
      }
    }
    return null;
  }

  private field(prefix: string, key: string): Field {
    const full = prefix + key;
    let f = this.fields.get(full);
    if (f) return f;
    const name = key.toLowerCase().replace(/^\$/, '');
    let s = keySpec(name);
    if (prefix !== '') {
      // "ssl": {"protocol": ...} is $ssl_protocol, not $server_protocol.
      const joined = keySpec(prefix.slice(0, -1).toLowerCase().replaceAll('.', '_') + '_' + name);
      if (isCatalogField(joined)) s = joined;
    }
    if (s.sink === Sink.Extra || s.key === '') s = { ...s, key: full };
    f = field(`"${full}"`, withConfiguredRedaction(s, this.configured));
    // A log with ever-new keys must not grow the cache without bound.
    if (this.fields.size < MAX_KEYS) this.fields.set(full, f);
    return f;
  }
}

/** The line as a JSON object, or why it is not one. */
function parseObject(line: string): Record<string, unknown> | string {
  let i = 0;
  while (line.charCodeAt(i) === 32 || line.charCodeAt(i) === 9) i++;
  if (line.charCodeAt(i) !== 123 /* { */) return `not a JSON object: ${JSON.stringify(line.slice(0, 40))}`;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    try {
      if (!line.includes('\\x')) throw err;
      v = JSON.parse(jsonFromNginxEscapes(line));
    } catch (err2) {
      return `not valid JSON: ${(err2 as Error).message}`;
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  return v as Record<string, unknown>;
}

/** How much `sample` looks like NGINX JSON logs, 0 to 1. */
export function detectNginxJson(sample: readonly string[]): number {
  let seen = 0;
  let score = 0;
  const parser = new NginxJsonParser({});
  for (const line of sample) {
    if (seen === 50) break;
    if (isBlank(line)) continue;
    seen++;
    const o = parser.parse(line);
    if (o.ok !== true) continue;
    const obj = parseObject(line);
    if (typeof obj === 'string') continue;
    let distinctive = 0;
    for (const k of Object.keys(obj)) if (NGINX_KEYS.has(k.toLowerCase())) distinctive++;
    // A JSON access log of another server may parse (it has a time and a status) without being NGINX's.
    score += distinctive >= 2 ? 0.9 : 0.3;
  }
  return seen === 0 ? 0 : score / seen;
}
