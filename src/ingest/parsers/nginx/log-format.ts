/**
 * NGINX `log_format` strings: what each variable means in the audit event
 * catalog, and the compiler that turns a format into a LineFormat for the
 * engine in line-format.ts.
 *
 * Any variable is accepted: NGINX lets configurations define their own
 * (`set`, `map`, modules), so a variable without a catalog field is kept in
 * `extra` under its name rather than refused.
 */
import {
  Sink,
  clfTime,
  cookieSpec,
  epochSeconds,
  field,
  headerSpec,
  isoTime,
  spec,
  type Field,
  type FieldSpec,
  type LineFormat,
} from './line-format.js';
import { isWholeQuoted } from '../common.js';

const S = spec;

/** Variables with a catalog field (or a meaning for the reader). */
const VARIABLES: Record<string, FieldSpec> = {
  remote_addr: S(Sink.ClientIp),
  remote_port: S(Sink.ClientPort),
  // realip module: the socket peer, when remote_addr was replaced by the client behind it.
  realip_remote_addr: S(Sink.PeerIp),
  remote_user: S(Sink.UserId),
  hostname: S(Sink.Node),
  // NGINX writes the line when the request completes: these times are the end of the request.
  time_local: S(Sink.Time, { time: clfTime, minWidth: 26, timeAtEnd: true, timePrecision: 0 }),
  time_iso8601: S(Sink.Time, { time: isoTime, minWidth: 25, timeAtEnd: true, timePrecision: 0 }),
  msec: S(Sink.Time, { time: epochSeconds, timeAtEnd: true, timePrecision: 3 }),
  request: S(Sink.RequestLine),
  request_method: S(Sink.Method),
  request_uri: S(Sink.RequestUri),
  // $uri and $args are after rewrites; the request as received ($request, $request_uri) wins.
  uri: S(Sink.Path, { weak: true }),
  document_uri: S(Sink.Path, { weak: true }),
  args: S(Sink.Query, { weak: true }),
  query_string: S(Sink.Query, { weak: true }),
  server_protocol: S(Sink.Protocol, { weak: true }),
  scheme: S(Sink.Scheme),
  https: S(Sink.HttpsFlag, { weak: true }),
  host: S(Sink.Host),
  http_host: S(Sink.Host),
  server_name: S(Sink.Host, { weak: true }),
  status: S(Sink.Status),
  body_bytes_sent: S(Sink.BytesOut),
  // Headers included: only when the body size is not logged.
  bytes_sent: S(Sink.BytesOut, { weak: true }),
  request_length: S(Sink.BytesIn),
  request_time: S(Sink.DurationSeconds),
  upstream_addr: S(Sink.UpstreamAddr, { list: true }),
  upstream_status: S(Sink.UpstreamStatus, { list: true }),
  upstream_response_time: S(Sink.UpstreamSeconds, { list: true }),
  http_user_agent: S(Sink.UserAgent),
  http_referer: S(Sink.Referer),
  http_x_forwarded_for: S(Sink.ForwardedFor),
  request_id: S(Sink.RequestId),
  http_x_request_id: S(Sink.RequestId, { weak: true }),
  http_traceparent: S(Sink.Traceparent, { weak: true }),
  otel_trace_id: S(Sink.TraceId),
  ssl_protocol: S(Sink.TlsVersion),
  ssl_cipher: S(Sink.TlsCipher),
  ssl_server_name: S(Sink.Sni),
  ssl_client_s_dn: S(Sink.ClientCert),
};

/** What `$name` (lower-case, without `$`) means. Never fails: unknown variables go to `extra`. */
export function nginxVariable(name: string): FieldSpec {
  // Own keys only: "$constructor" or "$__proto__" must not find Object.prototype's members.
  const known = Object.hasOwn(VARIABLES, name) ? VARIABLES[name] : undefined;
  if (known) return known;
  // Request and response headers by name ($http_x_api_version → headers["req.x-api-version"]).
  if (name.startsWith('http_') && name.length > 5) return headerSpec('req', name.slice(5).replaceAll('_', '-'));
  if (name.startsWith('sent_http_') && name.length > 10) return headerSpec('res', name.slice(10).replaceAll('_', '-'));
  if (name.startsWith('cookie_') && name.length > 7) return cookieSpec(name);
  // $upstream_connect_time, $upstream_header_time, $upstream_bytes_received... are lists like $upstream_addr.
  return S(Sink.Extra, { key: name, list: name.startsWith('upstream_') });
}

export type NginxEscape = 'default' | 'json' | 'none';

/**
 * Accepts the format as it appears in nginx.conf as well as bare:
 *
 *   log_format main escape=json '{"t":"$msec",'
 *                               '"s":$status}';
 *   '$remote_addr - $remote_user [$time_local] ...'
 *   $remote_addr - $remote_user [$time_local] ...
 *
 * Several quoted strings are concatenated as NGINX does.
 */
export function unwrapLogFormat(input: string): { text: string; escape: NginxEscape } {
  let s = input.trim();
  let escape: NginxEscape = 'default';
  let directive = false;
  const m = /^log_format\s+(\S+)\s*/.exec(s);
  if (m) {
    directive = true;
    s = s.slice(m[0].length);
    const esc = /^escape=(\S*)\s*/.exec(s);
    if (esc) {
      if (esc[1] !== 'default' && esc[1] !== 'json' && esc[1] !== 'none') throw new Error(`log_format ${m[1]}: unknown escape=${esc[1]} (NGINX knows default, json and none)`);
      escape = esc[1];
      s = s.slice(esc[0].length);
    }
  }
  // Bare: the format itself, unless it is one quoted string as in nginx.conf (a format may begin with a quote of its own).
  if (!directive && !s.startsWith("'") && !isWholeQuoted(s, '"', /^\s*;?\s*(?:#.*)?$/s)) return { text: s, escape };
  return { text: configArguments(s), escape };
}

/** NGINX configuration arguments (quoted or bare), concatenated as log_format does. */
function configArguments(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    // A comment runs to the end of its line; `;` ends the directive (what follows can only be comments).
    if (c === '#') {
      const eol = s.indexOf('\n', i);
      i = eol === -1 ? s.length : eol + 1;
      continue;
    }
    if (c === ';') break;
    if (c === "'" || c === '"') {
      let j = i + 1;
      for (; j < s.length && s[j] !== c; j++) {
        if (s[j] === '\\' && j + 1 < s.length) {
          const d = s[++j];
          // The escapes ngx_conf_file.c understands inside quotes; others are kept as written.
          out += d === 't' ? '\t' : d === 'r' ? '\r' : d === 'n' ? '\n' : d === '"' || d === "'" || d === '\\' ? d : '\\' + d;
        } else out += s[j];
      }
      if (j >= s.length) throw new Error(`log_format: unterminated ${c}quoted${c} string`);
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < s.length && !' \t\n\r;'.includes(s[j])) j++;
    out += s.slice(i, j);
    i = j;
  }
  return out;
}

const NAME_CHAR = /[A-Za-z0-9_]/;

/**
 * Compiles an NGINX log_format into a LineFormat. Throws an Error that says
 * what to change when the format cannot be read back unambiguously.
 */
export function compileNginxFormat(input: string): LineFormat {
  const { text, escape } = unwrapLogFormat(input);
  if (text.trim() === '') throw new Error('log_format is empty');
  if (text.includes('\n') || text.includes('\r')) throw new Error('log_format contains a line break: each request must be one line');
  const literals: string[] = [];
  const names: string[] = [];
  let lit = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== '$') {
      lit += c;
      i++;
      continue;
    }
    let name: string;
    if (text[i + 1] === '{') {
      const close = text.indexOf('}', i + 2);
      if (close === -1) throw new Error(`log_format: "\${" without "}" at column ${i + 1}`);
      name = text.slice(i + 2, close);
      if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`log_format: invalid variable name "\${${name}}" at column ${i + 1}`);
      i = close + 1;
    } else {
      let j = i + 1;
      while (j < text.length && NAME_CHAR.test(text[j])) j++;
      if (j === i + 1) throw new Error(`log_format: "$" at column ${i + 1} is not followed by a variable name`);
      name = text.slice(i + 1, j);
      i = j;
    }
    literals.push(lit);
    names.push(name);
    lit = '';
  }
  literals.push(lit);
  if (!names.length) throw new Error('log_format has no variables');
  const fields: Field[] = [];
  for (let k = 0; k < names.length; k++) {
    const before = literals[k];
    const after = literals[k + 1];
    if (k + 1 < names.length && after === '') {
      throw new Error(`log_format: $${names[k]} and $${names[k + 1]} are adjacent; the parser cannot tell where one ends and the next begins (put a separator between them, e.g. a space)`);
    }
    const name = names[k].toLowerCase();
    const s = nginxVariable(name);
    const quoted = before.endsWith('"') && after.startsWith('"');
    // A mapped variable can still leave its raw value in extra (several upstreams): under its own name.
    fields.push(field('$' + names[k], s.key ? s : { ...s, key: name }, quoted, after));
  }
  if (!fields.some((f) => f.sink === Sink.Time)) throw new Error('log_format has no time variable: add $time_local, $time_iso8601 or $msec');
  return { lead: literals[0], fields, unescape: escape !== 'none' };
}
