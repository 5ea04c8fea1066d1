/**
 * Access control end to end, with real sockets: identities (API keys, JWT
 * with a JWKS server that rotates its keys mid-test, mTLS with certificates
 * made by openssl, HTTP Basic, forward auth against a local auth service),
 * policies (groups, methods, CIDRs, time windows, restricted routes, shadow),
 * local rate limits, IP lists, dynamic blocks through the admin API, and the
 * admin API's own protection and audit events. Every refusal is checked in
 * the audit trail with its decision, rule and reason.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { parse, stringify } from 'yaml';
import { WebSocketServer, WebSocket } from 'ws';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose';
import { startBackend, startTollgate, merge, get, tempDir, freePort, rawExchange, sleep, adminFetch, ADMIN_AUTH, waitFor, type Backend, type TestNode, type ConfigObject } from './helpers.js';
import { hashPassword } from '../src/proxy/authorize/identity/secrets.js';
import type { AuditEvent } from '../src/core/event.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const ISSUER = 'https://idp.test.invalid';
const AUDIENCE = 'tollgate-tests';

let backend: Backend;
let tg: TestNode;
let jwks: http.Server;
let jwksUrl: string;
let jwksFetches = 0;
let currentKeys: JWK[] = [];
let auth: http.Server;
let authUrl: string;
let certDir: string;
let mtlsPort: number;
const keys: { kid: string; privateKey: CryptoKey }[] = [];

async function newKey(kid: string): Promise<{ kid: string; privateKey: CryptoKey; jwk: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return { kid, privateKey, jwk };
}

function sign(k: { kid: string; privateKey: CryptoKey }, claims: Record<string, unknown>, opts: { exp?: number; nbf?: number; iss?: string; aud?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: k.kid })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(opts.exp ?? now + 600);
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(k.privateKey);
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore', cwd: certDir });
}

/** A CA, a server certificate, a client certificate it signs, and a client certificate from another CA. */
function makeCertificates(): void {
  const ca = (name: string) => {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`]);
  };
  const leaf = (name: string, caName: string, subj: string, ext: string) => {
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj]);
    execFileSync('sh', ['-c', `printf '%s\\n' '${ext}' > ${name}.ext`], { cwd: certDir });
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  };
  ca('clients-ca');
  ca('rogue-ca');
  leaf('server', 'clients-ca', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
  leaf('client', 'clients-ca', '/CN=svc-billing/OU=payments', 'subjectAltName=DNS:billing.internal');
  leaf('rogue', 'rogue-ca', '/CN=svc-billing/OU=payments', 'subjectAltName=DNS:billing.internal');
}

before(async () => {
  backend = await startBackend();
  // JWKS server: serves whatever key set is current, and counts fetches.
  jwks = http.createServer((req, res) => {
    jwksFetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: currentKeys }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  const k1 = await newKey('key-1');
  keys.push(k1);
  currentKeys = [k1.jwk];
  // Forward-auth service: the identity is in the "session" cookie.
  auth = http.createServer((req, res) => {
    const cookie = req.headers.cookie ?? '';
    if (cookie.includes('session=good-carol')) {
      res.writeHead(200, { 'x-auth-user': 'carol', 'x-auth-groups': 'staff,finance', 'x-auth-name': 'Carol', 'x-auth-tenant': 'acme' });
    } else if (cookie.includes('session=banned')) res.writeHead(403);
    else res.writeHead(401);
    res.end();
  });
  await new Promise<void>((r) => auth.listen(0, '127.0.0.1', r));
  authUrl = `http://127.0.0.1:${(auth.address() as AddressInfo).port}/verify`;

  certDir = await tempDir('tg-mtls-');
  makeCertificates();
  const basicHash = hashPassword('s3cret-pass', { N: 1024, r: 8, p: 1 });
  mtlsPort = await freePort();

  tg = await startTollgate({ app: [backend.address] }, (c: ConfigObject) =>
    merge(c, {
      listeners: [
        ...(c.listeners as unknown[]),
        { name: 'mtls', address: `127.0.0.1:${mtlsPort}`, tls: { certificates: [{ cert: path.join(certDir, 'server.crt'), key: path.join(certDir, 'server.key') }], client_ca: path.join(certDir, 'clients-ca.crt') } },
      ],
      proxy: { trusted_proxies: ['127.0.0.1/32'] },
      access: {
        ip_deny: ['192.0.2.0/24'],
        identities: [
          { id: 'keys', type: 'api_key', header: 'x-api-key', query_param: 'api_key', keys: [
            { id: 'k-alice', sha256: sha('alice-key'), user: 'alice', groups: ['admin'] },
            { id: 'k-bob', sha256: sha('bob-key'), user: 'bob', groups: ['dev'] },
            { id: 'k-old', sha256: sha('old-key'), user: 'olga', revoked: true },
          ] },
          { id: 'sso', type: 'jwt', algorithms: ['ES256'], jwks_url: jwksUrl, issuer: ISSUER, audience: AUDIENCE, clock_skew: '5s', jwks_cooldown: '1s', claims: { groups: 'roles' } },
          { id: 'certs', type: 'mtls', user_from: 'subject_cn' },
          { id: 'staff', type: 'basic', realm: 'staff', users: [{ user: 'dave', hash: basicHash, groups: ['ops'] }] },
          { id: 'portal', type: 'forward_auth', url: authUrl, request_headers: ['cookie'], copy_headers: ['x-auth-tenant'] },
        ],
      },
      routes: [
        { id: 'admin', path_prefix: '/admin', backend: 'app', access: { identities: ['keys'], restricted: true, rules: [{ id: 'admins', action: 'allow', groups: ['admin'] }] } },
        { id: 'sso', path_prefix: '/sso', backend: 'app', access: { identities: ['sso'], rules: [{ id: 'no-deletes', action: 'deny', methods: ['DELETE'], reason: 'deletes are not allowed here' }] } },
        { id: 'mtls', path_prefix: '/mtls', backend: 'app', access: { identities: ['certs'], restricted: true, rules: [{ id: 'payments', action: 'allow', groups: ['payments'] }] } },
        { id: 'staff', path_prefix: '/staff', backend: 'app', access: { identities: ['staff'] } },
        { id: 'portal', path_prefix: '/portal', backend: 'app', access: { identities: ['portal'], rules: [{ id: 'finance', action: 'allow', groups: ['finance'] }], restricted: true } },
        { id: 'internal', path_prefix: '/internal', backend: 'app', access: { restricted: true, rules: [{ id: 'loopback-v6', action: 'allow', source: ['::1/128'] }, { id: 'never', action: 'allow', source: ['10.0.0.0/8'] }] } },
        { id: 'hours', path_prefix: '/hours', backend: 'app', access: { restricted: true, rules: [{ id: 'always', action: 'allow', time: { days: ['mon-sun'], hours: '00:00-24:00', tz: 'Pacific/Chatham' } }] } },
        { id: 'shadowed', path_prefix: '/shadow', backend: 'app', access: { restricted: true, shadow: true } },
        { id: 'shadow-rule', path_prefix: '/shadow-rule', backend: 'app', access: { rules: [{ id: 'would-deny', action: 'deny', shadow: true, methods: ['GET'] }] } },
        { id: 'limited', path_prefix: '/limited', backend: 'app', access: { rate_limits: [{ id: 'per-ip', by: 'client_ip', rate: 2, per: '1m', burst: 1 }] } },
        { id: 'app', backend: 'app', access: { identities: ['keys'], anonymous: true } },
      ],
    }),
  );
});

after(async () => {
  await tg?.stop();
  await backend?.close();
  await new Promise((r) => jwks?.close(r));
  await new Promise((r) => auth?.close(r));
  if (certDir) await rm(certDir, { recursive: true, force: true });
});

/** The single event for a request id. */
async function eventOf(requestId: string): Promise<AuditEvent> {
  const ev = await tg.events({ request_id: requestId });
  assert.equal(ev.length, 1, `exactly one event for ${requestId}`);
  return ev[0];
}

let seq = 0;
async function call(p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; event: () => Promise<AuditEvent> }> {
  const rid = `ac-${++seq}`;
  const r = await get(`${tg.proxy}${p}`, { method, headers: { ...headers, 'x-request-id': rid } });
  return { ...r, event: () => eventOf(rid) };
}

test('API keys: valid, unknown, revoked, from a query parameter (redacted), and group policy on a restricted route', async () => {
  const ok = await call('/admin/panel', { 'x-api-key': 'alice-key' });
  assert.equal(ok.status, 200);
  let e = await ok.event();
  assert.equal(e.user_id, 'alice');
  assert.equal(e.auth_method, 'api_key');
  assert.equal(e.decision, 'allow');
  assert.equal(e.rule_id, 'admins');

  const bob = await call('/admin/panel', { 'x-api-key': 'bob-key' });
  assert.equal(bob.status, 403, 'authenticated but not in the group');
  e = await bob.event();
  assert.equal(e.decision, 'deny');
  assert.equal(e.user_id, 'bob');
  assert.equal(e.termination, 'denied');
  assert.match(e.reason ?? '', /restricted route: no rule allows/);

  const unknown = await call('/admin/panel', { 'x-api-key': 'guess' });
  assert.equal(unknown.status, 401);
  e = await unknown.event();
  assert.equal(e.auth_error, 'unknown_key');
  assert.equal(e.decision, 'deny');
  assert.equal(e.rule_id, 'identity:keys');
  assert.ok(!JSON.stringify(e).includes('guess'), 'the attempted key is never recorded');

  const revoked = await call('/admin/panel', { 'x-api-key': 'old-key' });
  assert.equal(revoked.status, 401);
  assert.equal((await revoked.event()).auth_error, 'revoked');

  const missing = await call('/admin/panel');
  assert.equal(missing.status, 401);
  e = await missing.event();
  assert.equal(e.auth_error, 'missing');

  const byQuery = await call('/admin/panel?api_key=alice-key&x=1');
  assert.equal(byQuery.status, 200);
  e = await byQuery.event();
  assert.equal(e.user_id, 'alice');
  assert.ok(!(e.query ?? '').includes('alice-key'), `the key in the query is redacted: ${e.query}`);

  // An anonymous route with identities: no key is fine, a bad key is still refused.
  assert.equal((await call('/anything')).status, 200);
  assert.equal((await call('/anything', { 'x-api-key': 'nope' })).status, 401);
});

test('JWT: valid, expired, not yet valid, wrong issuer/audience, bad signature, unknown key; keys rotate mid-test', async () => {
  const k1 = keys[0];
  const ok = await call('/sso/me', { authorization: `Bearer ${await sign(k1, { sub: 'erin', email: 'erin@example.com', roles: ['dev'] })}` });
  assert.equal(ok.status, 200);
  let e = await ok.event();
  assert.equal(e.user_id, 'erin');
  assert.equal(e.user_name, 'erin@example.com');
  assert.equal(e.auth_method, 'jwt');

  const now = Math.floor(Date.now() / 1000);
  const cases: [string, string, string][] = [
    ['expired', await sign(k1, { sub: 'erin' }, { exp: now - 60 }), 'expired'],
    ['future', await sign(k1, { sub: 'erin' }, { nbf: now + 120 }), 'not_yet_valid'],
    ['issuer', await sign(k1, { sub: 'erin' }, { iss: 'https://evil.invalid' }), 'wrong_issuer'],
    ['audience', await sign(k1, { sub: 'erin' }, { aud: 'someone-else' }), 'wrong_audience'],
    ['malformed', 'abc.def', 'malformed'],
  ];
  const forged = await sign(k1, { sub: 'erin' });
  const parts = forged.split('.');
  const payload = Buffer.from(JSON.stringify({ sub: 'root', iss: ISSUER, aud: AUDIENCE, exp: now + 600 })).toString('base64url');
  cases.push(['signature', `${parts[0]}.${payload}.${parts[2]}`, 'bad_signature']);
  for (const [what, token, error] of cases) {
    const r = await call('/sso/me', { authorization: `Bearer ${token}` });
    assert.equal(r.status, 401, what);
    assert.match(String(r.headers['www-authenticate']), /^Bearer/, `${what}: a Bearer challenge`);
    e = await r.event();
    assert.equal(e.auth_error, error, what);
    assert.equal(e.decision, 'deny', what);
    assert.ok(e.reason && e.reason.length > 0, `${what}: a reason`);
  }

  // A key the JWKS does not have (yet): unknown_key, and the JWKS was asked again (rate-limited).
  const k2 = await newKey('key-2');
  const early = await call('/sso/me', { authorization: `Bearer ${await sign(k2, { sub: 'erin' })}` });
  assert.equal(early.status, 401);
  assert.equal((await early.event()).auth_error, 'unknown_key');

  // Rotation: the IdP publishes key-2 and retires key-1. After the cooldown the new kid is fetched.
  currentKeys = [k2.jwk];
  const fetchesBefore = jwksFetches;
  const rotated = await waitFor(
    async () => {
      const r = await call('/sso/me', { authorization: `Bearer ${await sign(k2, { sub: 'frank' })}` });
      return r.status === 200 ? r : null;
    },
    'the rotated key to be picked up',
    10_000,
    250,
  );
  assert.equal((await rotated.event()).user_id, 'frank');
  assert.ok(jwksFetches - fetchesBefore <= 10, `unknown kids refetch at most once per cooldown (fetched ${jwksFetches - fetchesBefore} times)`);

  // Policy on the JWT route: DELETE is denied by rule, with the rule's reason.
  const del = await call('/sso/me', { authorization: `Bearer ${await sign(k2, { sub: 'frank' })}` }, 'DELETE');
  assert.equal(del.status, 403);
  e = await del.event();
  assert.equal(e.rule_id, 'no-deletes');
  assert.equal(e.reason, 'deletes are not allowed here');
});

function mtlsRequest(port: number, client: string | null): Promise<{ status: number; rid: string }> {
  const rid = `mtls-${++seq}`;
  return new Promise((resolve, reject) => {
    const opts: https.RequestOptions = { host: '127.0.0.1', port, path: '/mtls/x', servername: 'localhost', ca: [], rejectUnauthorized: false, agent: false, headers: { 'x-request-id': rid } };
    if (client) {
      opts.cert = execFileSync('cat', [path.join(certDir, `${client}.crt`)]);
      opts.key = execFileSync('cat', [path.join(certDir, `${client}.key`)]);
    }
    const req = https.request(opts, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, rid }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('mTLS: a certificate from the configured CA identifies the caller; another CA is refused with the reason', async () => {
  const port = mtlsPort;
  const ok = await mtlsRequest(port, 'client');
  let e = await eventOf(ok.rid);
  assert.equal(ok.status, 200, `${e.auth_error}: ${e.reason}`);
  assert.equal(e.user_id, 'svc-billing');
  assert.equal(e.auth_method, 'mtls');
  assert.equal(e.rule_id, 'payments');
  assert.match(e.client_cert ?? '', /svc-billing/);

  const rogue = await mtlsRequest(port, 'rogue');
  assert.equal(rogue.status, 401);
  e = await eventOf(rogue.rid);
  assert.equal(e.auth_error, 'untrusted_certificate');
  assert.ok(e.reason && /certificate|issuer/i.test(e.reason), e.reason ?? '');

  const none = await mtlsRequest(port, null);
  assert.equal(none.status, 401);
  assert.equal((await eventOf(none.rid)).auth_error, 'missing');
});

test('HTTP Basic (scrypt) and forward auth', async () => {
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  const ok = await call('/staff/x', { authorization: basic('dave', 's3cret-pass') });
  assert.equal(ok.status, 200);
  assert.equal((await ok.event()).user_id, 'dave');
  const bad = await call('/staff/x', { authorization: basic('dave', 'wrong') });
  assert.equal(bad.status, 401);
  assert.match(String(bad.headers['www-authenticate']), /^Basic realm="staff"/);
  assert.equal((await bad.event()).auth_error, 'bad_credentials');
  assert.equal((await (await call('/staff/x', { authorization: basic('eve', 'x') })).event()).auth_error, 'unknown_user');

  const carol = await call('/portal/report', { cookie: 'session=good-carol', 'x-auth-tenant': 'spoofed', 'x-auth_tenant': 'spoofed-too' });
  assert.equal(carol.status, 200);
  const e = await carol.event();
  assert.equal(e.user_id, 'carol');
  assert.equal(e.auth_method, 'forward_auth');
  const seen = backend.requests.at(-1)!;
  assert.equal(seen.headers['x-auth-tenant'], 'acme', 'the auth service header reaches the backend; the client-sent one does not');
  assert.equal(seen.headers['x-auth_tenant'], undefined, 'nor its underscore twin (CGI/WSGI/PHP read both alike)');
  const anon = await call('/portal/report', { cookie: 'session=nobody' });
  assert.equal(anon.status, 401);
  assert.equal((await anon.event()).auth_error, 'bad_credentials');
  const banned = await call('/portal/report', { cookie: 'session=banned' });
  assert.equal(banned.status, 403);
  assert.equal((await banned.event()).auth_error, 'refused');
});

test('policies: source CIDRs, time windows in a time zone, restricted default deny, shadow route and shadow rule', async () => {
  const internal = await call('/internal/x');
  assert.equal(internal.status, 403, 'client 127.0.0.1 is not in ::1/128 or 10/8');
  let e = await internal.event();
  assert.equal(e.decision, 'deny');
  assert.equal(e.rule_id, null);
  assert.match(e.reason ?? '', /restricted route/);

  const hours = await call('/hours/x');
  assert.equal(hours.status, 200);
  assert.equal((await hours.event()).rule_id, 'always');

  const shadow = await call('/shadow/x');
  assert.equal(shadow.status, 200, 'a shadow route is not enforced');
  e = await shadow.event();
  assert.equal(e.decision, 'allow');
  assert.match(e.reason ?? '', /^shadow: would deny/);

  const shadowRule = await call('/shadow-rule/x');
  assert.equal(shadowRule.status, 200);
  e = await shadowRule.event();
  assert.equal(e.rule_id, 'would-deny');
  assert.match(e.reason ?? '', /^shadow: rule would-deny would deny/);
});

test('rate limit: 429 with Retry-After and RateLimit headers, decision ratelimit', async () => {
  const statuses: number[] = [];
  let limited: Awaited<ReturnType<typeof call>> | null = null;
  for (let i = 0; i < 4; i++) {
    const r = await call('/limited/x');
    statuses.push(r.status);
    if (r.status === 429) limited ??= r;
  }
  assert.deepEqual(statuses, [200, 200, 429, 429], 'burst 1 allows two at once');
  assert.ok(limited);
  assert.ok(Number(limited.headers['retry-after']) >= 1);
  assert.ok(limited.headers['ratelimit-limit'] !== undefined && limited.headers['ratelimit-remaining'] === '0' && limited.headers['ratelimit-reset'] !== undefined);
  const e = await limited.event();
  assert.equal(e.decision, 'ratelimit');
  assert.equal(e.rule_id, 'per-ip');
  assert.equal(e.termination, 'rate_limited');
});

test('IP deny list and IPv6 source rules apply to the client resolved through trusted proxies', async () => {
  const denied = await call('/anything', { 'x-forwarded-for': '192.0.2.7' });
  assert.equal(denied.status, 403);
  const e = await denied.event();
  assert.equal(e.client_ip, '192.0.2.7');
  assert.equal(e.decision, 'block');
  assert.equal(e.rule_id, 'ip_deny');
  const v6 = await call('/internal/x', { 'x-forwarded-for': '::1' });
  assert.equal(v6.status, 200);
  assert.equal((await v6.event()).rule_id, 'loopback-v6');
  const v6other = await call('/internal/x', { 'x-forwarded-for': '2001:db8::1' });
  assert.equal(v6other.status, 403);
});

test('dynamic blocks: an IP and a user blocked through the admin API, then lifted; persisted in the blocks file', async () => {
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    adminFetch(`${tg.admin}/api/v1/blocks`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const bad = await post({ kind: 'ip', value: 'not-an-ip', duration: 'forever' });
  assert.equal(bad.status, 400);
  const badBody = (await bad.json()) as { error: { errors: string[] } };
  assert.equal(badBody.error.errors.length, 2, 'both errors are listed');

  const userBlock = await post({ kind: 'user', value: 'alice', duration: '1h', reason: 'credential leak' });
  assert.equal(userBlock.status, 201);
  const ub = (await userBlock.json()) as { id: string; expires_at: string };
  const r = await call('/admin/panel', { 'x-api-key': 'alice-key' });
  assert.equal(r.status, 403);
  let e = await r.event();
  assert.equal(e.decision, 'block');
  assert.equal(e.rule_id, `block:${ub.id}`);
  assert.match(e.reason ?? '', /credential leak/);

  const ipBlock = await post({ kind: 'ip', value: '127.0.0.1', duration: 2, reason: 'probing' });
  assert.equal(ipBlock.status, 201);
  const blocked = await call('/anything');
  assert.equal(blocked.status, 403);
  e = await blocked.event();
  assert.equal(e.decision, 'block');
  assert.equal(e.termination, 'blocked');
  const file = JSON.parse(await readFile(path.join(tg.dir, 'blocks.json'), 'utf8')) as { blocks: { value: string }[] };
  assert.deepEqual(file.blocks.map((b) => b.value).sort(), ['127.0.0.1', 'alice']);
  // The IP block expires by itself after 2 s.
  await waitFor(async () => (await call('/anything')).status === 200, 'the IP block to expire', 6_000, 200);

  const lift = await adminFetch(`${tg.admin}/api/v1/blocks/${ub.id}`, { method: 'DELETE' });
  assert.equal(lift.status, 204);
  assert.equal((await call('/admin/panel', { 'x-api-key': 'alice-key' })).status, 200);
  const list = (await (await adminFetch(`${tg.admin}/api/v1/blocks`)).json()) as { blocks: unknown[] };
  assert.equal(list.blocks.length, 0);
});

test('the admin API refuses everything but /healthz without a token, enforces roles, and audits every call', async () => {
  assert.equal((await get(`${tg.admin}/healthz`)).status, 200);
  for (const p of ['/readyz', '/metrics', '/api/v1/events', '/api/v1/backends', '/api/v1/blocks', '/api/v1/events/stream']) {
    const r = await get(`${tg.admin}${p}`);
    assert.equal(r.status, 401, p);
    assert.match(String(r.headers['www-authenticate']), /^Bearer/);
  }
  assert.equal((await get(`${tg.admin}/api/v1/events`, { headers: { authorization: 'Bearer wrong-token' } })).status, 401);
  assert.equal((await fetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' })).status, 401);

  await tg.flush();
  const admin = await tg.events({ kind: 'admin' });
  const refused = admin.filter((e) => e.status === 401);
  assert.ok(refused.length >= 7, 'refused admin calls are events');
  assert.ok(refused.every((e) => e.decision === 'deny' && e.auth_error !== null && e.termination === 'denied'));
  assert.ok(admin.every((e) => e.host === '127.0.0.1'), 'admin events record the host as the proxy does (no port)');
  const bad = refused.find((e) => e.auth_error === 'unknown_key');
  assert.ok(bad, 'a wrong token is recorded as unknown_key');
  const reads = admin.filter((e) => e.route === 'events.list' && e.status === 200);
  assert.ok(reads.length > 0 && reads.every((e) => e.user_id === 'test'), 'reads of the trail are audited with the caller');
  const blockCreate = admin.find((e) => e.route === 'blocks.create' && e.status === 201);
  assert.match(blockCreate?.reason ?? '', /^blocked user alice/);
  // The same endpoints answer with the token: the refusals above are about the token, not the endpoints.
  assert.ok(ADMIN_AUTH.authorization.length > 0 && (await get(`${tg.admin}/api/v1/blocks`, { headers: ADMIN_AUTH })).status === 200);
});

test('roles: a viewer reads but may not block or reload; an operator blocks but may not reload', async () => {
  const dir = await tempDir();
  const viewer = 'viewer-token-0123456789';
  const operator = 'operator-token-0123456789';
  const b = await startBackend();
  const node = await startTollgate(
    { app: [b.address] },
    (c) => merge(c, { admin: { tokens: [{ id: 'v', sha256: sha(viewer), role: 'viewer' }, { id: 'o', sha256: sha(operator), role: 'operator' }] } }),
    dir,
  );
  try {
    const as = (t: string) => ({ authorization: `Bearer ${t}` });
    assert.equal((await fetch(`${node.admin}/api/v1/events`, { headers: as(viewer) })).status, 200);
    const vb = await fetch(`${node.admin}/api/v1/blocks`, { method: 'POST', headers: { ...as(viewer), 'content-type': 'application/json' }, body: '{"kind":"ip","value":"192.0.2.1"}' });
    assert.equal(vb.status, 403);
    const ob = await fetch(`${node.admin}/api/v1/blocks`, { method: 'POST', headers: { ...as(operator), 'content-type': 'application/json' }, body: '{"kind":"ip","value":"192.0.2.1"}' });
    assert.equal(ob.status, 201);
    assert.equal((await fetch(`${node.admin}/api/v1/config/reload`, { method: 'POST', headers: as(operator) })).status, 403);
    await node.flush();
    const denied = (await fetch(`${node.admin}/api/v1/events?kind=admin&decision=deny&limit=100`, { headers: as(viewer) }).then((r) => r.json())) as { events: AuditEvent[] };
    assert.ok(denied.events.some((e) => e.user_id === 'v' && e.route === 'blocks.create' && /role viewer may not/.test(e.reason ?? '')));
    assert.ok(denied.events.some((e) => e.user_id === 'o' && e.route === 'config.reload'));
  } finally {
    await node.stop();
    await b.close();
  }
});

test('reload revokes an API key; a reload with an unreadable keys file is refused and the old keys stay', async () => {
  const file = path.join(tg.dir, 'tollgate.yaml');
  const original = await readFile(file, 'utf8');
  try {
    await writeFile(file, original.replace(sha('bob-key'), sha('bob-key-2')));
    const r = (await (await adminFetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' })).json()) as { status: string };
    assert.equal(r.status, 'reloaded');
    const old = await call('/anything', { 'x-api-key': 'bob-key' });
    assert.equal(old.status, 401);
    assert.equal((await old.event()).auth_error, 'unknown_key');
    assert.equal((await call('/anything', { 'x-api-key': 'bob-key-2' })).status, 200);

    const doc = parse(original) as { access: { identities: Record<string, unknown>[] } };
    doc.access.identities[0].keys_file = '/nonexistent/keys.yaml';
    await writeFile(file, stringify(doc));
    const refused = await adminFetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' });
    assert.equal(refused.status, 422);
    assert.match(await refused.text(), /keys\.yaml/);
    assert.equal((await call('/anything', { 'x-api-key': 'bob-key-2' })).status, 200, 'the running config stays');
  } finally {
    await writeFile(file, original);
    await adminFetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' });
  }
});

test('WebSocket upgrades go through the same gate: refused without a key (one event), tunnelled with one', async () => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => ws.on('message', (m: Buffer) => ws.send(`echo:${m.toString()}`)));
  const wsPort = (wss.address() as AddressInfo).port;
  const node = await startTollgate({ ws: [`127.0.0.1:${wsPort}`] }, (c) =>
    merge(c, {
      access: { identities: [{ id: 'keys', type: 'api_key', keys: [{ id: 'k', sha256: sha('ws-key'), user: 'wendy', groups: ['chat'] }] }] },
      routes: [{ id: 'ws', backend: 'ws', access: { identities: ['keys'], restricted: true, rules: [{ id: 'chatters', action: 'allow', groups: ['chat'] }] } }],
    }),
  );
  try {
    const refused = new WebSocket(`ws://127.0.0.1:${node.proxyPort}/chat`, { headers: { 'x-request-id': 'ws-refused' } });
    const status = await new Promise<number>((resolve) => {
      refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      refused.once('open', () => resolve(101));
      refused.once('error', () => {});
    });
    assert.equal(status, 401);
    let e = await waitFor(async () => (await node.events({ request_id: 'ws-refused' }))[0], 'the refused upgrade event');
    assert.equal(e.kind, 'websocket');
    assert.equal(e.decision, 'deny');
    assert.equal(e.auth_error, 'missing');

    const ok = new WebSocket(`ws://127.0.0.1:${node.proxyPort}/chat`, { headers: { 'x-request-id': 'ws-ok', 'x-api-key': 'ws-key' } });
    await new Promise((r, j) => {
      ok.once('open', r);
      ok.once('error', j);
    });
    const got = new Promise<string>((r) => ok.once('message', (m: Buffer) => r(m.toString())));
    ok.send('hi');
    assert.equal(await got, 'echo:hi');
    ok.close();
    await new Promise((r) => ok.once('close', r));
    e = await waitFor(async () => (await node.events({ request_id: 'ws-ok' }))[0], 'the tunnel event');
    assert.equal(e.status, 101);
    assert.equal(e.user_id, 'wendy');
    assert.equal(e.rule_id, 'chatters');
    assert.equal((await node.events()).length, 2, 'one event per handshake');
  } finally {
    await node.stop();
    wss.close();
  }
});

test('an Upgrade the backend ignores never becomes a blind tunnel; resets during an upgrade do not crash', async () => {
  const seen: string[] = [];
  const plain = await startBackend((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.end('plain answer');
  });
  const node = await startTollgate({ app: [plain.address] }, (c) =>
    merge(c, {
      access: { identities: [{ id: 'staff', type: 'basic', users: [{ user: 'u', hash: hashPassword('pw', { N: 1024, r: 8, p: 1 }) }] }] },
      routes: [
        { id: 'locked', path_prefix: '/admin', backend: 'app', access: { rules: [{ id: 'no-admin', action: 'deny', paths: ['/admin/**'] }] } },
        { id: 'basic', path_prefix: '/basic', backend: 'app', access: { identities: ['staff'] } },
        { id: 'open', backend: 'app' },
      ],
    }),
  );
  try {
    // 1: an upgrade to an open path, then a smuggled request for /admin on the same connection.
    const out = await rawExchange(
      node.proxyPort,
      'GET /public HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' +
        'GET /admin/secret HTTP/1.1\r\nHost: x\r\n\r\n',
      1500,
    );
    assert.match(out, /^HTTP\/1\.1 200/, 'the backend’s plain answer is passed on');
    assert.match(out, /connection: close/i, '…and the connection is closed');
    assert.ok(!seen.includes('GET /admin/secret'), `the smuggled request never reached the backend (backend saw: ${seen.join(', ')})`);
    // 2: h2c and other upgrade protocols are refused.
    assert.match(await rawExchange(node.proxyPort, 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n'), /^HTTP\/1\.1 400/);
    // 3: resets while authorization (scrypt) is pending.
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve) => {
        const s = net.connect(node.proxyPort, '127.0.0.1', () => {
          s.write(`GET /basic/ws HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${Buffer.from('u:wrong').toString('base64')}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
          setTimeout(() => {
            s.resetAndDestroy();
            resolve();
          }, 2);
        });
        s.on('error', () => {});
      });
    }
    await sleep(300);
    assert.equal((await get(`${node.proxy}/public`)).status, 200, 'the proxy is still serving');
    const aborted = (await node.events({ route: 'basic' })).filter((e) => e.kind === 'websocket');
    assert.equal(aborted.length, 5, 'one event per aborted upgrade');
  } finally {
    await node.stop();
    await plain.close();
  }
});
