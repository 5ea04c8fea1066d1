/** One event, every field, and the way to what surrounds it: the same client, user, request and trace. */
import { api } from '../api';
import { Card, ErrorBox, useLoad } from '../components';
import { href } from '../router';
import type { AuditEvent } from '../types';

const AROUND_MS = 15 * 60_000;

export function EventPage({ id }: { id: string }) {
  const { data: e, error } = useLoad<AuditEvent>((signal) => api<AuditEvent>(`/api/v1/events/${encodeURIComponent(id)}`, { signal }), [id]);
  if (error) return <ErrorBox error={error} />;
  if (!e) return <p class="muted">Loading…</p>;
  const t = Date.parse(e.ts);
  const around = { from: new Date(t - AROUND_MS).toISOString(), to: new Date(t + AROUND_MS).toISOString() };
  const links: [string, string, string][] = [];
  if (e.client_ip) links.push(['same-client', `Requests from ${e.client_ip} within 15 min`, href('search', { client_ip: e.client_ip, ...around })]);
  if (e.user_id) links.push(['same-user', `Requests by ${e.user_id} within 15 min`, href('search', { user: e.user_id, ...around })]);
  if (e.request_id) links.push(['same-request', `Every event with request id ${e.request_id}`, href('search', { request_id: e.request_id })]);
  if (e.trace_id) links.push(['same-trace', `Every event of trace ${e.trace_id}`, href('search', { trace_id: e.trace_id })]);
  return (
    <div class="grid-detail">
      <Card title={`${e.method ?? e.kind} ${e.host ?? ''}${e.path ?? ''} → ${e.status ?? 'no response'}`} id="card-event">
        <dl class="fields" data-testid="event-fields">
          {Object.entries(e).map(([k, v]) => (
            <>
              <dt>{k}</dt>
              <dd data-field={k}>{v === null ? <span class="muted">null</span> : typeof v === 'object' ? <pre>{JSON.stringify(v, null, 2)}</pre> : String(v)}</dd>
            </>
          ))}
        </dl>
      </Card>
      <Card title="Around this request" id="card-around">
        <ul class="plain">
          {links.map(([tid, label, url]) => (
            <li>
              <a data-testid={tid} href={url}>
                {label}
              </a>
            </li>
          ))}
        </ul>
      </Card>
    </div>
  );
}
