/**
 * The events API of the admin listener: search, fetch, export and statistics
 * over the store's read side (a StoreReader, possibly an RPC proxy to the
 * store thread).
 *
 *   GET /api/v1/events                 EventQuery params -> { events, next_cursor }
 *       ?format=ndjson|csv (or Accept)  streams every match, page by page, up to `limit`
 *   GET /api/v1/events/{id}            one event, 404 when unknown
 *   GET /api/v1/stats/timeseries       -> { points }
 *   GET /api/v1/stats/top?by=...       -> { rows }
 *   GET /api/v1/stats/latency          -> { rows }
 *
 * Unknown query parameters are refused with the allowed list: a misspelt
 * filter silently returning the whole audit trail is the worst outcome.
 * Empty parameters (`?user=`, as HTML forms send) mean "no filter".
 * Errors are JSON: { "error": { "code", "message" } }.
 */
import { sendJson, sendError } from './http.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  EVENT_QUERY_KEYS, LATENCY_QUERY_KEYS, TIMESERIES_QUERY_KEYS, TOP_QUERY_KEYS, isUuid,
} from '../store/query.js';
import { QueryError, TOP_DIMENSIONS, type EventQuery, type StoreReader, type TopDimension } from '../store/types.js';
import { csvHeader, csvRow } from './csv.js';

export interface EventsApiOptions {
  /** Receives unexpected errors; the client only gets a generic 500 (or a cut-off stream). */
  onError?: (err: unknown) => void;
  /** Events fetched per store query while streaming an export (default 1000). */
  exportPageSize?: number;
}

const DEFAULT_EXPORT_PAGE = 1000;
const FORMATS = ['json', 'ndjson', 'csv'] as const;
type Format = (typeof FORMATS)[number];

class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

type Route =
  | { kind: 'events' }
  | { kind: 'event'; id: string }
  | { kind: 'timeseries' | 'top' | 'latency' };

function matchRoute(pathname: string): Route | null {
  if (pathname === '/api/v1/events') return { kind: 'events' };
  if (pathname === '/api/v1/stats/timeseries') return { kind: 'timeseries' };
  if (pathname === '/api/v1/stats/top') return { kind: 'top' };
  if (pathname === '/api/v1/stats/latency') return { kind: 'latency' };
  const m = /^\/api\/v1\/events\/([^/]+)$/.exec(pathname);
  return m ? { kind: 'event', id: m[1] } : null;
}

/** Query parameters as a record, refusing unknown and repeated ones; empty values are dropped. */
function readParams(url: URL, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const seen = new Set<string>();
  for (const [k, v] of url.searchParams) {
    if (!allowed.includes(k)) {
      throw new ApiError(400, 'bad_request', allowed.length
        ? `unknown parameter "${k}"; allowed: ${allowed.join(', ')}`
        : `unknown parameter "${k}"; this endpoint takes no parameters`);
    }
    if (seen.has(k)) throw new ApiError(400, 'bad_request', `parameter "${k}" given more than once`);
    seen.add(k);
    if (v !== '') out[k] = v;
  }
  return out;
}

/** Moves an integer parameter from string to number; the store checks its range. */
function intParam(p: Record<string, unknown>, name: string): void {
  const v = p[name];
  if (v === undefined) return;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) {
    throw new ApiError(400, 'bad_request', `${name} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  p[name] = Number(v);
}

/** `format` wins; otherwise whichever of our types the Accept header lists first. */
function pickFormat(p: Record<string, string>, req: IncomingMessage): Format {
  const f = p.format;
  if (f !== undefined) {
    if ((FORMATS as readonly string[]).includes(f)) return f as Format;
    throw new ApiError(400, 'bad_request', `format must be one of ${FORMATS.join(', ')}; got ${JSON.stringify(f)}`);
  }
  const accept = (req.headers.accept ?? '').toLowerCase();
  let best: Format = 'json';
  let at = Infinity;
  for (const [type, fmt] of [['application/json', 'json'], ['application/x-ndjson', 'ndjson'], ['application/ndjson', 'ndjson'], ['text/csv', 'csv']] as const) {
    const i = accept.indexOf(type);
    if (i >= 0 && i < at) {
      at = i;
      best = fmt;
    }
  }
  return best;
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Streams every matching event, a store page at a time, with backpressure.
 * The first page is fetched before the headers so bad input still gets a 400.
 * A failure after that destroys the response: a cut-off download must not
 * look like a complete one.
 */
async function streamEvents(
  req: IncomingMessage, res: ServerResponse, reader: StoreReader, q: EventQuery, format: 'ndjson' | 'csv', pageSize: number,
): Promise<void> {
  const { limit, ...base } = q;
  let remaining = limit ?? Infinity;
  let page = await reader.search({ ...base, limit: Math.min(pageSize, remaining) });
  const headers: Record<string, string> = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
  if (format === 'csv') {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
    headers['content-type'] = 'text/csv; charset=utf-8; header=present';
    headers['content-disposition'] = `attachment; filename="tollgate-events-${stamp}.csv"`;
  } else {
    headers['content-type'] = 'application/x-ndjson; charset=utf-8';
  }
  res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  let chunk = format === 'csv' ? csvHeader() : '';
  for (;;) {
    for (const ev of page.events) chunk += format === 'csv' ? csvRow(ev) : JSON.stringify(ev) + '\n';
    remaining -= page.events.length;
    if (chunk && !res.write(chunk)) await drained(res);
    chunk = '';
    if (res.destroyed) return; // the client went away
    if (!page.next_cursor || remaining <= 0) break;
    page = await reader.search({ ...base, cursor: page.next_cursor, limit: Math.min(pageSize, remaining) });
  }
  res.end();
}

/**
 * Serves the events API. Returns false, without touching the response, when
 * the path is not one of ours.
 */
export async function handleEventsApi(
  req: IncomingMessage, res: ServerResponse, url: URL, reader: StoreReader, opts: EventsApiOptions = {},
): Promise<boolean> {
  const route = matchRoute(url.pathname);
  if (!route) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendError(res, 405, 'method_not_allowed', `method ${req.method ?? ''} is not allowed; use GET`, { allow: 'GET, HEAD' });
    return true;
  }
  try {
    switch (route.kind) {
      case 'events': {
        const p: Record<string, unknown> = readParams(url, [...EVENT_QUERY_KEYS, 'format']);
        const format = pickFormat(p as Record<string, string>, req);
        delete p.format;
        intParam(p, 'limit');
        const q = p as EventQuery;
        if (format === 'json') sendJson(res, 200, await reader.search(q));
        else await streamEvents(req, res, reader, q, format, opts.exportPageSize ?? DEFAULT_EXPORT_PAGE);
        break;
      }
      case 'event': {
        readParams(url, []);
        let id: string;
        try {
          id = decodeURIComponent(route.id);
        } catch {
          id = route.id;
        }
        if (!isUuid(id)) throw new ApiError(400, 'bad_request', `event id must be a UUID, got ${JSON.stringify(id)}`);
        const ev = await reader.get(id);
        if (!ev) throw new ApiError(404, 'not_found', `no event with id ${id.toLowerCase()}`);
        sendJson(res, 200, ev);
        break;
      }
      case 'timeseries': {
        const p: Record<string, unknown> = readParams(url, TIMESERIES_QUERY_KEYS);
        intParam(p, 'bucket_seconds');
        sendJson(res, 200, { points: await reader.timeseries(p) });
        break;
      }
      case 'top': {
        const p: Record<string, unknown> = readParams(url, TOP_QUERY_KEYS);
        if (p.by === undefined) throw new ApiError(400, 'bad_request', `by is required: one of ${TOP_DIMENSIONS.join(', ')}`);
        intParam(p, 'limit');
        sendJson(res, 200, { rows: await reader.top({ ...p, by: p.by as TopDimension }) });
        break;
      }
      case 'latency': {
        const p: Record<string, unknown> = readParams(url, LATENCY_QUERY_KEYS);
        sendJson(res, 200, { rows: await reader.latency(p) });
        break;
      }
    }
  } catch (err) {
    if (res.headersSent) {
      // Mid-stream: the status is gone; cut the connection so the client sees the failure.
      opts.onError?.(err);
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    } else if (err instanceof ApiError) {
      sendError(res, err.status, err.code, err.message);
    } else if (err instanceof QueryError || (err instanceof Error && err.name === 'QueryError')) {
      // By name too: a reader proxied from the store thread rebuilds errors as plain Errors.
      sendError(res, 400, 'bad_request', err.message);
    } else {
      opts.onError?.(err);
      sendError(res, 500, 'internal_error', 'internal error; see the Tollgate log');
    }
  }
  return true;
}
