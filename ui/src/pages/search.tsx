/** Search: every filter of /api/v1/events, kept in the URL (shareable), cursor paging, CSV/NDJSON export. */
import { useState } from 'preact/hooks';
import { api, download } from '../api';
import { Card, Empty, ErrorBox, useLoad } from '../components';
import { navigate, type Route } from '../router';
import type { EventPage } from '../types';
import { EventsTable } from './events-table';

export const SEARCH_FILTERS: { key: string; label: string; hint?: string }[] = [
  { key: 'from', label: 'from', hint: 'ISO time or epoch ms' },
  { key: 'to', label: 'to', hint: 'ISO time or epoch ms' },
  { key: 'client_ip', label: 'client IP' },
  { key: 'user', label: 'user', hint: 'id or name' },
  { key: 'method', label: 'method' },
  { key: 'host', label: 'host' },
  { key: 'path_prefix', label: 'path prefix' },
  { key: 'status', label: 'status', hint: '404, 5xx, none' },
  { key: 'decision', label: 'decision', hint: 'allow, deny, ratelimit, block, error' },
  { key: 'rule_id', label: 'rule' },
  { key: 'route', label: 'route' },
  { key: 'service', label: 'service' },
  { key: 'upstream', label: 'upstream' },
  { key: 'termination', label: 'termination' },
  { key: 'request_id', label: 'request id' },
  { key: 'trace_id', label: 'trace id' },
  { key: 'kind', label: 'kind', hint: 'http, websocket, admin; !admin excludes' },
  { key: 'source', label: 'source', hint: 'tollgate, nginx, alb, …' },
];
const KEYS = SEARCH_FILTERS.map((f) => f.key);

export function SearchPage({ route }: { route: Route }) {
  const filters = new URLSearchParams([...route.params].filter(([k, v]) => KEYS.includes(k) && v));
  const cursor = route.params.get('cursor');
  const limit = route.params.get('limit') ?? '100';
  const qs = filters.toString();
  const [exporting, setExporting] = useState<string | null>(null);
  const { data, error, loading } = useLoad<EventPage>(
    (signal) => {
      const p = new URLSearchParams(filters);
      p.set('limit', limit);
      if (cursor) p.set('cursor', cursor);
      return api<EventPage>(`/api/v1/events?${p.toString()}`, { signal });
    },
    [qs, cursor, limit],
  );

  const exportAs = async (format: 'csv' | 'ndjson') => {
    setExporting(format);
    try {
      const p = new URLSearchParams(filters);
      p.set('format', format);
      p.set('limit', '10000');
      await download(`/api/v1/events?${p.toString()}`, `tollgate-events.${format}`);
    } finally {
      setExporting(null);
    }
  };

  return (
    <div>
      <form
        class="filters"
        data-testid="search-form"
        onSubmit={(ev) => {
          ev.preventDefault();
          const f = new FormData(ev.currentTarget);
          navigate('search', Object.fromEntries(KEYS.map((k) => [k, String(f.get(k) ?? '').trim()])));
        }}
      >
        {SEARCH_FILTERS.map((f) => (
          <label title={f.hint}>
            {f.label}
            <input name={f.key} value={filters.get(f.key) ?? ''} placeholder={f.hint ?? ''} data-testid={`filter-${f.key}`} />
          </label>
        ))}
        <div class="buttons">
          <button type="submit" data-testid="search-submit">
            Search
          </button>
          <button type="button" onClick={() => navigate('search')}>
            Clear
          </button>
        </div>
      </form>
      <ErrorBox error={error} />
      <Card
        title={loading ? 'Events (loading…)' : `Events${data ? ` (${data.events.length}${data.next_cursor ? '+' : ''})` : ''}`}
        id="card-search"
        actions={
          <>
            <button type="button" data-testid="export-csv" disabled={exporting !== null} onClick={() => void exportAs('csv')}>
              Export CSV
            </button>
            <button type="button" data-testid="export-ndjson" disabled={exporting !== null} onClick={() => void exportAs('ndjson')}>
              Export NDJSON
            </button>
          </>
        }
      >
        {data && data.events.length ? <EventsTable id="search-results" events={data.events} /> : null}
        {data && !data.events.length ? <Empty title="No event matches these filters.">Widen the time range or remove a filter.</Empty> : null}
        <div class="pager">
          {cursor ? (
            <button type="button" onClick={() => navigate('search', { ...Object.fromEntries(filters), limit })}>
              ← Newest
            </button>
          ) : null}
          {data?.next_cursor ? (
            <button type="button" data-testid="search-older" onClick={() => navigate('search', { ...Object.fromEntries(filters), limit, cursor: data.next_cursor })}>
              Older →
            </button>
          ) : null}
        </div>
      </Card>
    </div>
  );
}
