/** Alerts raised by detection rules: firing and resolved, with their evidence; acknowledge. And the rules. */
import { api } from '../api';
import { Badge, Card, Empty, ErrorBox, useLoad } from '../components';
import { ago, num, time } from '../format';
import { href, navigate, type Route } from '../router';
import type { Alert, RuleState } from '../types';

const SEVERITY_TONE: Record<string, string> = { critical: 'bad', high: 'bad', medium: 'warn', low: 'info', info: 'info' };

export function AlertsPage({ route }: { route: Route }) {
  const status = route.params.get('status') ?? '';
  const { data, error, reload } = useLoad<{ alerts: Alert[] }>((signal) => api(`/api/v1/alerts?limit=200${status ? `&status=${status}` : ''}`, { signal }), [status], 10_000);
  const ack = async (id: string) => {
    await api(`/api/v1/alerts/${id}/ack`, { method: 'POST' });
    reload();
  };
  return (
    <div>
      <div class="toolbar">
        <div class="ranges" role="group" aria-label="alert status">
          {[
            ['', 'All'],
            ['firing', 'Firing'],
            ['resolved', 'Resolved'],
          ].map(([v, label]) => (
            <button type="button" class={status === v ? 'on' : ''} data-testid={`alerts-${v || 'all'}`} onClick={() => navigate('alerts', { status: v })}>
              {label}
            </button>
          ))}
        </div>
      </div>
      <ErrorBox error={error} />
      <Card title="Alerts" id="card-alerts">
        {data && !data.alerts.length ? <Empty title="No alerts.">Detection rules raise them; see the Rules page for what is watched.</Empty> : null}
        {data?.alerts.map((a) => (
          <article class={`alert ${a.status}`} data-testid="alert" data-alert-id={a.id} data-rule={a.rule_id}>
            <header>
              <Badge tone={a.status === 'firing' ? 'bad' : 'ok'}>{a.status}</Badge> <Badge tone={SEVERITY_TONE[a.severity] ?? 'info'}>{a.severity}</Badge> {a.shadow ? <Badge tone="info">shadow</Badge> : null} <strong>{a.rule_id}</strong>{' '}
              {Object.entries(a.group).map(([k, v]) => (
                <code>
                  {k}={v}
                </code>
              ))}
              <span class="muted">
                {' '}
                since {time(a.started_at)} ({ago(a.started_at)}){a.resolved_at ? `, resolved ${time(a.resolved_at)}` : ''}
              </span>
              <span class="spacer" />
              {a.acknowledged_at ? (
                <span class="muted" data-testid="acked">
                  acknowledged by {a.acknowledged_by}
                </span>
              ) : (
                <button type="button" data-testid="ack" onClick={() => void ack(a.id)}>
                  Acknowledge
                </button>
              )}
            </header>
            <p>{a.summary}</p>
            <p class="muted">
              Evidence: {a.evidence.condition} {num(a.evidence.value, 3)} {a.evidence.op} {num(a.evidence.threshold, 3)} over {num(a.evidence.window_seconds)} s ({num(a.evidence.count)} events); samples:{' '}
              {a.evidence.sample_event_ids.map((id) => (
                <a href={href('event', {}, id)}>{id.slice(-6)} </a>
              ))}
              {a.actions.length ? ` — actions: ${a.actions.join('; ')}` : ''}
              {a.notifications.length ? ` — notified: ${a.notifications.map((n) => `${n.notifier} ${n.state}`).join(', ')}` : ''}
            </p>
          </article>
        ))}
      </Card>
    </div>
  );
}

export function RulesPage() {
  const { data, error } = useLoad<{ rules: RuleState[] }>((signal) => api('/api/v1/rules', { signal }), [], 10_000);
  return (
    <div>
      <ErrorBox error={error} />
      <Card title="Detection rules" id="card-rules">
        <table data-testid="rules">
          <thead>
            <tr>
              <th>rule</th>
              <th>severity</th>
              <th>condition</th>
              <th class="num">window</th>
              <th class="num">matched</th>
              <th class="num">groups</th>
              <th class="num">firing</th>
              <th class="num">fired</th>
              <th class="num">shadow hits</th>
              <th>last fired</th>
            </tr>
          </thead>
          <tbody>
            {data?.rules.map((r) => (
              <tr data-rule={r.id}>
                <td>
                  <strong>{r.id}</strong> {r.builtin ? <Badge tone="info">built-in</Badge> : null} {r.shadow ? <Badge tone="warn">shadow</Badge> : null} {!r.enabled ? <Badge tone="info">off</Badge> : null}
                  <div class="muted">{r.description}</div>
                </td>
                <td>{r.severity}</td>
                <td>{r.condition}</td>
                <td class="num">{num(r.window_seconds)} s</td>
                <td class="num">{num(r.matched)}</td>
                <td class="num">
                  {num(r.groups)}
                  {r.groups_evicted ? <span class="muted"> ({num(r.groups_evicted)} evicted)</span> : null}
                </td>
                <td class="num">{r.firing ? <a href={href('alerts', { status: 'firing' })}>{r.firing}</a> : 0}</td>
                <td class="num">{num(r.fired)}</td>
                <td class="num">{num(r.shadow_hits)}</td>
                <td>{r.last_fired_at ? ago(r.last_fired_at) : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
    </div>
  );
}
