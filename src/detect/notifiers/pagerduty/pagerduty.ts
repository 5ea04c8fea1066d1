/**
 * PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/).
 *
 * A firing alert is a `trigger` event, a resolved one a `resolve` event; both
 * carry the alert's dedup_key, so PagerDuty updates (not duplicates) the
 * incident while it is open and resolves that same incident. The payload:
 *
 *   summary         "FIRING high: <rule> <group> — <rule summary> (<evidence>)", ≤ 1024 characters
 *   source          the node that raised the alert
 *   severity        info/low → info, medium → warning, high → error, critical → critical
 *   timestamp       when the condition was first met
 *   component       the group values ("client_ip=203.0.113.9"), when the rule groups
 *   group           the rule id
 *   class           the condition type (count, rate, …)
 *   custom_details  evidence, group, labels, actions, alert id
 *
 * PagerDuty answers 202 when it accepted the event; 400 (invalid event) is not
 * retried, 429 and 5xx are.
 */
import { createHash } from 'node:crypto';
import type { Notification, Severity } from '../../types.js';
import { deliveryPolicy, evidenceText, groupText, headline, readSecret, truncate, type ConfiguredNotifier, type DeliveryPolicy, type NotifierBuildContext } from '../common.js';
import { checkAnswer, HttpPoster, redact } from '../http.js';
import type { PagerDutyNotifierConfig } from '../schema.js';

export type PagerDutySeverity = 'critical' | 'error' | 'warning' | 'info';
export const PAGERDUTY_SEVERITIES: readonly PagerDutySeverity[] = ['critical', 'error', 'warning', 'info'];

const SEVERITY: Record<Severity, PagerDutySeverity> = { info: 'info', low: 'info', medium: 'warning', high: 'error', critical: 'critical' };

export function pagerDutySeverity(s: Severity): PagerDutySeverity {
  return SEVERITY[s] ?? 'warning';
}

/** PagerDuty limits dedup_key to 255 characters; a longer key is replaced by its SHA-256 (the same for trigger and resolve). */
export function pagerDutyDedupKey(key: string): string {
  return key.length <= 255 ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

export interface PagerDutyTrigger {
  routing_key: string;
  event_action: 'trigger';
  dedup_key: string;
  payload: {
    summary: string;
    source: string;
    severity: PagerDutySeverity;
    timestamp: string;
    component?: string;
    group: string;
    class: string;
    custom_details: Record<string, unknown>;
  };
  client: string;
  client_url?: string;
  links?: { href: string; text: string }[];
}

export interface PagerDutyResolve {
  routing_key: string;
  event_action: 'resolve';
  dedup_key: string;
}

export type PagerDutyEvent = PagerDutyTrigger | PagerDutyResolve;

export function pagerDutyEvent(n: Notification, routingKey: string): PagerDutyEvent {
  const a = n.alert;
  const dedup_key = pagerDutyDedupKey(a.dedup_key);
  if (n.kind === 'resolved') return { routing_key: routingKey, event_action: 'resolve', dedup_key };
  const group = groupText(a.group);
  const event: PagerDutyTrigger = {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key,
    payload: {
      summary: truncate(`${headline(n)} — ${a.summary} (${evidenceText(a.evidence)})`, 1024),
      source: n.node.trim() || 'tollgate',
      severity: pagerDutySeverity(a.severity),
      timestamp: a.started_at,
      group: a.rule_id,
      class: a.evidence.condition,
      custom_details: {
        alert_id: a.id,
        rule_id: a.rule_id,
        summary: a.summary,
        severity: a.severity,
        evidence: a.evidence,
        group: a.group,
        labels: a.labels,
        actions: a.actions,
      },
    },
    client: 'Tollgate',
  };
  if (group) event.payload.component = truncate(group, 1024);
  if (n.link) {
    event.client_url = n.link;
    event.links = [{ href: n.link, text: 'Alert in Tollgate' }];
  }
  return event;
}

export class PagerDutyNotifier implements ConfiguredNotifier {
  readonly type = 'pagerduty';
  readonly delivery: DeliveryPolicy;
  private readonly routingKey: string;
  private readonly http: HttpPoster;

  constructor(
    readonly name: string,
    private readonly cfg: PagerDutyNotifierConfig,
    ctx: NotifierBuildContext = {},
  ) {
    this.delivery = deliveryPolicy(cfg);
    const key = readSecret(cfg.routing_key, cfg.routing_key_file, 'routing_key', ctx);
    if (key === undefined) throw new Error('`routing_key` (or `routing_key_file`) is required');
    this.routingKey = key;
    this.http = new HttpPoster(cfg.timeout);
  }

  async send(n: Notification, signal: AbortSignal): Promise<void> {
    const answer = await this.http.post(this.cfg.url, JSON.stringify(pagerDutyEvent(n, this.routingKey)), { 'content-type': 'application/json' }, signal);
    checkAnswer(`PagerDuty ${redact(this.cfg.url)}`, answer);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

export function createPagerDutyNotifier(name: string, cfg: PagerDutyNotifierConfig, ctx?: NotifierBuildContext): PagerDutyNotifier {
  return new PagerDutyNotifier(name, cfg, ctx);
}
