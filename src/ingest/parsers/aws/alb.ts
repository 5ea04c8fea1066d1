/**
 * Application Load Balancer access logs ("Access log entries" in the ELB
 * user guide): one line per request (per connection for WebSockets), 33
 * space-separated fields to date. AWS appends new fields at the end and tells
 * parsers to ignore what they do not know, so extra trailing fields are kept
 * in `extra` as `field_<n>` (n = 1-based position) and older lines with fewer
 * trailing fields are accepted down to `ssl_protocol` (field 16).
 */
import type { AuditEvent } from '../../../core/event.js';
import { ingestedEvent, reject } from '../common.js';
import type { LogParser, ParseOutcome, ParserOptions } from '../../types.js';
import { applyRequest, awsTime, ms, seconds, statusCode, splitIpPort, statusTermination, entryFields, uint, xrayTraceId } from './fields.js';

/** Field positions (0-based) in the documented order. */
const F = {
  type: 0, time: 1, elb: 2, client: 3, target: 4, requestTime: 5, targetTime: 6, responseTime: 7,
  elbStatus: 8, targetStatus: 9, received: 10, sent: 11, request: 12, userAgent: 13, sslCipher: 14,
  sslProtocol: 15, targetGroup: 16, traceId: 17, domain: 18, cert: 19, rulePriority: 20, created: 21,
  actions: 22, redirectUrl: 23, errorReason: 24, targetList: 25, targetStatusList: 26,
  classification: 27, classificationReason: 28, connTraceId: 29, transformedHost: 30,
  transformedUri: 31, transformStatus: 32,
} as const;

/** Fields known today; later positions go to `extra.field_<n>`. */
export const ALB_FIELD_COUNT = 33;
/** The oldest layout accepted: everything up to ssl_protocol. */
const ALB_MIN_FIELDS = 16;

/** Optional quoted fields copied verbatim into `extra` when not "-". */
const EXTRA_FIELDS: ReadonlyArray<[number, string]> = [
  [F.cert, 'chosen_cert_arn'],
  [F.actions, 'actions_executed'],
  [F.redirectUrl, 'redirect_url'],
  [F.errorReason, 'error_reason'],
  [F.targetList, 'target_port_list'],
  [F.targetStatusList, 'target_status_code_list'],
  [F.classification, 'classification'],
  [F.classificationReason, 'classification_reason'],
  [F.connTraceId, 'conn_trace_id'],
  [F.transformedHost, 'transformed_host'],
  [F.transformedUri, 'transformed_uri'],
  [F.transformStatus, 'request_transform_status'],
];

function isAlbType(t: string): boolean {
  // AWS lists http, https, h2, grpcs, ws, wss and says to ignore other values:
  // accept any short lower-case word so a new type does not reject the line.
  if (t.length === 0 || t.length > 8) return false;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57))) return false;
  }
  return true;
}

export class AlbParser implements LogParser {
  readonly format = 'alb';
  readonly source = 'alb';
  private readonly f: string[] = [];

  constructor(private readonly opts: ParserOptions = {}) {}

  parse(line: string): ParseOutcome {
    const f = this.f;
    const n = entryFields(line, f);
    if (typeof n !== 'number') return n;
    if (n < ALB_MIN_FIELDS) return reject('field_count', `${n} fields, an ALB entry has at least ${ALB_MIN_FIELDS}`);
    if (!isAlbType(f[F.type])) return reject('bad_type', `unknown request type ${JSON.stringify(f[F.type].slice(0, 40))}`);

    // ts is when the request started: request_creation_time; `time` is when the
    // response was sent (or the WebSocket closed), used only by older lines.
    const time = awsTime(f[F.time]);
    if (time === null) return reject('bad_timestamp', `bad time ${JSON.stringify(f[F.time].slice(0, 40))}`);
    let ts = time;
    if (n > F.created && f[F.created] !== '-') {
      const created = awsTime(f[F.created]);
      if (created === null) return reject('bad_timestamp', `bad request_creation_time ${JSON.stringify(f[F.created].slice(0, 40))}`);
      ts = created;
    }

    const type = f[F.type];
    const e: AuditEvent = ingestedEvent(ts, type === 'ws' || type === 'wss' ? 'websocket' : 'http', 'alb');
    e.node = f[F.elb] !== '-' ? f[F.elb] : (this.opts.node ?? null);
    e.environment = this.opts.environment ?? null;

    const client = splitIpPort(f[F.client]);
    if (client === null) return reject('bad_client_address', `bad client:port ${JSON.stringify(f[F.client].slice(0, 60))}`);
    e.client_ip = client[0];
    e.client_port = client[1];
    e.peer_ip = client[0];
    e.upstream = f[F.target] === '-' ? null : f[F.target];

    const rpt = seconds(f[F.requestTime]);
    const tpt = seconds(f[F.targetTime]);
    const spt = seconds(f[F.responseTime]);
    if (rpt === undefined || tpt === undefined || spt === undefined) {
      return reject('bad_number', `processing times ${f[F.requestTime]} ${f[F.targetTime]} ${f[F.responseTime]}`.slice(0, 120));
    }
    e.upstream_ms = tpt === null ? null : ms(tpt);
    e.duration_ms = rpt === null || tpt === null || spt === null ? null : ms(rpt + tpt + spt);

    if (type === 'ws' || type === 'wss') {
      // A WebSocket entry is written when the connection closes (`time`); its
      // processing times only cover the upgrade, so the connection's lifetime
      // is `time` minus request_creation_time.
      if (ts !== time) e.duration_ms = Date.parse(time) - Date.parse(ts);
    }

    const status = statusCode(f[F.elbStatus]);
    const targetStatus = statusCode(f[F.targetStatus]);
    if (status === undefined || targetStatus === undefined) {
      return reject('bad_status', `status codes ${f[F.elbStatus]} ${f[F.targetStatus]}`.slice(0, 120));
    }
    e.status = status;
    e.upstream_status = targetStatus;
    if (status === 101) e.kind = 'websocket';

    const received = uint(f[F.received]);
    const sent = uint(f[F.sent]);
    if (received === undefined || sent === undefined) return reject('bad_number', `byte counts ${f[F.received]} ${f[F.sent]}`.slice(0, 120));
    e.bytes_in = received;
    e.bytes_out = sent;

    if (!applyRequest(e, f[F.request])) return reject('bad_request_line', `request ${JSON.stringify(f[F.request].slice(0, 80))}`);
    e.user_agent = f[F.userAgent] === '-' || f[F.userAgent] === '' ? null : f[F.userAgent];
    e.tls_cipher = f[F.sslCipher] === '-' ? null : f[F.sslCipher];
    e.tls_version = f[F.sslProtocol] === '-' ? null : f[F.sslProtocol];

    const extra: Record<string, string> = { type };
    if (n > F.targetGroup && f[F.targetGroup] !== '-') {
      const arn = f[F.targetGroup];
      extra.target_group_arn = arn;
      // arn:…:targetgroup/<name>/<id>: the target group is the service behind the rule.
      const tg = arn.indexOf(':targetgroup/');
      if (tg !== -1) {
        const rest = arn.slice(tg + 13);
        const slash = rest.indexOf('/');
        e.service = slash === -1 ? rest : rest.slice(0, slash);
      }
    }
    if (n > F.traceId && f[F.traceId] !== '-' && f[F.traceId] !== '') {
      e.request_id = f[F.traceId];
      e.trace_id = xrayTraceId(f[F.traceId]);
    }
    if (n > F.domain && f[F.domain] !== '-' && f[F.domain] !== '') e.sni = f[F.domain];
    if (n > F.rulePriority) {
      const p = f[F.rulePriority];
      // "0" is the default rule; "-1" (error evaluating rules) and "-" mean no rule matched.
      if (p !== '-' && p !== '-1') e.route = p;
    }
    for (const [i, key] of EXTRA_FIELDS) {
      if (n > i && f[i] !== '-' && f[i] !== '') extra[key] = f[i];
    }
    for (let i = ALB_FIELD_COUNT; i < n; i++) extra[`field_${i + 1}`] = f[i];
    e.extra = extra;

    if (n > F.targetList) {
      const list = f[F.targetList];
      if (list !== '-' && list !== '') {
        let count = 1;
        for (let i = 0; i < list.length; i++) if (list.charCodeAt(i) === 32) count++;
        e.attempts = count;
      } else if (e.upstream === null) e.attempts = 0;
    }

    terminate(e, extra);
    return { ok: true, event: e };
  }
}

/** termination and reason: error_reason first, then the desync classification, then the status codes. */
function terminate(e: AuditEvent, extra: Record<string, string>): void {
  const actions = extra.actions_executed ?? '';
  statusTermination(e, actions.includes('redirect') || actions.includes('fixed-response'));
  const err = extra.error_reason;
  if (err !== undefined) {
    e.reason = err;
    if (err.startsWith('Lambda')) {
      e.termination = err === 'LambdaConnectionTimeout' ? 'upstream_timeout' : err === 'LambdaThrottling' ? 'upstream_unavailable' : 'upstream_error';
    } else if (err.startsWith('Auth')) {
      // Authentication failures of the client are denials; the IdP being
      // unreachable or failing (5xx) is the load balancer's error.
      e.termination = e.status !== null && e.status >= 500 ? 'internal_error' : 'denied';
    }
    return;
  }
  const cls = extra.classification;
  if (cls !== undefined && cls !== 'Acceptable') {
    // Desync mitigation: Severe requests are refused (400), Ambiguous ones may be forwarded.
    e.reason = `${cls}: ${extra.classification_reason ?? '-'}`;
  }
}
