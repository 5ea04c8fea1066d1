/**
 * `npm run bench`: Tollgate against direct, NGINX and HAProxy on this machine,
 * with the reference set-up of docs/testing.md. See bench/README.md.
 *
 * One NGINX backend runs for the whole benchmark. Each configuration under test
 * is started fresh for each round, loaded with wrk at each connection count (a
 * warm-up run discarded, then the measured run) and stopped again, so that no
 * idle server — e.g. a store writer still catching up — disturbs the next one.
 * Rounds go round-robin over the configurations; medians over rounds are
 * reported.
 */
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { freePort, sleep } from './lib/net.js';
import { BODY, CONFIG_IDS, PEERS, findBinary, startBackend, setProbeHeaders, BENCH_API_KEY, BENCH_JWT_SECRET, BENCH_JWT_ISSUER, type Binaries, type ConfigId, type PeerContext, type PeerDef, type Running } from './lib/peers.js';
import { SignJWT } from 'jose';
import {
  clockTicksPerSecond,
  killAllSync,
  liveProcesses,
  machineTicks,
  refuseNewProcesses,
  scanProcs,
  selfChildTicks,
  stopAll,
  treeTicks,
  descendants,
  type MachineTicks,
} from './lib/procs.js';
import { fmtInt, fmtMs, fmtNum, fmtRatio, median, table } from './lib/stats.js';
import { runWrk, wrkArgs, type WrkResult } from './lib/wrk.js';

// ---------------------------------------------------------------------------
// The load: same for every configuration.
// ---------------------------------------------------------------------------

const PATH = '/api/v1/items?id=42&page=3';
/**
 * A browser-like request carrying both an API key and a signed JWT, so every
 * configuration gets the same bytes; only tollgate-apikey / tollgate-jwt check them.
 */
const BENCH_JWT = await new SignJWT({ groups: ['bench'], email: 'bench@bench.invalid' })
  .setProtectedHeader({ alg: 'HS256' })
  .setSubject('bench-user')
  .setIssuer(BENCH_JWT_ISSUER)
  .setIssuedAt()
  .setExpirationTime('24h')
  .sign(new TextEncoder().encode(BENCH_JWT_SECRET));
const HEADERS = [
  'Accept: application/json, text/plain, */*',
  'Accept-Encoding: gzip, deflate, br',
  'Accept-Language: en-US,en;q=0.9,de;q=0.8',
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Cookie: session_id=6f1c2a9e8b7d4c3fa2e1b0c9d8e7f6a5; theme=dark; locale=en-US',
  `Authorization: Bearer ${BENCH_JWT}`,
  `X-Api-Key: ${BENCH_API_KEY}`,
];
setProbeHeaders(Object.fromEntries(HEADERS.map((h) => [h.slice(0, h.indexOf(':')).toLowerCase(), h.slice(h.indexOf(':') + 1).trim()])));

/** A server tree counts as idle when it used at most this many ticks in QUIET_WINDOW_MS. */
const QUIET_WINDOW_MS = 500;
const QUIET_TICKS = 1;
const SETTLE_MAX_MS = 10_000;
const DRAIN_MAX_MS = 15_000;
/** Runs during which processes outside the benchmark used more of the machine than this are flagged as noisy. */
const NOISY_PCT = 15;

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

interface Options {
  durationS: number;
  warmupS: number;
  repeat: number;
  connections: number[];
  threads: number;
  only: ConfigId[];
  tollgateWorkers: 'auto' | number;
  tollgateCli: string | null;
  keepTmp: boolean;
}

const USAGE = `Usage: npm run bench -- [options]      (or: node dist/bench/run.js [options])

  --duration S           seconds of each measured wrk run (default 10)
  --warmup S             seconds of the discarded warm-up before each measured run (default 2; 0 = none)
  --repeat N             rounds over all configurations; medians are reported (default 3)
  --connections LIST     wrk connection counts (default 64,8)
  --threads N            wrk threads (default 2)
  --only LIST            configurations to run (default all): ${CONFIG_IDS.join(',')}
  --tollgate-workers N   Tollgate proxy processes: a number or "auto" (default auto)
  --tollgate-cli FILE    the Tollgate CLI to start (default dist/src/cli/index.js of this checkout)
  --keep-tmp             keep the temporary directory (generated configs, server logs)
  -h, --help             this text

Needs nginx, haproxy, caddy and wrk: bash scripts/install-bench-deps.sh`;

class UsageError extends Error {}

function seconds(v: string, what: string, min: number): number {
  const m = /^(\d+)s?$/.exec(v.trim());
  if (!m || Number(m[1]) < min) throw new UsageError(`${what} must be a whole number of seconds >= ${min}, got ${JSON.stringify(v)}`);
  return Number(m[1]);
}

function positiveInt(v: string, what: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new UsageError(`${what} must be a positive whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

export function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      repeat: { type: 'string', default: '3' },
      connections: { type: 'string', default: '64,8' },
      threads: { type: 'string', default: '2' },
      only: { type: 'string', default: CONFIG_IDS.join(',') },
      'tollgate-workers': { type: 'string', default: 'auto' },
      'tollgate-cli': { type: 'string' },
      'keep-tmp': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  const connections = values.connections.split(',').map((c) => positiveInt(c, '--connections'));
  const threads = positiveInt(values.threads, '--threads');
  for (const c of connections) if (c < threads) throw new UsageError(`--connections ${c} is less than --threads ${threads} (wrk needs one connection per thread)`);
  const only: ConfigId[] = [];
  for (const raw of values.only.split(',')) {
    const id = raw.trim();
    if (id === 'all') only.push(...CONFIG_IDS);
    else if ((CONFIG_IDS as readonly string[]).includes(id)) only.push(id as ConfigId);
    else throw new UsageError(`--only: unknown configuration ${JSON.stringify(id)}; known: ${CONFIG_IDS.join(', ')}`);
  }
  const tw = values['tollgate-workers'].trim();
  return {
    durationS: seconds(values.duration, '--duration', 1),
    warmupS: seconds(values.warmup, '--warmup', 0),
    repeat: positiveInt(values.repeat, '--repeat'),
    connections: [...new Set(connections)],
    threads,
    only: [...new Set(only)],
    tollgateWorkers: tw === 'auto' ? 'auto' : positiveInt(tw, '--tollgate-workers'),
    tollgateCli: values['tollgate-cli'] ? resolve(values['tollgate-cli']) : null,
    keepTmp: values['keep-tmp'],
  };
}

// ---------------------------------------------------------------------------
// Shutdown: every exit path stops every child.
// ---------------------------------------------------------------------------

const state = { tmp: null as string | null, keepTmp: false, shuttingDown: false };

function removeTmp(): void {
  if (state.tmp && !state.keepTmp) rmSync(state.tmp, { recursive: true, force: true });
  state.tmp = null;
}

async function shutdown(code: number, why?: string): Promise<never> {
  if (state.shuttingDown) {
    // Second signal: no more waiting.
    killAllSync();
    process.exit(code);
  }
  state.shuttingDown = true;
  refuseNewProcesses();
  if (why) console.error(why);
  await Promise.race([stopAll(2000), sleep(8000)]);
  killAllSync();
  if (state.tmp && state.keepTmp) console.error(`kept ${state.tmp}`);
  removeTmp();
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(130, '\ninterrupted: stopping all servers'));
process.on('SIGTERM', () => void shutdown(143, '\nterminated: stopping all servers'));
process.on('SIGHUP', () => void shutdown(129));
process.on('exit', () => {
  killAllSync();
  removeTmp();
});

// ---------------------------------------------------------------------------
// Machine facts
// ---------------------------------------------------------------------------

function versionOf(bin: string | null, args: string[]): string | null {
  if (!bin) return null;
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 5000 });
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim();
  return text.split('\n').find((l) => /version|wrk /i.test(l))?.trim() ?? (text.split('\n')[0] || null);
}

function machineInfo(root: string, bins: Binaries) {
  const cpuModel = cpus()[0]?.model ?? null;
  const git = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', timeout: 5000 });
  let version: string | null = null;
  try {
    version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? null;
  } catch {
    /* ignore */
  }
  return {
    nproc: availableParallelism(),
    cpus: cpus().length,
    cpuModel,
    memTotalMB: Math.round(totalmem() / 2 ** 20),
    kernel: release(),
    node: process.version,
    nginx: versionOf(bins.nginx, ['-v']),
    haproxy: versionOf(bins.haproxy, ['-v']),
    caddy: versionOf(bins.caddy, ['version']),
    wrk: versionOf(bins.wrk, ['-v']),
    clockTicksPerSecond: clockTicksPerSecond(),
    tollgate: { version, commit: git.status === 0 ? git.stdout.trim() : null },
    loadavgStart: loadavg(),
    loadavgEnd: null as number[] | null,
  };
}

// ---------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------

interface CpuSample {
  /** Live processes of the server trees (to notice a worker that died during the run). */
  serverPids: number[];
  server: number;
  backend: number;
  machine: MachineTicks;
  selfChildren: number;
  harnessUs: number;
  at: number;
}

function sampleCpu(serverRoots: number[], backendRoots: number[]): CpuSample {
  const snap = scanProcs();
  const u = process.cpuUsage();
  return {
    serverPids: descendants(serverRoots, snap),
    server: treeTicks(serverRoots, snap),
    backend: treeTicks(backendRoots, snap),
    machine: machineTicks(),
    selfChildren: selfChildTicks(),
    harnessUs: u.user + u.system,
    at: performance.now(),
  };
}

/** Waits until the trees are idle (bounded); returns how long that took and the CPU used meanwhile. */
async function waitQuiet(roots: number[], maxMs: number): Promise<{ ms: number; ticks: number; timedOut: boolean }> {
  if (!roots.length) return { ms: 0, ticks: 0, timedOut: false };
  const start = performance.now();
  const t0 = treeTicks(roots);
  let prev = t0;
  for (;;) {
    await sleep(QUIET_WINDOW_MS);
    const now = treeTicks(roots);
    const ms = performance.now() - start;
    if (now - prev <= QUIET_TICKS) return { ms, ticks: now - t0, timedOut: false };
    if (ms >= maxMs) return { ms, ticks: now - t0, timedOut: true };
    prev = now;
  }
}

interface RunRecord {
  config: ConfigId;
  connections: number;
  round: number;
  startedAt: string;
  wrk: WrkResult;
  /** Processes of the server's tree that were gone at the end of the run (a crashed worker, say). */
  exitedDuringRun: number[];
  cpu: {
    elapsedS: number;
    /** The configuration's process trees (for `direct`: the backend). */
    serverTicks: number;
    backendTicks: number;
    wrkTicks: number;
    harnessTicks: number;
    machineBusyTicks: number;
    machineTotalTicks: number;
    serverUsPerReq: number;
    backendUsPerReq: number;
    /** CPU the server used after wrk stopped until it went idle (deferred work such as loading the store). */
    drainTicks: number;
    drainMs: number;
    drainTimedOut: boolean;
    drainUsPerReq: number;
    machineBusyPct: number;
    /** Share of the whole machine used by processes outside this benchmark. */
    otherPct: number;
  };
}

const pidsOf = (r: Running): number[] => r.procs.map((p) => p.pid);

async function measure(peer: PeerDef, running: Running, backend: Running, opts: Options, bins: Binaries, connections: number, round: number): Promise<RunRecord> {
  const url = running.url + PATH;
  const base = { url, threads: opts.threads, connections, headers: HEADERS };
  const isDirect = running.procs.length === 0;
  const serverRoots = isDirect ? pidsOf(backend) : pidsOf(running);
  const backendRoots = pidsOf(backend);
  const check = () => {
    const why = running.dead() ?? backend.dead();
    if (why) throw new Error(`server died under load: ${why}`);
  };

  if (opts.warmupS > 0) {
    await runWrk({ ...base, durationS: opts.warmupS }, bins.wrk!);
    check();
  }
  const startedAt = new Date().toISOString();
  const before = sampleCpu(serverRoots, backendRoots);
  const run = await runWrk({ ...base, durationS: opts.durationS }, bins.wrk!);
  const after = sampleCpu(serverRoots, backendRoots);
  check();
  const drain = await waitQuiet(isDirect ? [] : serverRoots, DRAIN_MAX_MS);

  const hz = clockTicksPerSecond();
  const reqs = Math.max(run.result.requests, 1);
  const usPerReq = (ticks: number) => (ticks / hz / reqs) * 1e6;
  const serverTicks = after.server - before.server;
  const backendTicks = after.backend - before.backend;
  const wrkTicks = after.selfChildren - before.selfChildren;
  const harnessTicks = ((after.harnessUs - before.harnessUs) / 1e6) * hz;
  const busy = after.machine.busy - before.machine.busy;
  const total = Math.max(after.machine.total - before.machine.total, 1);
  const ours = serverTicks + (isDirect ? 0 : backendTicks) + wrkTicks + harnessTicks;
  return {
    config: peer.id,
    connections,
    round,
    startedAt,
    wrk: run.result,
    exitedDuringRun: before.serverPids.filter((pid) => !after.serverPids.includes(pid)),
    cpu: {
      elapsedS: (after.at - before.at) / 1000,
      serverTicks,
      backendTicks,
      wrkTicks,
      harnessTicks: Math.round(harnessTicks),
      machineBusyTicks: busy,
      machineTotalTicks: total,
      serverUsPerReq: usPerReq(serverTicks),
      backendUsPerReq: usPerReq(backendTicks),
      drainTicks: drain.ticks,
      drainMs: Math.round(drain.ms),
      drainTimedOut: drain.timedOut,
      drainUsPerReq: usPerReq(drain.ticks),
      machineBusyPct: (busy / total) * 100,
      otherPct: Math.max(0, ((busy - ours) / total) * 100),
    },
  };
}

// ---------------------------------------------------------------------------
// Summaries
// ---------------------------------------------------------------------------

interface Summary {
  config: ConfigId;
  connections: number;
  runs: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerReq: number;
  drainUsPerReq: number;
  backendUsPerReq: number;
  errors: number;
  ratioToNginxLog: number;
  ratioToDirect: number;
  rpsRuns: number[];
}

function summarize(runs: RunRecord[], order: ConfigId[], connections: number[]): Summary[] {
  const out: Summary[] = [];
  for (const config of order) {
    for (const c of connections) {
      const rs = runs.filter((r) => r.config === config && r.connections === c);
      if (!rs.length) continue;
      out.push({
        config,
        connections: c,
        runs: rs.length,
        rps: median(rs.map((r) => r.wrk.rps)),
        p50Ms: median(rs.map((r) => r.wrk.latencyMs.p50)),
        p99Ms: median(rs.map((r) => r.wrk.latencyMs.p99)),
        cpuUsPerReq: median(rs.map((r) => r.cpu.serverUsPerReq)),
        drainUsPerReq: median(rs.map((r) => r.cpu.drainUsPerReq)),
        backendUsPerReq: median(rs.map((r) => r.cpu.backendUsPerReq)),
        errors: rs.reduce((a, r) => a + r.wrk.errors, 0),
        ratioToNginxLog: NaN,
        ratioToDirect: NaN,
        rpsRuns: rs.map((r) => Math.round(r.wrk.rps)),
      });
    }
  }
  for (const s of out) {
    const ref = (id: ConfigId) => out.find((o) => o.config === id && o.connections === s.connections);
    s.ratioToNginxLog = s.rps / (ref('nginx-log')?.rps ?? NaN);
    s.ratioToDirect = s.rps / (ref('direct')?.rps ?? NaN);
  }
  return out;
}

interface Headlines {
  highConnections: number;
  lowConnections: number;
  tollgateVsNginxLog: number | null;
  /** Against NGINX writing its log line per request (Debian's default), and the platform ceiling (node-bare) against the reference. */
  tollgateVsNginxLogUnbuffered: number | null;
  nodeBareVsNginxLog: number | null;
  /** The brief's second pair of peers (target ≥ 1.5× each). */
  tollgateVsCaddyLog: number | null;
  tollgateVsNodeHttpProxy: number | null;
  auditOnVsOff: number | null;
  auditCpuIncreasePct: number | null;
  p99AddedOverDirectMs: Partial<Record<ConfigId, number>>;
  /**
   * Whether direct's p99 can serve as the baseline: false when it is above
   * NGINX's (wrk at full speed against the bare backend saturates the cores,
   * and the tail it measures is its own scheduling, not the backend's).
   */
  p99DirectValid: boolean | null;
  /** Tollgate's p99 over NGINX's (access log) at the low connection count: the tail it adds against a proxy that logs. */
  p99OverNginxLogMs: number | null;
  /** Throughput with an API-key / JWT policy on the route over the same route without one (both auditing). */
  apiKeyVsOpen: number | null;
  jwtVsOpen: number | null;
  /** Throughput with the built-in detection pack over the same proxy with detection off. */
  rulesVsNoRules: number | null;
}

function headlines(summary: Summary[], connections: number[]): Headlines {
  const hi = connections.includes(64) ? 64 : Math.max(...connections);
  const lo = connections.includes(8) ? 8 : Math.min(...connections);
  const get = (id: ConfigId, c: number) => summary.find((s) => s.config === id && s.connections === c);
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? a / b : null);
  const on = get('tollgate', hi);
  const off = get('tollgate-noaudit', hi);
  const direct = get('direct', lo);
  const nginxLo = get('nginx-log', lo);
  const tollgateLo = get('tollgate', lo);
  const p99: Partial<Record<ConfigId, number>> = {};
  if (direct) for (const s of summary) if (s.connections === lo && s.config !== 'direct') p99[s.config] = s.p99Ms - direct.p99Ms;
  const cpuRatio = ratio(on?.cpuUsPerReq, off?.cpuUsPerReq);
  return {
    highConnections: hi,
    lowConnections: lo,
    tollgateVsNginxLog: ratio(on?.rps, get('nginx-log', hi)?.rps),
    tollgateVsNginxLogUnbuffered: ratio(on?.rps, get('nginx-log-unbuffered', hi)?.rps),
    nodeBareVsNginxLog: ratio(get('node-bare', hi)?.rps, get('nginx-log', hi)?.rps),
    tollgateVsCaddyLog: ratio(on?.rps, get('caddy-log', hi)?.rps),
    tollgateVsNodeHttpProxy: ratio(on?.rps, get('node-http-proxy', hi)?.rps),
    auditOnVsOff: ratio(on?.rps, off?.rps),
    auditCpuIncreasePct: cpuRatio === null ? null : (cpuRatio - 1) * 100,
    p99AddedOverDirectMs: p99,
    p99DirectValid: direct && nginxLo ? direct.p99Ms <= nginxLo.p99Ms : null,
    p99OverNginxLogMs: tollgateLo && nginxLo ? tollgateLo.p99Ms - nginxLo.p99Ms : null,
    apiKeyVsOpen: ratio(get('tollgate-apikey', hi)?.rps, on?.rps),
    jwtVsOpen: ratio(get('tollgate-jwt', hi)?.rps, on?.rps),
    rulesVsNoRules: ratio(on?.rps, get('tollgate-norules', hi)?.rps),
  };
}

function printReport(summary: Summary[], h: Headlines, failures: { id: ConfigId; error: string }[], skipped: { id: ConfigId }[]): void {
  const failed = new Set<ConfigId>(failures.map((f) => f.id));
  const absent = new Set<ConfigId>(skipped.map((k) => k.id));
  const na = (ids: ConfigId[]) => {
    const why = ids.map((id) => (failed.has(id) ? `${id} failed` : absent.has(id) ? `${id} skipped` : summary.some((x) => x.config === id) ? null : `${id} not run`)).filter(Boolean);
    return `n/a (${why.length ? why.join(', ') : 'missing data'})`;
  };
  const rows = summary.map((s) => [
    s.errors > 0 ? `${s.config} (!)` : s.config,
    `c${s.connections}`,
    fmtInt(s.rps),
    fmtMs(s.p50Ms),
    fmtMs(s.p99Ms),
    fmtNum(s.cpuUsPerReq),
    fmtNum(s.drainUsPerReq),
    fmtRatio(s.ratioToNginxLog),
    fmtRatio(s.ratioToDirect),
    fmtInt(s.errors),
  ]);
  console.log(`\nMedians over rounds (runs per row in the JSON):\n`);
  console.log(table(['config', 'conns', 'req/s', 'p50', 'p99', 'cpu µs/req', 'drain µs/req', 'x nginx-log', 'x direct', 'errors'], rows));
  console.log('\ncpu µs/req: the configuration\'s own processes (for direct: the backend); drain: CPU after the run until idle.');
  const flagged = summary.filter((s) => s.errors > 0);
  if (flagged.length) console.log(`(!) = wrk reported socket errors or non-2xx/3xx answers: ${flagged.map((s) => `${s.config} c${s.connections}`).join(', ')}`);
  for (const f of failures) console.log(`FAILED ${f.id}: ${f.error.split('\n')[0]}`);

  const hi = h.highConnections;
  const lo = h.lowConnections;
  const lines: [string, string][] = [];
  const r1 = h.tollgateVsNginxLog;
  lines.push([
    `Tollgate (audit on) / NGINX (access log), c${hi}`,
    r1 === null ? na(['tollgate', 'nginx-log']) : `${fmtRatio(r1)}   target >= 0.50x, aim 0.75x  [${r1 >= 0.5 ? 'meets target' : 'BELOW TARGET'}]`,
  ]);
  const ru = h.tollgateVsNginxLogUnbuffered;
  lines.push([`Tollgate (audit on) / NGINX (log unbuffered), c${hi}`, ru === null ? na(['tollgate', 'nginx-log-unbuffered']) : `${fmtRatio(ru)}   (information: NGINX writing a log line per request)`]);
  const rb = h.nodeBareVsNginxLog;
  lines.push([`node-bare / NGINX (access log), c${hi}`, rb === null ? na(['node-bare', 'nginx-log']) : `${fmtRatio(rb)}   (information: the ceiling of a Node.js proxy on this machine)`]);
  for (const [id, label, r] of [
    ['caddy-log', 'Caddy (access log)', h.tollgateVsCaddyLog],
    ['node-http-proxy', 'node-http-proxy', h.tollgateVsNodeHttpProxy],
  ] as const) {
    lines.push([`Tollgate (audit on) / ${label}, c${hi}`, r === null ? na(['tollgate', id]) : `${fmtRatio(r)}   target >= 1.50x  [${r >= 1.5 ? 'meets target' : 'BELOW TARGET'}]`]);
  }
  const r2 = h.auditOnVsOff;
  const cpu = h.auditCpuIncreasePct === null ? '' : `; CPU per request ${h.auditCpuIncreasePct >= 0 ? '+' : ''}${fmtNum(h.auditCpuIncreasePct)} %`;
  lines.push([
    `Tollgate audit on / audit off, c${hi}`,
    r2 === null ? na(['tollgate', 'tollgate-noaudit']) : `${fmtRatio(r2)}   throughput cost ${fmtNum((1 - r2) * 100)} % (target <= 5 %)${cpu}  [${1 - r2 <= 0.05 ? 'meets target' : 'ABOVE TARGET'}]`,
  ]);
  const p99 = Object.entries(h.p99AddedOverDirectMs).map(([id, ms]) => `${id} ${ms >= 0 ? '+' : ''}${fmtNum(ms, 2)} ms`);
  const tg = h.p99AddedOverDirectMs.tollgate;
  const p99Verdict =
    h.p99DirectValid === false ? "NOT MEASURABLE: direct's own p99 is above NGINX's, so wrk, not the backend, sets the baseline" : tg !== undefined && tg <= 1 ? 'meets target' : 'ABOVE TARGET';
  lines.push([
    `p99 added over direct, c${lo}`,
    p99.length ? `${p99.join(', ')}${tg === undefined ? '' : `  (target for tollgate <= 1 ms) [${p99Verdict}]`}` : na(['direct', 'tollgate']),
  ]);
  const overNginx = h.p99OverNginxLogMs;
  if (overNginx !== null) lines.push([`tollgate p99 over NGINX (access log) p99, c${lo}`, `${overNginx >= 0 ? '+' : ''}${fmtNum(overNginx, 2)} ms   (information: the tail Tollgate adds against a proxy that logs)`]);
  for (const [id, r] of [['tollgate-apikey', h.apiKeyVsOpen], ['tollgate-jwt', h.jwtVsOpen]] as const) {
    lines.push([
      `${id} / tollgate (no policy), c${hi}`,
      r === null ? na([id, 'tollgate']) : `${fmtRatio(r)}   target >= 0.85x  [${r >= 0.85 ? 'meets target' : 'BELOW TARGET'}]`,
    ]);
  }
  const rr = h.rulesVsNoRules;
  lines.push([
    `tollgate (built-in rules) / tollgate-norules, c${hi}`,
    rr === null ? na(['tollgate', 'tollgate-norules']) : `${fmtRatio(rr)}   target >= 0.90x  [${rr >= 0.9 ? 'meets target' : 'BELOW TARGET'}]`,
  ]);
  const w = Math.max(...lines.map(([k]) => k.length));
  console.log('\nHeadlines (medians)');
  for (const [k, v] of lines) console.log(`  ${`${k}:`.padEnd(w + 1)}  ${v}`);
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url)); // dist/bench
  const root = resolve(here, '..', '..');
  return existsSync(join(root, 'package.json')) ? root : process.cwd();
}

const rotate = <T>(a: readonly T[], n: number): T[] => a.map((_, i) => a[(i + n) % a.length]);

async function main(): Promise<number> {
  let parsed: Options | 'help';
  try {
    parsed = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    console.log(USAGE);
    return 0;
  }
  const opts = parsed;
  state.keepTmp = opts.keepTmp;
  const root = repoRoot();
  const cli = opts.tollgateCli ?? join(root, 'dist', 'src', 'cli', 'index.js');
  const bins: Binaries = { nginx: findBinary('nginx'), haproxy: findBinary('haproxy'), caddy: findBinary('caddy'), wrk: findBinary('wrk'), tollgateCli: existsSync(cli) ? cli : null };
  if (!bins.wrk || !bins.nginx) {
    const missing = [!bins.nginx && 'nginx (the backend)', !bins.wrk && 'wrk (the load generator)'].filter(Boolean).join(' and ');
    console.error(`cannot benchmark: ${missing} not installed; install with: bash scripts/install-bench-deps.sh`);
    return 1;
  }

  const skipped: { id: ConfigId; reason: string }[] = [];
  const configs: PeerDef[] = [];
  for (const p of PEERS) {
    if (!opts.only.includes(p.id)) continue;
    const why = p.unavailable(bins);
    if (why) {
      skipped.push({ id: p.id, reason: why });
      console.log(`skipping ${p.id}: ${why}`);
    } else configs.push(p);
  }
  if (!configs.length) {
    console.error('nothing to run');
    return 1;
  }

  const machine = machineInfo(root, bins);
  const perRun = opts.warmupS + opts.durationS + 2;
  const estimateS = opts.repeat * configs.length * (opts.connections.length * perRun + 3);
  console.log(
    `Tollgate bench: ${configs.map((c) => c.id).join(', ')}\n` +
      `  ${opts.repeat} round(s) x connections ${opts.connections.join(',')} x (${opts.warmupS} s warm-up + ${opts.durationS} s), about ${Math.ceil(estimateS / 60)} min\n` +
      `  wrk ${wrkArgs({ url: `http://127.0.0.1:<port>${PATH}`, threads: opts.threads, connections: opts.connections[0], durationS: opts.durationS, headers: [] }).join(' ')} + ${HEADERS.length} headers\n` +
      `  machine: ${machine.nproc} cores (${machine.cpuModel ?? 'unknown CPU'}), node ${machine.node}, ${machine.nginx ?? ''}, ${machine.haproxy ?? 'no haproxy'}, ${machine.caddy ? `caddy ${machine.caddy}` : 'no caddy'}`,
  );
  const load1 = machine.loadavgStart[0];
  const warnings: string[] = [];
  if (load1 > machine.nproc * 0.5) {
    const w = `the machine is busy (load average ${load1.toFixed(2)} on ${machine.nproc} cores): figures will be noisy`;
    warnings.push(w);
    console.log(`WARNING: ${w}`);
  }

  // Bounded in time whatever happens.
  const deadlineS = estimateS * 2 + 180;
  setTimeout(() => void shutdown(1, `\ntime limit of ${deadlineS} s reached: stopping all servers`), deadlineS * 1000).unref();

  const tmp = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  chmodSync(tmp, 0o755);
  state.tmp = tmp;
  const startedAt = new Date();

  const backendPort = await freePort();
  const ctx: PeerContext = { tmp, bins, backendPort, path: PATH, tollgateWorkers: opts.tollgateWorkers };
  let backend: Running;
  try {
    backend = await startBackend(ctx, backendPort);
  } catch (err) {
    console.error(`the NGINX backend did not start:\n${(err as Error).message}`);
    return 1;
  }

  const runs: RunRecord[] = [];
  const failures: { id: ConfigId; error: string }[] = [];
  const configTexts: Partial<Record<ConfigId | 'backend', string>> = { backend: backend.configText };
  const active = new Set(configs.map((c) => c.id));

  for (let round = 1; round <= opts.repeat; round++) {
    for (const peer of rotate(configs, round - 1)) {
      if (!active.has(peer.id) || state.shuttingDown) continue;
      let running: Running | null = null;
      try {
        running = await peer.start(ctx);
        configTexts[peer.id] ??= running.configText;
        const settle = await waitQuiet(pidsOf(running), SETTLE_MAX_MS);
        if (settle.timedOut) console.log(`  note: ${peer.id} was still busy ${SETTLE_MAX_MS / 1000} s after start`);
        for (const c of opts.connections) {
          const r = await measure(peer, running, backend, opts, bins, c, round);
          runs.push(r);
          const noisy = r.cpu.otherPct > NOISY_PCT;
          console.log(
            `  round ${round}/${opts.repeat}  ${peer.id.padEnd(16)} c${String(c).padEnd(4)} ${fmtInt(r.wrk.rps).padStart(8)} req/s  ` +
              `p50 ${fmtMs(r.wrk.latencyMs.p50).padStart(7)}  p99 ${fmtMs(r.wrk.latencyMs.p99).padStart(7)}  cpu ${fmtNum(r.cpu.serverUsPerReq).padStart(5)} µs/req` +
              (r.cpu.drainTicks > QUIET_TICKS ? `  drain ${fmtNum(r.cpu.drainUsPerReq)} µs/req in ${(r.cpu.drainMs / 1000).toFixed(1)} s` : '') +
              (r.wrk.errors ? `  ERRORS: ${r.wrk.non2xx3xx} non-2xx/3xx, socket ${JSON.stringify(r.wrk.socketErrors)}` : '') +
              (r.exitedDuringRun.length ? `  WARNING: server processes exited during the run: ${r.exitedDuringRun.join(', ')}` : '') +
              (noisy ? `  (busy machine: ${r.cpu.otherPct.toFixed(0)} % used by others)` : ''),
          );
        }
      } catch (err) {
        if (state.shuttingDown) break;
        const error = (err as Error).message;
        failures.push({ id: peer.id, error });
        active.delete(peer.id);
        console.log(`  round ${round}/${opts.repeat}  ${peer.id}: FAILED, not retried:\n${error.replace(/^/gm, '    ')}`);
        const bdead = backend.dead();
        if (bdead) {
          console.error(`the backend died: ${bdead}`);
          return 1;
        }
      } finally {
        if (running) await running.stop();
      }
    }
  }
  await backend.stop();
  if (state.shuttingDown) return 1;

  machine.loadavgEnd = loadavg();
  const order = configs.map((c) => c.id);
  const summary = summarize(runs, order, opts.connections);
  const h = headlines(summary, opts.connections);
  printReport(summary, h, failures, skipped);
  const noisyRuns = runs.filter((r) => r.cpu.otherPct > NOISY_PCT);
  if (noisyRuns.length) {
    warnings.push(
      `${noisyRuns.length} of ${runs.length} runs shared the machine: processes outside the benchmark (other users, kernel threads) used more than ${NOISY_PCT} % of it ` +
        `(up to ${Math.max(...noisyRuns.map((r) => r.cpu.otherPct)).toFixed(0)} %); compare only within this run, or rerun on a quiet machine`,
    );
  }
  if (warnings.length) console.log(`\nWarnings:\n${[...new Set(warnings)].map((w) => `  ${w}`).join('\n')}`);

  const fileName = `${startedAt.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-')}.json`;
  const report = {
    schema: 'tollgate-bench/1',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options: opts,
    machine,
    load: {
      path: PATH,
      headers: HEADERS,
      backendBodyBytes: Buffer.byteLength(BODY),
      wrk: `wrk -t${opts.threads} -c<connections> -d${opts.durationS}s --latency`,
      warmupS: opts.warmupS,
    },
    configs: [
      { id: 'backend', label: 'NGINX backend', description: 'worker_processes 2, access_log off, return 200 with a 100-byte body', configText: configTexts.backend },
      ...configs.map((c) => ({ id: c.id, label: c.label, description: c.description, configText: configTexts[c.id] ?? null })),
    ],
    skipped,
    failures,
    warnings: [...new Set(warnings)],
    summary,
    headlines: h,
    runs,
  };
  const json = `${JSON.stringify(report, null, 2)}\n`;
  let file = join(root, 'bench', 'results', fileName);
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, json);
  } catch (err) {
    const fallback = join(tmpdir(), `tollgate-bench-${fileName}`);
    console.log(`\ncannot write ${file} (${(err as Error).message}); writing ${fallback} instead`);
    writeFileSync(fallback, json);
    file = fallback;
  }
  const rel = relative(process.cwd(), file);
  console.log(`\nFull results: ${rel && !rel.startsWith('..') ? rel : file}`);

  const left = liveProcesses();
  if (left.length) console.error(`warning: still running after the benchmark: ${left.map((m) => `${m.name} (${m.pid})`).join(', ')}`);
  return failures.length || summary.some((s) => s.errors > 0) ? 1 : 0;
}

main().then(
  async (code) => {
    if (state.shuttingDown) return; // shutdown() exits
    await stopAll(2000);
    killAllSync();
    if (state.tmp && state.keepTmp) console.log(`kept ${state.tmp}`);
    removeTmp();
    process.exit(code);
  },
  (err: unknown) => {
    if (state.shuttingDown) return;
    void shutdown(1, `bench failed: ${(err as Error)?.stack ?? String(err)}`);
  },
);
