/**
 * Data-plane metrics (Prometheus). They live in prom-client's global registry
 * so that in cluster mode the primary can aggregate every worker's values.
 * The per-request ones keep their series by label set (metric-series.ts).
 */
import client from 'prom-client';
import { statusClass } from '../core/event.js';
import { SeriesCounter, SeriesHistogram } from './metric-series.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// Updated on every request: series kept by label set (metric-series.ts), not prom-client's own classes.
const requests = new SeriesCounter('tollgate_requests_total', 'Requests answered, by route and status class.', ['route', 'status_class'], client.register);
const duration = new SeriesHistogram('tollgate_request_duration_seconds', 'Time from request start to the last response byte, by route.', ['route'], LATENCY_BUCKETS, client.register);
const upstreamMs = new SeriesHistogram('tollgate_upstream_response_seconds', 'Time until a backend sent its response headers, by pool.', ['pool'], LATENCY_BUCKETS, client.register);
let inflightCount = 0;
new client.Gauge({
  name: 'tollgate_requests_in_flight',
  help: 'Requests being processed.',
  collect() {
    this.set(inflightCount);
  },
});
const retries = new client.Counter({ name: 'tollgate_upstream_retries_total', help: 'Requests retried on another backend.', labelNames: ['pool'] as const });
// Health gauges: with several workers the node reports the worst worker (prom-client sums gauges
// by default, which turns "1 per worker" into 2 and hides one failing worker from `== 0` alerts).
const health = new client.Gauge({
  name: 'tollgate_backend_up',
  help: '1 when a backend server is available (healthy and not ejected), else 0. With several workers: 0 when any worker has it unavailable.',
  labelNames: ['pool', 'server'] as const,
  aggregator: 'min',
});
const stateChanges = new client.Counter({ name: 'tollgate_backend_state_changes_total', help: 'Backend state transitions.', labelNames: ['pool', 'server', 'to'] as const });

export interface SpoolMetricsSource {
  stats: { events: number; batches: number; bytes: number; errors: number; dropped: number; fsyncs: number };
  health(): { ok: boolean; queued: number };
}

let spoolSource: SpoolMetricsSource | null = null;
new client.Gauge({
  name: 'tollgate_audit_spool_healthy',
  help: '1 when the audit spool can be written, else 0. With several workers: 0 when any worker cannot write its spool.',
  aggregator: 'min',
  collect() {
    this.set(spoolSource ? (spoolSource.health().ok ? 1 : 0) : 1);
  },
});
new client.Gauge({
  name: 'tollgate_audit_queue_depth',
  help: 'Audit events accepted but not yet written to the spool.',
  collect() {
    this.set(spoolSource ? spoolSource.health().queued : 0);
  },
});
for (const [key, name, help] of [
  ['events', 'tollgate_audit_events_spooled_total', 'Audit events written to the spool.'],
  ['batches', 'tollgate_audit_spool_batches_total', 'Group-commit batches written to the spool.'],
  ['bytes', 'tollgate_audit_spool_bytes_total', 'Bytes written to the spool.'],
  ['errors', 'tollgate_audit_spool_errors_total', 'Failed spool writes.'],
  ['dropped', 'tollgate_audit_events_dropped_total', 'Audit events dropped because the spool failed and the memory buffer was full.'],
  ['fsyncs', 'tollgate_audit_spool_fsyncs_total', 'fsync calls on spool segments.'],
] as const) {
  new client.Counter({
    name,
    help,
    collect() {
      this.reset();
      if (spoolSource) this.inc(spoolSource.stats[key]);
    },
  });
}

export function setSpoolMetricsSource(s: SpoolMetricsSource | null): void {
  spoolSource = s;
}

export const metrics = {
  requestStarted(): void {
    inflightCount++;
  },
  requestFinished(route: string | null, status: number | null, durationMs: number): void {
    inflightCount--;
    const r = route ?? '(none)';
    requests.labels(r, statusClass(status)).inc();
    duration.labels(r).observe(durationMs / 1000);
  },
  upstreamResponded(pool: string, ms: number): void {
    upstreamMs.labels(pool).observe(ms / 1000);
  },
  retried(pool: string): void {
    retries.labels(pool).inc();
  },
  backendState(pool: string, server: string, up: boolean, to?: string): void {
    health.labels(pool, server).set(up ? 1 : 0);
    if (to) stateChanges.labels(pool, server, to).inc();
  },
};
