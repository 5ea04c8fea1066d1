/**
 * The contract every balancing algorithm must meet, as one node:test suite:
 * fair shares, weights, never an unavailable or excluded server, null when
 * none is left. balancers.test.ts runs it for each of ALGORITHMS, so a new
 * algorithm is only done when it passes here.
 *
 * No server is contacted: upstreams point at reserved addresses and their
 * connection pools are never used (and closed after the suite).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolSchema, type Algorithm, type PoolConfig } from '../../config/schema.js';
import { createBalancer, type Balancer, type PickContext } from './balancers.js';
import { Upstream } from './upstream.js';

/** A validated pool config (schema defaults applied) with one server per weight. */
export function testPoolConfig(algorithm: Algorithm, weights: readonly number[], extra: Record<string, unknown> = {}): PoolConfig {
  return PoolSchema.parse({
    algorithm,
    servers: weights.map((weight, i) => ({ address: `192.0.2.${i + 1}:8080`, weight })),
    ...extra,
  });
}

/** Upstreams for a config; remember to close them (closeUpstreams). */
export function makeUpstreams(cfg: PoolConfig): Upstream[] {
  return cfg.servers.map((s) => new Upstream(s, cfg));
}

export async function closeUpstreams(list: readonly Upstream[]): Promise<void> {
  await Promise.all(list.map((u) => u.dispatcher.close()));
}

/** A request context with this client IP and, optionally, headers (lower-case names) and cookies. */
export function pickContext(clientIp: string, headers: Record<string, string> = {}, cookies: Record<string, string> = {}): PickContext {
  return {
    clientIp,
    header: (name) => headers[name],
    cookie: (name) => cookies[name],
  };
}

/** Distinct client IPs, so consistent_hash sees many keys (the others ignore them). */
export const KEYED_CONTEXTS: readonly PickContext[] = Array.from({ length: 6000 }, (_, i) => pickContext(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`));

export interface DriveOptions {
  /** Keep every pick outstanding (acquire without release), as under load. */
  hold?: boolean;
  exclude?: ReadonlySet<Upstream>;
  picks?: number;
}

/** Picks `picks` times (one context each) and counts the picks per upstream. */
export function drive(b: Balancer, upstreams: readonly Upstream[], opts: DriveOptions = {}): number[] {
  const picks = opts.picks ?? KEYED_CONTEXTS.length;
  const counts = upstreams.map(() => 0);
  for (let i = 0; i < picks; i++) {
    const u = b.pick(KEYED_CONTEXTS[i % KEYED_CONTEXTS.length], opts.exclude);
    assert.ok(u, `pick ${i} returned null`);
    const idx = upstreams.indexOf(u);
    assert.ok(idx >= 0, 'picked an upstream that is not in the list');
    counts[idx]++;
    u.acquire();
    if (!opts.hold) u.release();
  }
  return counts;
}

/** Resets the live state tests change. */
export function resetUpstreams(list: readonly Upstream[]): void {
  for (const u of list) {
    u.outstanding = 0;
    u.healthy = true;
    u.ejectedUntil = 0;
  }
}

/** Asserts each count is within `tol` (relative) of its expected share of the total. */
export function assertShares(counts: readonly number[], expected: readonly number[], tol: number, what: string): void {
  const total = counts.reduce((a, b) => a + b, 0);
  const sum = expected.reduce((a, b) => a + b, 0);
  counts.forEach((c, i) => {
    const want = (expected[i] / sum) * total;
    assert.ok(Math.abs(c - want) <= tol * want, `${what}: server ${i} got ${c} of ${total}, expected ${want.toFixed(0)} ± ${(tol * 100).toFixed(0)}% (counts ${counts.join('/')})`);
  });
}

/** How an algorithm is expected to treat weights. */
const WEIGHTING: Record<Algorithm, 'ignored' | 'per_pick' | 'under_load' | 'by_key'> = {
  round_robin: 'ignored',
  weighted_round_robin: 'per_pick',
  least_outstanding: 'under_load',
  power_of_two: 'under_load',
  consistent_hash: 'by_key',
};

/**
 * Relative tolerance on shares. Rotations are exact; power_of_two is random
 * (6000 picks: ~2.5% standard deviation per server); consistent_hash shares
 * depend on where the virtual nodes fall (deterministic, within ~10%).
 */
const TOLERANCE: Record<Algorithm, number> = {
  round_robin: 0.01,
  weighted_round_robin: 0.01,
  least_outstanding: 0.01,
  power_of_two: 0.12,
  consistent_hash: 0.2,
};

export function runBalancerConformance(algorithm: Algorithm): void {
  describe(`balancer conformance: ${algorithm}`, () => {
    const created: Upstream[] = [];
    const setup = (weights: readonly number[]) => {
      const cfg = testPoolConfig(algorithm, weights);
      const ups = makeUpstreams(cfg);
      created.push(...ups);
      return { ups, b: createBalancer(algorithm, ups, cfg) };
    };
    after(() => closeUpstreams(created));
    const tol = TOLERANCE[algorithm];

    test('has the namespaced id', () => {
      const { b } = setup([1]);
      assert.equal(b.id, `balancer.${algorithm}`);
    });

    test('equal weights: every server gets a fair share', () => {
      const { ups, b } = setup([1, 1, 1, 1]);
      assertShares(drive(b, ups), [1, 1, 1, 1], tol, 'requests released at once');
      assertShares(drive(b, ups, { hold: true }), [1, 1, 1, 1], tol, 'requests held outstanding');
    });

    test('a single server gets everything', () => {
      const { ups, b } = setup([3]);
      for (let i = 0; i < 50; i++) assert.equal(b.pick(KEYED_CONTEXTS[i]), ups[0]);
    });

    test('weights 3:1', () => {
      const { ups, b } = setup([3, 1]);
      switch (WEIGHTING[algorithm]) {
        case 'ignored':
          assertShares(drive(b, ups), [1, 1], tol, 'weights are ignored');
          break;
        case 'per_pick':
          assertShares(drive(b, ups), [3, 1], tol, 'weighted picks');
          break;
        case 'under_load':
          // Idle servers tie; under load the in-flight counts follow the weights.
          assertShares(drive(b, ups, { hold: true }), [3, 1], tol, 'requests held outstanding');
          break;
        case 'by_key':
          assertShares(drive(b, ups), [3, 1], tol / 2, 'share of keys');
          break;
      }
    });

    test('weights 3:1:1:1', () => {
      const { ups, b } = setup([3, 1, 1, 1]);
      const w = WEIGHTING[algorithm];
      if (w === 'ignored') assertShares(drive(b, ups), [1, 1, 1, 1], tol, 'weights are ignored');
      else assertShares(drive(b, ups, { hold: w === 'under_load' }), [3, 1, 1, 1], tol, 'weighted');
    });

    test('an unhealthy server is never picked and the others share its traffic', () => {
      const { ups, b } = setup([1, 1, 1, 1]);
      ups[1].healthy = false;
      const counts = drive(b, ups);
      assert.equal(counts[1], 0);
      // consistent_hash hands the lost keys to ring neighbours: fair, not exact.
      assertShares([counts[0], counts[2], counts[3]], [1, 1, 1], algorithm === 'consistent_hash' ? 0.3 : tol, 'rest');
      resetUpstreams(ups);
      ups[0].healthy = false;
      ups[3].healthy = false;
      const two = drive(b, ups, { hold: true });
      assert.equal(two[0] + two[3], 0);
      assert.ok(two[1] > 0 && two[2] > 0, `both remaining servers used: ${two.join('/')}`);
    });

    test('an ejected server is never picked until its ejection ends', () => {
      const { ups, b } = setup([1, 1, 1, 1]);
      ups[2].ejectedUntil = Date.now() + 60_000;
      const counts = drive(b, ups);
      assert.equal(counts[2], 0);
      assertShares([counts[0], counts[1], counts[3]], [1, 1, 1], algorithm === 'consistent_hash' ? 0.3 : tol, 'rest');
      ups[2].ejectedUntil = Date.now() - 1;
      assertShares(drive(b, ups), [1, 1, 1, 1], tol, 'after the ejection');
    });

    test('exclude is respected', () => {
      const { ups, b } = setup([1, 2, 1, 2]);
      const exclude = new Set([ups[0], ups[3]]);
      const counts = drive(b, ups, { exclude });
      assert.equal(counts[0] + counts[3], 0);
      assert.ok(counts[1] > 0 && counts[2] > 0, `both remaining servers used: ${counts.join('/')}`);
      // Excluding everything that is still available leaves nothing.
      ups[1].healthy = false;
      for (let i = 0; i < 20; i++) assert.equal(b.pick(KEYED_CONTEXTS[i], new Set([ups[0], ups[2], ups[3]])), null);
      // An empty exclude set changes nothing.
      resetUpstreams(ups);
      for (let i = 0; i < 20; i++) assert.ok(b.pick(KEYED_CONTEXTS[i], new Set()));
    });

    test('nothing available: null', () => {
      const { ups, b } = setup([1, 1, 1]);
      ups[0].healthy = false;
      ups[1].ejectedUntil = Date.now() + 60_000;
      ups[2].healthy = false;
      for (let i = 0; i < 20; i++) assert.equal(b.pick(KEYED_CONTEXTS[i]), null);
      ups[2].healthy = true;
      for (let i = 0; i < 20; i++) assert.equal(b.pick(KEYED_CONTEXTS[i], new Set([ups[2]])), null);
      for (let i = 0; i < 20; i++) assert.equal(b.pick(KEYED_CONTEXTS[i]), ups[2]);
    });
  });
}
