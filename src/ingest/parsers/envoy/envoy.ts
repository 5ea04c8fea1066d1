/**
 * Envoy's default access log format (configuration/observability/access_log):
 *
 *   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
 *   %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
 *   %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
 *   "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
 *
 * Envoy writes header values verbatim, quotes included, and "-" for every
 * unset value. TCP proxies use the same format with "- - -" as the request.
 */
import type { AuditEvent, Termination } from '../../../core/event.js';
import { httpVersionOf, ingestedEvent, isoFromMs, reject, SKIP } from '../common.js';
import type { LogParser, ParseOutcome, ParserOptions } from '../../types.js';

/** RESPONSE_FLAGS (short names) → what they mean and how the exchange ended; README has the table. */
export const RESPONSE_FLAGS: Record<string, { termination: Termination; reason: string }> = {
  UH: { termination: 'upstream_unavailable', reason: 'no healthy upstream host' },
  UF: { termination: 'upstream_error', reason: 'upstream connection failure' },
  UO: { termination: 'upstream_unavailable', reason: 'upstream overflow (circuit breaking)' },
  NR: { termination: 'no_route', reason: 'no route configured' },
  URX: { termination: 'upstream_error', reason: 'upstream retry limit exceeded' },
  NC: { termination: 'no_route', reason: 'upstream cluster not found' },
  DT: { termination: 'request_timeout', reason: 'max connection duration exceeded' },
  DC: { termination: 'client_abort', reason: 'downstream connection termination' },
  LH: { termination: 'upstream_unavailable', reason: 'local service failed health check' },
  UT: { termination: 'upstream_timeout', reason: 'upstream request timeout' },
  LR: { termination: 'upstream_error', reason: 'connection local reset' },
  UR: { termination: 'upstream_error', reason: 'upstream remote reset' },
  UC: { termination: 'upstream_error', reason: 'upstream connection termination' },
  DI: { termination: 'ok', reason: 'delay injected by fault injection' },
  FI: { termination: 'internal_error', reason: 'aborted by fault injection' },
  RL: { termination: 'rate_limited', reason: 'rate limited locally' },
  UAEX: { termination: 'denied', reason: 'denied by the external authorization service' },
  RLSE: { termination: 'internal_error', reason: 'rate limit service error' },
  IH: { termination: 'bad_request', reason: 'invalid value for a strictly-checked header' },
  SI: { termination: 'request_timeout', reason: 'stream idle timeout' },
  DPE: { termination: 'bad_request', reason: 'downstream HTTP protocol error' },
  UPE: { termination: 'upstream_error', reason: 'upstream HTTP protocol error' },
  UMSDR: { termination: 'upstream_timeout', reason: 'upstream max stream duration reached' },
  OM: { termination: 'internal_error', reason: 'terminated by the overload manager' },
  DF: { termination: 'upstream_unavailable', reason: 'DNS resolution failure' },
  RFCF: { termination: 'ok', reason: 'response served from the cache filter' },
  NFCF: { termination: 'internal_error', reason: 'filter config not received in time' },
  DR: { termination: 'client_abort', reason: 'downstream remote reset' },
};

/**
 * Which flag decides when several are set ("UF,URX"): the client going away
 * first, then the most specific upstream condition, then policy outcomes.
 */
const PRIORITY = ['DC', 'DR', 'NR', 'NC', 'UAEX', 'RL', 'RLSE', 'IH', 'DPE', 'UT', 'UMSDR', 'SI', 'DT', 'UH', 'UO', 'LH', 'DF', 'UF', 'URX', 'UC', 'UR', 'LR', 'UPE', 'FI', 'OM', 'NFCF', 'RFCF', 'DI'];

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** "-" or a number (undefined when neither). */
function optInt(s: string): number | null | undefined {
  return s === '-' ? null : isDigits(s) ? Number(s) : undefined;
}

/**
 * Reads a quoted field at i. Envoy does not escape quotes inside values, so
 * the closing quote is recognised by what follows it: the start of the next
 * field (`nextQuoted`: ` "`; otherwise a space and a digit or "-"), or the
 * end of the line for the last field.
 */
function quoted(line: string, i: number, follow: 'quoted' | 'plain' | 'last'): [string, number] | null {
  if (line.charCodeAt(i) !== 34) return null;
  let j = i + 1;
  for (;;) {
    j = line.indexOf('"', j);
    if (j === -1) return null;
    const a = line.charCodeAt(j + 1);
    const b = line.charCodeAt(j + 2);
    const ends =
      j + 1 === line.length ||
      (a === 32 && (follow === 'last' || (follow === 'quoted' ? b === 34 : (b >= 48 && b <= 57) || b === 45)));
    if (ends) return [line.slice(i + 1, j), j + 1];
    j++;
  }
}

function word(line: string, i: number): [string, number] {
  let j = line.indexOf(' ', i);
  if (j === -1) j = line.length;
  return [line.slice(i, j), j];
}

/** START_TIME's default "2016-04-15T20:17:00.310Z" (UTC). */
function startTime(s: string): string | null {
  if (s.length < 20 || s.charCodeAt(4) !== 45 || s.charCodeAt(10) !== 84) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : isoFromMs(t);
}

export class EnvoyParser implements LogParser {
  readonly format = 'envoy';
  readonly source = 'envoy';

  constructor(private readonly opts: ParserOptions = {}) {}

  parse(line: string): ParseOutcome {
    if (line.trim() === '') return SKIP;
    if (line.charCodeAt(0) !== 91 /* [ */) return reject('bad_timestamp', 'an Envoy line starts with [START_TIME]');
    const close = line.indexOf('] ');
    if (close === -1) return reject('bad_timestamp', 'no closing "]" after START_TIME');
    const ts = startTime(line.slice(1, close));
    if (ts === null) return reject('bad_timestamp', `START_TIME ${JSON.stringify(line.slice(1, Math.min(close, 41)))}`);
    let i = close + 2;
    const req = quoted(line, i, 'plain');
    if (req === null) return reject('unterminated_quote', 'the request line is not a closed quoted field');
    i = req[1] + 1;

    // Seven unquoted fields: code, flags, bytes received, bytes sent, duration, upstream service time.
    const plain: string[] = [];
    for (let k = 0; k < 6; k++) {
      if (i >= line.length) return reject('field_count', 'the line ends before the upstream host');
      const [w, next] = word(line, i);
      plain.push(w);
      i = next + 1;
    }
    const quotedFields: string[] = [];
    while (i < line.length && quotedFields.length < 5) {
      const q = quoted(line, i, quotedFields.length === 4 ? 'last' : 'quoted');
      if (q === null) return line.charCodeAt(i) === 34 ? reject('unterminated_quote', `a quoted field at column ${i + 1} does not close`) : reject('field_count', `expected a quoted field at column ${i + 1}`);
      quotedFields.push(q[0]);
      i = q[1] + 1;
    }
    if (quotedFields.length < 5) return reject('field_count', `${quotedFields.length} of the 5 quoted fields after the duration`);
    // Text after the default format's last field: kept, as formats extended at the end are common.
    const rest = i < line.length ? line.slice(i).trim() : '';

    const [codeText, flags, receivedText, sentText, durationText, serviceTimeText] = plain;
    const code = optInt(codeText);
    if (code === undefined || (code !== null && code !== 0 && (code < 100 || code > 999))) return reject('bad_status', `response code ${JSON.stringify(codeText.slice(0, 20))}`);
    const received = optInt(receivedText);
    const sent = optInt(sentText);
    const duration = optInt(durationText);
    const serviceTime = optInt(serviceTimeText);
    if (received === undefined || sent === undefined || duration === undefined || serviceTime === undefined) {
      return reject('bad_number', `bytes/duration/service time ${receivedText} ${sentText} ${durationText} ${serviceTimeText}`.slice(0, 120));
    }

    const [request, xff, agent, requestId, authority, upstreamHost] = [req[0], ...quotedFields];
    const tcp = request === '- - -';
    const e: AuditEvent = ingestedEvent(ts, tcp ? 'tcp' : 'http', 'envoy');
    e.node = this.opts.node ?? null;
    e.environment = this.opts.environment ?? null;

    if (!tcp) {
      const sp1 = request.indexOf(' ');
      const sp2 = request.lastIndexOf(' ');
      if (sp1 <= 0 || sp2 <= sp1) return reject('bad_request_line', `request ${JSON.stringify(request.slice(0, 80))}`);
      const method = request.slice(0, sp1);
      const path = request.slice(sp1 + 1, sp2);
      const proto = request.slice(sp2 + 1);
      if (method !== '-') e.method = method;
      if (path !== '-') {
        const q = path.indexOf('?');
        e.path = q === -1 ? path : path.slice(0, q);
        if (q !== -1 && q < path.length - 1) e.query = path.slice(q + 1);
      }
      e.http_version = httpVersionOf(proto);
    }

    // Code 0: no response was sent (the client went away first).
    e.status = code === 0 ? null : code;
    e.bytes_in = received;
    e.bytes_out = sent;
    e.duration_ms = duration;
    e.upstream_ms = serviceTime;
    if (xff !== '-' && xff !== '') {
      e.forwarded_for = xff;
      // The address Envoy (or the nearest trusted hop) appended is the last one;
      // earlier entries are whatever the client claimed.
      const last = xff.slice(xff.lastIndexOf(',') + 1).trim();
      if (last) e.client_ip = last;
    }
    e.user_agent = agent === '-' || agent === '' ? null : agent;
    e.request_id = requestId === '-' || requestId === '' ? null : requestId;
    if (authority !== '-' && authority !== '') {
      let h = authority;
      if (h.startsWith('[')) h = h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : h.length);
      else if (h.indexOf(':') !== -1 && h.indexOf(':') === h.lastIndexOf(':')) h = h.slice(0, h.indexOf(':'));
      e.host = h.toLowerCase();
    }
    if (upstreamHost !== '-' && upstreamHost !== '') e.upstream = upstreamHost.startsWith('tcp://') ? upstreamHost.slice(6) : upstreamHost;

    const extra: Record<string, string> = {};
    if (flags !== '-') extra.response_flags = flags;
    if (rest) extra.trailing = rest;
    e.extra = Object.keys(extra).length ? extra : null;

    if (e.status === 101) e.kind = 'websocket';
    this.terminate(e, flags);
    return { ok: true, event: e };
  }

  private terminate(e: AuditEvent, flags: string): void {
    if (flags === '-') {
      e.termination = e.status === null && e.kind !== 'tcp' ? 'client_abort' : 'ok';
      return;
    }
    const set = flags.split(',');
    const reasons: string[] = [];
    for (const f of set) reasons.push(RESPONSE_FLAGS[f] ? `${f}: ${RESPONSE_FLAGS[f].reason}` : f);
    e.reason = reasons.join('; ');
    const decisive = PRIORITY.find((f) => set.includes(f));
    e.termination = decisive ? RESPONSE_FLAGS[decisive].termination : e.status !== null && e.status >= 500 ? 'internal_error' : 'ok';
    // A stream idle timeout with 504 happened upstream; with 408 it was the client being idle.
    if (decisive === 'SI' && e.status === 504) e.termination = 'upstream_timeout';
  }
}
