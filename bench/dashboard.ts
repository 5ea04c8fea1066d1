/**
 * Dashboard benchmark: with 10 million events in the embedded store, does
 * each API call the dashboard's overview makes answer in <= 100 ms?
 *
 * 1. Seeds a DuckDB store with N realistic events over the last 30 days
 *    (bench/lib/seed-events.ts: DuckDbStore creates the tables, one
 *    INSERT … SELECT fills them), or reuses the seed cached in --cache DIR.
 * 2. Starts a real node (`tollgate start -c <yaml>`) with store.path on it.
 * 3. For each range (15m, 1h, 24h, 7d, 30d) times the overview's seven
 *    calls over HTTP, one at a time: a warm-up, then --repeat rounds; and
 *    once all seven at once, as a cold dashboard fires them.
 * 4. Prints range × call → median / max, the slowest median against the
 *    target, and saves JSON under bench/results/dashboard-<time>.json.
 *
 *   npm run build && node dist/bench/dashboard.js [--events N] [--repeat N] [--cache DIR] [--keep-tmp]
 *
 * A benchmark, not a timed test: nothing here fails on speed.
 */
import { createHash } from 'node:crypto';
import { constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '../src/store/duckdb/api.js';
import { stringify } from 'yaml';
import { freePort, httpGet, sleep, waitFor } from './lib/net.js';
import { killAllSync, refuseNewProcesses, startProcess, stopAll, stopProcess, type Managed } from './lib/procs.js';
import { SEED_VERSION, SHAPE, deploymentMarkers, seedStore, type SeedResult } from './lib/seed-events.js';
import { fmtMs, median, table } from './lib/stats.js';
import { tail } from './lib/peers.js';

const TARGET_MS = 100;
const DAY_MS = 86_400_000;
const SPAN_MS = 30 * DAY_MS;
const TOKEN = 'tg-bench-dashboard-token-5f0c2b7e9a1d4c3b';

const RANGES: readonly { id: string; ms: number }[] = [
  { id: '15m', ms: 15 * 60_000 },
  { id: '1h', ms: 3_600_000 },
  { id: '24h', ms: DAY_MS },
  { id: '7d', ms: 7 * DAY_MS },
  { id: '30d', ms: 30 * DAY_MS },
];

/** The overview's calls, exactly as the dashboard makes them (from/to are added per range). */
const CALLS: readonly { id: string; path: string; params: Record<string, string> }[] = [
  { id: 'timeseries', path: '/api/v1/stats/timeseries', params: { kind: '!admin' } },
  { id: 'top client_ip', path: '/api/v1/stats/top', params: { by: 'client_ip', limit: '10', kind: '!admin' } },
  { id: 'top user_id', path: '/api/v1/stats/top', params: { by: 'user_id', limit: '10', kind: '!admin' } },
  { id: 'top path', path: '/api/v1/stats/top', params: { by: 'path', limit: '10', kind: '!admin' } },
  { id: 'top upstream', path: '/api/v1/stats/top', params: { by: 'upstream', limit: '10', kind: '!admin' } },
  { id: 'latency', path: '/api/v1/stats/latency', params: { kind: '!admin' } },
  { id: 'deployments', path: '/api/v1/deployments', params: {} },
];

const USAGE = `Usage: node dist/bench/dashboard.js [options]      (build first: npm run build)

  --events N     events in the seeded store (default 10000000)
  --repeat N     timed runs of each call per range, after one warm-up (default 7)
  --cache DIR    keep the seeded store in DIR and reuse it when it holds the same seed
                 (default: seed into the temporary directory, removed at the end)
  --keep-tmp     keep the temporary directory (config, node logs, the store copy)
  -h, --help     this text`;

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

function positiveInt(v: string, what: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new Error(`${what} must be a positive whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

let opts: { events: number; repeat: number; cache: string | null; keepTmp: boolean };
try {
  const { values } = parseArgs({
    strict: true,
    allowPositionals: false,
    options: {
      events: { type: 'string', default: '10000000' },
      repeat: { type: 'string', default: '7' },
      cache: { type: 'string' },
      'keep-tmp': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  opts = {
    events: positiveInt(values.events.replace(/[_,]/g, ''), '--events'),
    repeat: positiveInt(values.repeat, '--repeat'),
    cache: values.cache ? resolve(values.cache) : null,
    keepTmp: values['keep-tmp'],
  };
} catch (err) {
  console.error(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// Shutdown: every exit path stops the node and removes the temporary directory.
// ---------------------------------------------------------------------------

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'index.js');
const tmp = mkdtempSync(join(tmpdir(), 'tollgate-bench-dashboard-'));
let cleaned = false;

function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  killAllSync();
  if (opts.keepTmp) console.error(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}

async function shutdown(code: number, why: string): Promise<never> {
  refuseNewProcesses();
  console.error(why);
  await Promise.race([stopAll(2000), sleep(8000)]);
  cleanup();
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(130, '\ninterrupted: stopping the node'));
process.on('SIGTERM', () => void shutdown(143, '\nterminated: stopping the node'));
process.on('exit', cleanup);
// Bounded in time whatever happens: seeding is about 5 s per million events here, the calls a few minutes.
const deadlineS = 600 + Math.ceil(opts.events / 1e6) * 30 + opts.repeat * 60;
setTimeout(() => void shutdown(1, `\ntime limit of ${deadlineS} s reached: stopping`), deadlineS * 1000).unref();

// ---------------------------------------------------------------------------
// The seeded store (cached or fresh)
// ---------------------------------------------------------------------------

interface SeedMeta {
  version: number;
  events: number;
  endMs: number;
  spanMs: number;
  seededAt: string;
  seed: SeedResult;
}

async function countEvents(file: string): Promise<number> {
  const instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  try {
    const c = await instance.connect();
    try {
      return Number((await c.runAndReadAll('SELECT count(*) FROM events')).getRows()[0][0]);
    } finally {
      c.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** A cached seed that is complete and of this generator, or null. */
async function cachedSeed(file: string, metaFile: string): Promise<SeedMeta | null> {
  if (!existsSync(file) || !existsSync(metaFile) || existsSync(`${file}.wal`)) return null;
  try {
    const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as SeedMeta;
    if (meta.version !== SEED_VERSION || meta.events !== opts.events || meta.spanMs !== SPAN_MS) return null;
    const n = await countEvents(file);
    if (n !== opts.events) {
      console.log(`  cached store ${file} has ${n.toLocaleString('en-US')} events, not ${opts.events.toLocaleString('en-US')}: seeding again`);
      return null;
    }
    return meta;
  } catch (err) {
    console.log(`  cached store ${file} is unusable (${(err as Error).message}): seeding again`);
    return null;
  }
}

async function seed(file: string): Promise<SeedMeta> {
  for (const f of [file, `${file}.wal`]) rmSync(f, { force: true });
  mkdirSync(dirname(file), { recursive: true });
  // The newest event is "now" (whole seconds, so the ranges' ISO bounds are exact).
  const endMs = Math.floor(Date.now() / 1000) * 1000;
  console.log(`seeding ${opts.events.toLocaleString('en-US')} events over 30 days into ${file} …`);
  const result = await seedStore({ path: file, events: opts.events, endMs, spanMs: SPAN_MS });
  const rate = opts.events / (result.insertMs / 1000);
  console.log(
    `  seeded in ${(result.totalMs / 1000).toFixed(1)} s (create ${(result.initMs / 1000).toFixed(1)} s, INSERT … SELECT ${(result.insertMs / 1000).toFixed(1)} s = ` +
      `${Math.round(rate).toLocaleString('en-US')} events/s, checkpoint ${(result.checkpointMs / 1000).toFixed(1)} s); ` +
      `${result.bytes === null ? '?' : (result.bytes / 2 ** 20).toFixed(0)} MiB`,
  );
  if (result.nullColumns.length) console.log(`  columns the generator leaves NULL (new in the catalog?): ${result.nullColumns.join(', ')}`);
  return { version: SEED_VERSION, events: opts.events, endMs, spanMs: SPAN_MS, seededAt: new Date().toISOString(), seed: result };
}

// ---------------------------------------------------------------------------
// The node
// ---------------------------------------------------------------------------

function nodeConfig(store: string, port: number, adminPort: number): string {
  const cfg = {
    node: { name: 'bench-dashboard', environment: 'production' },
    workers: 1,
    listeners: [{ name: 'bench', address: `127.0.0.1:${port}` }],
    admin: {
      address: `127.0.0.1:${adminPort}`,
      tokens: [{ id: 'bench', sha256: createHash('sha256').update(TOKEN).digest('hex'), role: 'admin' }],
      token_file: join(tmp, 'admin.token'),
      deployments_file: join(tmp, 'deployments.json'),
    },
    access: { blocks_file: join(tmp, 'blocks.json') },
    audit: { spool: { dir: join(tmp, 'spool') } },
    // retention 0: a cached seed can be days old, and deleting its first days would change the data under test.
    store: { path: store, retention_days: 0 },
    detect: { enabled: false },
    log: { level: 'warn' },
  };
  return `# Tollgate bench: dashboard queries over a seeded store\n${stringify(cfg)}`;
}

async function startNode(store: string): Promise<{ proc: Managed; admin: string; configText: string; startMs: number }> {
  const port = await freePort();
  const adminPort = await freePort();
  const configText = nodeConfig(store, port, adminPort);
  const file = join(tmp, 'tollgate.yaml');
  writeFileSync(file, configText);
  const logs = [join(tmp, 'node.stderr.log'), join(tmp, 'node.stdout.log')];
  const t0 = performance.now();
  const proc = startProcess('tollgate', process.execPath, [cli, 'start', '-c', file], { cwd: tmp, stdoutFile: logs[1], stderrFile: logs[0] });
  const admin = `http://127.0.0.1:${adminPort}`;
  const dead = () => (proc.exit ? `tollgate exited (${proc.exit.error ?? proc.exit.signal ?? `code ${proc.exit.code}`})\n${tail(logs)}` : null);
  try {
    await waitFor(`tollgate readiness (GET ${admin}/readyz)`, async () => (await httpGet(`${admin}/readyz`, 2000, { authorization: `Bearer ${TOKEN}` })).status === 200, 60_000, dead);
    // The store builds its summaries of finished hours and days at start (then as they finish): time the calls once it has.
    await waitFor(
      'the store summaries (readyz: store.rollupsBuiltAt)',
      async () => {
        const r = await httpGet(`${admin}/readyz`, 2000, { authorization: `Bearer ${TOKEN}` });
        const checks = (JSON.parse(r.body) as { checks: { name: string; detail: { rollupsBuiltAt?: string | null } | null }[] }).checks;
        return Boolean(checks.find((c) => c.name === 'store')?.detail?.rollupsBuiltAt);
      },
      300_000,
      dead,
    );
  } catch (err) {
    await stopProcess(proc);
    throw new Error(`${(err as Error).message}${(err as Error).message.includes('---') ? '' : `\n${tail(logs)}`}`);
  }
  return { proc, admin, configText, startMs: performance.now() - t0 };
}

// ---------------------------------------------------------------------------
// Timing the calls
// ---------------------------------------------------------------------------

/** Keep-alive, as a browser's connections to the admin API are. */
const agent = new http.Agent({ keepAlive: true });

interface Answer {
  ms: number;
  status: number;
  bytes: number;
  body: string;
}

/** GET with the token; the time is from sending the request until the last byte of the body. */
function timedGet(url: string): Promise<Answer> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const req = http.get(url, { agent, headers: { authorization: `Bearer ${TOKEN}`, accept: 'application/json' }, timeout: 120_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = performance.now() - t0;
        const buf = Buffer.concat(chunks);
        resolvePromise({ ms, status: res.statusCode ?? 0, bytes: buf.length, body: buf.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

function callUrl(admin: string, call: (typeof CALLS)[number], from: number, to: number): string {
  const q = new URLSearchParams({ ...call.params, from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  return `${admin}${call.path}?${q.toString()}`;
}

/** Insists on a 200 with the expected shape; returns a short description of the answer. */
function checkAnswer(call: (typeof CALLS)[number], a: Answer): { summary: string; events?: number } {
  if (a.status !== 200) throw new Error(`${call.id}: HTTP ${a.status}: ${a.body.slice(0, 300)}`);
  const body = JSON.parse(a.body) as Record<string, unknown>;
  if (call.id === 'timeseries') {
    const points = body.points as { total: number }[];
    const events = points.reduce((s, p) => s + p.total, 0);
    return { summary: `${points.length} points`, events };
  }
  if (call.id === 'deployments') return { summary: `${(body.deployments as unknown[]).length} markers` };
  const rows = body.rows as { count: number }[];
  if (!Array.isArray(rows)) throw new Error(`${call.id}: no rows in ${a.body.slice(0, 200)}`);
  return { summary: `${rows.length} rows` };
}

interface CallResult {
  call: string;
  url: string;
  answer: string;
  bytes: number;
  warmupMs: number;
  runsMs: number[];
  medianMs: number;
  maxMs: number;
}

interface RangeResult {
  range: string;
  from: string;
  to: string;
  /** Non-admin events in the range, from the timeseries answer. */
  events: number;
  calls: CallResult[];
  /** All seven calls at once: wall time until the last answered, and each call's own time. */
  concurrent: { wallMs: number; callsMs: Record<string, number> };
}

async function measureRange(admin: string, range: (typeof RANGES)[number], endMs: number): Promise<RangeResult> {
  const from = endMs - range.ms;
  const urls = CALLS.map((c) => callUrl(admin, c, from, endMs));
  const results: CallResult[] = [];
  let events = 0;
  // Warm-up: each call once (the first also loads the range's row groups into DuckDB's buffers).
  for (let k = 0; k < CALLS.length; k++) {
    const a = await timedGet(urls[k]);
    const check = checkAnswer(CALLS[k], a);
    if (check.events !== undefined) events = check.events;
    results.push({ call: CALLS[k].id, url: urls[k].slice(admin.length), answer: check.summary, bytes: a.bytes, warmupMs: a.ms, runsMs: [], medianMs: NaN, maxMs: NaN });
  }
  // Timed rounds, interleaved over the calls so a slow moment of the machine does not hit one call only.
  for (let r = 0; r < opts.repeat; r++) {
    for (let k = 0; k < CALLS.length; k++) {
      const a = await timedGet(urls[k]);
      checkAnswer(CALLS[k], a);
      results[k].runsMs.push(a.ms);
    }
  }
  for (const c of results) {
    c.medianMs = median(c.runsMs);
    c.maxMs = Math.max(...c.runsMs);
  }
  // A cold dashboard: all seven at once.
  await sleep(200);
  const t0 = performance.now();
  const all = await Promise.all(urls.map((u) => timedGet(u)));
  const wallMs = performance.now() - t0;
  all.forEach((a, k) => checkAnswer(CALLS[k], a));
  const callsMs = Object.fromEntries(all.map((a, k) => [CALLS[k].id, Math.round(a.ms * 100) / 100]));
  return { range: range.id, from: new Date(from).toISOString(), to: new Date(endMs).toISOString(), events, calls: results, concurrent: { wallMs, callsMs } };
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

function duckdbVersion(): string | null {
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'node_modules', '@duckdb', 'node-api', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? null;
  } catch {
    return null;
  }
}

async function main(): Promise<number> {
  if (!existsSync(cli)) {
    console.error(`${cli} not found: build first (npm run build)`);
    return 1;
  }
  const startedAt = new Date();
  const machine = { nproc: availableParallelism(), cpuModel: cpus()[0]?.model ?? null, memTotalMB: Math.round(totalmem() / 2 ** 20), node: process.version, duckdbNodeApi: duckdbVersion(), loadavgStart: loadavg() };
  console.log(
    `Tollgate dashboard bench: ${opts.events.toLocaleString('en-US')} events, ranges ${RANGES.map((r) => r.id).join(', ')}, ` +
      `${CALLS.length} calls x (1 warm-up + ${opts.repeat}) per range, then all ${CALLS.length} at once\n` +
      `  machine: ${machine.nproc} cores (${machine.cpuModel ?? 'unknown CPU'}), ${(machine.memTotalMB / 1024).toFixed(0)} GiB, node ${machine.node}, @duckdb/node-api ${machine.duckdbNodeApi ?? '?'}`,
  );
  const warnings: string[] = [];
  if (machine.loadavgStart[0] > machine.nproc * 0.5) {
    const w = `the machine is busy (load average ${machine.loadavgStart[0].toFixed(2)} on ${machine.nproc} cores): figures will be noisy`;
    warnings.push(w);
    console.log(`WARNING: ${w}`);
  }

  // 1. The store.
  const store = join(tmp, 'store.duckdb');
  let meta: SeedMeta;
  let cached = false;
  let copyMs: number | null = null;
  if (opts.cache) {
    const file = join(opts.cache, `events-${opts.events}.duckdb`);
    const metaFile = join(opts.cache, `events-${opts.events}.json`);
    const found = await cachedSeed(file, metaFile);
    if (found) {
      meta = found;
      cached = true;
      console.log(`reusing the seeded store ${file} (seeded ${found.seededAt} in ${(found.seed.totalMs / 1000).toFixed(1)} s)`);
    } else {
      rmSync(metaFile, { force: true });
      meta = await seed(file);
      writeFileSync(metaFile, JSON.stringify(meta, null, 2) + '\n');
    }
    // The node works on a copy: its own admin events and checkpoints never reach the cache.
    const t0 = performance.now();
    copyFileSync(file, store, constants.COPYFILE_FICLONE);
    copyMs = performance.now() - t0;
    console.log(`  copied to ${store} in ${(copyMs / 1000).toFixed(1)} s`);
  } else {
    meta = await seed(store);
  }
  const endMs = meta.endMs;
  const ageMin = (Date.now() - endMs) / 60_000;
  console.log(`  ranges end at the newest seeded event, ${new Date(endMs).toISOString()}${ageMin >= 1 ? ` (${ageMin.toFixed(0)} min ago)` : ''}`);
  writeFileSync(join(tmp, 'deployments.json'), JSON.stringify({ deployments: deploymentMarkers(endMs, SPAN_MS) }, null, 1) + '\n');

  // 2. The node.
  const node = await startNode(store);
  console.log(`tollgate started and ready in ${(node.startMs / 1000).toFixed(1)} s (admin ${node.admin})`);

  // 3. The calls.
  const ranges: RangeResult[] = [];
  try {
    for (const range of RANGES) {
      const r = await measureRange(node.admin, range, endMs);
      ranges.push(r);
      const slow = r.calls.reduce((a, b) => (b.medianMs > a.medianMs ? b : a));
      console.log(
        `  ${range.id.padEnd(4)} ${r.events.toLocaleString('en-US').padStart(11)} events: slowest median ${fmtMs(slow.medianMs)} (${slow.call}), ` +
          `all ${CALLS.length} at once ${fmtMs(r.concurrent.wallMs)}`,
      );
    }
  } finally {
    await stopProcess(node.proc);
  }
  agent.destroy();

  // 4. Report.
  const rows: string[][] = [];
  for (const r of ranges) {
    r.calls.forEach((c, k) => rows.push([k === 0 ? r.range : '', c.call, fmtMs(c.medianMs), fmtMs(c.maxMs), fmtMs(c.warmupMs), c.answer, `${(c.bytes / 1024).toFixed(1)} KiB`]));
    rows.push(['', `all ${CALLS.length} at once`, '', fmtMs(r.concurrent.wallMs), '', 'wall time until the last answer', '']);
  }
  console.log(`\nPer range and call: median and max of ${opts.repeat} runs (ms, request sent until the last byte); first = the warm-up call\n`);
  console.log(table(['range', 'call', 'median', 'max', 'first', 'answer', 'size'], rows));

  const matrix = CALLS.map((c) => [c.id, ...ranges.map((r) => fmtMs(r.calls.find((x) => x.call === c.id)!.medianMs))]);
  matrix.push([`all ${CALLS.length} at once`, ...ranges.map((r) => fmtMs(r.concurrent.wallMs))]);
  console.log(`\nMedians (ms) by range; events in range: ${ranges.map((r) => `${r.range} ${r.events.toLocaleString('en-US')}`).join(', ')}\n`);
  console.log(table(['call', ...ranges.map((r) => r.range)], matrix));

  let slowest = { range: '', call: '', medianMs: -Infinity };
  for (const r of ranges) for (const c of r.calls) if (c.medianMs > slowest.medianMs) slowest = { range: r.range, call: c.call, medianMs: c.medianMs };
  const meets = slowest.medianMs <= TARGET_MS;
  const above = ranges.flatMap((r) => r.calls.filter((c) => c.medianMs > TARGET_MS).map((c) => `${r.range} ${c.call} ${fmtMs(c.medianMs)}`));
  const slowestAll = ranges.reduce((a, b) => (b.concurrent.wallMs > a.concurrent.wallMs ? b : a));
  console.log(`\nHeadline`);
  console.log(`  slowest median: ${fmtMs(slowest.medianMs)} (${slowest.call}, ${slowest.range}) (target <= ${TARGET_MS} ms) [${meets ? 'meets target' : 'ABOVE TARGET'}]`);
  if (above.length) console.log(`  above ${TARGET_MS} ms: ${above.join('; ')}`);
  console.log(`  all ${CALLS.length} at once, slowest range: ${fmtMs(slowestAll.concurrent.wallMs)} (${slowestAll.range})`);
  const loadEnd = loadavg();
  if (loadEnd[0] > machine.nproc * 0.5 && !warnings.length) {
    const w = `the machine was busy during the run (load average ${loadEnd[0].toFixed(2)} on ${machine.nproc} cores): figures may be noisy`;
    warnings.push(w);
    console.log(`WARNING: ${w}`);
  }

  const result = {
    startedAt: startedAt.toISOString(),
    options: { events: opts.events, repeat: opts.repeat, cache: opts.cache },
    machine: { ...machine, loadavgEnd: loadEnd },
    target: { ms: TARGET_MS, what: 'median of each overview API call, per range' },
    seed: {
      cached,
      copyMs,
      endMs,
      end: new Date(endMs).toISOString(),
      spanDays: SPAN_MS / DAY_MS,
      seededAt: meta.seededAt,
      shape: SHAPE,
      ...meta.seed,
      bytes: statSync(store).size,
    },
    node: { startMs: node.startMs, configText: node.configText },
    ranges,
    headline: { slowestMedianMs: slowest.medianMs, slowestCall: slowest.call, slowestRange: slowest.range, meetsTarget: meets, aboveTarget: above, slowestConcurrentMs: slowestAll.concurrent.wallMs, slowestConcurrentRange: slowestAll.range },
    warnings,
  };
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  const out = join(root, 'bench', 'results', `dashboard-${startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z.json`);
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nResults: ${out}`);
  return 0;
}

main().then(
  (code) => {
    cleanup();
    process.exit(code);
  },
  async (err: unknown) => {
    console.error(`dashboard bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    await Promise.race([stopAll(2000), sleep(8000)]);
    cleanup();
    process.exit(1);
  },
);
