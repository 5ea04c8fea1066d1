/** Overview: traffic, status classes, latency, refusals and top talkers for a time range, refreshed every 10 s. */
import { useMemo } from 'preact/hooks';
import { api } from '../api';
import { TimeChart, type Series } from '../chart';
import { Card, Empty, ErrorBox, Stat, useLoad } from '../components';
import { ms, num, pct, RANGES, rangeMs } from '../format';
import { href, navigate, type Route } from '../router';
import type { Deployment, LatencyRow, Point, Readiness, TopRow } from '../types';

const TOPS: { by: string; title: string; filter: string }[] = [
  { by: 'client_ip', title: 'Top clients', filter: 'client_ip' },
  { by: 'user_id', title: 'Top users', filter: 'user' },
  { by: 'path', title: 'Top paths', filter: 'path_prefix' },
  { by: 'upstream', title: 'Top upstreams', filter: 'upstream' },
];

interface Overview {
  /** The range asked for, epoch seconds. */
  range: [number, number];
  points: Point[];
  tops: TopRow[][];
  latency: LatencyRow | null;
  deployments: Deployment[];
  listeners: string[];
}

const CLASSES: { key: string; label: string; color: string }[] = [
  { key: '5xx', label: '5xx', color: '#d92d20' },
  { key: '4xx', label: '4xx', color: '#f79009' },
  { key: '3xx', label: '3xx', color: '#0ba5ec' },
  { key: '2xx', label: '2xx', color: '#12b76a' },
  { key: 'none', label: 'no response', color: '#98a2b3' },
];

// Stable functions: a new one per render would rebuild the charts every time.
const perSecond = (v: number) => num(v, 1);
const count = (v: number) => num(v);

export function OverviewPage({ route }: { route: Route }) {
  const range = route.params.get('range') ?? '1h';
  const auto = route.params.get('refresh') !== 'off';
  const { data, error } = useLoad<Overview>(
    async (signal) => {
      const to = Date.now();
      const from = to - rangeMs(range);
      const q = `from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&kind=${encodeURIComponent('!admin')}`;
      const [ts, lat, deps, ready, ...tops] = await Promise.all([
        api<{ points: Point[] }>(`/api/v1/stats/timeseries?${q}`, { signal }),
        api<{ rows: LatencyRow[] }>(`/api/v1/stats/latency?${q}`, { signal }),
        api<{ deployments: Deployment[] }>(`/api/v1/deployments?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`, { signal }),
        api<Readiness>('/readyz', { signal }).catch(() => null),
        ...TOPS.map((t) => api<{ rows: TopRow[] }>(`/api/v1/stats/top?by=${t.by}&limit=10&${q}`, { signal })),
      ]);
      const proxy = ready?.checks.find((c) => c.name === 'proxy')?.detail as { listeners?: unknown[] } | undefined;
      return { range: [from / 1000, to / 1000], points: ts.points, latency: lat.rows[0] ?? null, deployments: deps.deployments, tops: tops.map((t) => t.rows), listeners: (proxy?.listeners ?? []).map(String) };
    },
    [range],
    auto ? 10_000 : 0,
  );

  const charts = useMemo(() => {
    if (!data) return null;
    const xs = data.points.map((p) => Date.parse(p.ts) / 1000);
    const bucketS = xs.length > 1 ? xs[1] - xs[0] : 60;
    // Stacked: each class drawn as the running sum of itself and the classes below it.
    const running = data.points.map(() => 0);
    const stacked: Series[] = [...CLASSES].reverse().map((c) => {
      const values = data.points.map((p, i) => (running[i] += (p.by_class[c.key] ?? 0) / bucketS));
      return { label: c.label, color: c.color, values, fill: true };
    });
    stacked.reverse();
    const latency: Series[] = [
      { label: 'p50', color: '#12b76a', values: data.points.map((p) => p.p50) },
      { label: 'p95', color: '#f79009', values: data.points.map((p) => p.p95) },
      { label: 'p99', color: '#d92d20', values: data.points.map((p) => p.p99) },
    ];
    const refused: Series[] = [
      { label: 'denied', color: '#d92d20', values: data.points.map((p) => p.denied) },
      { label: 'rate-limited', color: '#f79009', values: data.points.map((p) => p.rate_limited) },
      { label: 'blocked', color: '#7a2e0e', values: data.points.map((p) => p.blocked) },
    ];
    return { xs, stacked, latency, refused, bucketS };
  }, [data]);

  const total = data ? data.points.reduce((n, p) => n + p.total, 0) : 0;
  const sum = (f: (p: Point) => number) => (data ? data.points.reduce((n, p) => n + f(p), 0) : 0);
  const seconds = rangeMs(range) / 1000;
  const set = (k: string, v: string) => navigate('overview', { ...Object.fromEntries(route.params), [k]: v });

  return (
    <div>
      <div class="toolbar">
        <div class="ranges" role="group" aria-label="time range">
          {RANGES.map((r) => (
            <button type="button" class={r.id === range ? 'on' : ''} data-testid={`range-${r.id}`} onClick={() => set('range', r.id)}>
              {r.label}
            </button>
          ))}
        </div>
        <label class="check">
          <input type="checkbox" checked={auto} onChange={(e) => set('refresh', (e.target as HTMLInputElement).checked ? 'on' : 'off')} /> auto-refresh
        </label>
      </div>
      <ErrorBox error={error} />
      {data && total === 0 ? (
        <Empty title="No traffic in this time range yet.">
          Send a request through the load balancer and it shows here within seconds:
          <pre>{data.listeners.length ? data.listeners.map((l) => `curl -i http://${l}/`).join('\n') : 'curl -i http://<listener address>/'}</pre>
          Or pick a longer range above.
        </Empty>
      ) : null}
      {data ? (
        <>
          <div class="stats">
            <Stat id="requests" label="requests" value={num(total)} />
            <Stat id="rps" label="requests/s (avg)" value={num(total / seconds, 2)} />
            <Stat id="error-rate" label="5xx" value={pct(total ? sum((p) => p.by_class['5xx'] ?? 0) / total : null)} tone={sum((p) => p.by_class['5xx'] ?? 0) > 0 ? 'bad' : undefined} />
            <Stat id="denied" label="denied" value={num(sum((p) => p.denied))} tone={sum((p) => p.denied) ? 'warn' : undefined} />
            <Stat id="rate-limited" label="rate-limited" value={num(sum((p) => p.rate_limited))} />
            <Stat id="blocked" label="blocked" value={num(sum((p) => p.blocked))} />
            <Stat id="p95" label="p95 latency" value={ms(data.latency?.p95)} />
            <Stat id="p99" label="p99 latency" value={ms(data.latency?.p99)} />
          </div>
          {charts ? (
            <div class="grid2">
              <Card title="Requests/s by status class" id="card-traffic">
                <TimeChart id="traffic" range={data.range} xs={charts.xs} series={charts.stacked} deployments={data.deployments} yLabel={perSecond} />
              </Card>
              <Card title="Latency (p50, p95, p99)" id="card-latency">
                <TimeChart id="latency" range={data.range} xs={charts.xs} series={charts.latency} deployments={data.deployments} yLabel={ms} />
              </Card>
              <Card title="Refused: denied, rate-limited, blocked" id="card-refused">
                <TimeChart id="refused" range={data.range} xs={charts.xs} series={charts.refused} deployments={data.deployments} yLabel={count} />
              </Card>
              <Card title="Deployments in this range" id="card-deployments">
                {data.deployments.length ? (
                  <ul class="plain">
                    {data.deployments.map((d) => (
                      <li>
                        <a href={href('deployments', {}, d.id)}>
                          {d.service} <strong>{d.version}</strong>
                        </a>{' '}
                        <span class="muted">{new Date(d.at).toLocaleString()}</span>
                      </li>
                    ))}
                  </ul>
                ) : (
                  <p class="muted">None. Record one from a pipeline with <code>tollgate deploy mark --service S --version V</code>.</p>
                )}
              </Card>
            </div>
          ) : null}
          <div class="grid4">
            {TOPS.map((t, i) => (
              <Card title={t.title} id={`top-${t.by}`}>
                <table class="compact">
                  <tbody>
                    {data.tops[i].map((r) => (
                      <tr>
                        <td class="ellipsis">{r.value === null ? <span class="muted">(none)</span> : <a href={href('search', { [t.filter]: r.value, from: new Date(Date.now() - rangeMs(range)).toISOString() })}>{r.value}</a>}</td>
                        <td class="num">{num(r.count)}</td>
                        <td class="num muted" title="5xx or no response">{r.errors ? `${num(r.errors)} err` : ''}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
                {data.tops[i].length === 0 ? <p class="muted">Nothing in this range.</p> : null}
              </Card>
            ))}
          </div>
        </>
      ) : null}
    </div>
  );
}
