/**
 * Shared rate limits against a real redis-server (test/support/redis.ts): two
 * RateLimiter instances, each with its own connection as two Tollgate
 * processes would have, enforce one limit together; Redis going away switches
 * them to the fallback within the configured timeout, and coming back
 * switches them back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { Redis } from 'ioredis';
import { AccessSchema, RateLimitSchema } from '../../../config/access-schema.js';
import { startRedis, type TestRedis } from '../../../../test/support/redis.js';
import { compileLimit, RateLimiter, responseHeaders, type LimitResult } from './limiter.js';

const TIMEOUT_MS = 100;
const PREFIX = 'tgtest:rl:';

let redis: TestRedis;
const limiters: RateLimiter[] = [];
const inspectors: Redis[] = [];

function newLimiter(url: string): RateLimiter {
  const cfg = AccessSchema.parse({ rate_limit: { redis: { url, prefix: PREFIX, timeout: TIMEOUT_MS }, fallback: 'local' } }).rate_limit;
  const rl = new RateLimiter([], cfg, { maxReconnectDelayMs: 200 });
  limiters.push(rl);
  return rl;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function fallbackCount(): Promise<number> {
  const m = client.register.getSingleMetric('tollgate_ratelimit_fallback_total');
  assert.ok(m);
  const v = (await m.get()).values.find((s) => s.labels.fallback === 'local');
  return v?.value ?? 0;
}

let a: RateLimiter;
let b: RateLimiter;

before(async () => {
  redis = await startRedis();
  a = newLimiter(redis.url);
  b = newLimiter(redis.url);
  await waitFor('both limiters connected', () => a.health().redis === 'up' && b.health().redis === 'up');
});

after(async () => {
  await Promise.all(limiters.map((l) => l.close()));
  for (const r of inspectors) r.disconnect();
  await redis?.stop();
});

describe('RateLimiter with Redis', () => {
  test('the script follows the GCRA: burst, remaining, refusal, key name and expiry', async () => {
    const limit = compileLimit(RateLimitSchema.parse({ id: 'gcra', by: 'user', rate: 1, per: '1m', burst: 3 }));
    const results: LimitResult[] = [];
    for (let i = 0; i < 5; i++) results.push(await a.check('api', limit, 'alice'));
    assert.deepEqual(
      results.map((r) => [r.allowed, r.remaining, r.degraded]),
      [
        [true, 3, null],
        [true, 2, null],
        [true, 1, null],
        [true, 0, null],
        [false, 0, null],
      ],
    );
    const refused = results[4];
    // Next request allowed in one interval (60 s); fully rested in four.
    assert.ok(refused.retryAfterSeconds > 58 && refused.retryAfterSeconds <= 60, `retry after ${refused.retryAfterSeconds}`);
    assert.ok(refused.resetSeconds > 238 && refused.resetSeconds <= 240, `reset ${refused.resetSeconds}`);
    const h = responseHeaders(refused, limit);
    assert.equal(h['RateLimit-Limit'], '4');
    assert.equal(h['RateLimit-Remaining'], '0');
    assert.equal(h['RateLimit-Policy'], '1;w=60;burst=3');
    assert.equal(h['Retry-After'], String(refused.retryAfterSeconds));

    // The other process sees the same state.
    assert.equal((await b.check('api', limit, 'alice')).allowed, false);

    const inspect = new Redis(redis.url);
    inspectors.push(inspect);
    const key = `${PREFIX}api:gcra:alice`;
    const ttl = await inspect.pttl(key);
    await inspect.quit();
    // Expires when the key is rested again: 4 intervals, nothing left behind after.
    assert.ok(ttl > 230_000 && ttl <= 240_000, `PTTL ${ttl}`);
  });

  test('two limiters hammering one key concurrently share the limit', async () => {
    const rate = 50;
    const limit = compileLimit(RateLimitSchema.parse({ id: 'shared', by: 'route', rate, per: '1s', burst: 0 }));
    let allowed = 0;
    let degraded = 0;
    let total = 0;
    const start = Date.now();
    const end = start + 2000;
    const worker = async (rl: RateLimiter): Promise<void> => {
      while (Date.now() < end) {
        const r = await rl.check('api', limit, 'all');
        total++;
        if (r.allowed) allowed++;
        if (r.degraded) degraded++;
      }
    };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < 8; i++) workers.push(worker(a), worker(b));
    await Promise.all(workers);
    const seconds = (Date.now() - start) / 1000;
    const ceiling = rate * seconds + limit.burst + 1 + 2;
    assert.equal(degraded, 0, 'Redis answered every request');
    assert.ok(total > allowed * 5, `the limit was actually contended (${total} requests for ${allowed} allowed)`);
    assert.ok(allowed <= ceiling, `allowed ${allowed} in ${seconds.toFixed(2)} s, at most ${ceiling.toFixed(1)} expected`);
    assert.ok(allowed >= 0.8 * rate * 2, `allowed ${allowed} in ${seconds.toFixed(2)} s, at least ${0.8 * rate * 2} expected`);
  });

  test('Redis stopped: fallback within the timeout, health down; restarted: shared again', async () => {
    const limit = compileLimit(RateLimitSchema.parse({ id: 'outage', by: 'client_ip', rate: 1000, per: '1s', burst: 10 }));
    const fallbacksBefore = await fallbackCount();
    const port = redis.port;

    // Traffic runs throughout; every decision is timed.
    const seen: { startedAt: number; took: number; degraded: LimitResult['degraded'] }[] = [];
    let running = true;
    const traffic = (async () => {
      while (running) {
        const startedAt = Date.now();
        const r = await a.check('api', limit, '192.0.2.1');
        seen.push({ startedAt, took: Date.now() - startedAt, degraded: r.degraded });
        await sleep(5);
      }
    })();

    await sleep(200);
    assert.ok(seen.length > 0 && seen.every((s) => s.degraded === null), 'shared mode before the outage');
    const stoppedAt = Date.now();
    await redis.stop();
    await sleep(300 + TIMEOUT_MS);
    running = false;
    await traffic;

    const after = seen.filter((s) => s.startedAt >= stoppedAt);
    assert.ok(after.length > 5, 'traffic continued during the outage');
    const slowest = Math.max(...after.map((s) => s.took));
    assert.ok(slowest <= TIMEOUT_MS + 100, `slowest decision during the outage took ${slowest} ms (timeout ${TIMEOUT_MS} ms)`);
    const late = after.filter((s) => s.startedAt >= stoppedAt + TIMEOUT_MS + 50);
    assert.ok(late.length > 0 && late.every((s) => s.degraded === 'fallback_local'), 'decisions after the timeout come from the fallback');
    const h = a.health();
    assert.equal(h.redis, 'down');
    assert.ok(h.lastError, 'the error is reported');
    assert.ok(h.since && Date.parse(h.since) >= stoppedAt - 5, `down since the stop (${h.since})`);
    assert.ok((await fallbackCount()) > fallbacksBefore, 'the fallback counter increased');
    const up = client.register.getSingleMetric('tollgate_ratelimit_redis_up');
    assert.equal((await up?.get())?.values[0]?.value, 0);

    // Back on the same port (empty: no persistence): ioredis reconnects by itself.
    redis = await startRedis({ port });
    await waitFor('reconnection', () => a.health().redis === 'up' && b.health().redis === 'up', 5000);
    const once = compileLimit(RateLimitSchema.parse({ id: 'after', by: 'client_ip', rate: 1, per: '1m' }));
    const first = await a.check('api', once, '192.0.2.9');
    const second = await b.check('api', once, '192.0.2.9');
    assert.deepEqual([first.allowed, first.degraded], [true, null]);
    assert.deepEqual([second.allowed, second.degraded], [false, null], 'the other process shares the limit again');
    assert.equal((await up?.get())?.values[0]?.value, 1);
  });
});
