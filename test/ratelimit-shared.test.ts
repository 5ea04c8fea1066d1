/**
 * Shared rate limits: two Tollgate processes (separate child processes, each
 * with its own temp dir, ports, spool and store, the same route config) share
 * a route-wide limit through a real redis-server. Driven concurrently, the
 * combined allowed rate stays within the one limit (not twice it), the
 * backend sees exactly the allowed requests, refusals carry Retry-After and
 * RateLimit-* headers, and each process records exactly one event per request
 * (decision "ratelimit", rule_id = the limit id, for every 429). When Redis
 * stops, each process falls back to enforcing the limit locally, reports Redis
 * "down" in /readyz and counts fallback decisions in /metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { rm, writeFile } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { stringify } from 'yaml';
import { Pool } from 'undici';
import { startBackend, baseConfig, merge, freePort, tempDir, spawnTollgate, waitFor, allEvents, sleep, adminFetch } from './helpers.js';
import { startRedis, type TestRedis } from './support/redis.js';

const RATE = 20;
const BURST = 5;
/** Requests the GCRA allows at once when rested: burst + 1. */
const AT_ONCE = BURST + 1;
const LOOPS = 8;
const LOAD_MS = 3000;
/** Bound on requests per loop (the pause below makes it ~300 in 3 s). */
const MAX_PER_LOOP = 400;
/**
 * Pause between two requests of a loop: still ~40 times the limit per process,
 * but leaves CPU for redis-server on a 2-core machine (a Redis answer slower
 * than the 200ms timeout would be decided by the local fallback and leak).
 */
const PAUSE_MS = 10;
const TOLERANCE = 3;

interface Proc {
  name: string;
  dir: string;
  proxy: string;
  admin: string;
  child: ChildProcess;
  stderr: string;
}

interface LoadResult {
  ok: number;
  limited: number;
  other: string[];
  /** Headers of one 429 response. */
  limitedHeaders: Record<string, string | string[] | undefined> | null;
}

interface RateLimitHealthView {
  worker: string;
  health: { mode: string; redis: 'up' | 'down' | null; lastError: string | null; since: string | null } | null;
}

async function readiness(admin: string): Promise<{ status: number; rateLimits: RateLimitHealthView[] | null }> {
  try {
    const r = await adminFetch(`${admin}/readyz`);
    const body = (await r.json()) as { checks: { name: string; ok: boolean; detail?: unknown }[] };
    const c = body.checks.find((x) => x.name === 'rate_limits');
    return { status: r.status, rateLimits: c ? (c.detail as RateLimitHealthView[]) : null };
  } catch {
    return { status: 0, rateLimits: null };
  }
}

/** Ready, with the rate limiter of every worker in Redis mode and Redis in the given state. */
async function redisState(admin: string, state: 'up' | 'down'): Promise<boolean> {
  const r = await readiness(admin);
  return r.status === 200 && !!r.rateLimits?.length && r.rateLimits.every((w) => w.health?.mode === 'redis' && w.health.redis === state);
}

async function metricValue(admin: string, name: string): Promise<number> {
  const text = await (await adminFetch(`${admin}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + '{') || line.startsWith(name + ' ')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** `loops` concurrent keep-alive loops against one proxy, for `ms` (and at most `maxPerLoop` requests each). */
async function drive(proxy: string, loops: number, ms: number, maxPerLoop: number, tag: string, pauseMs = PAUSE_MS): Promise<LoadResult> {
  const pool = new Pool(proxy, { connections: loops, pipelining: 1 });
  const out: LoadResult = { ok: 0, limited: 0, other: [], limitedHeaders: null };
  const end = Date.now() + ms;
  const loop = async (w: number): Promise<void> => {
    for (let i = 0; i < maxPerLoop && Date.now() < end; i++) {
      try {
        const res = await pool.request({ path: `/${tag}/${w}/${i}`, method: 'GET' });
        await res.body.text();
        if (res.statusCode === 200) out.ok++;
        else if (res.statusCode === 429) {
          out.limited++;
          out.limitedHeaders ??= res.headers;
        } else out.other.push(String(res.statusCode));
        if (pauseMs) await sleep(pauseMs);
      } catch (err) {
        out.other.push((err as Error).message);
        await sleep(5);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: loops }, (_, w) => loop(w)));
  } finally {
    await pool.close();
  }
  return out;
}

test('two processes share a rate limit through Redis; local fallback when Redis stops', { timeout: 60_000 }, async () => {
  let redis: TestRedis | null = null;
  const procs: Proc[] = [];
  const dirs: string[] = [];
  let backendRequests = 0;
  const backend = await startBackend((req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url !== '/healthz') backendRequests++;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
  const killAll = (): void => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  try {
    redis = await startRedis();
    const redisUrl = redis.url;

    // ---- two Tollgate processes, same route config, own dirs/ports/spool/store
    for (const name of ['a', 'b']) {
      const dir = await tempDir(`tg-rl-${name}-`);
      dirs.push(dir);
      const proxyPort = await freePort();
      const adminPort = await freePort();
      const base = baseConfig(dir, proxyPort, adminPort, { app: [backend.address] }, { log: { level: 'warn' } });
      const cfg = merge(base, {
        node: { name: `rl-${name}`, environment: 'test' },
        routes: [{ id: 'app', backend: 'app', access: { rate_limits: [{ id: 'per-route', by: 'route', rate: RATE, per: '1s', burst: BURST }] } }],
        access: { rate_limit: { redis: { url: redisUrl, timeout: '200ms' } } },
      });
      const file = path.join(dir, 'tollgate.yaml');
      await writeFile(file, stringify(cfg));
      const child = spawnTollgate(file);
      const p: Proc = { name, dir, proxy: `http://127.0.0.1:${proxyPort}`, admin: `http://127.0.0.1:${adminPort}`, child, stderr: '' };
      child.stderr!.on('data', (d: Buffer) => (p.stderr = (p.stderr + d.toString()).slice(-8000)));
      procs.push(p);
    }
    for (const p of procs) {
      await waitFor(
        async () => {
          if (p.child.exitCode !== null) throw new Error(`tollgate ${p.name} exited with ${p.child.exitCode}:\n${p.stderr}`);
          return redisState(p.admin, 'up');
        },
        `tollgate ${p.name} to be ready with Redis up`,
        20_000,
        50,
      );
    }
    const fallbackBefore = await Promise.all(procs.map((p) => metricValue(p.admin, 'tollgate_ratelimit_fallback_total')));

    // ---- both processes driven concurrently
    const t0 = Date.now();
    const results = await Promise.all(procs.map((p) => drive(p.proxy, LOOPS, LOAD_MS, MAX_PER_LOOP, 'shared')));
    const seconds = (Date.now() - t0) / 1000;
    const backendAfterLoad = backendRequests;
    const fallbackDuringLoad = (await Promise.all(procs.map((p) => metricValue(p.admin, 'tollgate_ratelimit_fallback_total')))).map((v, i) => v - fallbackBefore[i]);

    const combinedOk = results[0].ok + results[1].ok;
    const upper = RATE * seconds + BURST + TOLERANCE;
    const lower = 0.7 * RATE * seconds;
    process.stdout.write(
      `shared limit ${RATE}/s burst ${BURST} over ${seconds.toFixed(2)} s: ` +
        procs.map((p, i) => `${p.name} ${results[i].ok} allowed / ${results[i].limited} refused`).join(', ') +
        `; combined ${combinedOk} allowed (bounds ${lower.toFixed(1)}..${upper.toFixed(1)}); backend saw ${backendAfterLoad}; fallback decisions during load ${fallbackDuringLoad.join('/')}\n`,
    );
    for (const [i, r] of results.entries()) {
      assert.deepEqual(r.other.slice(0, 10), [], `${procs[i].name}: ${r.other.length} responses neither 200 nor 429`);
      assert.ok(r.ok > 0, `${procs[i].name} got some requests through`);
      assert.ok(r.limited > 0, `${procs[i].name} was rate limited`);
    }
    assert.ok(combinedOk <= upper, `combined allowed ${combinedOk} within ${RATE}/s × ${seconds.toFixed(2)} s + burst ${BURST} + ${TOLERANCE} = ${upper.toFixed(1)} (fallback decisions during load: ${fallbackDuringLoad.join('/')})`);
    assert.ok(combinedOk >= lower, `combined allowed ${combinedOk} at least 70% of ${RATE}/s × ${seconds.toFixed(2)} s = ${lower.toFixed(1)} (the limit is shared, not per process)`);
    assert.equal(backendAfterLoad, combinedOk, 'the backend received exactly the allowed requests');

    // ---- a refusal carries Retry-After and the RateLimit fields
    const h = results[0].limitedHeaders ?? results[1].limitedHeaders;
    assert.ok(h, 'a 429 was seen');
    assert.ok(Number(h['retry-after']) >= 1, `retry-after ${String(h['retry-after'])} >= 1`);
    assert.equal(h['ratelimit-limit'], String(AT_ONCE));
    assert.match(String(h['ratelimit-remaining']), /^\d+$/);
    assert.match(String(h['ratelimit-reset']), /^\d+$/);
    assert.equal(h['ratelimit-policy'], `${RATE};w=1;burst=${BURST}`);

    // ---- the audit trail of each process: one event per request, every 429 a "ratelimit" event
    for (const [i, p] of procs.entries()) {
      const sent = results[i].ok + results[i].limited;
      let events = await allEvents(p.admin);
      await waitFor(
        async () => {
          events = await allEvents(p.admin);
          return events.length >= sent;
        },
        `${p.name}: ${sent} events in the store`,
        15_000,
        100,
      );
      // Nothing more arrives than was sent.
      await sleep(300);
      events = await allEvents(p.admin);
      assert.equal(events.length, sent, `${p.name}: one event per request sent`);
      const rids = events.map((e) => e.id);
      assert.equal(new Set(rids).size, rids.length, `${p.name}: no duplicate events`);
      const limited = events.filter((e) => e.decision === 'ratelimit');
      assert.equal(limited.length, results[i].limited, `${p.name}: ratelimit events = 429 responses`);
      for (const e of limited) {
        assert.equal(e.rule_id, 'per-route');
        assert.equal(e.status, 429);
        assert.equal(e.termination, 'rate_limited');
      }
      const allowed = events.filter((e) => e.decision === 'allow' && e.status === 200 && e.termination === 'ok');
      assert.equal(allowed.length, results[i].ok, `${p.name}: allowed events = 200 responses`);
    }

    // ---- Redis stops: limits are enforced per process, reported degraded
    await redis.stop();
    for (const p of procs) await waitFor(() => redisState(p.admin, 'down'), `${p.name}: /readyz to show Redis down`, 10_000, 50);
    const t1 = Date.now();
    const degraded = await Promise.all(procs.map((p) => drive(p.proxy, 4, 1000, 500, 'fallback')));
    const fbSeconds = (Date.now() - t1) / 1000;
    process.stdout.write(`redis down, local fallback over ${fbSeconds.toFixed(2)} s: ${procs.map((p, i) => `${p.name} ${degraded[i].ok} allowed / ${degraded[i].limited} refused`).join(', ')}\n`);
    for (const [i, r] of degraded.entries()) {
      const name = procs[i].name;
      assert.deepEqual(r.other.slice(0, 10), [], `${name}: ${r.other.length} responses neither 200 nor 429 under the fallback`);
      assert.ok(r.ok > 0, `${name}: requests still served under the local fallback`);
      assert.ok(r.limited > 0, `${name}: the local fallback still limits`);
      assert.ok(r.ok <= RATE * fbSeconds + BURST + TOLERANCE, `${name}: local fallback allowed ${r.ok} within one process's limit`);
      const readyz = await readiness(procs[i].admin);
      assert.equal(readyz.status, 200, `${name}: Redis down is degraded, not unready`);
      assert.ok(readyz.rateLimits!.every((w) => w.health?.redis === 'down'), `${name}: rate_limits check shows Redis down: ${JSON.stringify(readyz.rateLimits)}`);
      const fallbacks = await metricValue(procs[i].admin, 'tollgate_ratelimit_fallback_total');
      assert.ok(fallbacks > 0, `${name}: tollgate_ratelimit_fallback_total = ${fallbacks} > 0`);
    }
  } catch (err) {
    for (const p of procs) if (p.stderr) process.stderr.write(`--- tollgate ${p.name} stderr:\n${p.stderr}\n`);
    throw err;
  } finally {
    await Promise.all(procs.map((p) => stopChild(p.child)));
    process.removeListener('exit', killAll);
    await redis?.stop();
    await backend.close();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    if (process.env.TG_TEST_LOG) for (const p of procs) process.stderr.write(p.stderr);
  }
});
