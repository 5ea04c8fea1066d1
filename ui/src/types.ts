/**
 * The admin API's JSON, as the dashboard uses it: the server's own type
 * declarations (type-only imports from modules without runtime
 * dependencies, erased at build), so the two cannot drift apart.
 */
export type { AuditEvent } from '../../src/core/event';
export type { EventPage, TimeseriesPoint as Point, TopRow, LatencyRow } from '../../src/store/types';
export type { Alert, RuleState } from '../../src/detect/types';
export type { Deployment, WindowStats, Comparison } from '../../src/admin/deployment-types';
export type { PoolSnapshot, ServerSnapshot } from '../../src/proxy/balance/snapshot';
export type { Block } from '../../src/proxy/authorize/block-types';

export interface Readiness {
  status: string;
  checks: { name: string; ok: boolean; detail: unknown }[];
}
