/**
 * Deployment markers end to end: requests before a marker carry no
 * `deployment`; `tollgate deploy mark` (the CLI, as a pipeline runs it)
 * records the marker; from then on the service's events carry the version,
 * a marker for another environment changes nothing on this node, and
 * /compare shows the version's worse error rate and latency against equal
 * windows before it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startBackend, startTollgate, get, sleep, adminFetch, CLI, TEST_ADMIN_TOKEN, type Backend, type TestNode } from './helpers.js';
import type { Comparison } from '../src/admin/deployments-api.js';
import type { Deployment } from '../src/admin/deployments.js';

const run = promisify(execFile);

let backend: Backend;
let tg: TestNode;
let degraded = false;
let served = 0;

before(async () => {
  // Version 1 answers at once; "version 2" fails one request in five and is 60 ms slower.
  backend = await startBackend((req, res) => {
    served++;
    if (!degraded) return void res.writeHead(200).end('ok');
    setTimeout(() => (served % 5 === 0 ? res.writeHead(500).end('boom') : res.writeHead(200).end('ok')), 60);
  });
  tg = await startTollgate({ app: [backend.address] });
});

after(async () => {
  await tg.stop();
  await backend.close();
});

test('a marker tags the service\'s later events with the version, and compare shows what changed', async () => {
  for (let i = 0; i < 40; i++) assert.equal((await get(`${tg.proxy}/v1/${i}`)).status, 200);
  await sleep(50);

  const env = { ...process.env, TOLLGATE_ADMIN_TOKEN: TEST_ADMIN_TOKEN, GITHUB_SHA: '0123456789abcdef', GITHUB_ACTOR: 'release-bot' };
  const { stdout } = await run(process.execPath, [CLI, 'deploy', 'mark', '--service', 'app', '--version', 'v2.0.0', '--environment', 'test', '--admin', tg.admin, '--json'], { env });
  const marker = JSON.parse(stdout) as Deployment;
  assert.equal(marker.service, 'app');
  assert.equal(marker.commit, '0123456789abcdef', 'the commit from the CI environment');
  assert.equal(marker.actor, 'release-bot');
  assert.equal(marker.created_by, 'test');

  degraded = true;
  served = 0;
  let errors = 0;
  for (let i = 0; i < 40; i++) if ((await get(`${tg.proxy}/v2/${i}`)).status === 500) errors++;
  assert.equal(errors, 8);
  // Another environment's marker does not re-tag this (environment: test) node's events.
  const other = await adminFetch(`${tg.admin}/api/v1/deployments`, { method: 'POST', body: JSON.stringify({ service: 'app', version: 'v9-prod', environment: 'production' }) });
  assert.equal(other.status, 201);
  assert.equal((await get(`${tg.proxy}/v2/after-prod-marker`)).status, 200);
  await sleep(300); // the after-window must be at least as long as the before phase

  const events = await tg.events();
  const v1 = events.filter((e) => e.path?.startsWith('/v1/'));
  const v2 = events.filter((e) => e.path?.startsWith('/v2/'));
  assert.equal(v1.length, 40);
  assert.ok(v1.every((e) => e.deployment === null), 'no marker yet');
  assert.equal(v2.length, 41);
  assert.ok(v2.every((e) => e.deployment === 'v2.0.0'), 'from the marker on: the version');

  const list = (await (await adminFetch(`${tg.admin}/api/v1/deployments?service=app`)).json()) as { deployments: Deployment[] };
  assert.deepEqual(list.deployments.map((d) => d.version), ['v9-prod', 'v2.0.0']);

  const res = await adminFetch(`${tg.admin}/api/v1/deployments/${marker.id}/compare?window=1h`);
  assert.equal(res.status, 200);
  const c = (await res.json()) as Comparison;
  assert.ok(c.window_seconds > 0 && c.window_seconds < 60, `the window is shortened to the time since the marker (${c.window_seconds} s)`);
  assert.equal(c.before.requests, 40);
  assert.equal(c.before.errors_5xx, 0);
  assert.equal(c.before.error_rate, 0);
  assert.equal(c.after.requests, 41);
  assert.equal(c.after.errors_5xx, 8);
  assert.equal(c.after.error_rate, Math.round((8 / 41) * 10_000) / 10_000);
  assert.ok(c.after.p50_ms! > c.before.p50_ms! + 40, `latency went up (p50 ${c.before.p50_ms} → ${c.after.p50_ms} ms)`);
  assert.ok(c.change.p95! > 1);
  assert.equal(c.change.error_rate, c.after.error_rate);

  // The API refuses a bad marker with every error, and an unknown id with 404.
  const bad = await adminFetch(`${tg.admin}/api/v1/deployments`, { method: 'POST', body: JSON.stringify({ service: 'app', url: 'nope' }) });
  assert.equal(bad.status, 400);
  const body = (await bad.json()) as { error: { errors: string[] } };
  assert.equal(body.error.errors.length, 2);
  assert.equal((await adminFetch(`${tg.admin}/api/v1/deployments/0000/compare`)).status, 404);
  assert.equal((await adminFetch(`${tg.admin}/api/v1/deployments/${marker.id}/compare?window=soon`)).status, 400);
});
