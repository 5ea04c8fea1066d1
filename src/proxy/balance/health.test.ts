import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolSchema, type PoolConfig } from '../../config/schema.js';
import { compileExpectStatus } from './health.js';
import { BackendPool } from './pool.js';
import { pickContext } from './conformance.js';
import { refusedAddress, sleep, startBackend, waitFor, type TestBackend } from './test-support.js';
import type { UpstreamState } from './upstream.js';

interface Change {
  address: string;
  from: UpstreamState;
  to: UpstreamState;
  reason: string;
}

const backends: TestBackend[] = [];
const pools: BackendPool[] = [];
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await Promise.all(backends.map((b) => b.stop()));
});

async function backend(): Promise<TestBackend> {
  const b = await startBackend();
  backends.push(b);
  return b;
}

function pool(addresses: string[], healthCheck: Record<string, unknown>, onChange?: (c: Change) => void): BackendPool {
  const cfg: PoolConfig = PoolSchema.parse({
    servers: addresses.map((address) => ({ address })),
    // A check never outlives its interval (health.ts): one long enough for a loaded CI machine (25 ms failed checks there).
    health_check: { interval: 250, timeout: 250, healthy_threshold: 2, unhealthy_threshold: 3, ...healthCheck },
  });
  const p = new BackendPool('api', cfg, {
    onStateChange: (_pool, u, from, to, reason) => onChange?.({ address: u.address, from, to, reason }),
  });
  pools.push(p);
  return p;
}

const ctx = pickContext('203.0.113.1');

describe('compileExpectStatus', () => {
  test('codes, classes and ranges', () => {
    const m = compileExpectStatus([204, '3xx', '400-404']);
    for (const s of [204, 300, 399, 400, 404]) assert.ok(m(s), `${s} passes`);
    for (const s of [200, 205, 299, 405, 500, 0, 600, 1000, -1]) assert.ok(!m(s), `${s} fails`);
    const d = compileExpectStatus(['2xx', '3xx']);
    assert.ok(d(200) && d(302) && !d(404));
  });

  test('bad entries are refused', () => {
    for (const bad of [[99], [600], ['6xx'], ['299-200'], ['2XX0'], ['abc'], []] as (number | string)[][])
      assert.throws(() => compileExpectStatus(bad), /expect_status/, JSON.stringify(bad));
  });
});

describe('active health checks', () => {
  test('a server answering 500 turns unhealthy after unhealthy_threshold checks and healthy after healthy_threshold passes', async () => {
    const flaky = await backend();
    const steady = await backend();
    const changes: (Change & { failed: number; passed: number })[] = [];
    const p = pool([flaky.address, steady.address], {}, (c) => changes.push({ ...c, failed: flaky.failed, passed: flaky.passed }));
    const [u, other] = p.upstreams;
    await p.start();
    assert.equal(u.state(), 'healthy');
    assert.equal(u.lastCheck?.ok, true);
    assert.equal(u.lastCheck?.status, 200);

    flaky.mode = 'fail';
    await waitFor(() => changes.length >= 1, 'the server to turn unhealthy');
    assert.deepEqual(changes.map((c) => [c.address, c.from, c.to]), [[flaky.address, 'healthy', 'unhealthy']]);
    assert.equal(changes[0].failed, 3, 'exactly unhealthy_threshold failed checks');
    assert.match(changes[0].reason, /failed 3 time\(s\) in a row \(status 500\)/);
    assert.equal(u.lastCheck?.ok, false);
    assert.equal(u.lastCheck?.status, 500);
    for (let i = 0; i < 100; i++) assert.equal(p.pick(ctx), other);
    assert.equal(p.availableCount(), 1);

    const passedBefore = flaky.passed;
    flaky.mode = 'ok';
    await waitFor(() => changes.length >= 2, 'the server to turn healthy again');
    assert.deepEqual(changes.map((c) => [c.from, c.to]), [['healthy', 'unhealthy'], ['unhealthy', 'healthy']]);
    assert.equal(changes[1].passed - passedBefore, 2, 'exactly healthy_threshold passed checks');
    assert.equal(p.availableCount(), 2);
    assert.ok(other.healthy);
  });

  test('a stopped server (connection refused) turns unhealthy and is never picked', async () => {
    const dying = await backend();
    const steady = await backend();
    const changes: Change[] = [];
    const p = pool([dying.address, steady.address], { unhealthy_threshold: 2 }, (c) => changes.push(c));
    const [u, other] = p.upstreams;
    await p.start();
    assert.equal(p.availableCount(), 2);
    await dying.stop();
    await waitFor(() => u.state() === 'unhealthy', 'the stopped server to turn unhealthy');
    assert.deepEqual(changes.map((c) => [c.address, c.from, c.to]), [[dying.address, 'healthy', 'unhealthy']]);
    assert.equal(u.lastCheck?.status, null);
    assert.match(u.lastCheck?.error ?? '', /ECONNREFUSED/);
    for (let i = 0; i < 100; i++) assert.equal(p.pick(ctx), other);
    const snap = p.snapshot();
    assert.equal(snap.available, 1);
    assert.equal(snap.servers[0].state, 'unhealthy');
    assert.equal(snap.servers[0].healthy, false);
    assert.equal(snap.servers[0].last_check?.ok, false);
  });

  test('the first check decides: a server down at start is unhealthy when start() resolves', async () => {
    const address = await refusedAddress();
    const changes: Change[] = [];
    const p = pool([address], { unhealthy_threshold: 5 }, (c) => changes.push(c));
    await p.start();
    assert.equal(p.upstreams[0].state(), 'unhealthy');
    assert.equal(p.pick(ctx), null);
    assert.equal(changes.length, 1);
    assert.match(changes[0].reason, /first health check failed/);
  });

  test('checks GET the path with the configured Host header and accept only expect_status', async () => {
    const b = await backend();
    b.okStatus = 204;
    const p = pool([b.address], { path: '/ready', host: 'svc.internal', expect_status: [204] });
    await p.start();
    assert.equal(p.upstreams[0].state(), 'healthy');
    const r = b.requests[0];
    assert.equal(r.method, 'GET');
    assert.equal(r.url, '/ready');
    assert.equal(r.headers.host, 'svc.internal');
    assert.equal(r.headers['user-agent'], 'tollgate-health-check');
    assert.equal(r.headers.connection, 'close');

    const b2 = await backend(); // answers 200, which this pool does not accept
    const p2 = pool([b2.address], { expect_status: ['204-299'] });
    await p2.start();
    assert.equal(b2.requests[0].headers.host, b2.address, 'Host defaults to the server address');
    assert.equal(p2.upstreams[0].state(), 'unhealthy', '200 is outside 204-299');
    assert.equal(p2.upstreams[0].lastCheck?.status, 200);
  });

  test('a server that does not answer within the timeout fails its checks', async () => {
    const b = await backend();
    b.mode = 'hang';
    const p = pool([b.address], { interval: 60, timeout: 40 });
    await p.start();
    const u = p.upstreams[0];
    assert.equal(u.state(), 'unhealthy');
    assert.equal(u.lastCheck?.error, 'timeout after 40ms');
    assert.ok((u.lastCheck?.duration_ms ?? 0) >= 35, `duration ${u.lastCheck?.duration_ms}`);
    await p.close();
    // A check never outlives its interval: a longer timeout (the default 2 s with a short interval) becomes the interval.
    const q = pool([b.address], { interval: 60, timeout: 1000 });
    await q.start();
    assert.equal(q.upstreams[0].lastCheck?.error, 'timeout after 60ms');
    await q.close();
  });

  test('close() stops the checks', async () => {
    const b = await backend();
    const p = pool([b.address], {});
    await p.start();
    await waitFor(() => b.requests.length >= 3, 'a few checks');
    await p.close();
    const seen = b.requests.length;
    // Longer than two intervals (250 ms): checks that went on would be seen.
    await sleep(600);
    assert.equal(b.requests.length, seen);
    await p.close(); // idempotent
  });
});
