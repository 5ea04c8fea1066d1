import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALGORITHMS, type Algorithm, type PoolConfig } from '../../config/schema.js';
import { BALANCERS, buildHashRing, createBalancer } from './balancers.js';
import {
  KEYED_CONTEXTS,
  assertShares,
  closeUpstreams,
  drive,
  makeUpstreams,
  pickContext,
  runBalancerConformance,
  testPoolConfig,
} from './conformance.js';
import { fnv1a32, hash32 } from './hash.js';
import type { Upstream } from './upstream.js';

for (const algorithm of ALGORITHMS) runBalancerConformance(algorithm);

const created: Upstream[] = [];
after(() => closeUpstreams(created));

function setup(algorithm: Algorithm, weights: readonly number[], extra: Record<string, unknown> = {}) {
  const cfg = testPoolConfig(algorithm, weights, extra);
  const ups = makeUpstreams(cfg);
  created.push(...ups);
  return { cfg, ups, b: createBalancer(algorithm, ups, cfg) };
}

const ctx = pickContext('203.0.113.7');

describe('registry', () => {
  test('has a factory for every configured algorithm, and nothing else', () => {
    assert.deepEqual(Object.keys(BALANCERS).sort(), [...ALGORITHMS].sort());
  });

  test('rejects unknown algorithms and empty pools', () => {
    const { cfg, ups } = setup('round_robin', [1]);
    assert.throws(() => createBalancer('random' as Algorithm, ups, cfg), /unknown balancing algorithm "random"/);
    assert.throws(() => createBalancer('toString' as Algorithm, ups, cfg), /unknown balancing algorithm/);
    for (const a of ALGORITHMS) assert.throws(() => createBalancer(a, [], cfg), /at least one server/);
  });
});

describe('round_robin', () => {
  test('rotates in order, skipping unavailable servers without favouring a neighbour', () => {
    const { ups, b } = setup('round_robin', [1, 1, 1, 1]);
    const seq = () => Array.from({ length: 8 }, () => ups.indexOf(b.pick(ctx)!)).join('');
    assert.equal(seq(), '01230123');
    ups[1].healthy = false;
    ups[2].healthy = false;
    assert.equal(seq(), '03030303');
  });
});

describe('weighted_round_robin', () => {
  test('weights 5,1,1 interleave like NGINX: a a b a c a a', () => {
    const { ups, b } = setup('weighted_round_robin', [5, 1, 1]);
    const seq = Array.from({ length: 14 }, () => 'abc'[ups.indexOf(b.pick(ctx)!)]).join(' ');
    assert.equal(seq, 'a a b a c a a a a b a c a a');
  });

  test('an excluded heavy server hands its turn to the others only for that pick', () => {
    const { ups, b } = setup('weighted_round_robin', [5, 1, 1]);
    assert.equal(b.pick(ctx, new Set([ups[0]])), ups[1]);
    const counts = drive(b, ups, { picks: 700 });
    assertShares(counts, [5, 1, 1], 0.02, 'after the exclusion');
  });
});

describe('least_outstanding', () => {
  test('idle servers tie and the ties rotate', () => {
    const { ups, b } = setup('least_outstanding', [1, 1, 1]);
    const seq = Array.from({ length: 6 }, () => ups.indexOf(b.pick(ctx)!)).join('');
    assert.equal(seq, '012012');
  });

  test('picks the fewest in flight relative to weight', () => {
    const { ups, b } = setup('least_outstanding', [1, 1, 2]);
    ups[0].outstanding = 2;
    ups[1].outstanding = 1;
    ups[2].outstanding = 3; // 3/2 > 1/1
    assert.equal(b.pick(ctx), ups[1]);
    ups[2].outstanding = 1; // 1/2 < 1/1
    assert.equal(b.pick(ctx), ups[2]);
  });
});

describe('power_of_two', () => {
  test('the two choices are distinct: the busiest of three is never picked', () => {
    const { ups, b } = setup('power_of_two', [1, 1, 1]);
    ups[0].outstanding = 100;
    const counts = drive(b, ups, { picks: 3000 });
    assert.equal(counts[0], 0);
    assertShares([counts[1], counts[2]], [1, 1], 0.12, 'the other two');
  });

  test('of two servers, always the less loaded one', () => {
    const { ups, b } = setup('power_of_two', [1, 1]);
    ups[1].outstanding = 1;
    for (let i = 0; i < 200; i++) assert.equal(b.pick(ctx), ups[0]);
  });

  test('with one server left available it is picked', () => {
    const { ups, b } = setup('power_of_two', [1, 1, 1, 1]);
    ups[0].healthy = false;
    ups[1].healthy = false;
    ups[3].ejectedUntil = Date.now() + 60_000;
    for (let i = 0; i < 100; i++) assert.equal(b.pick(ctx), ups[2]);
  });
});

describe('consistent_hash', () => {
  const KEYS = KEYED_CONTEXTS.slice(0, 5000);

  test('the same key always reaches the same server', () => {
    const { ups, b } = setup('consistent_hash', [1, 1, 1, 1, 1]);
    const first = KEYS.map((c) => b.pick(c));
    for (let round = 0; round < 3; round++) KEYS.forEach((c, i) => assert.equal(b.pick(c), first[i]));
    // Another balancer over the same servers (another worker process) agrees.
    const again = createBalancer('consistent_hash', ups, testPoolConfig('consistent_hash', [1, 1, 1, 1, 1]));
    KEYS.forEach((c, i) => assert.equal(again.pick(c), first[i]));
  });

  test('removing 1 of 5 servers remaps only the keys it owned (~20%)', () => {
    const { cfg, ups, b } = setup('consistent_hash', [1, 1, 1, 1, 1]);
    const before = KEYS.map((c) => b.pick(c)!);
    const gone = ups[2];
    const owned = before.filter((u) => u === gone).length;
    assert.ok(owned / KEYS.length > 0.12 && owned / KEYS.length < 0.28, `removed server owned ${owned} of ${KEYS.length} keys`);

    // Removed from the config: a new ring over the other four.
    const rest = ups.filter((u) => u !== gone);
    const rebuilt = createBalancer('consistent_hash', rest, { ...cfg, servers: cfg.servers.filter((_, i) => i !== 2) });
    // Taken out of rotation: the same ring, walked past it.
    gone.healthy = false;
    for (const after of [rebuilt, b]) {
      const targets = new Set<Upstream>();
      let moved = 0;
      KEYS.forEach((c, i) => {
        const u = after.pick(c)!;
        if (before[i] === gone) {
          targets.add(u);
          moved++;
        } else {
          assert.equal(u, before[i], `key ${c.clientIp} moved although its server stayed`);
        }
      });
      assert.equal(moved, owned);
      // Its keys spread over the others rather than all landing on one.
      assert.ok(targets.size >= 3, `keys of the removed server went to ${targets.size} server(s)`);
    }
    // Back in rotation: every key returns to where it was.
    gone.healthy = true;
    KEYS.forEach((c, i) => assert.equal(b.pick(c), before[i]));
  });

  test('an excluded owner sends the key to the next server on the ring, the same one as when it is down', () => {
    const { ups, b } = setup('consistent_hash', [1, 1, 1, 1]);
    for (const c of KEYS.slice(0, 300)) {
      const owner = b.pick(c)!;
      const next = b.pick(c, new Set([owner]))!;
      assert.notEqual(next, owner);
      owner.healthy = false;
      assert.equal(b.pick(c), next);
      owner.healthy = true;
    }
    for (const u of ups) u.healthy = true;
  });

  test('hash_on header: same header value, same server, whatever the client IP; absent header falls back to the client IP', () => {
    const { ups, b } = setup('consistent_hash', [1, 1, 1, 1], { hash_on: { by: 'header', name: 'X-Tenant' } });
    const byIp = createBalancer('consistent_hash', ups, testPoolConfig('consistent_hash', [1, 1, 1, 1]));
    const servers = new Set<Upstream>();
    for (let t = 0; t < 200; t++) {
      const tenant = `tenant-${t}`;
      const target = b.pick(pickContext('198.51.100.1', { 'x-tenant': tenant }));
      servers.add(target!);
      for (let i = 0; i < 5; i++) assert.equal(b.pick(pickContext(`198.51.100.${i + 2}`, { 'x-tenant': tenant })), target);
    }
    assert.equal(servers.size, 4, 'tenants spread over all servers');
    for (const c of KEYS.slice(0, 300)) assert.equal(b.pick(c), byIp.pick(c));
    // An empty header value is as good as none.
    assert.equal(b.pick(pickContext('198.51.100.9', { 'x-tenant': '' })), byIp.pick(pickContext('198.51.100.9')));
  });

  test('hash_on cookie', () => {
    const { ups, b } = setup('consistent_hash', [1, 1, 1], { hash_on: { by: 'cookie', name: 'session' } });
    const byIp = createBalancer('consistent_hash', ups, testPoolConfig('consistent_hash', [1, 1, 1]));
    const s = b.pick(pickContext('198.51.100.1', {}, { session: 'abc' }));
    for (let i = 2; i < 50; i++) assert.equal(b.pick(pickContext(`198.51.100.${i}`, {}, { session: 'abc' })), s);
    for (const c of KEYS.slice(0, 300)) assert.equal(b.pick(c), byIp.pick(c));
  });

  test('hash_on header or cookie without a name is refused', () => {
    const cfg = testPoolConfig('consistent_hash', [1]);
    const ups = makeUpstreams(cfg);
    created.push(...ups);
    const bad: PoolConfig = { ...cfg, hash_on: { by: 'header' } };
    assert.throws(() => createBalancer('consistent_hash', ups, bad), /needs a name/);
  });

  test('the ring gives each server points in proportion to its weight', () => {
    const { ups } = setup('consistent_hash', [300, 100, 200]);
    const ring = buildHashRing(ups);
    const per = [0, 0, 0];
    for (const o of ring.owners) per[o]++;
    assert.deepEqual(per, [1200, 400, 800]); // reduced by the gcd (100), 400 points per unit
    for (let i = 1; i < ring.points.length; i++) assert.ok(ring.points[i - 1] <= ring.points[i]);
  });
});

describe('hash', () => {
  test('FNV-1a 32 reference values', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  });

  test('hash32 is unsigned, stable and handles non-ASCII', () => {
    for (const s of ['', 'a', '10.0.0.1', 'ключ', '🙂']) {
      const h = hash32(s);
      assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff);
      assert.equal(hash32(s), h);
    }
    assert.notEqual(hash32('10.0.0.1'), hash32('10.0.0.2'));
  });
});
