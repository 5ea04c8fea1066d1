/**
 * The shapes detection hands around: an alert (what a rule raised, with its
 * evidence, and where it was sent) and the notification a notifier delivers.
 * The engine produces alerts, the alert book stores them, notifiers send them;
 * none of them knows about the others.
 */

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical'];

export type AlertStatus = 'firing' | 'resolved';

/** Why the alert fired: the measured value against the rule's threshold over its window. */
export interface AlertEvidence {
  /** The condition type: count, rate, distinct, ratio, percentile, baseline. */
  condition: string;
  /** The measured value when the alert fired (or its peak while firing). */
  value: number;
  /** The threshold it crossed (for baseline: the expected value times the factor). */
  threshold: number;
  /** How the value compares with the threshold, e.g. ">=". */
  op: string;
  window_seconds: number;
  /** Event time span of the window the value was measured over (ISO). */
  window_start: string;
  window_end: string;
  /** Matching events in the window when the alert fired. */
  count: number;
  /** A few ids of the events that made the alert fire (newest last). */
  sample_event_ids: string[];
  /** Condition-specific facts (e.g. the baseline's expected rate, the percentile asked for). */
  detail?: Record<string, number | string | null>;
}

export interface NotificationRecord {
  notifier: string;
  /** Which transition was sent. */
  kind: 'firing' | 'resolved';
  state: 'sent' | 'failed';
  attempts: number;
  at: string;
  error?: string;
}

export interface Alert {
  id: string;
  rule_id: string;
  /** The rule's one-line description. */
  summary: string;
  severity: Severity;
  status: AlertStatus;
  /** Identifies "the same alert": a firing alert with this key is updated, not raised again. */
  dedup_key: string;
  /** The group_by fields and their values for this alert (e.g. { client_ip: "203.0.113.9" }). */
  group: Record<string, string | null>;
  labels: Record<string, string>;
  /** Evaluated in shadow mode: recorded, no actions taken and nothing sent. */
  shadow: boolean;
  /** Event time the condition was first met. */
  started_at: string;
  /** Event time the condition cleared (null while firing). */
  resolved_at: string | null;
  /** Wall-clock time of the last change to this record. */
  updated_at: string;
  evidence: AlertEvidence;
  /** Actions the rule took when it fired, e.g. "block ip 203.0.113.9 for 600s". */
  actions: string[];
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  notifications: NotificationRecord[];
}

/** What a notifier is asked to deliver: one transition of one alert. */
export interface Notification {
  kind: 'firing' | 'resolved';
  alert: Alert;
  /** The node that raised it. */
  node: string;
  /** Where a human can look at it (the admin API's alert URL), when known. */
  link: string | null;
}

/** A delivery failure; `retryable` false means retrying cannot help (e.g. a 400 from the receiver). */
export class NotifyError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'NotifyError';
  }
}

/** One configured destination. `send` resolves when the receiver accepted the notification. */
export interface Notifier {
  readonly name: string;
  readonly type: string;
  send(n: Notification, signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

/** One rule's state, as /api/v1/rules reports it. */
export interface RuleState {
  id: string;
  description: string;
  severity: string;
  enabled: boolean;
  builtin: boolean;
  shadow: boolean;
  condition: string;
  window_seconds: number;
  /** Events that matched the rule (inside its schedule). */
  matched: number;
  groups: number;
  groups_evicted: number;
  /** Distinct values forgotten because a group reached max_values. */
  values_evicted: number;
  fired: number;
  /** Times the rule would have fired while in shadow mode. */
  shadow_hits: number;
  /** Firings held back because the dedup key was cooling down. */
  suppressed: number;
  firing: number;
  last_fired_at: string | null;
}
