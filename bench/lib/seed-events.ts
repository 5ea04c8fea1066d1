/**
 * Seeds a DuckDB store file with many realistic events, fast: the product's
 * DuckDbStore creates the file (so the tables are exactly what Tollgate
 * creates), then one `INSERT INTO events … SELECT … FROM range(N)` computes
 * every column in SQL — no JavaScript per event.
 *
 * Every random choice is a deterministic hash of the row number (`hx(i, k)`),
 * so the same N and end time give the same data, whatever the thread count.
 * `ts` is a non-decreasing function of the row number and the insert keeps
 * the order of range() (preserve_insertion_order), so rows are stored in ts
 * order as the live loader stores them, and the row groups' zone maps on ts
 * are as tight as in production.
 *
 * The traffic (see SHAPE): 20,000 client IPs (10 % IPv6), 5,000 users on 60 %
 * of the events, 10 routes/services with 200 paths each (2,000 paths), 8
 * upstreams, mostly 200 with 3xx/4xx/5xx shares, small shares of deny /
 * ratelimit / block, log-normal durations with a median per route, 0.5 %
 * `admin` events. Popular values are skewed (a power of a uniform draw), the
 * density of events grows linearly over the span (the last day is about 1.3x
 * the average day).
 */
import { DuckDBInstance } from '../../src/store/duckdb/api.js';
import { FIELDS } from '../../src/core/event.js';
import { DuckDbStore } from '../../src/store/duckdb/duckdb-store.js';

/** Bump when the generated data changes: cached seeds of another version are seeded again. */
export const SEED_VERSION = 1;

export const SHAPE = {
  clientIps: 20_000,
  users: 5_000,
  userShare: 0.6,
  routes: ['web', 'api', 'auth', 'search', 'checkout', 'static', 'media', 'account', 'reports', 'webhooks'],
  pathsPerRoute: 200,
  upstreams: 8,
  adminShare: 0.005,
} as const;

/** Path prefix, host and median duration (ms) of each route, in SHAPE.routes order. */
const PREFIX = ['/', '/api/v1/', '/auth/', '/search/', '/checkout/', '/static/', '/media/', '/account/', '/reports/', '/hooks/'];
const HOST = ['shop.example.com', 'api.example.com', 'login.example.com', 'api.example.com', 'shop.example.com', 'cdn.example.com', 'cdn.example.com', 'shop.example.com', 'api.example.com', 'api.example.com'];
const MEDIAN_MS = [35, 22, 60, 80, 120, 3, 8, 30, 400, 15];
const RESOURCES = ['items', 'orders', 'users', 'products', 'carts', 'sessions', 'invoices', 'tags'];
const USER_AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'curl/8.5.0',
  'python-requests/2.31.0',
  'Googlebot/2.1 (+http://www.google.com/bot.html)',
];
const DAY_MS = 86_400_000;

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
const list = (xs: readonly (string | number)[]) => `[${xs.map((x) => (typeof x === 'number' ? String(x) : lit(x))).join(', ')}]`;

export interface SeedOptions {
  /** The store file (must not exist yet, or hold an empty store). */
  path: string;
  events: number;
  /** Newest event time (epoch ms); events span [endMs - spanMs, endMs). */
  endMs: number;
  spanMs: number;
  /** DuckDB threads for the insert (default: all cores). */
  threads?: number;
}

export interface SeedResult {
  events: number;
  /** Creating the store with DuckDbStore. */
  initMs: number;
  /** The INSERT … SELECT. */
  insertMs: number;
  /** CHECKPOINT and close (compression and writing the last row groups). */
  checkpointMs: number;
  totalMs: number;
  bytes: number | null;
  /** Catalog columns the generator has no expression for (left NULL). */
  nullColumns: string[];
}

/**
 * The expression of every column. Per-row variables come from the CTE in
 * insertSql(): i, ms (event time), r (route index), p (path index in the
 * route), ip (client index), usr (user index or -1), admin, decision, status.
 */
function columnExprs(): Record<string, string> {
  const routes = list(SHAPE.routes);
  const ipv4 = `(1 + ip % 223) || '.' || ((ip // 223) % 256) || '.' || ((ip * 37) % 256) || '.' || (1 + (ip * 101) % 254)`;
  const ipv6 = `'2001:db8:' || printf('%x', ip // 256) || '::' || printf('%x', ip % 256 + 1)`;
  const served = `(decision = 'allow' AND status IS DISTINCT FROM 502 AND status IS DISTINCT FROM 504)`;
  return {
    // UUIDv7 layout: 48-bit ms time, version 7, 12 bits, variant 10, 62 bits. The last 48 bits are
    // the row number times an odd constant mod 2^48 (a bijection), so ids are unique per row.
    id: `CAST(printf('%08x-%04x-7%03x-%04x-%012x', ms >> 16, ms & 65535, hx(i, 40) & 4095, 32768 | (hx(i, 41) & 16383), (i * 2654435761) & 281474976710655) AS UUID)`,
    ts: `epoch_ms(ms)`,
    duration_ms: `CASE WHEN status IS NULL AND decision = 'allow' THEN round(1000 * u(i, 12), 3)
      WHEN decision <> 'allow' THEN round(0.15 + 0.5 * u(i, 12), 3)
      ELSE round(exp(ln(${list(MEDIAN_MS)}[r + 1]) + 0.8 * sqrt(-2 * ln(1 - u(i, 12))) * cos(2 * pi() * u(i, 13))), 3) END`,
    kind: `CASE WHEN admin THEN 'admin' ELSE 'http' END`,
    source: `'tollgate'`,
    node: `CASE WHEN h(i, 14) % 2 = 0 THEN 'tg-1' ELSE 'tg-2' END`,
    client_ip: `CASE WHEN admin THEN '127.0.0.1' WHEN ip % 10 = 9 THEN ${ipv6} ELSE ${ipv4} END`,
    client_port: `CASE WHEN admin THEN 40000 + (h(i, 15) % 20000)::BIGINT END`,
    peer_ip: `CASE WHEN admin THEN '127.0.0.1' ELSE '10.0.0.' || (2 + h(i, 14) % 2) END`,
    forwarded_for: `CASE WHEN NOT admin THEN CASE WHEN ip % 10 = 9 THEN ${ipv6} ELSE ${ipv4} END END`,
    user_id: `CASE WHEN admin THEN 'ops' WHEN usr >= 0 THEN 'user-' || lpad(usr::VARCHAR, 4, '0') END`,
    user_name: `CASE WHEN admin THEN 'admin' WHEN usr >= 0 THEN 'user' || usr || '@example.com' END`,
    auth_method: `CASE WHEN admin THEN 'admin_token' WHEN usr >= 0 THEN CASE WHEN usr % 4 = 0 THEN 'api_key' ELSE 'jwt' END END`,
    auth_error: `CASE WHEN decision = 'deny' AND status = 401 THEN CASE WHEN h(i, 16) % 3 = 0 THEN 'expired' ELSE 'missing' END END`,
    method: `CASE WHEN admin THEN 'GET' WHEN u(i, 17) < 0.78 THEN 'GET' WHEN u(i, 17) < 0.93 THEN 'POST' WHEN u(i, 17) < 0.97 THEN 'PUT' WHEN u(i, 17) < 0.99 THEN 'DELETE' ELSE 'PATCH' END`,
    scheme: `CASE WHEN admin THEN 'http' ELSE 'https' END`,
    host: `CASE WHEN admin THEN '127.0.0.1' ELSE ${list(HOST)}[r + 1] END`,
    path: `CASE WHEN admin THEN ['/api/v1/stats/timeseries', '/api/v1/stats/top', '/api/v1/events', '/api/v1/stats/latency'][1 + h(i, 18) % 4]
      ELSE ${list(PREFIX)}[r + 1] || ${list(RESOURCES)}[1 + p % 8] || '/' || (p // 8) END`,
    query: `CASE WHEN NOT admin AND r = 3 THEN 'q=' || ${list(RESOURCES)}[1 + h(i, 19) % 8] || '&page=' || (1 + h(i, 20) % 5)
      WHEN NOT admin AND h(i, 19) % 4 = 0 THEN 'page=' || (1 + h(i, 20) % 20) END`,
    http_version: `CASE WHEN admin OR u(i, 21) >= 0.6 THEN '1.1' ELSE '2' END`,
    route: `CASE WHEN admin THEN 'stats.top' ELSE ${routes}[r + 1] END`,
    service: `CASE WHEN admin THEN 'admin' ELSE ${routes}[r + 1] END`,
    // 8 upstreams; each route is served by two of them.
    upstream: `CASE WHEN NOT admin AND decision = 'allow' AND status IS NOT NULL THEN '10.0.1.' || (11 + (r * 3 + h(i, 22) % 2) % ${SHAPE.upstreams}) || ':8080' END`,
    upstream_status: `CASE WHEN NOT admin AND ${served} AND status IS NOT NULL THEN status END`,
    upstream_ms: `CASE WHEN NOT admin AND ${served} AND status IS NOT NULL THEN round(exp(ln(${list(MEDIAN_MS)}[r + 1]) + 0.8 * sqrt(-2 * ln(1 - u(i, 12))) * cos(2 * pi() * u(i, 13))) * 0.92, 3) END`,
    attempts: `CASE WHEN admin THEN NULL WHEN decision <> 'allow' THEN 0 WHEN status IN (502, 504) THEN 2 ELSE 1 END`,
    status: `status`,
    bytes_in: `CASE WHEN u(i, 17) >= 0.78 AND NOT admin THEN (100 + h(i, 23) % 4000)::BIGINT ELSE 0 END`,
    bytes_out: `CASE WHEN status IS NULL THEN 0 WHEN status = 304 OR status = 204 THEN 0 WHEN r IN (5, 6) THEN (2000 + h(i, 24) % 400000)::BIGINT ELSE (200 + h(i, 24) % 30000)::BIGINT END`,
    decision: `decision`,
    rule_id: `CASE decision WHEN 'deny' THEN 'route-policy' WHEN 'ratelimit' THEN 'api-rate-limit' WHEN 'block' THEN CASE WHEN h(i, 25) % 2 = 0 THEN 'detect.scanner' ELSE 'blocklist' END END`,
    reason: `CASE decision WHEN 'deny' THEN CASE WHEN status = 401 THEN 'authentication required' ELSE 'not in an allowed group' END
      WHEN 'ratelimit' THEN 'rate limit api-rate-limit exceeded (100/min per client)' WHEN 'block' THEN 'client ip is blocked' END`,
    termination: `CASE WHEN decision = 'deny' THEN 'denied' WHEN decision = 'ratelimit' THEN 'rate_limited' WHEN decision = 'block' THEN 'blocked'
      WHEN status IS NULL THEN 'client_abort' WHEN status = 502 THEN 'upstream_error' WHEN status = 504 THEN 'upstream_timeout' ELSE 'ok' END`,
    user_agent: `CASE WHEN admin THEN 'tollgate-ui' ELSE ${list(USER_AGENTS)}[1 + ip % ${USER_AGENTS.length}] END`,
    referer: `CASE WHEN r IN (0, 4, 7) AND NOT admin THEN 'https://shop.example.com/' END`,
    request_id: `printf('%016x%016x', hx(i, 30), hx(i, 31))`,
    trace_id: `CASE WHEN h(i, 32) % 5 = 0 THEN printf('%016x%016x', hx(i, 33), hx(i, 34)) END`,
    tls_version: `CASE WHEN NOT admin THEN 'TLSv1.3' END`,
    tls_cipher: `CASE WHEN NOT admin THEN 'TLS_AES_128_GCM_SHA256' END`,
    sni: `CASE WHEN NOT admin THEN ${list(HOST)}[r + 1] END`,
    client_cert: `NULL`,
    environment: `'production'`,
    region: `'eu-west-1'`,
    // One deployment a week per service, on staggered days (see deploymentMarkers()).
    deployment: `CASE WHEN NOT admin THEN 'v1.' || ((ms // ${DAY_MS} + r) // 7) END`,
    headers: `CASE WHEN admin THEN '{"req.accept":"application/json"}'
      WHEN r IN (0, 4, 7) THEN '{"req.accept":"text/html,application/xhtml+xml","res.content-type":"text/html; charset=utf-8"}'
      ELSE '{"req.accept":"application/json","res.content-type":"application/json"}' END`,
    labels: `NULL`,
    extra: `NULL`,
  };
}

/** The INSERT that generates `n` events over [endMs - spanMs, endMs). */
export function insertSql(n: number, endMs: number, spanMs: number): { sql: string; nullColumns: string[] } {
  const exprs = columnExprs();
  const nullColumns = FIELDS.map((f) => f.name as string).filter((c) => !(c in exprs));
  const cols = FIELDS.map((f) => `"${f.name}"`).join(', ');
  const values = FIELDS.map((f) => exprs[f.name] ?? 'NULL').join(',\n    ');
  const start = endMs - spanMs;
  // Density grows linearly (1 at the start, 2 at the end of the span): inverse CDF x = sqrt(1 + 3u) - 1.
  const sql = `
INSERT INTO events (${cols})
WITH base AS (
  SELECT i,
    CAST(${start} + floor(${spanMs} * (sqrt(1 + 3 * (i + 0.5) / ${n}) - 1)) AS BIGINT) AS ms,
    u(i, 1) < ${SHAPE.adminShare} AS admin,
    CAST(floor(${SHAPE.routes.length} * pow(u(i, 2), 1.7)) AS BIGINT) AS r,
    CAST(floor(${SHAPE.pathsPerRoute} * pow(u(i, 3), 2)) AS BIGINT) AS p,
    CAST(floor(${SHAPE.clientIps} * pow(u(i, 4), 2.5)) AS BIGINT) AS ip,
    CASE WHEN u(i, 5) < ${SHAPE.userShare} THEN CAST(floor(${SHAPE.users} * pow(u(i, 6), 2)) AS BIGINT) ELSE -1 END AS usr,
    u(i, 7) AS ud,
    u(i, 8) AS us
  FROM seed_rows
), decided AS (
  SELECT *,
    CASE WHEN admin THEN 'allow' WHEN ud < 0.012 THEN 'deny' WHEN ud < 0.017 THEN 'ratelimit' WHEN ud < 0.020 THEN 'block' ELSE 'allow' END AS decision
  FROM base
), rows AS (
  SELECT *,
    CASE
      WHEN decision = 'deny' THEN CASE WHEN us < 0.5 THEN 401 ELSE 403 END
      WHEN decision = 'ratelimit' THEN 429
      WHEN decision = 'block' THEN 403
      WHEN admin THEN 200
      WHEN us < 0.0005 THEN NULL
      WHEN us < 0.8605 THEN 200
      WHEN us < 0.8805 THEN 201
      WHEN us < 0.8905 THEN 204
      WHEN us < 0.9005 THEN 302
      WHEN us < 0.9055 THEN 301
      WHEN us < 0.9355 THEN 304
      WHEN us < 0.9455 THEN 400
      WHEN us < 0.9505 THEN 401
      WHEN us < 0.9755 THEN 404
      WHEN us < 0.9855 THEN 422
      WHEN us < 0.9935 THEN 500
      WHEN us < 0.9975 THEN 502
      WHEN us < 0.9995 THEN 503
      ELSE 504
    END AS status
  FROM decided
)
SELECT
    ${values}
FROM rows`;
  return { sql, nullColumns };
}

/** Weekly deployment markers per service, consistent with the `deployment` column. */
export function deploymentMarkers(endMs: number, spanMs: number): object[] {
  const out: object[] = [];
  const first = Math.floor((endMs - spanMs) / DAY_MS);
  const last = Math.floor(endMs / DAY_MS);
  for (let day = first; day <= last; day++) {
    SHAPE.routes.forEach((service, r) => {
      if ((day + r) % 7 !== 0) return;
      const at = day * DAY_MS;
      if (at < endMs - spanMs || at >= endMs) return;
      const hex = (day * 7919 + r * 104729).toString(16).padStart(8, '0');
      out.push({
        id: `${Math.floor(at / 0x10000).toString(16).padStart(8, '0')}-${(at & 0xffff).toString(16).padStart(4, '0')}-7000-8000-${hex.padStart(12, '0')}`,
        service,
        version: `v1.${(day + r) / 7}`,
        commit: hex.slice(0, 7),
        environment: 'production',
        actor: 'ci',
        url: null,
        at: new Date(at).toISOString(),
        created_by: 'bench',
      });
    });
  }
  return out;
}

/** Creates the store at opts.path with DuckDbStore, then fills it with one INSERT … SELECT. */
export async function seedStore(opts: SeedOptions): Promise<SeedResult> {
  const t0 = performance.now();
  const store = new DuckDbStore({ path: opts.path });
  await store.init();
  await store.close();
  const initMs = performance.now() - t0;

  const { sql, nullColumns } = insertSql(opts.events, opts.endMs, opts.spanMs);
  const threads = opts.threads ?? (await import('node:os')).availableParallelism();
  // preserve_insertion_order keeps range() order, i.e. ts order (the product's store sets it off for
  // its own bulk loads, whose input is already in spool order).
  const instance = await DuckDBInstance.create(opts.path, { threads: String(threads), preserve_insertion_order: 'true' });
  const c = await instance.connect();
  let insertMs = 0;
  let checkpointMs = 0;
  try {
    // Stream k (< 64) of row i: a 64-bit hash, deterministic. Not hash(i, k): DuckDB combines the
    // hashes of several arguments with a multiply and an XOR, so hash(i, 5) and hash(i, 6) correlate.
    await c.run('CREATE TEMP MACRO hx(i, k) AS hash(i * 64 + k)');
    // A uniform draw in [0, 1) from 53 bits of it.
    await c.run('CREATE TEMP MACRO u(i, k) AS CAST(hx(i, k) >> 11 AS DOUBLE) / 9007199254740992.0');
    // The same as a BIGINT in [0, 2^63), for % and list indexes.
    await c.run('CREATE TEMP MACRO h(i, k) AS CAST(hx(i, k) >> 1 AS BIGINT)');
    const t1 = performance.now();
    // range() is a single-threaded source, and the whole INSERT pipeline would run on one core.
    // A table scan is parallel, and with preserve_insertion_order the insert keeps its order.
    await c.run(`CREATE TEMP TABLE seed_rows AS SELECT range AS i FROM range(${opts.events})`);
    const r = await c.run(sql);
    insertMs = performance.now() - t1;
    if (Number(r.rowsChanged) !== opts.events) throw new Error(`seed inserted ${r.rowsChanged} rows, expected ${opts.events}`);
    const t2 = performance.now();
    await c.run('CHECKPOINT');
    c.closeSync();
    instance.closeSync();
    checkpointMs = performance.now() - t2;
  } catch (err) {
    c.closeSync();
    instance.closeSync();
    throw err;
  }
  let bytes: number | null = null;
  try {
    bytes = (await import('node:fs')).statSync(opts.path).size;
  } catch {
    /* unknown */
  }
  return { events: opts.events, initMs, insertMs, checkpointMs, totalMs: performance.now() - t0, bytes, nullColumns };
}
