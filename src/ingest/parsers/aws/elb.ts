/**
 * Classic Load Balancer access logs: 15 fields, `time` being when the load
 * balancer received the request. TCP and SSL listeners log the request as
 * "- - - " and no status codes; those lines become `tcp` events.
 */
import type { AuditEvent } from '../../../core/event.js';
import { ingestedEvent, reject } from '../common.js';
import type { LogParser, ParseOutcome, ParserOptions } from '../../types.js';
import { applyRequest, awsTime, ms, seconds, statusCode, splitIpPort, statusTermination, entryFields, uint } from './fields.js';

const ELB_FIELD_COUNT = 15;

export class ElbParser implements LogParser {
  readonly format = 'elb';
  readonly source = 'elb';
  private readonly f: string[] = [];

  constructor(private readonly opts: ParserOptions = {}) {}

  parse(line: string): ParseOutcome {
    const f = this.f;
    const n = entryFields(line, f);
    if (typeof n !== 'number') return n;
    // Exactly 15: a longer line is an ALB line or something else, not a Classic one.
    if (n !== ELB_FIELD_COUNT) return reject('field_count', `${n} fields, a Classic ELB entry has ${ELB_FIELD_COUNT}`);
    const ts = awsTime(f[0]);
    if (ts === null) return reject('bad_timestamp', `bad time ${JSON.stringify(f[0].slice(0, 40))}`);

    const tcp = f[11].startsWith('- - -');
    const e: AuditEvent = ingestedEvent(ts, tcp ? 'tcp' : 'http', 'elb');
    e.node = f[1] !== '-' ? f[1] : (this.opts.node ?? null);
    e.environment = this.opts.environment ?? null;

    const client = splitIpPort(f[2]);
    if (client === null) return reject('bad_client_address', `bad client:port ${JSON.stringify(f[2].slice(0, 60))}`);
    e.client_ip = client[0];
    e.client_port = client[1];
    e.peer_ip = client[0];
    e.upstream = f[3] === '-' ? null : f[3];

    const rpt = seconds(f[4]);
    const bpt = seconds(f[5]);
    const spt = seconds(f[6]);
    if (rpt === undefined || bpt === undefined || spt === undefined) return reject('bad_number', `processing times ${f[4]} ${f[5]} ${f[6]}`.slice(0, 120));
    e.upstream_ms = bpt === null ? null : ms(bpt);
    e.duration_ms = rpt === null || bpt === null || spt === null ? null : ms(rpt + bpt + spt);

    const status = statusCode(f[7]);
    const backendStatus = statusCode(f[8]);
    if (status === undefined || backendStatus === undefined) {
      return reject('bad_status', `status codes ${f[7]} ${f[8]}`.slice(0, 120));
    }
    e.status = status;
    e.upstream_status = backendStatus;
    if (status === 101) e.kind = 'websocket';

    const received = uint(f[9]);
    const sent = uint(f[10]);
    if (received === undefined || sent === undefined) return reject('bad_number', `byte counts ${f[9]} ${f[10]}`.slice(0, 120));
    e.bytes_in = received;
    e.bytes_out = sent;

    if (!tcp && !applyRequest(e, f[11])) return reject('bad_request_line', `request ${JSON.stringify(f[11].slice(0, 80))}`);
    e.user_agent = f[12] === '-' || f[12] === '' ? null : f[12];
    e.tls_cipher = f[13] === '-' ? null : f[13];
    e.tls_version = f[14] === '-' ? null : f[14];

    if (tcp) {
      // No status on TCP/SSL listeners: a connection that reached no backend
      // could not be dispatched (no healthy instance), anything else ended normally.
      e.termination = e.upstream === null ? 'upstream_unavailable' : 'ok';
      if (e.upstream === null) e.reason = 'connection not dispatched to a registered instance';
    } else {
      statusTermination(e, false);
    }
    return { ok: true, event: e };
  }
}
