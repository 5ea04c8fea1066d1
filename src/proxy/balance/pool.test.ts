import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolSchema, type PoolConfig } from '../../config/schema.js';
import { BackendPool } from './pool.js';
import { pickContext } from './conformance.js';
import { refusedAddress, startBackend, waitFor, type TestBackend } from './test-support.js';
import { Upstream, type UpstreamState } from './upstream.js';

interface Change {
  pool: string;
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

/** A pool of TEST-NET servers (never contacted) with short ejections. */
function pool(extra: Record<string, unknown> = {}, servers = 2): { p: BackendPool; changes: Change[] } {
  const changes: Change[] = [];
  const cfg: PoolConfig = PoolSchema.parse({
    servers: Array.from({ length: servers }, (_, i) => ({ address: `192.0.2.${i + 1}:80` })),
    outlier: { consecutive_failures: 3, base_ejection: 50, max_ejection: 200 },
    ...extra,
  });
  const p = new BackendPool('api', cfg, {
    onStateChange: (name, u, from, to, reason) => changes.push({ pool: name, address: u.address, from, to, reason }),
  });
  pools.push(p);
  return { p, changes };
}

const ctx = pickContext('203.0.113.1');

describe('outlier ejection', () => {
  test('consecutive failures eject the server; it comes back by itself when the time is up', async () => {
    const { p, changes } = pool();
    const [u, other] = p.upstreams;
    p.reportFailure(u, 'connect');
    p.reportFailure(u, 'timeout');
    assert.equal(u.state(), 'healthy');
    assert.equal(u.consecutiveFailures, 2);
    const t0 = Date.now();
    p.reportFailure(u, 'reset');
    const t1 = Date.now();
    assert.equal(u.state(), 'ejected');
    assert.ok(u.ejectedUntil >= t0 + 50 && u.ejectedUntil <= t1 + 50, `ejected for ${u.ejectedUntil - t0}ms`);
    assert.equal(u.ejectionCount, 1);
    assert.equal(u.consecutiveFailures, 0);
    assert.equal(u.failures, 3);
    assert.deepEqual(changes.map((c) => [c.pool, c.address, c.from, c.to]), [['api', u.address, 'healthy', 'ejected']]);
    assert.match(changes[0].reason, /3 consecutive failures \(last: reset\), ejected for 50ms/);
    for (let i = 0; i < 50; i++) assert.equal(p.pick(ctx), other);
    assert.equal(p.availableCount(), 1);

    // Back without any request touching it; the return is reported once.
    await waitFor(() => changes.length === 2, 'the ejection to end');
    assert.deepEqual([changes[1].from, changes[1].to], ['ejected', 'healthy']);
    assert.ok(u.isAvailable());
    const picked = new Set(Array.from({ length: 10 }, () => p.pick(ctx)));
    assert.ok(picked.has(u));
    p.snapshot();
    p.availableCount();
    p.reportSuccess(u);
    assert.equal(changes.length, 2, 'no duplicate reports');

    // The second ejection lasts twice as long.
    const t2 = Date.now();
    for (let i = 0; i < 3; i++) p.reportFailure(u, 'connect');
    const t3 = Date.now();
    assert.ok(u.ejectedUntil >= t2 + 100 && u.ejectedUntil <= t3 + 100, `ejected for ${u.ejectedUntil - t2}ms`);
    assert.equal(changes.length, 3);
    await waitFor(() => changes.length === 4, 'the second ejection to end');
    assert.equal(u.state(), 'healthy');
  });

  test('ejections double up to max_ejection, and the doubling is forgotten after a clean spell', () => {
    const { p } = pool();
    const u = p.upstreams[0];
    const eject = (at: number) => {
      for (let i = 0; i < 3; i++) p.reportFailure(u, 'connect', at);
      return u.ejectedUntil - at;
    };
    const t = Date.now();
    assert.equal(eject(t), 50);
    assert.equal(eject(t + 60), 100);
    assert.equal(eject(t + 170), 200);
    assert.equal(eject(t + 380), 200, 'capped at max_ejection');
    assert.equal(u.ejectionCount, 4);
    // Ended at t+580; clean for longer than max_ejection (200ms): start over.
    assert.equal(eject(t + 900), 50);
    assert.equal(u.ejectionCount, 1);
  });

  test('a success resets the run of failures', () => {
    const { p } = pool();
    const u = p.upstreams[0];
    p.reportFailure(u, 'connect');
    p.reportFailure(u, 'connect');
    p.reportSuccess(u);
    p.reportFailure(u, 'connect');
    p.reportFailure(u, 'connect');
    assert.equal(u.state(), 'healthy');
    assert.equal(u.consecutiveFailures, 2);
    assert.equal(u.failures, 4);
  });

  test('count_5xx: false ignores 5xx answers; true counts them', () => {
    const lenient = pool({ outlier: { consecutive_failures: 3, count_5xx: false } }).p;
    const u = lenient.upstreams[0];
    for (let i = 0; i < 10; i++) lenient.reportFailure(u, 'status_5xx');
    assert.equal(u.state(), 'healthy');
    assert.equal(u.consecutiveFailures, 0);
    assert.equal(u.failures, 10, 'still counted as failures in the stats');
    for (let i = 0; i < 3; i++) lenient.reportFailure(u, 'timeout');
    assert.equal(u.state(), 'ejected');

    const strict = pool().p;
    const s = strict.upstreams[0];
    for (let i = 0; i < 3; i++) strict.reportFailure(s, 'status_5xx');
    assert.equal(s.state(), 'ejected');
  });

  test('failures of requests sent before the ejection neither extend it nor count toward the next', () => {
    const { p, changes } = pool();
    const u = p.upstreams[0];
    const t = Date.now();
    for (let i = 0; i < 3; i++) p.reportFailure(u, 'connect', t);
    const until = u.ejectedUntil;
    for (let i = 0; i < 5; i++) p.reportFailure(u, 'connect', t + 10);
    assert.equal(u.ejectedUntil, until);
    assert.equal(u.ejectionCount, 1);
    assert.equal(u.consecutiveFailures, 0);
    assert.equal(u.failures, 8);
    assert.equal(changes.length, 1);
  });

  test('an unhealthy server that is also ejected reports one state at a time', () => {
    const { p, changes } = pool();
    const u = p.upstreams[0];
    for (let i = 0; i < 3; i++) p.reportFailure(u, 'connect');
    u.healthy = false; // as the health checker would
    assert.equal(u.state(), 'unhealthy');
    assert.equal(p.snapshot().servers[0].state, 'unhealthy');
    assert.deepEqual(changes.map((c) => [c.from, c.to]), [['healthy', 'ejected'], ['ejected', 'unhealthy']]);
  });

  test('all servers ejected: pick returns null', () => {
    const { p } = pool({}, 3);
    for (const u of p.upstreams) for (let i = 0; i < 3; i++) p.reportFailure(u, 'connect');
    assert.equal(p.pick(ctx), null);
    assert.equal(p.availableCount(), 0);
  });

  test('upstreams of another pool are refused', () => {
    const { p } = pool();
    const stranger = new Upstream({ address: '192.0.2.99:80' }, p.config);
    assert.throws(() => p.reportFailure(stranger, 'connect'), /does not belong to pool "api"/);
    assert.throws(() => p.reportSuccess(stranger), /does not belong/);
    return stranger.dispatcher.close();
  });

  test('a listener that throws does not break reporting', async () => {
    const cfg = PoolSchema.parse({ servers: [{ address: '192.0.2.1:80' }], outlier: { consecutive_failures: 1 } });
    const p = new BackendPool('x', cfg, {
      onStateChange: () => {
        throw new Error('boom');
      },
    });
    pools.push(p);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      p.reportFailure(p.upstreams[0], 'connect');
      assert.equal(p.upstreams[0].state(), 'ejected');
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    assert.ok(warnings.some((w) => /onStateChange listener of pool "x" threw: boom/.test(w)), warnings.join('; '));
  });
});

describe('BackendPool', () => {
  test('snapshot is JSON-serializable with the admin API shape', async () => {
    const b = await startBackend();
    backends.push(b);
    const dead = await refusedAddress();
    const cfg = PoolSchema.parse({
      algorithm: 'least_outstanding',
      servers: [{ address: b.address, weight: 3 }, { address: dead }],
      health_check: { interval: 1000, timeout: 200 },
      outlier: { consecutive_failures: 1, base_ejection: 60_000, max_ejection: 60_000 },
    });
    const p = new BackendPool('web', cfg);
    pools.push(p);
    const live = p.upstreams[0];
    // The dead server is ejected by traffic, then fails its first check too.
    p.reportFailure(p.upstreams[1], 'connect');
    await p.start();
    live.acquire();
    const snap = p.snapshot();
    assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
    assert.deepEqual(Object.keys(snap).sort(), ['algorithm', 'available', 'name', 'servers', 'total']);
    assert.equal(snap.name, 'web');
    assert.equal(snap.algorithm, 'least_outstanding');
    assert.equal(snap.total, 2);
    const [s0, s1] = snap.servers;
    assert.deepEqual(Object.keys(s0).sort(), [
      'address', 'consecutive_failures', 'ejected_until', 'failures', 'healthy', 'last_check', 'outstanding', 'requests', 'state', 'weight',
    ]);
    assert.equal(s0.address, b.address);
    assert.equal(s0.weight, 3);
    assert.equal(s0.state, 'healthy');
    assert.equal(s0.healthy, true);
    assert.equal(s0.ejected_until, null);
    assert.equal(s0.outstanding, 1);
    assert.equal(s0.requests, 1);
    assert.equal(s0.failures, 0);
    assert.ok(s0.last_check);
    assert.deepEqual(Object.keys(s0.last_check).sort(), ['duration_ms', 'error', 'ok', 'status', 'ts']);
    assert.equal(s0.last_check.ok, true);
    assert.equal(s0.last_check.status, 200);
    assert.equal(s0.last_check.error, null);
    assert.match(s0.last_check.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(typeof s0.last_check.duration_ms, 'number');
    assert.match(s1.ejected_until ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.equal(s1.state, 'unhealthy', 'unhealthy wins over ejected');
    assert.equal(s1.healthy, false);
    assert.equal(s1.failures, 1);
    assert.match(s1.last_check?.error ?? '', /ECONNREFUSED/);
    assert.equal(s1.last_check?.status, null);
    assert.equal(snap.available, 1);
    live.release();
  });

  test('traffic goes through the upstream dispatcher', async () => {
    const b = await startBackend();
    backends.push(b);
    const p = new BackendPool('direct', PoolSchema.parse({ servers: [{ address: b.address }] }));
    pools.push(p);
    await p.start(); // no health check configured: resolves at once
    const u = p.pick(ctx);
    assert.ok(u);
    u.acquire();
    const res = await u.dispatcher.request({ path: '/x', method: 'GET', headersTimeout: 1000, bodyTimeout: 1000 });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'x');
    u.release();
    p.reportSuccess(u);
    assert.equal(u.outstanding, 0);
    assert.equal(u.requests, 1);
    assert.equal(b.requests[0].url, '/x');
    assert.equal(p.size, 1);
    assert.equal(p.upstream(b.address), u);
    await p.close();
    await p.close();
  });

  test('bad configuration is refused at construction', () => {
    const cfg = PoolSchema.parse({ algorithm: 'consistent_hash', hash_on: { by: 'cookie' }, servers: [{ address: '192.0.2.1:80' }] });
    assert.throws(() => new BackendPool('bad', cfg), /pool "bad": consistent_hash: hash_on.by cookie needs a name/);
    const cfg2 = PoolSchema.parse({ servers: [{ address: '192.0.2.1:80' }], outlier: { base_ejection: '10s', max_ejection: '1s' } });
    assert.throws(() => new BackendPool('bad', cfg2), /max_ejection must be at least base_ejection/);
  });
});
