/**
 * Balancing algorithms and their registry.
 *
 * A factory validates its input and precompiles everything once (weights,
 * the hash ring); pick() is the per-request hot path, so it allocates nothing,
 * reads the clock once and does at most a couple of passes over the servers.
 *
 * Every algorithm obeys the same contract, checked by conformance.ts: pick()
 * returns only servers that are available (healthy and not ejected) and not in
 * `exclude` (the servers a retry already tried), or null when there is none.
 */
import { ALGORITHMS, type Algorithm, type PoolConfig } from '../../config/schema.js';
import { hash32 } from './hash.js';
import type { Upstream } from './upstream.js';

/** What a balancer may look at in a request. */
export interface PickContext {
  /** The client address, resolved through trusted proxies. */
  clientIp: string;
  /** A request header by lower-case name. */
  header(name: string): string | undefined;
  /** A request cookie by name. */
  cookie(name: string): string | undefined;
}

export interface Balancer {
  /** Namespaced id, e.g. "balancer.round_robin". */
  readonly id: string;
  pick(ctx: PickContext, exclude?: ReadonlySet<Upstream>): Upstream | null;
}

export type BalancerFactory = (upstreams: readonly Upstream[], poolConfig: PoolConfig) => Balancer;

/** The settings factories read; a full PoolConfig satisfies it. */
type BalancerSettings = Pick<PoolConfig, 'hash_on'>;

function checkUpstreams(algorithm: string, upstreams: readonly Upstream[]): Upstream[] {
  if (upstreams.length === 0) throw new Error(`${algorithm}: a pool needs at least one server`);
  for (const u of upstreams) {
    if (!Number.isInteger(u.weight) || u.weight < 1) throw new Error(`${algorithm}: invalid weight ${u.weight} for ${u.address}`);
  }
  // A private copy: the order (and so the rotation) can't change under us.
  return upstreams.slice();
}

const eligible = (u: Upstream, now: number, exclude: ReadonlySet<Upstream> | undefined): boolean =>
  u.isAvailable(now) && (exclude === undefined || !exclude.has(u));

/**
 * Plain rotation, weights ignored. The cursor moves to just after the server
 * picked, so a skipped (unavailable) server's turn goes to the next one once,
 * not always to the same neighbour: the rest still get equal shares.
 */
export const roundRobin: BalancerFactory = (upstreams) => {
  const list = checkUpstreams('round_robin', upstreams);
  const n = list.length;
  let next = 0;
  return {
    id: 'balancer.round_robin',
    pick(_ctx, exclude) {
      const now = Date.now();
      for (let k = 0; k < n; k++) {
        const i = next + k < n ? next + k : next + k - n;
        const u = list[i];
        if (eligible(u, now, exclude)) {
          next = i + 1 === n ? 0 : i + 1;
          return u;
        }
      }
      return null;
    },
  };
};

/**
 * Smooth weighted round robin, as NGINX does it: each pick adds every
 * candidate's weight to its running score, takes the highest score (first on
 * ties) and subtracts the candidates' total from it. Weights 5,1,1 give
 * a a b a c a a: interleaved, no bursts to the heavy server.
 */
export const weightedRoundRobin: BalancerFactory = (upstreams) => {
  const list = checkUpstreams('weighted_round_robin', upstreams);
  const n = list.length;
  const weights = Float64Array.from(list, (u) => u.weight);
  const current = new Float64Array(n);
  return {
    id: 'balancer.weighted_round_robin',
    pick(_ctx, exclude) {
      const now = Date.now();
      let total = 0;
      let best = -1;
      for (let i = 0; i < n; i++) {
        if (!eligible(list[i], now, exclude)) continue;
        current[i] += weights[i];
        total += weights[i];
        if (best < 0 || current[i] > current[best]) best = i;
      }
      if (best < 0) return null;
      current[best] -= total;
      return list[best];
    },
  };
};

/**
 * Fewest in-flight requests relative to weight (outstanding/weight, compared
 * by cross-multiplying). The scan starts just after the previous pick, and
 * only a strictly lower load displaces the first candidate, so ties rotate
 * instead of always landing on the first server.
 */
export const leastOutstanding: BalancerFactory = (upstreams) => {
  const list = checkUpstreams('least_outstanding', upstreams);
  const n = list.length;
  let start = 0;
  return {
    id: 'balancer.least_outstanding',
    pick(_ctx, exclude) {
      const now = Date.now();
      let best = -1;
      let bestOut = 0;
      let bestWeight = 1;
      for (let k = 0; k < n; k++) {
        const i = start + k < n ? start + k : start + k - n;
        const u = list[i];
        if (!eligible(u, now, exclude)) continue;
        if (best < 0 || u.outstanding * bestWeight < bestOut * u.weight) {
          best = i;
          bestOut = u.outstanding;
          bestWeight = u.weight;
        }
      }
      if (best < 0) return null;
      start = best + 1 === n ? 0 : best + 1;
      return list[best];
    },
  };
};

/**
 * Power of two choices: two distinct random candidates, keep the one with the
 * lower outstanding/weight (the first, itself random, on ties). Close to
 * least_outstanding in effect without scanning every server, and without the
 * herd that least-loaded causes when many pickers see the same stale counts.
 */
export const powerOfTwo: BalancerFactory = (upstreams) => {
  const list = checkUpstreams('power_of_two', upstreams);
  const n = list.length;
  const lighter = (a: Upstream, b: Upstream): Upstream => (b.outstanding * a.weight < a.outstanding * b.weight ? b : a);
  return {
    id: 'balancer.power_of_two',
    pick(_ctx, exclude) {
      const now = Date.now();
      // Fast path: two distinct random indices, both eligible (the usual case).
      // Given success the pair is uniform over eligible pairs, and the slow path
      // is uniform too, so the mix stays unbiased.
      if (n >= 2) {
        const i = Math.floor(Math.random() * n);
        let j = Math.floor(Math.random() * (n - 1));
        if (j >= i) j++;
        const a = list[i];
        const b = list[j];
        if (eligible(a, now, exclude) && eligible(b, now, exclude)) return lighter(a, b);
      }
      // Slow path: count the eligible, then take the r1-th and r2-th of them.
      let m = 0;
      let only: Upstream | null = null;
      for (let i = 0; i < n; i++) {
        if (eligible(list[i], now, exclude)) {
          m++;
          only = list[i];
        }
      }
      if (m <= 1) return only;
      const r1 = Math.floor(Math.random() * m);
      let r2 = Math.floor(Math.random() * (m - 1));
      if (r2 >= r1) r2++;
      let a: Upstream | null = null;
      let b: Upstream | null = null;
      for (let i = 0, r = 0; i < n && (a === null || b === null); i++) {
        const u = list[i];
        if (!eligible(u, now, exclude)) continue;
        if (r === r1) a = u;
        else if (r === r2) b = u;
        r++;
      }
      return lighter(a!, b!);
    },
  };
};

/**
 * Virtual nodes per unit of (gcd-reduced) weight. A server's share of the
 * ring deviates from its weight by ~1/sqrt(points): with 160 (ketama) four
 * equal servers are typically 9% apart at worst, with 400 about 6%, for 3 KiB
 * of ring per unit.
 */
const VNODES_PER_WEIGHT = 400;
/** Ring size cap (1 MiB of typed arrays) for pools with many heavy servers. */
const MAX_RING_POINTS = 1 << 17;

const gcd = (a: number, b: number): number => {
  while (b) [a, b] = [b, a % b];
  return a;
};

/** The compiled ring: sorted point hashes and the server index owning each. */
export interface HashRing {
  points: Uint32Array;
  owners: Uint32Array;
}

/**
 * Builds the ring. A server's points depend only on its own address and
 * weight (hash of "address#k"), not on the other servers, so adding or
 * removing one server moves only the keys that server owns. Weights are
 * reduced by their gcd first so 100/300 costs no more than 1/3.
 */
export function buildHashRing(list: readonly Upstream[]): HashRing {
  const g = list.reduce((acc, u) => gcd(acc, u.weight), 0);
  const units = list.reduce((acc, u) => acc + u.weight / g, 0);
  const perUnit = Math.min(VNODES_PER_WEIGHT, MAX_RING_POINTS / units);
  const entries: { h: number; owner: number }[] = [];
  list.forEach((u, owner) => {
    const count = Math.max(1, Math.round((u.weight / g) * perUnit));
    for (let k = 0; k < count; k++) entries.push({ h: hash32(`${u.address}#${k}`), owner });
  });
  // Owner breaks hash collisions so every process builds the identical ring.
  entries.sort((x, y) => x.h - y.h || x.owner - y.owner);
  return { points: Uint32Array.from(entries, (e) => e.h), owners: Uint32Array.from(entries, (e) => e.owner) };
}

/** Index of the first point >= h, wrapping to 0 past the end. */
function ringSearch(points: Uint32Array, h: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}

/**
 * Consistent hashing on a ring of virtual nodes (count proportional to
 * weight). The key is the client IP, or a header/cookie (`hash_on`), falling
 * back to the client IP when the request lacks it. When the owner of the key
 * is unavailable or excluded, the walk continues clockwise to the next
 * eligible server, so only that server's keys move, and they move back when
 * it returns.
 */
export const consistentHash: BalancerFactory = (upstreams, poolConfig: BalancerSettings) => {
  const list = checkUpstreams('consistent_hash', upstreams);
  const n = list.length;
  const by = poolConfig.hash_on?.by ?? 'client_ip';
  const rawName = poolConfig.hash_on?.name;
  if ((by === 'header' || by === 'cookie') && !rawName) throw new Error(`consistent_hash: hash_on.by ${by} needs a name`);
  // Header names are case-insensitive (callers look them up lower-case); cookie names are not.
  const keyName = by === 'header' ? rawName!.toLowerCase() : (rawName ?? '');
  const { points, owners } = buildHashRing(list);
  const size = points.length;
  return {
    id: 'balancer.consistent_hash',
    pick(ctx, exclude) {
      const now = Date.now();
      // Checking that someone is eligible first bounds the walk below to one
      // lap that is sure to stop early.
      let any = false;
      for (let i = 0; i < n; i++) {
        if (eligible(list[i], now, exclude)) {
          any = true;
          break;
        }
      }
      if (!any) return null;
      let key: string | undefined;
      if (by === 'header') key = ctx.header(keyName);
      else if (by === 'cookie') key = ctx.cookie(keyName);
      if (!key) key = ctx.clientIp;
      let idx = ringSearch(points, hash32(key));
      for (let s = 0; s < size; s++) {
        const u = list[owners[idx]];
        if (eligible(u, now, exclude)) return u;
        idx = idx + 1 === size ? 0 : idx + 1;
      }
      return null;
    },
  };
};

/** Factories by algorithm name (the names of ALGORITHMS in the config schema). */
export const BALANCERS: Readonly<Record<Algorithm, BalancerFactory>> = {
  round_robin: roundRobin,
  weighted_round_robin: weightedRoundRobin,
  least_outstanding: leastOutstanding,
  power_of_two: powerOfTwo,
  consistent_hash: consistentHash,
};

/** Builds the balancer for a pool; throws on an unknown algorithm or bad input. */
export function createBalancer(algorithm: Algorithm, upstreams: readonly Upstream[], config: PoolConfig): Balancer {
  const factory = Object.prototype.hasOwnProperty.call(BALANCERS, algorithm) ? BALANCERS[algorithm] : undefined;
  if (!factory) throw new Error(`unknown balancing algorithm ${JSON.stringify(algorithm)} (known: ${ALGORITHMS.join(', ')})`);
  return factory(upstreams, config);
}
