/** The admin API's JSON, as the dashboard uses it (docs/event-fields.md, docs/detection.md, docs/deployments.md). */
export type AuditEvent = Record<string, string | number | null | Record<string, string>> & {
  id: string;
  ts: string;
  kind: string;
  status: number | null;
  method: string | null;
  host: string | null;
  path: string | null;
  client_ip: string | null;
  user_id: string | null;
  decision: string | null;
  route: string | null;
  upstream: string | null;
  duration_ms: number | null;
  request_id: string | null;
  trace_id: string | null;
  termination: string | null;
};

export interface EventPage {
  events: AuditEvent[];
  next_cursor: string | null;
}

export interface Point {
  ts: string;
  total: number;
  by_class: Record<string, number>;
  denied: number;
  rate_limited: number;
  blocked: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface TopRow {
  value: string | null;
  count: number;
  errors: number;
}

export interface LatencyRow {
  group: string | null;
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export interface Deployment {
  id: string;
  service: string;
  version: string;
  commit: string | null;
  environment: string | null;
  actor: string | null;
  url: string | null;
  at: string;
}

export interface WindowStats {
  from: string;
  to: string;
  requests: number;
  rate: number;
  errors_5xx: number;
  errors_4xx: number;
  error_rate: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
}

export interface Comparison {
  deployment: Deployment;
  previous: Deployment | null;
  window_seconds: number;
  before: WindowStats;
  after: WindowStats;
}

export interface Alert {
  id: string;
  rule_id: string;
  summary: string;
  severity: string;
  status: 'firing' | 'resolved';
  group: Record<string, string | null>;
  shadow: boolean;
  started_at: string;
  resolved_at: string | null;
  evidence: { condition: string; value: number; threshold: number; op: string; window_seconds: number; count: number; sample_event_ids: string[] };
  actions: string[];
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  notifications: { notifier: string; kind: string; state: string; attempts: number; at: string; error?: string }[];
}

export interface RuleState {
  id: string;
  description: string;
  severity: string;
  enabled: boolean;
  builtin: boolean;
  shadow: boolean;
  condition: string;
  window_seconds: number;
  matched: number;
  groups: number;
  groups_evicted: number;
  fired: number;
  shadow_hits: number;
  suppressed: number;
  firing: number;
  last_fired_at: string | null;
}

export interface ServerSnapshot {
  address: string;
  weight: number;
  state: string;
  healthy: boolean;
  outstanding: number;
  requests: number;
  failures: number;
  last_check: { ts: string; ok: boolean; status: number | null; error: string | null; duration_ms: number } | null;
}

export interface PoolSnapshot {
  name: string;
  algorithm: string;
  servers: ServerSnapshot[];
  available: number;
  total: number;
}

export interface Block {
  id: string;
  kind: 'ip' | 'user';
  value: string;
  reason: string;
  created_at: string;
  expires_at: string | null;
  created_by: string;
}

export interface Readiness {
  status: string;
  checks: { name: string; ok: boolean; detail: unknown }[];
}
