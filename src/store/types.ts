/**
 * The Store interface: where audit events live once they leave the spool.
 * DuckDB (embedded, default) implements it now; PostgreSQL (fleet) will too,
 * and both run the shared conformance suite in conformance.ts.
 *
 * Exactly-once loading: appendBatch writes the events AND the spool cursors
 * that say how far they were read in one transaction, so a crash either keeps
 * both or neither; the loader resumes from readCursors().
 */
import type { AuditEvent } from '../core/event.js';

/** How far one spool writer's stream has been loaded. */
export interface SpoolCursor {
  /** Spool writer id (one per proxy process), e.g. "w0". */
  writer: string;
  /** Segment sequence number within that writer. */
  segment: number;
  /** Byte offset just after the last loaded record in that segment. */
  offset: number;
}

export interface EventQuery {
  /** Inclusive lower bound on ts (ISO 8601 or epoch ms). */
  from?: string;
  /** Exclusive upper bound on ts. */
  to?: string;
  client_ip?: string;
  user?: string; // matches user_id or user_name
  method?: string;
  path_prefix?: string;
  /** Exact code ("404") or class ("5xx"). */
  status?: string;
  decision?: string;
  /** The rule behind the decision (FIELDS marks rule_id filterable). */
  rule_id?: string;
  route?: string;
  upstream?: string;
  request_id?: string;
  host?: string;
  service?: string;
  termination?: string;
  trace_id?: string;
  kind?: string;
  source?: string;
  /** Page size; default 100, max 10000. */
  limit?: number;
  /** Opaque cursor from a previous page's next_cursor. */
  cursor?: string;
  /** Newest first (default) or oldest first. */
  order?: 'desc' | 'asc';
}

export interface EventPage {
  events: AuditEvent[];
  /** Pass as `cursor` to get the next page; null when there is none. */
  next_cursor: string | null;
}

export interface TimeseriesQuery extends Omit<EventQuery, 'limit' | 'cursor' | 'order'> {
  /** Bucket width in seconds; default chosen from the range (about 60 buckets). */
  bucket_seconds?: number;
}

export interface TimeseriesPoint {
  /** Bucket start, ISO 8601. */
  ts: string;
  total: number;
  /** Counts by status class: "1xx".."5xx" and "none" (no response). */
  by_class: Record<string, number>;
  /** Requests refused by policy or authentication (decision deny). */
  denied: number;
  /** Requests refused by a rate limit (decision ratelimit). */
  rate_limited: number;
  /** Requests refused by an IP list or a dynamic block (decision block). */
  blocked: number;
  /** Percentiles of duration_ms in the bucket (approximate, t-digest); null when empty. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export const TOP_DIMENSIONS = ['client_ip', 'user_id', 'path', 'route', 'upstream', 'host', 'status', 'method', 'user_agent', 'service', 'decision'] as const;
export type TopDimension = (typeof TOP_DIMENSIONS)[number];

export interface TopQuery extends Omit<EventQuery, 'limit' | 'cursor' | 'order'> {
  by: TopDimension;
  limit?: number; // default 10, max 1000
}

export interface TopRow {
  value: string | null;
  count: number;
  errors: number; // responses with status >= 500 or no status
}

export interface LatencyQuery extends Omit<EventQuery, 'limit' | 'cursor' | 'order'> {
  /** Optional grouping; without it one row for the whole selection. */
  by?: 'route' | 'upstream' | 'service' | 'host';
}

export interface LatencyRow {
  group: string | null;
  count: number;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

/** The read side, which the admin API needs (may run over RPC to the store thread). */
export interface StoreReader {
  search(q: EventQuery): Promise<EventPage>;
  get(id: string): Promise<AuditEvent | null>;
  timeseries(q: TimeseriesQuery): Promise<TimeseriesPoint[]>;
  top(q: TopQuery): Promise<TopRow[]>;
  latency(q: LatencyQuery): Promise<LatencyRow[]>;
  count(q?: Omit<EventQuery, 'limit' | 'cursor' | 'order'>): Promise<number>;
}

export interface Store extends StoreReader {
  /** Namespaced id of the implementation, e.g. "store.duckdb". */
  readonly id: string;
  /** Create tables/indexes if missing; migrate. */
  init(): Promise<void>;
  /** Insert events and advance cursors atomically (one transaction). */
  appendBatch(events: readonly AuditEvent[], cursors: readonly SpoolCursor[]): Promise<void>;
  readCursors(): Promise<SpoolCursor[]>;
  /** Delete events with ts < before; returns how many were deleted. */
  deleteOlderThan(before: Date): Promise<number>;
  /** Builds pre-computed summaries of finished hours and days, when the store keeps them (housekeeping). */
  buildRollups?(now?: number): Promise<{ hours: number; days: number }>;
  close(): Promise<void>;
}

/** Thrown for invalid query input (bad cursor, bad status filter); the admin API maps it to 400. */
export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueryError';
  }
}
