/**
 * Network Load Balancer access logs: written for TLS listeners only, one
 * line per TLS connection (log version 2.0, 22 fields). The load balancer's
 * targets are not logged: `destination:port` is the listener (or VPC
 * endpoint) the client connected to, so it goes to `extra`, not `upstream`.
 */
import type { AuditEvent } from '../../../core/event.js';
import { ingestedEvent, reject } from '../common.js';
import type { LogParser, ParseOutcome, ParserOptions } from '../../types.js';
import { awsTime, optUint, splitIpPort, tlsVersion, entryFields, uint } from './fields.js';

const F = {
  type: 0, version: 1, time: 2, elb: 3, listener: 4, client: 5, destination: 6, connectionTime: 7,
  handshakeTime: 8, received: 9, sent: 10, alert: 11, certArn: 12, certSerial: 13, cipher: 14,
  protocol: 15, namedGroup: 16, domain: 17, alpnFe: 18, alpnBe: 19, alpnClient: 20, created: 21,
} as const;
const NLB_FIELD_COUNT = 22;
/** Version 1.0 lines end at domain_name (the ALPN fields and creation time came with 2.0). */
const NLB_MIN_FIELDS = 18;

const EXTRA_FIELDS: ReadonlyArray<[number, string]> = [
  [F.listener, 'listener'],
  [F.destination, 'destination'],
  [F.handshakeTime, 'tls_handshake_time_ms'],
  [F.alert, 'incoming_tls_alert'],
  [F.certArn, 'chosen_cert_arn'],
  [F.certSerial, 'chosen_cert_serial'],
  [F.namedGroup, 'tls_named_group'],
  [F.alpnFe, 'alpn_fe_protocol'],
  [F.alpnBe, 'alpn_be_protocol'],
  [F.alpnClient, 'alpn_client_preference_list'],
];

export class NlbParser implements LogParser {
  readonly format = 'nlb';
  readonly source = 'nlb';
  private readonly f: string[] = [];

  constructor(private readonly opts: ParserOptions = {}) {}

  parse(line: string): ParseOutcome {
    const f = this.f;
    const n = entryFields(line, f);
    if (typeof n !== 'number') return n;
    if (n < NLB_MIN_FIELDS) return reject('field_count', `${n} fields, an NLB entry has at least ${NLB_MIN_FIELDS}`);
    if (f[F.type] !== 'tls') return reject('bad_type', `type ${JSON.stringify(f[F.type].slice(0, 40))}, NLB logs only "tls"`);

    // ts is when the connection was opened (tls_connection_creation_time);
    // `time` is its end, used only when the creation time is missing.
    const end = awsTime(f[F.time]);
    if (end === null) return reject('bad_timestamp', `bad time ${JSON.stringify(f[F.time].slice(0, 40))}`);
    let ts = end;
    if (n > F.created && f[F.created] !== '-') {
      const created = awsTime(f[F.created]);
      if (created === null) return reject('bad_timestamp', `bad tls_connection_creation_time ${JSON.stringify(f[F.created].slice(0, 40))}`);
      ts = created;
    }

    const e: AuditEvent = ingestedEvent(ts, 'tcp', 'nlb');
    e.node = f[F.elb] !== '-' ? f[F.elb] : (this.opts.node ?? null);
    e.environment = this.opts.environment ?? null;
    const client = splitIpPort(f[F.client]);
    if (client === null) return reject('bad_client_address', `bad client:port ${JSON.stringify(f[F.client].slice(0, 60))}`);
    e.client_ip = client[0];
    e.client_port = client[1];
    e.peer_ip = client[0];

    const connectionMs = optUint(f[F.connectionTime]);
    const handshakeMs = optUint(f[F.handshakeTime]);
    const received = uint(f[F.received]);
    const sent = uint(f[F.sent]);
    if (connectionMs === undefined || handshakeMs === undefined || received === undefined || sent === undefined) {
      return reject('bad_number', `times/bytes ${f[F.connectionTime]} ${f[F.handshakeTime]} ${f[F.received]} ${f[F.sent]}`.slice(0, 120));
    }
    e.duration_ms = connectionMs;
    e.bytes_in = received;
    e.bytes_out = sent;
    e.tls_cipher = f[F.cipher] === '-' ? null : f[F.cipher];
    e.tls_version = f[F.protocol] === '-' ? null : tlsVersion(f[F.protocol]);
    e.sni = f[F.domain] === '-' ? null : f[F.domain];

    const extra: Record<string, string> = { log_version: f[F.version] };
    for (const [i, key] of EXTRA_FIELDS) if (n > i && f[i] !== '-' && f[i] !== '') extra[key] = f[i];
    for (let i = NLB_FIELD_COUNT; i < n; i++) extra[`field_${i + 1}`] = f[i];
    e.extra = extra;

    // tls_handshake_time is "-" when the handshake did not complete: a client
    // that sent a TLS alert refused the handshake, one that sent none went away.
    if (handshakeMs === null) {
      const alert = extra.incoming_tls_alert;
      e.termination = alert !== undefined ? 'bad_request' : 'client_abort';
      e.reason = alert !== undefined ? `TLS handshake failed: client sent alert ${alert}` : 'TLS handshake not completed';
    } else {
      e.termination = 'ok';
    }
    return { ok: true, event: e };
  }
}
