/** Deployment markers and their comparison, as /api/v1/deployments reports them. Pure types, shared with the dashboard. */
export interface Deployment {
  id: string;
  service: string;
  version: string;
  commit: string | null;
  environment: string | null;
  actor: string | null;
  url: string | null;
  /** When the deployment took effect (ISO). */
  at: string;
  /** Who recorded it: an admin token id. */
  created_by: string;
}

export interface WindowStats {
  from: string;
  to: string;
  requests: number;
  /** Requests per second over the window. */
  rate: number;
  errors_5xx: number;
  errors_4xx: number;
  /** 5xx share (0..1); null without requests. */
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
  /** after / before for volume and latency, after − before for the error rate; null when not comparable. */
  change: { requests: number | null; error_rate: number | null; p50: number | null; p95: number | null; p99: number | null };
}
