/**
 * Query input shared by every Store implementation: the allowed keys, and the
 * parsing and validation of filters, times, status classes, limits, page
 * cursors and time buckets. DuckDB and PostgreSQL both go through here so they
 * accept exactly the same input and reject it with the same QueryError
 * messages. Nothing here builds SQL.
 */
import { QueryError, TOP_DIMENSIONS, type EventQuery, type TopDimension } from './types.js';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 10_000;
export const DEFAULT_TOP_LIMIT = 10;
export const MAX_TOP_LIMIT = 1000;
/** The default bucket width gives about this many buckets over the range. */
export const TARGET_BUCKETS = 60;
/** Refuse a timeseries that would need more buckets than this (memory and response size). */
export const MAX_BUCKETS = 10_000;
/** latency(by) returns at most this many groups, busiest first (a `host` group-by can be attacker-controlled). */
export const MAX_LATENCY_GROUPS = 1000;

/** EventQuery keys that match the column of the same name exactly. */
export const EQUALITY_FILTERS = [
  'client_ip', 'method', 'decision', 'rule_id', 'route', 'upstream', 'request_id',
  'host', 'service', 'termination', 'trace_id', 'kind', 'source',
] as const satisfies readonly (keyof EventQuery)[];
export type EqualityFilter = (typeof EQUALITY_FILTERS)[number];

/** Every selection key, shared by search, count, timeseries, top and latency. */
export const FILTER_KEYS = ['from', 'to', 'user', 'path_prefix', 'status', ...EQUALITY_FILTERS] as const;
export const EVENT_QUERY_KEYS = [...FILTER_KEYS, 'limit', 'cursor', 'order'] as const;
export const TIMESERIES_QUERY_KEYS = [...FILTER_KEYS, 'bucket_seconds'] as const;
export const TOP_QUERY_KEYS = [...FILTER_KEYS, 'by', 'limit'] as const;
export const LATENCY_QUERY_KEYS = [...FILTER_KEYS, 'by'] as const;
export const LATENCY_GROUPS = ['route', 'upstream', 'service', 'host'] as const;
export type LatencyGroup = (typeof LATENCY_GROUPS)[number];

/** The status classes every timeseries point carries, zero when empty. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'none'] as const;

export type StatusFilter =
  | { kind: 'code'; code: number }
  | { kind: 'class'; min: number; max: number } // min inclusive, max exclusive
  | { kind: 'none' };

/** A validated selection, ready for a store to turn into its own query language. */
export interface Filter {
  /** Inclusive lower bound, epoch ms. */
  from: number | null;
  /** Exclusive upper bound, epoch ms. */
  to: number | null;
  /** Matches user_id or user_name. */
  user: string | null;
  /** Literal prefix of path (no wildcards). */
  pathPrefix: string | null;
  status: StatusFilter | null;
  /** column = value, or column <> value (null included) when `not`: a filter value written "!value". */
  equals: { column: EqualityFilter; value: string; not: boolean }[];
}

/**
 * Rejects keys a query may not have. Stores are reached over RPC and from the
 * CLI too, and a misspelt filter that is silently ignored returns everything.
 * Keys whose value is undefined are ignored (optional properties).
 */
export function checkKeys(q: object, allowed: readonly string[], what: string): void {
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || allowed.includes(k)) continue;
    throw new QueryError(`unknown ${what} parameter "${k}"; allowed: ${allowed.join(', ')}`);
  }
}

function stringValue(q: Record<string, unknown>, key: string): string | null {
  const v = q[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new QueryError(`${key} must be a string`);
  return v;
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

/**
 * Parses a time bound: epoch milliseconds (number or digits) or ISO 8601.
 * A date-time without an offset is UTC (the audit trail is UTC; the local zone
 * of the store process is irrelevant to the user). Sub-millisecond fractions
 * round up, which keeps both bounds exact against ms timestamps: ts >= x.0005
 * means ts >= x.001, and ts < x.0005 means ts < x.001.
 */
export function parseTime(v: unknown, name: string): number {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v;
    throw new QueryError(`invalid ${name} ${v}: epoch milliseconds must be an integer`);
  }
  if (typeof v !== 'string') throw new QueryError(`${name} must be a string or a number`);
  const s = v.trim();
  if (/^-?\d{1,16}$/.test(s)) return Number(s);
  const m = ISO_RE.exec(s);
  if (m) {
    const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', , sign, oh = '0', om = '0'] = m;
    const fields = [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(sec), Number(oh), Number(om)];
    const [Y, M, D, H, MI, S, OH, OM] = fields;
    let ms = Date.UTC(Y, M - 1, D, H, MI, S);
    const date = new Date(ms);
    // Date.UTC rolls over (Feb 30 -> Mar 2); a round trip catches impossible dates.
    if (
      M >= 1 && M <= 12 && H <= 23 && MI <= 59 && S <= 59 && OH <= 23 && OM <= 59 &&
      date.getUTCFullYear() === Y && date.getUTCMonth() === M - 1 && date.getUTCDate() === D
    ) {
      if (frac) ms += Math.ceil(Number(`0.${frac}`) * 1000 - 1e-9);
      if (sign) ms -= (sign === '-' ? -1 : 1) * (OH * 60 + OM) * 60_000;
      return ms;
    }
  }
  // A '+' in a query string decodes to a space: say so, it is the usual cause.
  const hint = / \d{2}(?::?\d{2})?$/.test(s) ? ' (a "+" in a URL must be encoded as %2B)' : '';
  throw new QueryError(`invalid ${name} ${JSON.stringify(v)}: use ISO 8601 (e.g. 2026-01-31T12:00:00Z) or epoch milliseconds${hint}`);
}

/** "404" (exact), "4xx" (class) or "none" (no response was sent). */
export function parseStatus(v: string): StatusFilter {
  const s = v.trim().toLowerCase();
  if (/^[1-5]\d\d$/.test(s)) return { kind: 'code', code: Number(s) };
  if (/^[1-5]xx$/.test(s)) {
    const min = Number(s[0]) * 100;
    return { kind: 'class', min, max: min + 100 };
  }
  if (s === 'none') return { kind: 'none' };
  throw new QueryError(`invalid status ${JSON.stringify(v)}: use a code (404), a class (1xx..5xx) or "none"`);
}

/** Validates the selection part of any query (the caller checks the keys). */
export function parseFilter(q: object): Filter {
  const r = q as Record<string, unknown>;
  const fromV = r.from;
  const toV = r.to;
  const from = fromV === undefined || fromV === null ? null : parseTime(fromV, 'from');
  const to = toV === undefined || toV === null ? null : parseTime(toV, 'to');
  if (from !== null && to !== null && from > to) {
    throw new QueryError(`from (${new Date(from).toISOString()}) is after to (${new Date(to).toISOString()})`);
  }
  const statusV = stringValue(r, 'status');
  const equals: Filter['equals'] = [];
  for (const column of EQUALITY_FILTERS) {
    let value = stringValue(r, column);
    if (value === null) continue;
    // "!admin" excludes: e.g. kind=!admin leaves out the admin API's own events.
    const not = value.startsWith('!');
    if (not) value = value.slice(1);
    // Hosts are stored lower-cased; let "API.example.com" find them.
    if (column === 'host') value = value.toLowerCase();
    equals.push({ column, value, not });
  }
  return {
    from,
    to,
    user: stringValue(r, 'user'),
    pathPrefix: stringValue(r, 'path_prefix'),
    status: statusV === null ? null : parseStatus(statusV),
    equals,
  };
}

/** A positive integer, `def` when absent, capped at `max`. */
export function parseLimit(v: unknown, def: number, max: number, name = 'limit'): number {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new QueryError(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return Math.min(v, max);
}

export function parseOrder(v: unknown): 'asc' | 'desc' {
  if (v === undefined || v === null) return 'desc';
  if (v === 'asc' || v === 'desc') return v;
  throw new QueryError(`order must be "asc" or "desc", got ${JSON.stringify(v)}`);
}

export function parseTopDimension(v: unknown): TopDimension {
  if (typeof v === 'string' && (TOP_DIMENSIONS as readonly string[]).includes(v)) return v as TopDimension;
  throw new QueryError(`by must be one of ${TOP_DIMENSIONS.join(', ')}; got ${JSON.stringify(v)}`);
}

export function parseLatencyGroup(v: unknown): LatencyGroup | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' && (LATENCY_GROUPS as readonly string[]).includes(v)) return v as LatencyGroup;
  throw new QueryError(`by must be one of ${LATENCY_GROUPS.join(', ')}; got ${JSON.stringify(v)}`);
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: unknown): s is string {
  return typeof s === 'string' && UUID_RE.test(s);
}

/** Position of the last event of a page: the keyset is (ts, id). */
export interface PageCursor {
  /** ts of the last event, epoch ms. */
  ts: number;
  /** id of the last event, lower-case UUID. */
  id: string;
}

/**
 * Cursors are opaque to clients: base64url JSON with a version, so the format
 * can change, and the order it was issued for, because using a desc cursor
 * for an asc query is a client bug that would return the wrong half.
 */
export function encodeCursor(c: PageCursor, order: 'asc' | 'desc'): string {
  return Buffer.from(JSON.stringify({ v: 1, o: order, t: c.ts, i: c.id })).toString('base64url');
}

export function decodeCursor(s: unknown, order: 'asc' | 'desc'): PageCursor {
  const bad = (why: string) => new QueryError(`invalid cursor: ${why}; pass next_cursor from a previous page unchanged`);
  if (typeof s !== 'string' || s === '' || s.length > 512 || !/^[A-Za-z0-9_-]+$/.test(s)) throw bad('not a cursor');
  let obj: unknown;
  try {
    obj = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    throw bad('not a cursor');
  }
  if (typeof obj !== 'object' || obj === null) throw bad('not a cursor');
  const { v, o, t, i } = obj as Record<string, unknown>;
  if (v !== 1 || typeof t !== 'number' || !Number.isSafeInteger(t) || !isUuid(i)) throw bad('not a cursor');
  if (o !== order) throw bad(`it was issued for order=${String(o)}, not order=${order}`);
  return { ts: t, id: i.toLowerCase() };
}

const NICE_BUCKETS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 2 * 86400, 7 * 86400,
];

/** The smallest "round" bucket width (seconds) that covers rangeMs in about TARGET_BUCKETS buckets. */
export function defaultBucketSeconds(rangeMs: number): number {
  const want = rangeMs / 1000 / TARGET_BUCKETS;
  for (const b of NICE_BUCKETS) if (b >= want) return b;
  return Math.ceil(want / 86400) * 86400;
}

export function parseBucketSeconds(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 366 * 86400) {
    throw new QueryError(`bucket_seconds must be an integer from 1 to ${366 * 86400}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Bucket starts (epoch ms, aligned to multiples of the width since the epoch,
 * so the same range always yields the same buckets) covering [from, to).
 */
export function bucketStarts(from: number, to: number, bucketMs: number): number[] {
  if (to <= from) return [];
  const first = Math.floor(from / bucketMs) * bucketMs;
  const last = Math.floor((to - 1) / bucketMs) * bucketMs;
  const n = (last - first) / bucketMs + 1;
  if (n > MAX_BUCKETS) {
    throw new QueryError(`bucket_seconds ${bucketMs / 1000} gives ${n} buckets over this range; at most ${MAX_BUCKETS} are allowed`);
  }
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = first + i * bucketMs;
  return out;
}

export function emptyByClass(): Record<string, number> {
  const r: Record<string, number> = {};
  for (const c of STATUS_CLASSES) r[c] = 0;
  return r;
}
