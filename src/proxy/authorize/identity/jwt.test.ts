import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { JwtIdentitySchema, type JwtIdentityConfig } from '../../../config/access-schema.js';
import { createJwtMethod } from './jwt.js';
import { assertFail, assertOk, authRequest, identityConformance, sync, testContext } from './conformance.js';
import type { AuthRequest, IdentityMethod, IdentityOutcome } from './types.js';

const AUD = 'api://tollgate-test';
const SECRET = 'hs256-shared-secret-that-is-long-enough-0123';

interface KeyPair {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function keyPair(alg: 'RS256' | 'ES256' | 'EdDSA', kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A key set (and discovery) server on 127.0.0.1 whose key set can be swapped and whose fetches are counted. */
class KeyServer {
  keys: JWK[] = [];
  failWith: number | null = null;
  /** Issuer the discovery document claims (defaults to the server's own URL). */
  discoveryIssuer: string | null = null;
  readonly hits = new Map<string, number>();
  private server: Server | null = null;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const path = req.url ?? '/';
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      if (this.failWith !== null) {
        res.writeHead(this.failWith).end('failing');
        return;
      }
      if (path === '/jwks.json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }));
      } else if (path === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: this.discoveryIssuer ?? this.url, jwks_uri: `${this.url}/jwks.json` }));
      } else if (path === '/not-a-keyset') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"hello":"world"}');
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  count(path = '/jwks.json'): number {
    return this.hits.get(path) ?? 0;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }
}

async function freePortUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}/jwks.json`;
}

const now = () => Math.floor(Date.now() / 1000);

interface SignOptions {
  key: KeyPair | { kid?: string; alg: 'HS256' | 'HS512'; secret: string };
  kid?: string | null;
  claims?: JWTPayload;
  iss?: string;
  aud?: string | string[];
  exp?: number | null;
  nbf?: number;
  iat?: number;
}

async function sign(o: SignOptions): Promise<string> {
  const claims: JWTPayload = { sub: 'alice', email: 'alice@example.com', groups: ['eng', 'ops'], ...o.claims };
  const header = { alg: o.key.alg, ...(o.kid === null ? {} : { kid: o.kid ?? o.key.kid }) };
  const jwt = new SignJWT(claims).setProtectedHeader(header).setIssuedAt(o.iat ?? now()).setAudience(o.aud ?? AUD);
  if (o.iss !== undefined) jwt.setIssuer(o.iss);
  if (o.exp !== null) jwt.setExpirationTime(o.exp ?? now() + 300);
  if (o.nbf !== undefined) jwt.setNotBefore(o.nbf);
  const k = 'secret' in o.key ? new TextEncoder().encode(o.key.secret) : o.key.privateKey;
  return jwt.sign(k);
}

function unsigned(claims: JWTPayload): string {
  const b = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b({ alg: 'none', typ: 'JWT' })}.${b(claims)}.`;
}

const bearer = (token: string, extra: Record<string, string> = {}): AuthRequest => authRequest({ headers: { authorization: `Bearer ${token}`, ...extra } });

function jwtConfig(extra: Record<string, unknown>): JwtIdentityConfig {
  return JwtIdentitySchema.parse({ id: 'sso', type: 'jwt', audience: AUD, ...extra });
}

let rsa: KeyPair, ec: KeyPair, ed: KeyPair, rsa2: KeyPair, rogue: KeyPair;
let server: KeyServer;
const methods: IdentityMethod[] = [];
const ctx = testContext();
function method(extra: Record<string, unknown>): IdentityMethod {
  const m = createJwtMethod(jwtConfig(extra), ctx);
  methods.push(m);
  return m;
}

before(async () => {
  [rsa, ec, ed, rsa2, rogue] = await Promise.all([keyPair('RS256', 'rsa-1'), keyPair('ES256', 'ec-1'), keyPair('EdDSA', 'ed-1'), keyPair('RS256', 'rsa-2'), keyPair('RS256', 'rogue')]);
  server = await new KeyServer().start();
  server.keys = [rsa.jwk, ec.jwk, ed.jwk];
});

after(async () => {
  await Promise.all(methods.map((m) => m.close()));
  await server?.stop();
});

identityConformance('jwt', async () => {
  const iss = 'https://issuer.example';
  const tokens = {
    valid: await sign({ key: rsa, iss }),
    expired: await sign({ key: rsa, iss, exp: now() - 3600, iat: now() - 7200 }),
    future: await sign({ key: ec, iss, nbf: now() + 3600 }),
    wrongIss: await sign({ key: rsa, iss: 'https://evil.example' }),
    wrongAud: await sign({ key: ed, iss, aud: 'api://other' }),
    badSig: await sign({ key: rogue, kid: 'rsa-1', iss }),
    unknownKid: await sign({ key: rogue, iss }),
    none: unsigned({ sub: 'alice', iss, aud: AUD }),
    hsNotAllowed: await sign({ key: { alg: 'HS512', secret: SECRET }, iss }),
  };
  const m = method({ jwks_url: `${server.url}/jwks.json`, issuer: iss, algorithms: ['RS256', 'ES256', 'EdDSA'] });
  return {
    method: m,
    validRequest: () => bearer(tokens.valid),
    expectedUserId: 'alice',
    missingRequest: () => authRequest({ headers: { cookie: 'session=abc' } }),
    badRequests: [
      { label: 'expired', request: () => bearer(tokens.expired), error: 'expired' },
      { label: 'not yet valid', request: () => bearer(tokens.future), error: 'not_yet_valid' },
      { label: 'wrong issuer', request: () => bearer(tokens.wrongIss), error: 'wrong_issuer' },
      { label: 'wrong audience', request: () => bearer(tokens.wrongAud), error: 'wrong_audience' },
      { label: 'bad signature', request: () => bearer(tokens.badSig), error: 'bad_signature' },
      { label: 'unknown kid', request: () => bearer(tokens.unknownKid), error: 'unknown_key' },
      { label: 'alg none', request: () => bearer(tokens.none), error: 'bad_signature' },
      { label: 'alg not allowed', request: () => bearer(tokens.hsNotAllowed), error: 'bad_signature' },
      { label: 'two parts', request: () => bearer(tokens.valid.split('.').slice(0, 2).join('.')), error: 'malformed' },
      { label: 'not base64url', request: () => bearer(`${tokens.valid}!`), error: 'malformed' },
      { label: 'empty bearer', request: () => authRequest({ headers: { authorization: 'Bearer ' } }), error: 'malformed' },
    ],
    secrets: [...Object.values(tokens), SECRET, ...Object.values(tokens).map((t) => t.split('.')[2]).filter((s) => s.length > 10)],
    syncAfterFirst: true,
    close: async () => {},
  };
});

async function outcome(m: IdentityMethod, req: AuthRequest): Promise<IdentityOutcome> {
  return m.authenticate(req);
}

describe('jwt: algorithms and key sources', () => {
  test('HS256 with a shared secret; a different secret is a bad signature', async () => {
    const m = method({ secret: SECRET, algorithms: ['HS256'] });
    assertOk(await outcome(m, bearer(await sign({ key: { alg: 'HS256', secret: SECRET } }))), 'HS256', 'alice');
    assertFail(await outcome(m, bearer(await sign({ key: { alg: 'HS256', secret: `${SECRET}x` } }))), 'bad_signature', 'other secret', [SECRET]);
    // An RS256 token cannot be verified with an HMAC-only configuration.
    assertFail(await outcome(m, bearer(await sign({ key: rsa }))), 'bad_signature', 'RS256 on HS-only');
  });

  test('RS256, ES256 and EdDSA from a key set URL', async () => {
    const m = method({ jwks_url: `${server.url}/jwks.json` });
    for (const k of [rsa, ec, ed]) assertOk(await outcome(m, bearer(await sign({ key: k }))), k.alg, 'alice');
  });

  test('static jwks, and a token without kid when one key fits', async () => {
    const m = method({ jwks: { keys: [rsa.jwk, ec.jwk] }, algorithms: ['RS256', 'ES256'] });
    assertOk(await outcome(m, bearer(await sign({ key: rsa }))), 'RS256 static', 'alice');
    assertOk(await outcome(m, bearer(await sign({ key: ec, kid: null }))), 'ES256 without kid', 'alice');
    assertFail(await outcome(m, bearer(await sign({ key: ed }))), 'bad_signature', 'EdDSA not in algorithms');
  });

  test('without kid and several candidate keys, the one that verifies is used', async () => {
    const m = method({ jwks: { keys: [rogue.jwk, rsa.jwk] }, algorithms: ['RS256'] });
    assertOk(await outcome(m, bearer(await sign({ key: rsa, kid: null }))), 'second candidate', 'alice');
    const other = await keyPair('RS256', 'other');
    assertFail(await outcome(m, bearer(await sign({ key: other, kid: null }))), 'bad_signature', 'no candidate verifies');
  });

  test('HS and key set in one method', async () => {
    const m = method({ secret: SECRET, jwks_url: `${server.url}/jwks.json`, algorithms: ['HS256', 'RS256'] });
    assertOk(await outcome(m, bearer(await sign({ key: { alg: 'HS256', secret: SECRET } }))), 'HS256', 'alice');
    assertOk(await outcome(m, bearer(await sign({ key: rsa }))), 'RS256', 'alice');
  });

  test('configuration mistakes are refused at build time', () => {
    assert.throws(() => createJwtMethod(jwtConfig({}), ctx), /need jwks, jwks_url or discovery/);
    assert.throws(() => createJwtMethod(jwtConfig({ discovery: true }), ctx), /discovery needs issuer/);
    assert.throws(() => createJwtMethod(jwtConfig({ jwks_url: `${server.url}/jwks.json`, algorithms: ['HS256'] }), ctx), /HS256 need secret/);
    assert.throws(() => createJwtMethod(jwtConfig({ jwks: { keys: [{ kty: 'RSA', n: 'AQAB' }] } }), ctx), /jwks is not a valid JSON Web Key Set: key 0/);
    assert.throws(() => createJwtMethod(jwtConfig({ jwks: { keys: [{ ...rsa.jwk, d: 'AAAA' }] } }), ctx), /key 0 \(kid "rsa-1"\) holds private/);
    const c = testContext();
    const short = createJwtMethod(jwtConfig({ secret: 'short', algorithms: ['HS256'] }), c);
    assert.ok(c.warnings.some((w) => w.includes('shorter than 32 bytes')));
    methods.push(short);
  });
});

describe('jwt: claims and time', () => {
  test('expired, and max_age on iat', async () => {
    const m = method({ jwks_url: `${server.url}/jwks.json`, max_age: '1h', clock_skew: '0' });
    assertFail(await outcome(m, bearer(await sign({ key: rsa, exp: now() - 5 }))), 'expired', 'exp passed');
    assertFail(await outcome(m, bearer(await sign({ key: rsa, iat: now() - 7200, exp: now() + 300 }))), 'expired', 'older than max_age');
    assertOk(await outcome(m, bearer(await sign({ key: rsa, iat: now() - 60 }))), 'recent', 'alice');
    // With max_age, iat is checked: one in the future is not valid yet, and a token without iat cannot be judged.
    assertFail(await outcome(m, bearer(await sign({ key: rsa, iat: now() + 3600 }))), 'not_yet_valid', 'iat in the future');
    const noIat = await new SignJWT({ sub: 'alice', aud: AUD, exp: now() + 60 }).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).sign(rsa.privateKey);
    assert.equal(JSON.parse(Buffer.from(noIat.split('.')[1], 'base64url').toString()).iat, undefined);
    assertFail(await outcome(m, bearer(noIat)), 'malformed', 'no iat with max_age');
    // A token without exp would be valid forever once leaked: refused.
    const noExp = await new SignJWT({ sub: 'alice', aud: AUD }).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setIssuedAt().sign(rsa.privateKey);
    const o = await outcome(m, bearer(noExp));
    assertFail(o, 'malformed', 'no exp');
    assert.ok(o.kind === 'fail' && /exp/.test(o.detail));
  });

  test('nbf in the future: refused beyond the clock skew, accepted within it', async () => {
    const m = method({ jwks_url: `${server.url}/jwks.json`, clock_skew: '30s' });
    assertFail(await outcome(m, bearer(await sign({ key: rsa, nbf: now() + 120 }))), 'not_yet_valid', 'nbf +120s');
    assertOk(await outcome(m, bearer(await sign({ key: rsa, nbf: now() + 10 }))), 'nbf +10s within skew', 'alice');
    // The skew also applies to exp.
    assertOk(await outcome(m, bearer(await sign({ key: rsa, exp: now() - 10 }))), 'exp -10s within skew', 'alice');
  });

  test('issuer and audience (one or several accepted)', async () => {
    const m = method({ jwks_url: `${server.url}/jwks.json`, issuer: 'https://a.example', audience: ['api://one', AUD] });
    assertOk(await outcome(m, bearer(await sign({ key: rsa, iss: 'https://a.example' }))), 'good', 'alice');
    assertOk(await outcome(m, bearer(await sign({ key: rsa, iss: 'https://a.example', aud: ['api://x', 'api://one'] }))), 'one of several aud', 'alice');
    const wrongIss = await outcome(m, bearer(await sign({ key: rsa, iss: 'https://b.example' })));
    assertFail(wrongIss, 'wrong_issuer', 'iss');
    assert.ok(wrongIss.kind === 'fail' && wrongIss.detail.includes('https://b.example'));
    assertFail(await outcome(m, bearer(await sign({ key: rsa })), ), 'wrong_issuer', 'missing iss');
    assertFail(await outcome(m, bearer(await sign({ key: rsa, iss: 'https://a.example', aud: 'api://three' }))), 'wrong_audience', 'aud');
  });

  test('claims mapping: dotted paths, namespaced claims, group strings', async () => {
    const m = method({
      jwks_url: `${server.url}/jwks.json`,
      claims: { user_id: 'ext.uid', user_name: 'https://example.com/name', groups: 'realm_access.roles' },
    });
    const t = await sign({ key: rsa, claims: { ext: { uid: 'u-42' }, 'https://example.com/name': 'Alice A.', realm_access: { roles: ['admin', 'dev'] }, dept: 'eng' } });
    const o = await outcome(m, bearer(t));
    assertOk(o, 'mapped', 'u-42');
    assert.equal(o.identity.userName, 'Alice A.');
    assert.deepEqual(o.identity.groups, ['admin', 'dev']);
    assert.equal(o.identity.claims.dept, 'eng');

    const s = method({ jwks_url: `${server.url}/jwks.json`, claims: { groups: 'scope' } });
    const o2 = await outcome(s, bearer(await sign({ key: rsa, claims: { scope: 'read write, admin' } })));
    assertOk(o2, 'string groups', 'alice');
    assert.deepEqual(o2.identity.groups, ['read', 'write', 'admin']);

    const numeric = await outcome(s, bearer(await sign({ key: rsa, claims: { sub: 12345 as unknown as string } })));
    assertOk(numeric, 'numeric sub', '12345');
    const missing = await outcome(m, bearer(await sign({ key: rsa })));
    assertFail(missing, 'malformed', 'no ext.uid');
    assert.ok(missing.kind === 'fail' && missing.detail.includes('ext.uid'));
  });

  test('token sources: bearer only in Authorization, a custom header, a cookie', async () => {
    const t = await sign({ key: rsa });
    const m = method({ jwks_url: `${server.url}/jwks.json`, cookie: 'tg_session' });
    assert.deepEqual(await outcome(m, authRequest({ headers: { authorization: 'Basic YTpi' } })), { kind: 'none' });
    assertOk(await outcome(m, authRequest({ headers: { authorization: 'Basic YTpi', cookie: `a=1; tg_session=${t}; b=2` } })), 'cookie behind another scheme', 'alice');
    assertOk(await outcome(m, authRequest({ headers: { cookie: `tg_session="${t}"` } })), 'quoted cookie', 'alice');
    assertFail(await outcome(m, authRequest({ headers: { cookie: 'tg_session=' } })), 'malformed', 'empty cookie');
    const h = method({ jwks_url: `${server.url}/jwks.json`, header: 'X-Id-Token' });
    assertOk(await outcome(h, authRequest({ headers: { 'x-id-token': t } })), 'custom header', 'alice');
    assert.deepEqual(await outcome(h, bearer(t)), { kind: 'none' });
  });

  test('malformed tokens are refused before any key lookup', async () => {
    const down = method({ jwks_url: await freePortUrl() });
    const b64 = (v: string) => Buffer.from(v).toString('base64url');
    for (const [label, tok] of [
      ['one part', 'abc'],
      ['four parts', 'a.b.c.d'],
      ['empty header', '.b.c'],
      ['header not JSON', `${b64('{nope')}.${b64('{}')}.sig`],
      ['header an array', `${b64('[1]')}.${b64('{}')}.sig`],
      ['header without alg', `${b64('{"typ":"JWT"}')}.${b64('{}')}.sig`],
      ['too long', `${'a'.repeat(20000)}.b.c`],
    ] as const) {
      assertFail(sync(down.authenticate(bearer(tok))), 'malformed', label);
    }
    assertFail(sync(down.authenticate(bearer(`${b64('{"alg":"RS256"}')}.${b64('{}')}.`))), 'bad_signature', 'empty signature');
    assertFail(sync(down.authenticate(bearer(`${b64('{"alg":"NONE"}')}.${b64('{}')}.`))), 'bad_signature', 'alg NONE');
  });
});

describe('jwt: verification cache', () => {
  test('a verified token is answered synchronously until it expires', async () => {
    const m = method({ jwks_url: `${server.url}/jwks.json`, clock_skew: '0' });
    const t = await sign({ key: rsa, exp: now() + 2 });
    const first = m.authenticate(bearer(t));
    assert.ok(first instanceof Promise);
    assertOk(await first, 'first');
    for (let i = 0; i < 100; i++) assertOk(sync(m.authenticate(bearer(t))), 'cached');
    await new Promise((r) => setTimeout(r, 2100));
    const later = m.authenticate(bearer(t));
    assert.ok(later instanceof Promise, 'an expired cache entry is verified again');
    assertFail(await later, 'expired', 'after exp');
  });

  test('failures are not cached; identical concurrent tokens share one verification', async () => {
    const m = method({ jwks_url: `${server.url}/jwks.json` });
    const bad = await sign({ key: rogue, kid: 'rsa-1' });
    assert.ok(m.authenticate(bearer(bad)) instanceof Promise);
    assert.ok(m.authenticate(bearer(bad)) instanceof Promise);
    const t = await sign({ key: rsa });
    const a = m.authenticate(bearer(t));
    const b = m.authenticate(bearer(t));
    assert.equal(a, b, 'same pending verification');
    assertOk(await a, 'shared');
  });
});

describe('jwt: remote key sets', () => {
  test('concurrent first requests share one key set fetch', async () => {
    const s = await new KeyServer().start();
    try {
      s.keys = [rsa.jwk];
      const m = method({ jwks_url: `${s.url}/jwks.json` });
      const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => sign({ key: rsa, claims: { sub: `u${i}` } })));
      const results = await Promise.all(tokens.map(async (t) => m.authenticate(bearer(t))));
      results.forEach((o, i) => assertOk(o, `token ${i}`, `u${i}`));
      assert.equal(s.count(), 1);
    } finally {
      await s.stop();
    }
  });

  test('key rotation: a new kid is picked up by a rate-limited refetch; the cooldown prevents a fetch storm', async () => {
    const s = await new KeyServer().start();
    try {
      s.keys = [rsa.jwk];
      const m = method({ jwks_url: `${s.url}/jwks.json`, jwks_cooldown: '400ms', jwks_cache: '10m' });
      assertOk(await outcome(m, bearer(await sign({ key: rsa }))), 'before rotation', 'alice');
      assert.equal(s.count(), 1);

      // An unknown kid triggers one refetch (the kid is still unknown afterwards).
      assertFail(await outcome(m, bearer(await sign({ key: rogue }))), 'unknown_key', 'unknown kid');
      assert.equal(s.count(), 2);

      // The issuer rotates right after that refetch: within the cooldown, tokens with the new kid are refused without fetching.
      s.keys = [rsa2.jwk];
      const storm = await Promise.all(Array.from({ length: 50 }, async (_, i) => m.authenticate(bearer(await sign({ key: rsa2, claims: { sub: `s${i}` } })))));
      storm.forEach((o, i) => assertFail(o, 'unknown_key', `storm ${i}`));
      assert.equal(s.count(), 2, 'no fetch during the cooldown');

      await new Promise((r) => setTimeout(r, 450));
      // After the cooldown a burst of new-kid tokens causes exactly one refetch, and all of them verify.
      const burst = await Promise.all(Array.from({ length: 30 }, async (_, i) => m.authenticate(bearer(await sign({ key: rsa2, claims: { sub: `b${i}` } })))));
      burst.forEach((o, i) => assertOk(o, `after rotation ${i}`, `b${i}`));
      assert.equal(s.count(), 3, 'one refetch for the whole burst');

      // Old-key tokens not yet cached are now unknown (the old key left the set); the cooldown again limits refetches.
      const old = await Promise.all(Array.from({ length: 10 }, async (_, i) => m.authenticate(bearer(await sign({ key: rsa, claims: { sub: `o${i}` } })))));
      old.forEach((o, i) => assertFail(o, 'unknown_key', `old key ${i}`));
      assert.equal(s.count(), 3);
    } finally {
      await s.stop();
    }
  });

  test('an expired key set is fetched again; while the key server fails, the last good set is used', async () => {
    const s = await new KeyServer().start();
    try {
      s.keys = [rsa.jwk];
      const c = testContext();
      const m = createJwtMethod(jwtConfig({ jwks_url: `${s.url}/jwks.json`, jwks_cache: '300ms' }), c);
      methods.push(m);
      assertOk(await outcome(m, bearer(await sign({ key: rsa }))), 'first');
      assert.equal(s.count(), 1);
      await new Promise((r) => setTimeout(r, 350));
      assertOk(await outcome(m, bearer(await sign({ key: rsa, claims: { sub: 'x' } }))), 'after expiry', 'x');
      assert.equal(s.count(), 2);
      s.failWith = 500;
      await new Promise((r) => setTimeout(r, 350));
      assertOk(await outcome(m, bearer(await sign({ key: rsa, claims: { sub: 'y' } }))), 'stale keys while failing', 'y');
      assert.equal(s.count(), 3);
      assert.ok(c.warnings.includes('JWT key set fetch failed'));
    } finally {
      await s.stop();
    }
  });

  test('a key set nearing expiry is refreshed in the background', async () => {
    const s = await new KeyServer().start();
    try {
      s.keys = [rsa.jwk];
      const m = method({ jwks_url: `${s.url}/jwks.json`, jwks_cache: '500ms' });
      assertOk(await outcome(m, bearer(await sign({ key: rsa }))), 'first');
      await new Promise((r) => setTimeout(r, 420));
      assertOk(await outcome(m, bearer(await sign({ key: rsa, claims: { sub: 'z' } }))), 'answered from the current set', 'z');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(s.count(), 2, 'background refresh happened');
    } finally {
      await s.stop();
    }
  });

  test('key server down, failing or serving garbage: unavailable with 503', async () => {
    const token = await sign({ key: rsa });
    const down = method({ jwks_url: await freePortUrl(), jwks_timeout: '1s' });
    const o = await outcome(down, bearer(token));
    assertFail(o, 'unavailable', 'down', [token], 503);
    assert.ok(o.kind === 'fail' && /ECONNREFUSED/.test(o.detail), o.kind === 'fail' ? o.detail : '');
    // Within the failure backoff the answer comes without another attempt.
    assertFail(await outcome(down, bearer(token)), 'unavailable', 'down again', [], 503);

    const s = await new KeyServer().start();
    try {
      s.failWith = 500;
      const failing = method({ jwks_url: `${s.url}/jwks.json` });
      assertFail(await outcome(failing, bearer(token)), 'unavailable', '500', [], 503);
      s.failWith = null;
      const garbage = method({ jwks_url: `${s.url}/not-a-keyset` });
      assertFail(await outcome(garbage, bearer(token)), 'unavailable', 'not a key set', [], 503);
    } finally {
      await s.stop();
    }
  });

  test('a slow key server times out as unavailable', async () => {
    const slow = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const m = method({ jwks_url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/jwks.json`, jwks_timeout: '200ms' });
      const t0 = Date.now();
      const o = await outcome(m, bearer(await sign({ key: rsa })));
      assertFail(o, 'unavailable', 'slow', [], 503);
      assert.ok(o.kind === 'fail' && o.detail.includes('timed out'), o.kind === 'fail' ? o.detail : '');
      assert.ok(Date.now() - t0 < 2000);
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });
});

describe('jwt: OIDC discovery', () => {
  test('finds jwks_uri from <issuer>/.well-known/openid-configuration', async () => {
    const s = await new KeyServer().start();
    try {
      s.keys = [ec.jwk];
      const m = method({ discovery: true, issuer: s.url });
      assertOk(await outcome(m, bearer(await sign({ key: ec, iss: s.url }))), 'discovered', 'alice');
      assertFail(await outcome(m, bearer(await sign({ key: ec, iss: 'https://elsewhere.example' }))), 'wrong_issuer', 'other iss');
      assert.equal(s.count('/.well-known/openid-configuration'), 1);
      assert.equal(s.count(), 1);
    } finally {
      await s.stop();
    }
  });

  test('a discovery document naming another issuer is refused (unavailable)', async () => {
    const s = await new KeyServer().start();
    try {
      s.keys = [ec.jwk];
      s.discoveryIssuer = 'https://impostor.example';
      const m = method({ discovery: true, issuer: s.url });
      const o = await outcome(m, bearer(await sign({ key: ec, iss: s.url })));
      assertFail(o, 'unavailable', 'issuer mismatch', [], 503);
      assert.ok(o.kind === 'fail' && o.detail.includes('impostor'));
      assert.equal(s.count(), 0, 'the key set of a mismatched issuer is never fetched');
    } finally {
      await s.stop();
    }
  });
});

describe('jwt: close', () => {
  test('close aborts a pending key fetch and is idempotent', async () => {
    const slow = createServer(() => {});
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const m = createJwtMethod(jwtConfig({ jwks_url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/jwks.json`, jwks_timeout: '10s' }), testContext());
      const pending = outcome(m, bearer(await sign({ key: rsa })));
      await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      await Promise.all([m.close(), m.close()]);
      assertFail(await pending, 'unavailable', 'closed', [], 503);
      assert.ok(Date.now() - t0 < 1000);
      await m.close();
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });
});
