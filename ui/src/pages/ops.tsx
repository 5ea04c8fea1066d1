/** Backends with health and latency; dynamic blocks (list, add, lift); deployments with before/after comparison. */
import { useState } from 'preact/hooks';
import { api } from '../api';
import { Badge, Card, Empty, ErrorBox, useLoad } from '../components';
import { ago, ms, num, pct, time } from '../format';
import { href } from '../router';
import type { Block, Comparison, Deployment, LatencyRow, PoolSnapshot } from '../types';

export function BackendsPage() {
  const { data, error } = useLoad(
    async (signal) => {
      const [b, lat] = await Promise.all([
        api<{ backends: { worker: string; pools: PoolSnapshot[] }[] }>('/api/v1/backends', { signal }),
        api<{ rows: LatencyRow[] }>(`/api/v1/stats/latency?by=upstream&from=${new Date(Date.now() - 15 * 60_000).toISOString()}&kind=${encodeURIComponent('!admin')}`, { signal }),
      ]);
      return { workers: b.backends, latency: new Map(lat.rows.map((r) => [r.group, r])) };
    },
    [],
    5000,
  );
  return (
    <div>
      <ErrorBox error={error} />
      {data?.workers.map((w) => (
        <Card title={`Backend pools (seen by proxy process ${w.worker})`} id={`card-backends-${w.worker}`}>
          {w.pools.map((p) => (
            <div class="pool" data-testid="pool" data-pool={p.name}>
              <h3>
                {p.name} <span class="muted">{p.algorithm}</span>{' '}
                <Badge tone={p.available === p.total ? 'ok' : p.available ? 'warn' : 'bad'}>
                  {p.available}/{p.total} available
                </Badge>
              </h3>
              <table>
                <thead>
                  <tr>
                    <th>server</th>
                    <th>state</th>
                    <th class="num">in flight</th>
                    <th class="num">requests</th>
                    <th class="num">failures</th>
                    <th class="num">p50 (15 min)</th>
                    <th class="num">p95 (15 min)</th>
                    <th>last health check</th>
                  </tr>
                </thead>
                <tbody>
                  {p.servers.map((s) => {
                    const l = data.latency.get(s.address);
                    return (
                      <tr data-server={s.address}>
                        <td>{s.address}</td>
                        <td>
                          <Badge tone={s.healthy ? 'ok' : 'bad'}>{s.state}</Badge>
                        </td>
                        <td class="num">{num(s.outstanding)}</td>
                        <td class="num">{num(s.requests)}</td>
                        <td class="num">{num(s.failures)}</td>
                        <td class="num">{ms(l?.p50)}</td>
                        <td class="num">{ms(l?.p95)}</td>
                        <td>{s.last_check ? `${s.last_check.ok ? 'ok' : 'failed'} ${s.last_check.status ?? s.last_check.error ?? ''} ${ago(s.last_check.ts)}` : 'no active check'}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          ))}
        </Card>
      ))}
    </div>
  );
}

export function BlocksPage() {
  const { data, error, reload } = useLoad<{ blocks: Block[] }>((signal) => api('/api/v1/blocks', { signal }), [], 5000);
  const [formError, setFormError] = useState<string | null>(null);
  const lift = async (id: string) => {
    await api(`/api/v1/blocks/${id}`, { method: 'DELETE' });
    reload();
  };
  return (
    <div>
      <ErrorBox error={error} />
      <Card title="Block an IP address, a CIDR or a user" id="card-block-add">
        <form
          class="filters"
          data-testid="block-form"
          onSubmit={async (ev) => {
            ev.preventDefault();
            const form = ev.currentTarget;
            const f = new FormData(form);
            setFormError(null);
            try {
              await api('/api/v1/blocks', { method: 'POST', body: { kind: f.get('kind'), value: String(f.get('value') ?? '').trim(), ...(f.get('duration') ? { duration: String(f.get('duration')) } : {}), ...(f.get('reason') ? { reason: String(f.get('reason')) } : {}) } });
              form.reset();
              reload();
            } catch (err) {
              setFormError((err as Error).message);
            }
          }}
        >
          <label>
            kind
            <select name="kind" data-testid="block-kind">
              <option value="ip">IP or CIDR</option>
              <option value="user">user id</option>
            </select>
          </label>
          <label>
            value
            <input name="value" required data-testid="block-value" placeholder="203.0.113.7 or 203.0.113.0/24" />
          </label>
          <label>
            duration
            <input name="duration" data-testid="block-duration" placeholder="15m, 2h, 7d (empty: until lifted)" />
          </label>
          <label>
            reason
            <input name="reason" data-testid="block-reason" />
          </label>
          <div class="buttons">
            <button type="submit" data-testid="block-submit">
              Block
            </button>
          </div>
        </form>
        <ErrorBox error={formError} />
      </Card>
      <Card title="Blocks in force" id="card-blocks">
        {data && !data.blocks.length ? <Empty title="Nothing is blocked." /> : null}
        {data?.blocks.length ? (
          <table data-testid="blocks">
            <thead>
              <tr>
                <th>kind</th>
                <th>value</th>
                <th>reason</th>
                <th>by</th>
                <th>since</th>
                <th>until</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.blocks.map((b) => (
                <tr data-block={b.value}>
                  <td>{b.kind}</td>
                  <td>
                    <code>{b.value}</code>
                  </td>
                  <td>{b.reason}</td>
                  <td>{b.created_by}</td>
                  <td>{time(b.created_at)}</td>
                  <td>{b.expires_at ? time(b.expires_at) : 'lifted by hand'}</td>
                  <td>
                    <button type="button" data-testid="block-lift" onClick={() => void lift(b.id)}>
                      Lift
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </Card>
    </div>
  );
}

function CompareView({ id }: { id: string }) {
  const { data, error } = useLoad<Comparison>((signal) => api(`/api/v1/deployments/${encodeURIComponent(id)}/compare`, { signal }), [id], 15_000);
  if (error) return <ErrorBox error={error} />;
  if (!data) return <p class="muted">Loading…</p>;
  const rows: [string, string, string][] = [
    ['requests', num(data.before.requests), num(data.after.requests)],
    ['requests/s', num(data.before.rate, 2), num(data.after.rate, 2)],
    ['5xx rate', pct(data.before.error_rate), pct(data.after.error_rate)],
    ['4xx', num(data.before.errors_4xx), num(data.after.errors_4xx)],
    ['p50', ms(data.before.p50_ms), ms(data.after.p50_ms)],
    ['p95', ms(data.before.p95_ms), ms(data.after.p95_ms)],
    ['p99', ms(data.before.p99_ms), ms(data.after.p99_ms)],
  ];
  return (
    <Card title={`${data.deployment.service} ${data.deployment.version}: ${num(data.window_seconds)} s before and after`} id="card-compare">
      <table data-testid="compare">
        <thead>
          <tr>
            <th />
            <th class="num">before{data.previous ? ` (${data.previous.version})` : ''}</th>
            <th class="num">after ({data.deployment.version})</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([k, b, a]) => (
            <tr data-metric={k}>
              <td>{k}</td>
              <td class="num">{b}</td>
              <td class="num">{a}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">
        Deployed {time(data.deployment.at)}
        {data.deployment.commit ? ` from ${data.deployment.commit.slice(0, 12)}` : ''}
        {data.deployment.actor ? ` by ${data.deployment.actor}` : ''}
        {data.deployment.url ? (
          <>
            {' '}
            — <a href={data.deployment.url}>pipeline</a>
          </>
        ) : null}
      </p>
    </Card>
  );
}

export function DeploymentsPage({ id }: { id: string | null }) {
  const { data, error } = useLoad<{ deployments: Deployment[] }>((signal) => api('/api/v1/deployments?limit=200', { signal }), [], 15_000);
  return (
    <div>
      <ErrorBox error={error} />
      {id ? <CompareView id={id} /> : null}
      <Card title="Deployments" id="card-deployments-list">
        {data && !data.deployments.length ? (
          <Empty title="No deployment markers yet.">
            Record one from your pipeline: <code>tollgate deploy mark --service checkout --version v2.14.0</code> (docs/deployments.md).
          </Empty>
        ) : null}
        {data?.deployments.length ? (
          <table data-testid="deployments">
            <thead>
              <tr>
                <th>when</th>
                <th>service</th>
                <th>version</th>
                <th>commit</th>
                <th>environment</th>
                <th>actor</th>
              </tr>
            </thead>
            <tbody>
              {data.deployments.map((d) => (
                <tr class={d.id === id ? 'selected' : ''}>
                  <td>
                    <a href={href('deployments', {}, d.id)}>{time(d.at)}</a>
                  </td>
                  <td>{d.service}</td>
                  <td>
                    <strong>{d.version}</strong>
                  </td>
                  <td>
                    <code>{d.commit?.slice(0, 12) ?? ''}</code>
                  </td>
                  <td>{d.environment ?? ''}</td>
                  <td>{d.actor ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </Card>
    </div>
  );
}
