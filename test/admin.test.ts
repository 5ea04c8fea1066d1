/**
 * The admin plane end to end: live stream, metrics, readiness, backends,
 * hot reload through the API (a bad config is refused with every error and
 * the running one stays) and the CLI's query/tail/check commands.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import http from 'node:http';
import { parse, stringify } from 'yaml';
import { startBackend, startTollgate, get, waitFor, CLI, freePort, type Backend, type TestNode, adminFetch, ADMIN, TEST_ADMIN_TOKEN } from './helpers.js';

const execFileP = promisify(execFile);
/** Runs the CLI with the test admin token in its environment, as an operator would export it. */
const run = (cmd: string, args: string[]) => execFileP(cmd, args, { env: { ...process.env, TOLLGATE_ADMIN_TOKEN: TEST_ADMIN_TOKEN } });
let backend: Backend;
let tg: TestNode;

before(async () => {
  backend = await startBackend();
  tg = await startTollgate({ app: [backend.address] });
});
after(async () => {
  await tg.stop();
  await backend.close();
});

test('events/stream pushes matching events as server-sent events', async () => {
  const received: string[] = [];
  const req = http.get(`${tg.admin}/api/v1/events/stream?status=4xx`, ADMIN);
  const res = await new Promise<http.IncomingMessage>((r) => req.once('response', r));
  assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
  let buf = '';
  res.on('data', (c: Buffer) => {
    buf += c.toString();
    for (const m of buf.matchAll(/event: audit\ndata: (.*)\n\n/g)) received.push(m[1]);
    buf = buf.slice(buf.lastIndexOf('\n\n') + 2);
  });
  await new Promise((r) => setTimeout(r, 100));
  await get(`${tg.proxy}/fine`, { headers: { 'x-request-id': 'sse-200' } });
  await get(`${tg.proxy}/fine`, { headers: { host: 'nowhere.test', 'x-request-id': 'sse-404' } }).catch(() => null);
  // This node routes every host, so make a 4xx the backend answers itself:
  await get(`${tg.proxy}/fine`, { method: 'DELETE', headers: { 'x-request-id': 'sse-delete', 'content-length': '99999999999' } });
  await waitFor(() => received.some((r) => r.includes('sse-delete')), 'the 413 on the stream');
  req.destroy();
  const events = received.map((r) => JSON.parse(r) as { request_id: string; status: number });
  assert.ok(events.every((e) => e.status >= 400 && e.status < 500), 'the filter applies');
  assert.ok(!events.some((e) => e.request_id === 'sse-200'));
});

test('bad stream filter → 400', async () => {
  const r = await get(`${tg.admin}/api/v1/events/stream?statuz=5xx`, ADMIN);
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.body).error.message, /unknown stream parameter "statuz"/);
});

test('/metrics exposes requests, latency, backend health, spool and store figures', async () => {
  await get(`${tg.proxy}/m`);
  await tg.flush();
  const r = await get(`${tg.admin}/metrics`, ADMIN);
  assert.equal(r.status, 200);
  for (const name of [
    'tollgate_requests_total{route="app",status_class="2xx"}',
    'tollgate_request_duration_seconds_bucket',
    'tollgate_backend_up{pool="app",server="' + backend.address + '"} 1',
    'tollgate_audit_spool_healthy 1',
    'tollgate_audit_queue_depth',
    'tollgate_audit_events_spooled_total',
    'tollgate_spool_lag_bytes',
    'tollgate_store_events_loaded_total',
    'tollgate_store_exact_loads_total',
    'tollgate_upstream_response_seconds_count{pool="app"}',
  ]) {
    assert.ok(r.body.includes(name), `metrics include ${name}`);
  }
  // Counters that move, not just names that exist.
  const value = (metric: string) => Number(new RegExp(`^${metric.replace(/[{}"=,.]/g, '\\$&')} (\\S+)$`, 'm').exec(r.body)?.[1]);
  assert.ok(value('tollgate_requests_total{route="app",status_class="2xx"}') >= 1);
  assert.ok(value('tollgate_audit_events_spooled_total') >= 1);
  assert.ok(value('tollgate_store_events_loaded_total') >= 1);
  // The node's own events take the native load path: no batch fell back to the exact one.
  assert.equal(value('tollgate_store_exact_loads_total'), 0);
  assert.ok(value('tollgate_upstream_response_seconds_count{pool="app"}') >= 1);
  assert.equal(value('tollgate_audit_queue_depth'), 0, 'nothing waiting once flushed');
  assert.equal(value('tollgate_spool_lag_bytes'), 0, 'nothing unloaded once flushed');
});

test('/healthz, /readyz and /api/v1/backends', async () => {
  assert.equal((await get(`${tg.admin}/healthz`)).status, 200);
  const ready = await get(`${tg.admin}/readyz`, ADMIN);
  assert.equal(ready.status, 200);
  const body = JSON.parse(ready.body) as { checks: { name: string; ok: boolean }[] };
  assert.deepEqual(body.checks.map((c) => [c.name, c.ok]), [['rate_limits', true], ['proxy', true], ['audit_spool', true], ['store', true], ['detect', true]]);
  const b = JSON.parse((await get(`${tg.admin}/api/v1/backends`, ADMIN)).body) as { backends: { worker: string; pools: { name: string; servers: { address: string; state: string }[] }[] }[] };
  assert.equal(b.backends[0].worker, 'w0', 'the same shape as in cluster mode: one entry per proxy process');
  const pool = b.backends[0].pools[0];
  assert.equal(pool.name, 'app');
  assert.equal(pool.servers[0].address, backend.address);
  assert.equal(pool.servers[0].state, 'healthy');
});

test('reload: an invalid config is refused with all its errors and the running one stays; a valid one applies', async () => {
  const file = path.join(tg.dir, 'tollgate.yaml');
  const good = await readFile(file, 'utf8');
  await writeFile(file, good.replace(/backend: app/, 'backend: nope') + '\nproxy:\n  trusted_proxies: [not-an-ip]\n');
  const bad = await adminFetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' });
  assert.equal(bad.status, 422);
  const err = (await bad.json()) as { error: { errors: { path: string; message: string }[] } };
  const paths = err.error.errors.map((e) => e.path);
  assert.ok(paths.includes('routes[0].backend'), JSON.stringify(paths));
  assert.ok(paths.includes('proxy.trusted_proxies[0]'), JSON.stringify(paths));
  assert.equal((await get(`${tg.proxy}/still-works`)).status, 200, 'the running config stays in force');
  // A valid change: a new route prefix that only exists after the reload.
  await writeFile(file, good.replace(/routes:\n/, 'routes:\n  - id: only-new\n    path_prefix: /new-route\n    backend: app\n'));
  const ok = await adminFetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' });
  assert.equal(ok.status, 200);
  await get(`${tg.proxy}/new-route/x`, { headers: { 'x-request-id': 'after-reload' } });
  const e = await waitFor(async () => (await tg.events({ request_id: 'after-reload' }))[0], 'event after reload');
  assert.equal(e.route, 'only-new');
  await writeFile(file, good);
});

test('reload: a listener that cannot be opened refuses the whole reload; routes and listeners stay as they were', async () => {
  const file = path.join(tg.dir, 'tollgate.yaml');
  const good = await readFile(file, 'utf8');
  const cfg = parse(good) as { listeners: { name?: string; address: string }[]; routes: unknown[] };
  // A second listener, opened by a good reload.
  const secondPort = await freePort();
  cfg.listeners.push({ name: 'second', address: `127.0.0.1:${secondPort}` });
  await writeFile(file, stringify(cfg));
  assert.equal((await adminFetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' })).status, 200);
  assert.equal((await get(`http://127.0.0.1:${secondPort}/second-up`)).status, 200);
  // Then a reload that moves it onto a port another server holds, and adds a route.
  const taken = backend.port;
  cfg.listeners[1].address = `127.0.0.1:${taken}`;
  cfg.routes.unshift({ id: 'half-applied', path_prefix: '/half', backend: 'app' });
  await writeFile(file, stringify(cfg));
  const bad = await adminFetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' });
  assert.equal(bad.status, 422);
  assert.match(JSON.stringify(await bad.json()), /EADDRINUSE/);
  assert.equal((await get(`http://127.0.0.1:${secondPort}/second-still-up`)).status, 200, 'the listener it would have moved still answers');
  await get(`${tg.proxy}/half/x`, { headers: { 'x-request-id': 'not-half-applied' } });
  const e = await waitFor(async () => (await tg.events({ request_id: 'not-half-applied' }))[0], 'event after the refused reload');
  assert.equal(e.route, 'app', 'the new route is not in force');
  // Back to the original file: the second listener closes.
  await writeFile(file, good);
  assert.equal((await adminFetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' })).status, 200);
  await assert.rejects(get(`http://127.0.0.1:${secondPort}/gone`));
});

test('CLI: query (table, --json, --csv) and check', async () => {
  await get(`${tg.proxy}/cli-test`, { headers: { 'x-request-id': 'cli-1' } });
  await tg.flush();
  const table = await run(process.execPath, [CLI, 'query', '--admin', tg.admin, '--request-id', 'cli-1']);
  assert.match(table.stdout, /^TIME\s+CLIENT\s+METHOD/);
  assert.match(table.stdout, /\/cli-test/);
  const json = await run(process.execPath, [CLI, 'query', '--admin', tg.admin, '--request-id', 'cli-1', '--json']);
  assert.equal((JSON.parse(json.stdout) as { events: { request_id: string }[] }).events[0].request_id, 'cli-1');
  const csv = await run(process.execPath, [CLI, 'query', '--admin', tg.admin, '--request-id', 'cli-1', '--csv']);
  assert.match(csv.stdout.split('\n')[0], /^id,ts,duration_ms,kind/);
  // Methods match whatever their case; the admin API's own calls are left out unless asked for.
  const lower = await run(process.execPath, [CLI, 'query', '--admin', tg.admin, '--request-id', 'cli-1', '--method', 'get', '--json']);
  assert.equal((JSON.parse(lower.stdout) as { events: unknown[] }).events.length, 1);
  const recent = JSON.parse((await run(process.execPath, [CLI, 'query', '--admin', tg.admin, '--json', '-n', '200'])).stdout) as { events: { kind: string }[] };
  assert.ok(recent.events.length > 0 && recent.events.every((e) => e.kind !== 'admin'), 'no admin events by default');
  const admin = JSON.parse((await run(process.execPath, [CLI, 'query', '--admin', tg.admin, '--json', '--kind', 'admin'])).stdout) as { events: { kind: string }[] };
  assert.ok(admin.events.length > 0 && admin.events.every((e) => e.kind === 'admin'), 'admin events with --kind admin');
  const checkOk = await run(process.execPath, [CLI, 'check', '-c', path.join(tg.dir, 'tollgate.yaml')]);
  assert.match(checkOk.stdout, /OK/);
  const badFile = path.join(tg.dir, 'bad.yaml');
  await writeFile(badFile, 'listeners:\n  - address: nowhere\nroutes:\n  - id: r\n    backend: missing\nworkers: 0\n');
  const checkBad = await run(process.execPath, [CLI, 'check', '-c', badFile]).then(
    () => null,
    (e: { code: number; stderr: string }) => e,
  );
  assert.ok(checkBad, 'check exits non-zero');
  assert.equal(checkBad.code, 1);
  assert.match(checkBad.stderr, /3 errors/);
  assert.match(checkBad.stderr, /bad\.yaml:2 {2}listeners\[0\]\.address/);
  assert.match(checkBad.stderr, /routes\[0\]\.backend: unknown backend pool "missing"/);
  assert.match(checkBad.stderr, /workers/);
});

test('CLI: tail follows live events', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [CLI, 'tail', '--admin', tg.admin, '--json', '--path-prefix', '/tailed'], { env: { ...process.env, TOLLGATE_ADMIN_TOKEN: TEST_ADMIN_TOKEN } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await new Promise((r) => setTimeout(r, 500));
    await waitFor(
      async () => {
        await get(`${tg.proxy}/tailed`, { headers: { 'x-request-id': 'tail-1' } });
        return out.includes('"tail-1"');
      },
      'tail to print the event',
      15_000,
      300,
    );
    const first = JSON.parse(out.split('\n')[0]) as { path: string };
    assert.equal(first.path, '/tailed');
  } finally {
    child.kill();
  }
});

test('--help on every command', async () => {
  for (const cmd of ['start', 'demo', 'check', 'query', 'tail', 'hash-key', 'hash-password']) {
    const r = await run(process.execPath, [CLI, cmd, '--help']);
    assert.match(r.stdout, new RegExp(`Usage: tollgate ${cmd}`));
  }
});
