/**
 * The record stage: completes an event (duration, redaction, tags), hands it
 * to the spool and tells the caller when it is durable, so the caller can
 * release the end of the response only then. Exactly one event per request:
 * the context's `recorded` flag guards every exit.
 */
import type { AuditEvent } from '../../core/event.js';
import type { SpoolWriter } from '../../audit/spool/writer.js';
import { redactUrlQuery, type Redactor } from '../../audit/redact.js';
import { metrics } from '../metrics.js';
import { serializeEvent } from '../../core/event-json.js';
import type { EventTags } from './event-tags.js';

/** The deployed version of each service (deployment markers), as pushed by the admin process. */
export class ServiceVersions {
  private map = new Map<string, string>();

  get size(): number {
    return this.map.size;
  }

  get(service: string): string | undefined {
    return this.map.get(service);
  }

  replace(v: Readonly<Record<string, string>>): void {
    this.map = new Map(Object.entries(v));
  }
}

export interface RecordTarget {
  event: AuditEvent;
  startMs: number;
  recorded: boolean;
  reqHeaders: Record<string, string | string[] | undefined> | null;
  resHeaders: Record<string, string | string[] | number | undefined> | null;
}

export interface RecorderOptions {
  spool: SpoolWriter | null;
  redactor: Redactor;
  onAuditFailure: 'reject' | 'continue';
  /** Labels from detection rules' tag actions. */
  tags?: EventTags;
  /** service → deployed version, from deployment markers. */
  versions?: ServiceVersions;
  log: { error(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

/** done(true): the response may complete. done(false): fail closed, the response must be aborted. */
export type RecordDone = (ok: boolean) => void;

export class Recorder {
  constructor(private readonly opts: RecorderOptions) {}

  /** False while the spool is failing and policy is to fail closed: new requests get 503. */
  get accepting(): boolean {
    return this.opts.onAuditFailure === 'continue' || !this.opts.spool || this.opts.spool.healthy;
  }

  record(t: RecordTarget, done: RecordDone | null): void {
    if (t.recorded) {
      done?.(true);
      return;
    }
    t.recorded = true;
    const e = t.event;
    const ms = performance.now() - t.startMs;
    e.duration_ms = Math.round(ms * 1000) / 1000;
    metrics.requestFinished(e.route, e.status, ms);
    const spool = this.opts.spool;
    if (!spool) {
      done?.(true);
      return;
    }
    const { redactor, tags, versions } = this.opts;
    if (tags && tags.size) tags.apply(e);
    if (versions && versions.size && e.service !== null) e.deployment = versions.get(e.service) ?? e.deployment;
    if (e.query !== null) e.query = redactor.query(e.query);
    if (e.referer !== null) e.referer = redactUrlQuery(e.referer, redactor.query);
    if (t.reqHeaders || t.resHeaders) e.headers = redactor.headers(t.reqHeaders ?? {}, (t.resHeaders ?? {}));
    let line: string;
    try {
      line = serializeEvent(e);
    } catch (err) {
      this.opts.log.error({ err, id: e.id }, 'audit event could not be serialized');
      done?.(this.opts.onAuditFailure === 'continue');
      return;
    }
    if (!done) {
      spool.append(line);
      return;
    }
    spool.append(line, (err) => {
      if (!err) done(true);
      else done(this.opts.onAuditFailure === 'continue');
    });
  }
}
