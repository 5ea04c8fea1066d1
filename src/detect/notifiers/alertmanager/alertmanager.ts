/**
 * Prometheus Alertmanager: `POST <url>/api/v2/alerts` with one alert, which
 * Alertmanager identifies by its label set. Labels:
 *
 *   alertname   the rule id (always; nothing overrides it)
 *   severity    the alert's severity
 *   dedup_key   the alert's dedup key
 *   <group>     each group_by field with a value (null values are dropped)
 *   <labels>    the rule's labels (may override severity and the group fields)
 *
 * Label names are made valid for Alertmanager ([a-zA-Z_][a-zA-Z0-9_]*: other
 * characters become "_", a leading digit gets a "_" in front); empty values
 * are dropped, as Prometheus treats an empty label as an absent one.
 * Annotations carry the summary, the evidence as `description`, the node, the
 * actions and the alert id. `startsAt` is when the condition was first met;
 * a resolved alert has `endsAt` = its resolution time (never later than now,
 * so that Alertmanager resolves it at once), which ends it in Alertmanager.
 * `generatorURL` is the alert's link in Tollgate, when known.
 */
import type { Alert, Notification } from '../../types.js';
import { deliveryPolicy, evidenceText, type ConfiguredNotifier, type DeliveryPolicy } from '../common.js';
import { checkAnswer, HttpPoster, redact } from '../http.js';
import type { AlertmanagerNotifierConfig } from '../schema.js';

export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
}

/** A valid Alertmanager label name for `name` ("" when nothing is left). */
export function labelName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

function putLabels(into: Record<string, string>, from: Record<string, string | null>): void {
  for (const [k, v] of Object.entries(from)) {
    const name = labelName(k);
    if (name === '' || v === null || v === '') continue;
    into[name] = v;
  }
}

export function alertmanagerLabels(a: Alert): Record<string, string> {
  const labels: Record<string, string> = {};
  putLabels(labels, { severity: a.severity, dedup_key: a.dedup_key });
  putLabels(labels, a.group);
  putLabels(labels, a.labels);
  labels.alertname = a.rule_id;
  return labels;
}

/** The alert as Alertmanager's API v2 wants it; `now` and `endsAfterMs` (firing only) decide `endsAt`. */
export function alertmanagerAlert(n: Notification, now: Date = new Date(), endsAfterMs = 0): AlertmanagerAlert {
  const a = n.alert;
  const e = a.evidence;
  const annotations: Record<string, string> = {
    summary: a.summary,
    description: `${evidenceText(e)}: ${e.count} matching events between ${e.window_start} and ${e.window_end}`,
    node: n.node,
    alert_id: a.id,
  };
  if (a.actions.length) annotations.actions = a.actions.join('; ');
  const out: AlertmanagerAlert = { labels: alertmanagerLabels(a), annotations, startsAt: a.started_at };
  if (n.kind === 'resolved') {
    const resolved = Date.parse(a.resolved_at ?? '');
    out.endsAt = new Date(Number.isNaN(resolved) ? now.getTime() : Math.min(resolved, now.getTime())).toISOString();
  } else if (endsAfterMs > 0) {
    out.endsAt = new Date(now.getTime() + endsAfterMs).toISOString();
  }
  if (n.link) out.generatorURL = n.link;
  return out;
}

export function alertsEndpoint(base: string): string {
  return `${base.replace(/\/+$/, '')}/api/v2/alerts`;
}

export class AlertmanagerNotifier implements ConfiguredNotifier {
  readonly type = 'alertmanager';
  readonly delivery: DeliveryPolicy;
  private readonly endpoint: string;
  private readonly http: HttpPoster;

  constructor(
    readonly name: string,
    private readonly cfg: AlertmanagerNotifierConfig,
  ) {
    this.delivery = deliveryPolicy(cfg);
    this.endpoint = alertsEndpoint(cfg.url);
    this.http = new HttpPoster(cfg.timeout);
  }

  async send(n: Notification, signal: AbortSignal): Promise<void> {
    const body = JSON.stringify([alertmanagerAlert(n, new Date(), this.cfg.ends_after)]);
    const answer = await this.http.post(this.endpoint, body, { 'content-type': 'application/json' }, signal);
    checkAnswer(`Alertmanager ${redact(this.endpoint)}`, answer);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

export function createAlertmanagerNotifier(name: string, cfg: AlertmanagerNotifierConfig): AlertmanagerNotifier {
  return new AlertmanagerNotifier(name, cfg);
}
