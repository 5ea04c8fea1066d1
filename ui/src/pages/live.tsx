/** Live tail: the audit events as they are stored, with filters and pause. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { stream } from '../api';
import { Card, Empty, ErrorBox } from '../components';
import { navigate, type Route } from '../router';
import type { AuditEvent } from '../types';
import { EventsTable } from './events-table';

const KEEP = 500;
const FILTERS = ['client_ip', 'user', 'method', 'status', 'path_prefix', 'route', 'decision', 'host'];

export function LivePage({ route }: { route: Route }) {
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [connected, setConnected] = useState(false);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const held = useRef<AuditEvent[]>([]);
  const query = new URLSearchParams([...route.params].filter(([k, v]) => FILTERS.includes(k) && v));
  // The admin API's own calls (this page's included) are left out unless asked for.
  if (!query.has('kind')) query.set('kind', '!admin');
  const qs = query.toString();

  useEffect(() => {
    const ac = new AbortController();
    setEvents([]);
    held.current = [];
    let retry: ReturnType<typeof setTimeout> | null = null;
    const connect = () => {
      setError(null);
      stream(
        `/api/v1/events/stream?${qs}`,
        (type, data) => {
          if (type !== 'audit') return;
          const e = JSON.parse(data) as AuditEvent;
          if (pausedRef.current) held.current.unshift(e);
          else setEvents((list) => [e, ...list].slice(0, KEEP));
        },
        ac.signal,
        () => setConnected(true),
      ).then(
        () => {
          // A stream this page closed itself (filters changed, page left) changes nothing on screen.
          if (ac.signal.aborted) return;
          setConnected(false);
          retry = setTimeout(connect, 2000);
        },
        (err: Error) => {
          if (ac.signal.aborted) return;
          setConnected(false);
          setError(`live stream interrupted: ${err.message}; reconnecting`);
          retry = setTimeout(connect, 2000);
        },
      );
    };
    connect();
    return () => {
      ac.abort();
      if (retry) clearTimeout(retry);
    };
  }, [qs]);

  const toggle = () => {
    if (paused) setEvents((list) => [...held.current, ...list].slice(0, KEEP));
    held.current = [];
    setPaused(!paused);
  };

  return (
    <div>
      <form
        class="filters"
        onSubmit={(ev) => {
          ev.preventDefault();
          const f = new FormData(ev.currentTarget);
          navigate('live', Object.fromEntries(FILTERS.map((k) => [k, String(f.get(k) ?? '')])));
        }}
      >
        {FILTERS.map((k) => (
          <label>
            {k}
            <input name={k} value={route.params.get(k) ?? ''} data-testid={`live-filter-${k}`} />
          </label>
        ))}
        <button type="submit">Apply</button>
      </form>
      <ErrorBox error={error} />
      <Card
        title={`Live events ${connected ? '(connected)' : '(connecting…)'}`}
        id="card-live"
        actions={
          <button type="button" data-testid="live-pause" onClick={toggle}>
            {paused ? `Resume${held.current.length ? ` (${held.current.length} held)` : ''}` : 'Pause'}
          </button>
        }
      >
        {events.length ? <EventsTable id="live-events" events={events} /> : <Empty title="Waiting for requests…">Events appear here as the load balancer records them (a fraction of a second after each request ends).</Empty>}
      </Card>
    </div>
  );
}
