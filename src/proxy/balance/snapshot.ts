/**
 * What /api/v1/backends reports for each pool and server. Pure types (no
 * runtime imports), shared with the dashboard.
 */
export type UpstreamState = 'healthy' | 'unhealthy' | 'ejected';

export interface ServerSnapshot {
  address: string;
  weight: number;
  state: UpstreamState;
  healthy: boolean;
  ejected_until: string | null;
  consecutive_failures: number;
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
