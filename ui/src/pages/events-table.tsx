/** The event table shared by the live tail and the search. */
import { ms, statusClass, time } from '../format';
import { href } from '../router';
import type { AuditEvent } from '../types';

export function EventsTable({ events, id }: { events: AuditEvent[]; id: string }) {
  return (
    <table class="events" data-testid={id}>
      <thead>
        <tr>
          <th>time</th>
          <th>client</th>
          <th>user</th>
          <th>method</th>
          <th>host</th>
          <th>path</th>
          <th>status</th>
          <th>decision</th>
          <th>route → upstream</th>
          <th class="num">duration</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.id} data-event-id={e.id}>
            <td class="nowrap">
              <a href={href('event', {}, e.id)}>{time(e.ts)}</a>
            </td>
            <td>{e.client_ip ?? '–'}</td>
            <td>{e.user_id ?? (e.auth_error ? <span class="muted">({String(e.auth_error)})</span> : '–')}</td>
            <td>{e.method ?? e.kind}</td>
            <td class="ellipsis">{e.host ?? '–'}</td>
            <td class="ellipsis" title={e.path ?? ''}>
              {e.path ?? '–'}
            </td>
            <td>
              <span class={`status ${statusClass(e.status)}`}>{e.status ?? '—'}</span>
            </td>
            <td>
              <span class={`decision ${e.decision ?? ''}`}>{e.decision ?? '–'}</span>
            </td>
            <td class="ellipsis">
              {e.route ?? '–'}
              {e.upstream ? ` → ${e.upstream}` : ''}
            </td>
            <td class="num">{ms(e.duration_ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
