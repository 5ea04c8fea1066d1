import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { RateLimitSchema, AccessSchema } from '../../../config/access-schema.js';
import { freePort } from '../../../runtime/ports.js';
import { compileLimit, policyString, RateLimiter, responseHeaders, type LimitResult, type RateLimitStorageConfig } from './limiter.js';

const T0 = 1_700_000_000_000;

function limitCfg(over: Record<string, unknown>) {
  return RateLimitSchema.parse({ id: 'l1', by: 'client_ip', rate: 10, ...over });
}

function storage(over: Record<string, unknown> = {}): RateLimitStorageConfig {
  return AccessSchema.parse({ rate_limit: over }).rate_limit;
}

/** The value of one sample of a metric in the default registry. */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = client.register.getSingleMetric(name);
  assert.ok(m, `metric ${name} is registered`);
  const got = await m.get();
  const v = got.values.find((s) => Object.entries(labels).every(([k, val]) => s.labels[k] === val));
  return v?.value ?? 0;
}

function sync(r: LimitResult | Promise<LimitResult>): LimitResult {
  assert.ok(!(r instanceof Promise), 'decided synchronously');
  return r;
}

const limiters: RateLimiter[] = [];
after(async () => {
  await Promise.all(limiters.map((l) => l.close()));
});

describe('compileLimit', () => {
  test('precomputes the interval, header limit and policy', () => {
    const l = compileLimit(limitCfg({ rate: 10, per: '1s', burst: 5, methods: ['POST'] }));
    assert.equal(l.emissionMs, 100);
    assert.equal(l.limit, 6);
    assert.equal(l.policy, '10;w=1;burst=5');
    assert.deepEqual([...(l.methods ?? [])], ['POST']);
    assert.equal(l.paths, null);
    assert.equal(l.shadow, false);
  });

  test('policy strings use whole seconds and whole quotas', () => {
    assert.equal(policyString(10, 1000, 0), '10;w=1');
    assert.equal(policyString(100, 60_000, 20), '100;w=60;burst=20');
    assert.equal(policyString(0.5, 1000, 0), '1;w=2');
    assert.equal(policyString(5, 500, 0), '10;w=1');
    assert.equal(policyString(3, 1500, 0), '4;w=2');
    // No whole quota within 60 multiples: rounded down, never advertising more.
    assert.equal(policyString(Math.PI, 1000, 0), '3;w=1');
  });
});

describe('RateLimiter, local mode', () => {
  test('decides synchronously, counts remaining down and refuses with Retry-After', async () => {
    let now = T0;
    const rl = new RateLimiter([{ routeId: 'api', limits: [limitCfg({ id: 'burst', rate: 2, per: '1s', burst: 1 })] }], storage(), { now: () => now });
    limiters.push(rl);
    const [limit] = rl.limitsFor('api');
    assert.equal(limit.id, 'burst');
    const allowedBefore = await metric('tollgate_ratelimit_decisions_total', { route: 'api', limit: 'burst', result: 'allowed' });
    const limitedBefore = await metric('tollgate_ratelimit_decisions_total', { route: 'api', limit: 'burst', result: 'limited' });

    const a = sync(rl.check('api', limit, '10.0.0.1'));
    assert.deepEqual(a, { allowed: true, limit: 2, remaining: 1, resetSeconds: 1, retryAfterSeconds: 0, degraded: null });
    assert.deepEqual(responseHeaders(a, limit), { 'RateLimit-Limit': '2', 'RateLimit-Remaining': '1', 'RateLimit-Reset': '1', 'RateLimit-Policy': '2;w=1;burst=1' });
    const b = sync(rl.check('api', limit, '10.0.0.1'));
    assert.equal(b.allowed, true);
    assert.equal(b.remaining, 0);
    const c = sync(rl.check('api', limit, '10.0.0.1'));
    assert.deepEqual(c, { allowed: false, limit: 2, remaining: 0, resetSeconds: 1, retryAfterSeconds: 1, degraded: null });
    assert.equal(responseHeaders(c, limit)['Retry-After'], '1');
    // Another client is not affected.
    assert.equal(sync(rl.check('api', limit, '10.0.0.2')).allowed, true);
    // 500 ms later (T = 500 ms) one more for the first client.
    now += 500;
    assert.equal(sync(rl.check('api', limit, '10.0.0.1')).allowed, true);

    assert.equal((await metric('tollgate_ratelimit_decisions_total', { route: 'api', limit: 'burst', result: 'allowed' })) - allowedBefore, 4);
    assert.equal((await metric('tollgate_ratelimit_decisions_total', { route: 'api', limit: 'burst', result: 'limited' })) - limitedBefore, 1);
    assert.deepEqual(rl.health(), { mode: 'local', redis: null, lastError: null, since: null });
  });

  test('Retry-After and Reset are whole seconds, Retry-After at least 1', () => {
    const now = T0;
    const rl = new RateLimiter([], storage(), { now: () => now });
    limiters.push(rl);
    // 1 per minute, burst 2: a rested key takes 3 minutes to be full again after 3 requests.
    const limit = compileLimit(limitCfg({ rate: 1, per: '1m', burst: 2 }));
    for (let i = 0; i < 3; i++) sync(rl.check('r', limit, 'k'));
    const refused = sync(rl.check('r', limit, 'k'));
    assert.equal(refused.allowed, false);
    assert.equal(refused.retryAfterSeconds, 60);
    assert.equal(refused.resetSeconds, 180);
    // 100/s: a refusal 10 ms away still says 1 second.
    const fast = compileLimit(limitCfg({ id: 'fast', rate: 100, per: '1s' }));
    sync(rl.check('r', fast, 'k'));
    const f = sync(rl.check('r', fast, 'k'));
    assert.equal(f.allowed, false);
    assert.equal(f.retryAfterSeconds, 1);
    assert.equal(responseHeaders(f, fast)['Retry-After'], '1');
  });

  test('routes and limits do not share counters', () => {
    const rl = new RateLimiter([], storage(), { now: () => T0 });
    limiters.push(rl);
    const one = compileLimit(limitCfg({ id: 'one', rate: 1 }));
    const two = compileLimit(limitCfg({ id: 'two', rate: 1 }));
    assert.equal(sync(rl.check('r1', one, 'k')).allowed, true);
    assert.equal(sync(rl.check('r1', two, 'k')).allowed, true);
    assert.equal(sync(rl.check('r2', one, 'k')).allowed, true);
    assert.equal(sync(rl.check('r1', one, 'k')).allowed, false);
  });

  test('a shadow limit reports what it would do, counts "shadow" and sends no headers', async () => {
    const rl = new RateLimiter([], storage(), { now: () => T0 });
    limiters.push(rl);
    const limit = compileLimit(limitCfg({ id: 'shadowed', rate: 1, shadow: true }));
    const before = await metric('tollgate_ratelimit_decisions_total', { route: 'sh', limit: 'shadowed', result: 'shadow' });
    sync(rl.check('sh', limit, 'k'));
    const r = sync(rl.check('sh', limit, 'k'));
    assert.equal(r.allowed, false);
    assert.deepEqual(responseHeaders(r, limit), {});
    assert.equal((await metric('tollgate_ratelimit_decisions_total', { route: 'sh', limit: 'shadowed', result: 'shadow' })) - before, 1);
  });

  test('max_keys bounds the counters and evictions are exported', async () => {
    const rl = new RateLimiter([], storage({ max_keys: 1000 }), { now: () => T0 });
    limiters.push(rl);
    const limit = compileLimit(limitCfg({ rate: 1 }));
    const before = await metric('tollgate_ratelimit_evictions_total');
    for (let i = 0; i < 1500; i++) sync(rl.check('r', limit, String(i)));
    assert.equal(rl.localKeys, 1000);
    assert.equal(rl.localEvictions, 500);
    assert.equal((await metric('tollgate_ratelimit_evictions_total')) - before, 500);
  });
});

describe('RateLimiter, Redis unreachable', () => {
  async function unreachable(fallback: 'local' | 'allow' | 'deny'): Promise<RateLimiter> {
    // A port nothing listens on: connections are refused at once.
    const port = await freePort();
    const rl = new RateLimiter([], storage({ redis: { url: `redis://127.0.0.1:${port}`, timeout: '50ms' }, fallback }), { now: () => T0 });
    limiters.push(rl);
    return rl;
  }

  test('fallback local: decided synchronously by the local store, marked degraded', async () => {
    const rl = await unreachable('local');
    const limit = compileLimit(limitCfg({ id: 'fb', rate: 1 }));
    const before = await metric('tollgate_ratelimit_fallback_total', { fallback: 'local' });
    const a = sync(rl.check('r', limit, 'k'));
    const b = sync(rl.check('r', limit, 'k'));
    assert.deepEqual([a.allowed, a.degraded], [true, 'fallback_local']);
    assert.deepEqual([b.allowed, b.degraded], [false, 'fallback_local']);
    assert.equal((await metric('tollgate_ratelimit_fallback_total', { fallback: 'local' })) - before, 2);
    const h = rl.health();
    assert.equal(h.mode, 'redis');
    assert.equal(h.redis, 'down');
    assert.ok(h.since);
    assert.equal(await metric('tollgate_ratelimit_redis_up'), 0);
  });

  test('fallback allow: everything passes, headers without a remaining count', () => {
    return unreachable('allow').then((rl) => {
      const limit = compileLimit(limitCfg({ id: 'fb', rate: 1 }));
      for (let i = 0; i < 3; i++) {
        const r = sync(rl.check('r', limit, 'k'));
        assert.equal(r.allowed, true);
        assert.equal(r.degraded, 'fallback_allow');
        assert.deepEqual(responseHeaders(r, limit), { 'RateLimit-Limit': '1', 'RateLimit-Policy': '1;w=1' });
      }
    });
  });

  test('fallback deny: everything is refused with Retry-After 1', async () => {
    const rl = await unreachable('deny');
    const limit = compileLimit(limitCfg({ id: 'fb', rate: 1000 }));
    const r = sync(rl.check('r', limit, 'k'));
    assert.equal(r.allowed, false);
    assert.equal(r.degraded, 'fallback_deny');
    assert.equal(responseHeaders(r, limit)['Retry-After'], '1');
  });
});
