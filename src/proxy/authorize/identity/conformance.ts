/**
 * The contract every identity method must meet, as one node:test suite: no
 * credential → `none` (so the next method is tried); a valid credential →
 * `ok` with a user id; each kind of bad credential → `fail` with exactly the
 * expected error and a detail that never repeats the secret; repeated and
 * concurrent calls agree; close() is idempotent. Each method's test file runs
 * it with its own setup, so a new method is only done when it passes here.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { AuthError, AuthRequest, IdentityMethod, IdentityOutcome } from './types.js';

export interface BadCase {
  /** Names the case in assertion messages. */
  label: string;
  request: () => AuthRequest;
  error: AuthError;
  /** Expected status when it is not the default (401 / undefined). */
  status?: 401 | 403 | 503;
}

export interface ConformanceSetup {
  method: IdentityMethod;
  validRequest(): AuthRequest;
  /** When set, the valid request must authenticate as this user. */
  expectedUserId?: string;
  missingRequest(): AuthRequest;
  badRequests: BadCase[];
  /** Secrets used by the requests; none may appear in a failure detail. */
  secrets: string[];
  /** The method must answer a repeated valid request synchronously (API keys always, JWT/basic from their cache). */
  syncAfterFirst?: boolean;
  /** Releases what the setup started (servers, sockets); the method itself is closed by the suite. */
  close(): Promise<void>;
}

const METHOD_TYPES = ['api_key', 'jwt', 'mtls', 'basic', 'forward_auth'];

/** A request with neutral defaults; the socket is a plain (non-TLS) stand-in unless given. */
export function authRequest(over: Partial<AuthRequest> & { headers?: IncomingHttpHeaders } = {}): AuthRequest {
  return {
    method: 'GET',
    host: 'app.example',
    path: '/resource',
    query: null,
    headers: {},
    clientIp: '203.0.113.9',
    scheme: 'https',
    socket: { encrypted: false, remoteAddress: '203.0.113.9' } as unknown as Socket,
    ...over,
  };
}

function isPromise(v: unknown): v is Promise<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

function describeOutcome(o: IdentityOutcome): string {
  return o.kind === 'fail' ? `fail ${o.error} (${o.detail})` : o.kind === 'ok' ? `ok ${o.identity.userId}` : 'none';
}

export function assertOk(o: IdentityOutcome, what: string, expectedUserId?: string): asserts o is Extract<IdentityOutcome, { kind: 'ok' }> {
  assert.equal(o.kind, 'ok', `${what}: expected ok, got ${describeOutcome(o)}`);
  if (o.kind !== 'ok') return;
  assert.equal(typeof o.identity.userId, 'string');
  assert.ok(o.identity.userId.length > 0, `${what}: empty userId`);
  assert.ok(Array.isArray(o.identity.groups), `${what}: groups is not an array`);
  assert.ok(o.identity.claims !== null && typeof o.identity.claims === 'object', `${what}: claims is not an object`);
  if (expectedUserId !== undefined) assert.equal(o.identity.userId, expectedUserId, `${what}: user id`);
}

export function assertFail(o: IdentityOutcome, error: AuthError, what: string, secrets: readonly string[] = [], status?: number): void {
  assert.equal(o.kind, 'fail', `${what}: expected fail ${error}, got ${describeOutcome(o)}`);
  if (o.kind !== 'fail') return;
  assert.equal(o.error, error, `${what}: expected ${error}, got ${o.error} (${o.detail})`);
  assert.equal(typeof o.detail, 'string');
  assert.ok(o.detail.length > 0, `${what}: empty detail`);
  for (const s of secrets) if (s.length >= 4) assert.ok(!o.detail.includes(s), `${what}: detail ${JSON.stringify(o.detail)} contains a secret`);
  if (status !== undefined && status !== 401) assert.equal(o.status, status, `${what}: status`);
  else assert.ok(o.status === undefined || o.status === 401, `${what}: status ${o.status}, expected 401`);
}

export function identityConformance(name: string, setup: () => ConformanceSetup | Promise<ConformanceSetup>): void {
  describe(`identity conformance: ${name}`, () => {
    let s: ConformanceSetup;
    before(async () => {
      s = await setup();
    });
    after(async () => {
      await s?.method.close();
      await s?.close();
    });

    test('declares its id, type and challenge', () => {
      assert.ok(s.method.id.length > 0);
      assert.ok(METHOD_TYPES.includes(s.method.type), `unknown type ${s.method.type}`);
      assert.ok(s.method.challenge === null || (typeof s.method.challenge === 'string' && s.method.challenge.length > 0));
    });

    test('no credentials: none', async () => {
      assert.deepEqual(await s.method.authenticate(s.missingRequest()), { kind: 'none' });
      assert.deepEqual(await s.method.authenticate(authRequest({ headers: { 'user-agent': 'conformance', accept: '*/*' } })), { kind: 'none' });
    });

    test('valid credentials: ok with a user id', async () => {
      assertOk(await s.method.authenticate(s.validRequest()), 'valid', s.expectedUserId);
    });

    test('each bad credential fails with its error and a detail without the secret', async () => {
      assert.ok(s.badRequests.length > 0, 'the setup has no bad cases');
      for (const c of s.badRequests) assertFail(await s.method.authenticate(c.request()), c.error, c.label, s.secrets, c.status);
    });

    test('repeated valid calls keep working', async () => {
      let first: string | undefined;
      for (let i = 0; i < 20; i++) {
        const r = s.method.authenticate(s.validRequest());
        if (s.syncAfterFirst && i > 0) assert.ok(!isPromise(r), `call ${i + 1} returned a promise: expected a synchronous (cached) answer`);
        const o = await r;
        assertOk(o, `call ${i + 1}`, s.expectedUserId);
        first ??= o.identity.userId;
        assert.equal(o.identity.userId, first);
      }
    });

    test('concurrent calls are consistent', async () => {
      type Job = { expect: 'ok' } | { expect: 'fail'; c: BadCase };
      const jobs: Job[] = [];
      for (let i = 0; i < 30; i++) jobs.push({ expect: 'ok' });
      for (const c of s.badRequests) for (let i = 0; i < 3; i++) jobs.push({ expect: 'fail', c });
      // Interleave deterministically so good and bad calls overlap.
      const order = jobs.map((j, i) => ({ j, k: (i * 7919) % 97 })).sort((a, b) => a.k - b.k);
      jobs.splice(0, jobs.length, ...order.map((x) => x.j));
      const results = await Promise.all(jobs.map(async (j) => s.method.authenticate(j.expect === 'ok' ? s.validRequest() : j.c.request())));
      results.forEach((o, i) => {
        const j = jobs[i];
        if (j.expect === 'ok') assertOk(o, `concurrent valid #${i}`, s.expectedUserId);
        else assertFail(o, j.c.error, `concurrent ${j.c.label}`, s.secrets, j.c.status);
      });
    });

    test('close() resolves and is idempotent', async () => {
      await s.method.close();
      await s.method.close();
    });
  });
}

export interface TestContext {
  baseDir: string;
  log: { warn(o: object, m: string): void; info(o: object, m: string): void };
  warnings: string[];
}

/** A build context whose log records warnings (tests assert on them) and stays quiet. */
export function testContext(baseDir = process.cwd()): TestContext {
  const warnings: string[] = [];
  return {
    baseDir,
    warnings,
    log: {
      warn: (_o, m) => {
        warnings.push(m);
      },
      info: () => {},
    },
  };
}

/** The outcome of a call that must have answered synchronously. */
export function sync(r: IdentityOutcome | Promise<IdentityOutcome>): IdentityOutcome {
  if (isPromise(r)) assert.fail('expected a synchronous answer, got a promise');
  return r;
}
