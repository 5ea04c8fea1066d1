import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ForwardAuthIdentitySchema } from '../../../config/access-schema.js';
import { createForwardAuthMethod } from './forward-auth.js';
import { assertFail, assertOk, authRequest, identityConformance, sync, testContext } from './conformance.js';
import type { AuthRequest, IdentityMethod } from './types.js';

const TOKENS = {
  good: 'tok-good-7f3a9c21d4',
  nouser: 'tok-nouser-0b9e77a1',
  unauth: 'tok-unauth-55c2e1f0',
  forbidden: 'tok-forbidden-19ad',
  broken: 'tok-broken-e0c4b2aa',
  slow: 'tok-slow-3d7f0c9b11',
  redirect: 'tok-redirect-6a2c0d',
  big: 'tok-big-body-91ce3f',
} as const;

/** A local auth service answering by the bearer token it receives; records what it was sent. */
class AuthService {
  server!: Server;
  url = '';
  readonly seen: IncomingHttpHeaders[] = [];

  /** Requests seen for this path prefix (tests use their own paths, so stragglers of other tests do not count). */
  count(prefix: string): number {
    return this.seen.filter((h) => String(h['x-forwarded-uri']).startsWith(prefix)).length;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.seen.push(req.headers);
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      switch (token) {
        case TOKENS.good:
          res.writeHead(200, { 'x-auth-user': 'alice', 'x-auth-name': 'Alice Liddell', 'x-auth-groups': 'eng, ops,,', 'x-auth-email': 'alice@example.com', 'x-internal': 'no' });
          res.end('welcome');
          return;
        case TOKENS.big:
          res.writeHead(200, { 'x-auth-user': 'bulk' });
          res.end(Buffer.alloc(512 * 1024, 'x'));
          return;
        case TOKENS.nouser:
          res.writeHead(204).end();
          return;
        case TOKENS.unauth:
          res.writeHead(401, { 'www-authenticate': 'Bearer' }).end('no');
          return;
        case TOKENS.forbidden:
          res.writeHead(403).end('forbidden');
          return;
        case TOKENS.broken:
          res.writeHead(500).end('oops');
          return;
        case TOKENS.redirect:
          res.writeHead(302, { location: '/login' }).end();
          return;
        case TOKENS.slow:
          setTimeout(() => res.writeHead(200, { 'x-auth-user': 'late' }).end(), 3000).unref();
          return;
        default:
          res.writeHead(401).end();
      }
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/auth`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const bearer = (t: string, extra: Partial<AuthRequest> = {}): AuthRequest => authRequest({ headers: { authorization: `Bearer ${t}` }, ...extra });

let svc: AuthService;
const methods: IdentityMethod[] = [];
function fa(extra: Record<string, unknown> = {}): IdentityMethod {
  const m = createForwardAuthMethod(ForwardAuthIdentitySchema.parse({ id: 'gate', type: 'forward_auth', url: svc.url, timeout: '2s', ...extra }), testContext());
  methods.push(m);
  return m;
}

before(async () => {
  svc = await new AuthService().start();
});
after(async () => {
  await Promise.all(methods.map((m) => m.close()));
  await svc.stop();
});

identityConformance('forward_auth', () => ({
  // Generous timeout: the concurrency check sends ~50 questions at once, and the slow answer takes 3 s.
  method: createForwardAuthMethod(ForwardAuthIdentitySchema.parse({ id: 'gate', type: 'forward_auth', url: svc.url, timeout: '1s' }), testContext()),
  validRequest: () => bearer(TOKENS.good),
  expectedUserId: 'alice',
  missingRequest: () => authRequest({ headers: { 'user-agent': 'curl/8', 'x-api-key': 'not-forwarded' } }),
  badRequests: [
    { label: '401', request: () => bearer(TOKENS.unauth), error: 'bad_credentials', status: 401 },
    { label: '403', request: () => bearer(TOKENS.forbidden), error: 'refused', status: 403 },
    { label: '500', request: () => bearer(TOKENS.broken), error: 'unavailable', status: 503 },
    { label: '302', request: () => bearer(TOKENS.redirect), error: 'unavailable', status: 503 },
    { label: 'timeout', request: () => bearer(TOKENS.slow), error: 'unavailable', status: 503 },
    { label: '2xx without user header', request: () => bearer(TOKENS.nouser), error: 'malformed' },
  ],
  secrets: Object.values(TOKENS),
  close: async () => {},
}));

describe('forward_auth', () => {
  test('sends the original request in X-Forwarded-* and the configured credential headers only', async () => {
    const m = fa({ request_headers: ['authorization', 'cookie', 'x-forwarded-for'] });
    const r = authRequest({
      method: 'DELETE',
      scheme: 'http',
      host: 'shop.example',
      path: '/orders/7',
      query: 'force=1&x=%20',
      clientIp: '198.51.100.23',
      headers: { authorization: `Bearer ${TOKENS.good}`, cookie: ['a=1', 'b=2'] as unknown as string, 'x-forwarded-for': '6.6.6.6', 'x-secret-internal': 'keep-me-here' },
    });
    assertOk(await m.authenticate(r), 'allowed', 'alice');
    const sent = svc.seen.filter((x) => x['x-forwarded-uri'] === '/orders/7?force=1&x=%20');
    assert.equal(sent.length, 1);
    const h = sent[0];
    assert.equal(h['x-forwarded-method'], 'DELETE');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'shop.example');
    assert.equal(h['x-forwarded-uri'], '/orders/7?force=1&x=%20');
    assert.equal(h['x-forwarded-for'], '198.51.100.23', 'the client cannot choose the forwarded client address');
    assert.equal(h.authorization, `Bearer ${TOKENS.good}`);
    assert.equal(h.cookie, 'a=1; b=2');
    assert.equal(h['x-secret-internal'], undefined);
  });

  test('identity from response headers; copy_headers become upstream headers', async () => {
    const m = fa({ copy_headers: ['X-Auth-Email', 'x-absent'] });
    const o = await m.authenticate(bearer(TOKENS.good));
    assertOk(o, 'good', 'alice');
    assert.equal(o.identity.userName, 'Alice Liddell');
    assert.deepEqual(o.identity.groups, ['eng', 'ops']);
    assert.deepEqual(o.upstreamHeaders, { 'x-auth-email': 'alice@example.com' });
    const plain = await fa().authenticate(bearer(TOKENS.good));
    assertOk(plain, 'no copy_headers');
    assert.equal(plain.upstreamHeaders, undefined);
  });

  test('custom identity header names', async () => {
    const m = fa({ user_header: 'X-Auth-Email', name_header: 'x-none', groups_header: 'x-none' });
    const o = await m.authenticate(bearer(TOKENS.good));
    assertOk(o, 'email as user', 'alice@example.com');
    assert.equal(o.identity.userName, null);
    assert.deepEqual(o.identity.groups, []);
  });

  test('none only when no credential header is present', async () => {
    const m = fa({ request_headers: ['x-session'] });
    assert.deepEqual(m.authenticate(bearer(TOKENS.good)), { kind: 'none' });
    assertFail(await m.authenticate(authRequest({ headers: { 'x-session': 'whatever' } })), 'bad_credentials', 'present but unknown', [], 401);
  });

  test('a large response body is drained and the connection keeps working', async () => {
    const m = fa();
    for (let i = 0; i < 5; i++) assertOk(await m.authenticate(bearer(TOKENS.big)), `big ${i}`, 'bulk');
  });

  test('timeout detail names the limit and the answer comes in time', async () => {
    const m = fa({ timeout: '150ms' });
    const t0 = Date.now();
    const o = await m.authenticate(bearer(TOKENS.slow));
    assertFail(o, 'unavailable', 'slow', [], 503);
    assert.ok(o.kind === 'fail' && o.detail.includes('150 ms'), o.kind === 'fail' ? o.detail : '');
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  });

  test('auth service down: unavailable (fail closed)', async () => {
    const tmp = createServer();
    await new Promise<void>((resolve) => tmp.listen(0, '127.0.0.1', resolve));
    const port = (tmp.address() as AddressInfo).port;
    await new Promise<void>((resolve) => tmp.close(() => resolve()));
    const m = fa({ url: `http://127.0.0.1:${port}/auth` });
    const o = await m.authenticate(bearer(TOKENS.good));
    assertFail(o, 'unavailable', 'down', Object.values(TOKENS), 503);
    assert.ok(o.kind === 'fail' && /ECONNREFUSED/.test(o.detail));
  });

  test('cache: allow answers are reused for the same credentials until they expire; refusals are not cached', async () => {
    const m = fa({ cache: '800ms', copy_headers: ['x-auth-email'] });
    const at = (path: string, headers: Record<string, string> = { authorization: `Bearer ${TOKENS.good}` }) => authRequest({ headers, path });
    const first = m.authenticate(at('/cache/first'));
    assert.ok(first instanceof Promise);
    assertOk(await first, 'first', 'alice');
    for (let i = 0; i < 20; i++) {
      const o = sync(m.authenticate(at('/cache/first')));
      assertOk(o, 'cached', 'alice');
      assert.deepEqual(o.upstreamHeaders, { 'x-auth-email': 'alice@example.com' });
    }
    assert.equal(svc.count('/cache/'), 1);
    // The service may decide per path: another path is another question, even with the same credentials.
    const other = m.authenticate(at('/cache/other'));
    assert.ok(other instanceof Promise, 'a cached allow for one path is not reused for another');
    assertOk(await other, 'other path', 'alice');
    assert.equal(svc.count('/cache/'), 2);
    // Other credentials: another question.
    assertOk(await m.authenticate(at('/cache/first', { authorization: `Bearer ${TOKENS.good}`, cookie: 'sid=2' })), 'with a cookie too', 'alice');
    assert.equal(svc.count('/cache/'), 3);
    await m.authenticate(at('/cache/refused', { authorization: `Bearer ${TOKENS.unauth}` }));
    await m.authenticate(at('/cache/refused', { authorization: `Bearer ${TOKENS.unauth}` }));
    assert.equal(svc.count('/cache/refused'), 2);
    await new Promise((r) => setTimeout(r, 850));
    const again = m.authenticate(at('/cache/expired'));
    assert.ok(again instanceof Promise, 'expired entries ask again');
    assertOk(await again, 'asked again', 'alice');
    assert.equal(svc.count('/cache/expired'), 1);
  });

  test('without cache every request is asked', async () => {
    const m = fa();
    for (let i = 0; i < 3; i++) assertOk(await m.authenticate(bearer(TOKENS.good, { path: '/nocache' })), `ask ${i}`);
    assert.equal(svc.count('/nocache'), 3);
  });

  test('close aborts a pending question and is idempotent', async () => {
    const m = createForwardAuthMethod(ForwardAuthIdentitySchema.parse({ id: 'gate', type: 'forward_auth', url: svc.url, timeout: '10s' }), testContext());
    const pending = m.authenticate(bearer(TOKENS.slow));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    await Promise.all([m.close(), m.close()]);
    assertFail(await pending, 'unavailable', 'closed', [], 503);
    assert.ok(Date.now() - t0 < 1000);
  });

  test('configuration mistakes are refused at build time', () => {
    assert.throws(() => fa({ request_headers: ['authorization', 'Host'] }), /request_headers cannot include host/);
    assert.throws(() => fa({ request_headers: [] }), /request_headers is empty/);
  });
});
