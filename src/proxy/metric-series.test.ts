import { test } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { SeriesCounter, SeriesHistogram } from './metric-series.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];
const OBSERVED = [0.0005, 0.001, 0.002, 0.05, 0.05, 0.5, 3, 0, 1, 1.0000001];

/** The exposition text, with prom-client's own metrics as the reference for the same updates. */
async function both(): Promise<{ ours: string; theirs: string; oursJson: client.MetricObjectWithValues<client.MetricValue<string>>[] }> {
  const a = new client.Registry();
  const b = new client.Registry();
  const c1 = new SeriesCounter('t_requests_total', 'Requests.', ['route', 'status_class'], a);
  const h1 = new SeriesHistogram('t_duration_seconds', 'Duration.', ['route'], BOUNDS, a);
  const c2 = new client.Counter({ name: 't_requests_total', help: 'Requests.', labelNames: ['route', 'status_class'], registers: [b] });
  const h2 = new client.Histogram({ name: 't_duration_seconds', help: 'Duration.', labelNames: ['route'], buckets: BOUNDS, registers: [b] });
  for (const [route, cls] of [['app', '2xx'], ['app', '2xx'], ['app', '5xx'], ['say "hi"\\', '4xx']]) {
    c1.labels(route, cls).inc();
    c2.labels(route, cls).inc();
  }
  for (const [i, v] of OBSERVED.entries()) {
    const route = i % 3 ? 'app' : 'api';
    h1.labels(route).observe(v);
    h2.labels(route).observe(v);
  }
  return { ours: await a.metrics(), theirs: await b.metrics(), oursJson: await a.getMetricsAsJSON() };
}

test('series counters and histograms expose exactly what prom-client would for the same updates', async () => {
  const { ours, theirs } = await both();
  assert.equal(ours, theirs);
  assert.match(ours, /t_duration_seconds_bucket\{le="\+Inf",route="app"\} 6/);
  assert.match(ours, /t_requests_total\{route="say \\"hi\\"\\\\",status_class="4xx"\} 1/);
});

test('series aggregate across cluster workers like prom-client metrics (sums per label set)', async () => {
  const { oursJson } = await both();
  const merged = client.AggregatorRegistry.aggregate([oursJson, oursJson]);
  const text = await merged.metrics();
  assert.match(text, /t_requests_total\{route="app",status_class="2xx"\} 4/);
  assert.match(text, /t_duration_seconds_count\{route="app"\} 12/);
  assert.match(text, /t_duration_seconds_bucket\{le="0\.001",route="api"\} 2/);
});

test('reset forgets the series as prom-client does; values that would poison a series are ignored', async () => {
  const reg = new client.Registry();
  const ref = new client.Registry();
  const c = new SeriesCounter('r_total', 'R.', ['k'], reg);
  const h = new SeriesHistogram('r_seconds', 'R.', ['k'], BOUNDS, reg);
  const c2 = new client.Counter({ name: 'r_total', help: 'R.', labelNames: ['k'], registers: [ref] });
  const h2 = new client.Histogram({ name: 'r_seconds', help: 'R.', labelNames: ['k'], buckets: BOUNDS, registers: [ref] });
  c.labels('x').inc(5);
  h.labels('x').observe(0.5);
  c2.labels('x').inc(5);
  h2.labels('x').observe(0.5);
  reg.resetMetrics();
  ref.resetMetrics();
  assert.equal(await reg.metrics(), await ref.metrics());
  c.labels('x').inc();
  h.labels('x').observe(0.05);
  for (const bad of [Number.NaN, Infinity, -Infinity]) h.labels('x').observe(bad);
  for (const bad of [-1, Number.NaN, Infinity]) c.labels('x').inc(bad);
  const text = await reg.metrics();
  assert.match(text, /r_total\{k="x"\} 1\n/);
  assert.match(text, /r_seconds_sum\{k="x"\} 0\.05\n/);
  assert.match(text, /r_seconds_count\{k="x"\} 1/);
  assert.throws(() => c.labels('only-one', 'too-many'), /expected 1 label values/);
  assert.throws(() => new SeriesHistogram('bad_seconds', 'B.', [], [1, 1], new client.Registry()), /must increase/);
});
