import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { RouteAccessSchema, AccessSchema } from '../../config/access-schema.js';
import { emptyEvent, type AuditEvent } from '../../core/event.js';
import { ClientGate, RouteGate, type Verdict } from './access.js';
import { BlockList } from './blocks.js';
import { RateLimiter } from './ratelimit/limiter.js';
import type { IdentityMethod, IdentityOutcome, AuthRequest } from './identity/types.js';

/** A method that accepts "Token good-<user>", refuses other tokens, and can answer asynchronously. */
function tokenMethod(async: boolean): IdentityMethod {
  const decide = (r: AuthRequest): IdentityOutcome => {
    const h = r.headers.authorization;
    if (typeof h !== 'string') return { kind: 'none' };
    const m = /^Token good-(\w+)$/.exec(h);
    if (!m) return { kind: 'fail', error: 'bad_credentials', detail: 'token not accepted' };
    return { kind: 'ok', identity: { userId: m[1], userName: null, groups: m[1] === 'root' ? ['admin'] : [], claims: {} }, upstreamHeaders: { 'x-user': m[1] } };
  };
  return { id: async ? 'tok-async' : 'tok', type: 'token', challenge: 'Token realm="t"', authenticate: (r) => (async ? Promise.resolve(decide(r)) : decide(r)), close: async () => {} };
}

function request(headers: Record<string, string> = {}): { req: IncomingMessage; event: AuditEvent } {
  const event = emptyEvent('id', new Date().toISOString(), 'http', 'tollgate');
  event.method = 'GET';
  event.path = '/x';
  event.client_ip = '198.51.100.7';
  return { req: { headers, socket: {} } as unknown as IncomingMessage, event };
}

function gate(access: unknown, opts: { async?: boolean; limiter?: boolean; blocks?: BlockList } = {}): RouteGate {
  const a = RouteAccessSchema.parse(access);
  const identities = new Map([['tok', tokenMethod(opts.async ?? false)]]);
  const limiter = opts.limiter ? new RateLimiter([{ routeId: 'r', limits: a.rate_limits }], AccessSchema.parse({}).rate_limit) : null;
  return new RouteGate('r', a, { identities, blocks: opts.blocks ?? new BlockList(), limiter, caseSensitive: false });
}

async function run(g: RouteGate, headers: Record<string, string> = {}): Promise<{ v: Verdict; e: AuditEvent; sync: boolean }> {
  const { req, event } = request(headers);
  const out = g.check({ req, event, matchPath: '/x', scheme: 'http' });
  const sync = !(out instanceof Promise);
  return { v: await out, e: event, sync };
}

test('an open route answers synchronously and marks the event allowed', async () => {
  const r = await run(gate({}));
  assert.equal(r.sync, true);
  assert.equal(r.v.allow, true);
  assert.equal(r.e.decision, 'allow');
});

test('identity outcomes fill the event, sync or async alike', async () => {
  for (const async of [false, true]) {
    const g = gate({ identities: ['tok'] }, { async });
    const ok = await run(g, { authorization: 'Token good-ann' });
    assert.equal(ok.sync, !async);
    assert.equal(ok.v.allow, true);
    assert.deepEqual(ok.v.allow && ok.v.upstreamHeaders, { 'x-user': 'ann' });
    assert.deepEqual([ok.e.user_id, ok.e.auth_method, ok.e.auth_error], ['ann', 'token', null]);

    const bad = await run(g, { authorization: 'Token nope' });
    assert.equal(bad.v.allow, false);
    if (!bad.v.allow) {
      assert.equal(bad.v.spec.status, 401);
      assert.deepEqual(bad.v.headers, { 'www-authenticate': 'Token realm="t"' });
    }
    assert.deepEqual([bad.e.auth_error, bad.e.rule_id], ['bad_credentials', `identity:${async ? 'tok-async' : 'tok'}`]);

    const none = await run(g);
    assert.equal(none.v.allow, false);
    assert.equal(none.e.auth_error, 'missing');
  }
});

test('anonymous routes let requests without credentials reach the policy', async () => {
  const g = gate({ identities: ['tok'], anonymous: true, rules: [{ id: 'anon-get', action: 'deny', authenticated: false, methods: ['POST'] }] });
  const r = await run(g);
  assert.equal(r.v.allow, true);
  assert.equal(r.e.auth_error, null, 'no credential is not an error here');
});

test('failed attempts count against per-IP limits, checked before credentials: a brute-forcer gets 429, not endless 401s', async () => {
  const g = gate({ identities: ['tok'], rate_limits: [{ id: 'per-ip', by: 'client_ip', rate: 1, per: '1h', burst: 2 }] }, { limiter: true });
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await run(g, { authorization: 'Token wrong' });
    statuses.push(r.v.allow ? 200 : r.v.spec.status);
    if (i === 4) {
      assert.equal(r.e.decision, null, 'the gate leaves the decision to the refusal spec');
      assert.equal(r.e.rule_id, 'per-ip');
      assert.equal(r.e.auth_error, null, 'a limited request is refused before its credential is checked');
      assert.ok(!r.v.allow && r.v.headers && Number(r.v.headers['Retry-After']) >= 1);
    }
  }
  assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
});

test('per-user limits apply once the identity is known; requests without one are not counted against anybody', async () => {
  const g = gate({ identities: ['tok'], anonymous: true, rate_limits: [{ id: 'per-user', by: 'user', rate: 1, per: '1h', burst: 0 }] }, { limiter: true });
  assert.equal((await run(g, { authorization: 'Token good-ann' })).v.allow, true);
  const second = await run(g, { authorization: 'Token good-ann' });
  assert.equal(!second.v.allow && second.v.spec.status, 429);
  assert.equal(second.e.user_id, 'ann', 'the identity is recorded on the refusal');
  assert.equal((await run(g, { authorization: 'Token good-bob' })).v.allow, true, 'another user has their own count');
  assert.equal((await run(g)).v.allow, true, 'anonymous requests have no user to count');
});

test('user blocks apply after authentication', async () => {
  const blocks = new BlockList([{ id: 'b', kind: 'user', value: 'ann', reason: 'leak', created_at: '', expires_at: null, created_by: 'x' }]);
  const r = await run(gate({ identities: ['tok'] }, { blocks }), { authorization: 'Token good-ann' });
  assert.equal(!r.v.allow && r.v.spec.decision, 'block');
  assert.equal(r.e.rule_id, 'block:b');
});

test('policy denials: 401 for anonymous callers of a route with identities, 403 for identified ones', async () => {
  const g = gate({ identities: ['tok'], anonymous: true, restricted: true, rules: [{ id: 'admins', action: 'allow', groups: ['admin'] }] });
  const anon = await run(g);
  assert.equal(!anon.v.allow && anon.v.spec.status, 401);
  const ann = await run(g, { authorization: 'Token good-ann' });
  assert.equal(!ann.v.allow && ann.v.spec.status, 403);
  const root = await run(g, { authorization: 'Token good-root' });
  assert.equal(root.v.allow, true);
  assert.equal(root.e.rule_id, 'admins');
});

test('the client gate: deny list, allow list, IP blocks', () => {
  const blocks = new BlockList([{ id: 'b9', kind: 'ip', value: '203.0.113.9', reason: '', created_at: '', expires_at: null, created_by: 'x' }]);
  const cg = new ClientGate(AccessSchema.parse({ ip_allow: ['203.0.113.0/24', '2001:db8::/32'], ip_deny: ['203.0.113.66'] }), blocks);
  const at = (ip: string) => {
    const { event } = request();
    event.client_ip = ip;
    const v = cg.check(event);
    return v && !v.allow ? event.rule_id : 'ok';
  };
  assert.equal(at('203.0.113.5'), 'ok');
  assert.equal(at('2001:db8::1'), 'ok');
  assert.equal(at('203.0.113.66'), 'ip_deny');
  assert.equal(at('198.51.100.1'), 'ip_allow');
  assert.equal(at('203.0.113.9'), 'block:b9');
});
