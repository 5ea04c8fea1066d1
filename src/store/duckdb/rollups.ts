/**
 * Pre-computed summaries that let the dashboard's questions over days and
 * weeks answer in milliseconds instead of scanning millions of events:
 *
 *   rollup_hour      per hour, kind, status class, decision: the count
 *   rollup_hour_lat  per hour, kind: a log-scale histogram of duration_ms (5 % bins)
 *   rollup_day_top   per day, kind, dimension, value: count and errors (top lists)
 *
 * An hour (day) is built once it is over (plus a settling margin), from the
 * events themselves, in one transaction; an event stored later into a built
 * hour (a late or ingested one) marks it pending again, and it is rebuilt.
 * Queries use summaries only for built hours (days) inside the range and
 * scan the events for the rest, so answers never miss an event: counts and
 * top lists are exact, percentiles come from the histograms (within 2.5 %).
 */
import type { DuckDBConnection, DuckDBValue } from './api.js';
import { DuckDBTimestampValue } from './api.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** An hour is built this long after it ended, so stragglers from the spool are in. */
export const SETTLE_MS = 2 * 60_000;

/** Dimensions kept per day for top lists (user_agent is left out: unbounded and rarely ranked over weeks). */
export const ROLLUP_DIMS = ['client_ip', 'user_id', 'path', 'upstream', 'route', 'host', 'service', 'decision', 'method', 'status'] as const;

export const ROLLUP_DDL = [
  'CREATE TABLE IF NOT EXISTS rollup_pending (unit VARCHAR, start TIMESTAMP, PRIMARY KEY (unit, start))',
  'CREATE TABLE IF NOT EXISTS rollup_built (unit VARCHAR, start TIMESTAMP, PRIMARY KEY (unit, start))',
  'CREATE TABLE IF NOT EXISTS rollup_hour (hour TIMESTAMP, kind VARCHAR, cls VARCHAR, decision VARCHAR, n BIGINT)',
  'CREATE TABLE IF NOT EXISTS rollup_hour_lat (hour TIMESTAMP, kind VARCHAR, bin SMALLINT, n BIGINT, mx DOUBLE)',
  'CREATE TABLE IF NOT EXISTS rollup_day_top (day TIMESTAMP, kind VARCHAR, dim VARCHAR, value VARCHAR, n BIGINT, errors BIGINT)',
];

/** Log-scale latency bins: 5 % wide from 0.01 ms; bin 369 holds 10 min and above. */
const BIN_BASE = 0.01;
const BIN_GROWTH = 1.05;
export const MAX_BIN = 369;
export const binSql = (col: string) => `CAST(least(${MAX_BIN}, greatest(0, floor(ln(greatest(${col}, ${BIN_BASE}) / ${BIN_BASE}) / ln(${BIN_GROWTH})))) AS SMALLINT)`;
/** The middle of a bin (geometric): within 2.5 % of any value in it. */
export const binValue = (bin: number) => BIN_BASE * BIN_GROWTH ** (bin + 0.5);

export const CLASS_SQL = `CASE WHEN status IS NULL THEN 'none' WHEN status >= 100 AND status < 600 THEN CAST(status // 100 AS VARCHAR) || 'xx' ELSE 'other' END`;

/** The q-quantile (nearest rank) of a histogram given as bin → count. */
export function histogramQuantile(bins: ReadonlyMap<number, number>, q: number): number | null {
  let total = 0;
  for (const n of bins.values()) total += n;
  if (!total) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const b of [...bins.keys()].sort((x, y) => x - y)) {
    seen += bins.get(b)!;
    if (seen >= rank) return Math.round(binValue(b) * 1000) / 1000;
  }
  return null;
}

const ts = (ms: number) => new DuckDBTimestampValue(BigInt(ms) * 1000n);

/** Hours and days an insert touched, as epoch ms of their starts. */
export function touched(msList: Iterable<number>): { hours: number[]; days: number[] } {
  const hours = new Set<number>();
  for (const ms of msList) if (Number.isFinite(ms)) hours.add(Math.floor(ms / HOUR_MS) * HOUR_MS);
  const days = new Set<number>();
  for (const h of hours) days.add(Math.floor(h / DAY_MS) * DAY_MS);
  return { hours: [...hours], days: [...days] };
}

/** In the insert's transaction: these hours and days must be (re)built before their summaries are used. */
export async function markPending(c: DuckDBConnection, hours: readonly number[], days: readonly number[]): Promise<void> {
  for (const [unit, list] of [['hour', hours], ['day', days]] as const) {
    if (!list.length) continue;
    const values: DuckDBValue[] = [];
    const rows = list.map((ms) => {
      values.push(ts(ms));
      return `('${unit}', $${values.length})`;
    });
    await c.run(`INSERT INTO rollup_pending VALUES ${rows.join(', ')} ON CONFLICT DO NOTHING`, values);
    await c.run(`DELETE FROM rollup_built WHERE unit = '${unit}' AND start IN (${list.map((_, i) => `$${i + 1}`).join(', ')})`, list.map(ts));
  }
}

/** Marks every hour and day that has events (a store created before summaries existed). */
export async function markAllPending(c: DuckDBConnection): Promise<void> {
  await c.run(`INSERT INTO rollup_pending SELECT DISTINCT 'hour', date_trunc('hour', ts) FROM events ON CONFLICT DO NOTHING`);
  await c.run(`INSERT INTO rollup_pending SELECT DISTINCT 'day', date_trunc('day', ts) FROM events ON CONFLICT DO NOTHING`);
}

/**
 * Builds the pending hours and days that are over (as of `now`), in the
 * caller's transaction. Returns how many of each were built.
 */
export async function buildPending(c: DuckDBConnection, now: number): Promise<{ hours: number; days: number }> {
  await c.run('CREATE TEMP TABLE IF NOT EXISTS rollup_sel (start TIMESTAMP)');
  const built = { hours: 0, days: 0 };
  for (const unit of ['hour', 'day'] as const) {
    const len = unit === 'hour' ? HOUR_MS : DAY_MS;
    await c.run('DELETE FROM rollup_sel');
    await c.run(`INSERT INTO rollup_sel SELECT start FROM rollup_pending WHERE unit = '${unit}' AND start <= $1`, [ts(now - SETTLE_MS - len)]);
    const r = (await c.runAndReadAll('SELECT count(*), epoch_ms(min(start)), epoch_ms(max(start)) FROM rollup_sel')).getRows()[0];
    const n = Number(r[0]);
    if (!n) continue;
    const lo = ts(Number(r[1]));
    const hi = ts(Number(r[2]) + len);
    const inSel = `ts >= $1 AND ts < $2 AND date_trunc('${unit}', ts) IN (SELECT start FROM rollup_sel)`;
    if (unit === 'hour') {
      await c.run('DELETE FROM rollup_hour WHERE hour IN (SELECT start FROM rollup_sel)');
      await c.run('DELETE FROM rollup_hour_lat WHERE hour IN (SELECT start FROM rollup_sel)');
      await c.run(`INSERT INTO rollup_hour SELECT date_trunc('hour', ts), kind, ${CLASS_SQL}, decision, count(*) FROM events WHERE ${inSel} GROUP BY ALL`, [lo, hi]);
      await c.run(`INSERT INTO rollup_hour_lat SELECT date_trunc('hour', ts), kind, ${binSql('duration_ms')}, count(*), max(duration_ms) FROM events WHERE ${inSel} AND duration_ms IS NOT NULL GROUP BY ALL`, [lo, hi]);
      built.hours = n;
    } else {
      await c.run('DELETE FROM rollup_day_top WHERE day IN (SELECT start FROM rollup_sel)');
      // Every dimension in one pass over the day's events (grouping sets), not one scan per dimension.
      const col = (d: string) => `d_${d}`;
      const dimName = ROLLUP_DIMS.map((d) => `WHEN GROUPING(${col(d)}) = 0 THEN '${d}'`).join(' ');
      const dimValue = ROLLUP_DIMS.map((d) => `WHEN GROUPING(${col(d)}) = 0 THEN ${col(d)}`).join(' ');
      await c.run(
        `INSERT INTO rollup_day_top
         SELECT day, kind, CASE ${dimName} END, CASE ${dimValue} END, count(*), count(*) FILTER (WHERE status >= 500 OR status IS NULL)
         FROM (SELECT date_trunc('day', ts) AS day, kind, status, ${ROLLUP_DIMS.map((d) => `CAST("${d}" AS VARCHAR) AS ${col(d)}`).join(', ')} FROM events WHERE ${inSel})
         GROUP BY GROUPING SETS (${ROLLUP_DIMS.map((d) => `(day, kind, ${col(d)})`).join(', ')})`,
        [lo, hi],
      );
      built.days = n;
    }
    await c.run(`INSERT INTO rollup_built SELECT '${unit}', start FROM rollup_sel ON CONFLICT DO NOTHING`);
    await c.run(`DELETE FROM rollup_pending WHERE unit = '${unit}' AND start IN (SELECT start FROM rollup_sel)`);
  }
  return built;
}

/** After retention deleted events before `before`: summaries of what is gone go too; the hour and day cut in two are rebuilt. */
export async function forgetBefore(c: DuckDBConnection, before: number): Promise<void> {
  const hour = Math.floor(before / HOUR_MS) * HOUR_MS;
  const day = Math.floor(before / DAY_MS) * DAY_MS;
  await c.run('DELETE FROM rollup_hour WHERE hour < $1', [ts(hour)]);
  await c.run('DELETE FROM rollup_hour_lat WHERE hour < $1', [ts(hour)]);
  await c.run('DELETE FROM rollup_day_top WHERE day < $1', [ts(day)]);
  await c.run(`DELETE FROM rollup_built WHERE (unit = 'hour' AND start < $1) OR (unit = 'day' AND start < $2)`, [ts(hour), ts(day)]);
  await c.run(`DELETE FROM rollup_pending WHERE (unit = 'hour' AND start < $1) OR (unit = 'day' AND start < $2)`, [ts(hour), ts(day)]);
  if (before > hour || before > day) await markPending(c, before > hour ? [hour] : [], before > day ? [day] : []);
}

/**
 * Splits [from, to) into the built units (whole hours or days with summaries)
 * and the intervals left to scan from the events.
 */
export async function planRange(c: DuckDBConnection, unit: 'hour' | 'day', from: number, to: number): Promise<{ built: number[]; raw: [number, number][] }> {
  const len = unit === 'hour' ? HOUR_MS : DAY_MS;
  const first = Math.ceil(from / len) * len;
  const last = Math.floor(to / len) * len;
  const built: number[] = [];
  if (last > first) {
    const rows = (await c.runAndReadAll(`SELECT epoch_ms(start) FROM rollup_built WHERE unit = '${unit}' AND start >= $1 AND start < $2 ORDER BY start`, [ts(first), ts(last)])).getRows();
    for (const [v] of rows) built.push(Number(v));
  }
  const raw: [number, number][] = [];
  let cur = from;
  for (const b of built) {
    if (b > cur) raw.push([cur, b]);
    cur = b + len;
  }
  if (cur < to) raw.push([cur, to]);
  return { built, raw };
}

/**
 * One SELECT per interval, joined with UNION ALL: each has a plain
 * `ts >= a AND ts < b`, which lets DuckDB skip row groups outside it (an OR
 * of ranges would scan the whole table). `select(where)` writes one SELECT
 * for a WHERE clause; parameters are appended to `values`.
 */
export function perInterval(raw: readonly [number, number][], values: DuckDBValue[], select: (where: string) => string): string | null {
  if (!raw.length) return null;
  return raw
    .map(([a, b]) => {
      values.push(ts(a), ts(b));
      return select(`ts >= $${values.length - 1} AND ts < $${values.length}`);
    })
    .join(' UNION ALL ');
}

/** SQL for "start in these built units" (a list of timestamps) with parameters appended. */
export function unitsSql(col: string, built: readonly number[], len: number, values: DuckDBValue[]): string {
  if (!built.length) return 'FALSE';
  // Built units come in runs: express each run as a range (a month of hours is a handful of ranges).
  const runs: [number, number][] = [];
  for (const b of built) {
    const lastRun = runs[runs.length - 1];
    if (lastRun && b === lastRun[1]) lastRun[1] = b + len;
    else runs.push([b, b + len]);
  }
  return (
    '(' +
    runs
      .map(([a, b]) => {
        values.push(ts(a), ts(b));
        return `(${col} >= $${values.length - 1} AND ${col} < $${values.length})`;
      })
      .join(' OR ') +
    ')'
  );
}
