import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasicIdentitySchema, BasicUserSchema } from '../../../config/access-schema.js';
import { createBasicMethod } from './basic.js';
import { assertFail, assertOk, authRequest, identityConformance, sync, testContext } from './conformance.js';
import { DEFAULT_SCRYPT, hashPassword, verifyPassword } from './index.js';
import type { AuthRequest, IdentityOutcome } from './types.js';

/** Cheap parameters so the suite runs fast; the code path is the same as with the defaults. */
const FAST = { N: 1024, r: 8, p: 1 };
const ALICE_PW = 'correct horse battery staple';
const BOB_PW = 'bob-password-0123';
const ALICE_HASH = hashPassword(ALICE_PW, FAST);
const BOB_HASH = hashPassword(BOB_PW, FAST);

const basic = (user: string, password: string): AuthRequest =>
  authRequest({ headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}` } });

function config(extra: Record<string, unknown> = {}) {
  return BasicIdentitySchema.parse({
    id: 'staff',
    type: 'basic',
    realm: 'Staff area',
    users: [
      { user: 'alice', hash: ALICE_HASH, name: 'Alice', groups: ['eng'] },
      { user: 'bob', hash: BOB_HASH, revoked: true },
    ],
    ...extra,
  });
}

identityConformance('basic', () => ({
  method: createBasicMethod(config(), testContext()),
  validRequest: () => basic('alice', ALICE_PW),
  expectedUserId: 'alice',
  missingRequest: () => authRequest({ headers: { authorization: 'Bearer some.jwt.token' } }),
  badRequests: [
    { label: 'wrong password', request: () => basic('alice', 'Tr0ub4dor&3'), error: 'bad_credentials' },
    { label: 'unknown user', request: () => basic('mallory', 'Tr0ub4dor&3'), error: 'unknown_user' },
    { label: 'revoked user', request: () => basic('bob', BOB_PW), error: 'revoked' },
    { label: 'not base64', request: () => authRequest({ headers: { authorization: 'Basic !!!not-base64!!!' } }), error: 'malformed' },
    { label: 'no colon', request: () => authRequest({ headers: { authorization: `Basic ${Buffer.from('alice-no-colon').toString('base64')}` } }), error: 'malformed' },
    { label: 'empty', request: () => authRequest({ headers: { authorization: 'Basic' } }), error: 'malformed' },
    { label: 'empty user name', request: () => basic('', ALICE_PW), error: 'malformed' },
  ],
  secrets: [ALICE_PW, BOB_PW, 'Tr0ub4dor&3', ALICE_HASH, BOB_HASH],
  syncAfterFirst: true,
  close: async () => {},
}));

describe('scrypt hashes', () => {
  test('hashPassword produces the configured format and verifyPassword checks it', async () => {
    const h = hashPassword('s3cret', FAST);
    assert.match(h, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.ok(BasicUserSchema.safeParse({ user: 'x', hash: h }).success, 'accepted by the config schema');
    assert.notEqual(hashPassword('s3cret', FAST), h, 'salted');
    assert.equal(await verifyPassword('s3cret', h), true);
    assert.equal(await verifyPassword('s3cret ', h), false);
    assert.equal(await verifyPassword('', h), false);
  });

  test('defaults and parameter checks', async () => {
    const h = hashPassword('pw');
    assert.ok(h.startsWith(`scrypt$${DEFAULT_SCRYPT.N}$${DEFAULT_SCRYPT.r}$${DEFAULT_SCRYPT.p}$`));
    assert.equal(await verifyPassword('pw', h), true);
    assert.throws(() => hashPassword('pw', { N: 1000, r: 8, p: 1 }), /power of two/);
    await assert.rejects(verifyPassword('pw', 'scrypt$16$8$1$c2FsdHNhbHQ=$aGFzaA=='), /hash must be 16-128 bytes/);
    await assert.rejects(verifyPassword('pw', 'bcrypt$xyz'), /expected "scrypt\$N/);
  });
});

describe('basic', () => {
  test('identity, challenge and header parsing', async () => {
    const m = createBasicMethod(config({ realm: 'Say "hi"' }), testContext());
    assert.equal(m.challenge, 'Basic realm="Say \\"hi\\"", charset="UTF-8"');
    const o = await m.authenticate(basic('alice', ALICE_PW));
    assertOk(o, 'alice', 'alice');
    assert.deepEqual({ ...o.identity }, { userId: 'alice', userName: 'Alice', groups: ['eng'], claims: {} });
    const lower = authRequest({ headers: { authorization: `basic ${Buffer.from(`alice:${ALICE_PW}`).toString('base64')}` } });
    assertOk(await m.authenticate(lower), 'lower-case scheme', 'alice');
    assert.deepEqual(m.authenticate(authRequest({ headers: { authorization: 'Negotiate abc' } })), { kind: 'none' });
  });

  test('passwords with colons and non-ASCII user names', async () => {
    const m = createBasicMethod(
      config({ users: [{ user: 'zoë', hash: hashPassword('a:b:c', FAST) }] }),
      testContext(),
    );
    assertOk(await m.authenticate(basic('zoë', 'a:b:c')), 'utf-8', 'zoë');
    assertFail(await m.authenticate(basic('zoë', 'a:b')), 'bad_credentials', 'prefix of the password');
  });

  test('a refused login names the user that was tried (for credential-stuffing rules); malformed credentials name none', async () => {
    const m = createBasicMethod(config(), testContext());
    const tried = async (r: AuthRequest) => {
      const o = await m.authenticate(r);
      assert.equal(o.kind, 'fail');
      return o.kind === 'fail' ? o.attemptedUser : 'not a failure';
    };
    assert.equal(await tried(basic('alice', 'wrong')), 'alice');
    assert.equal(await tried(basic('mallory', 'x')), 'mallory');
    assert.equal(await tried(basic('bob', BOB_PW)), 'bob');
    assert.equal(await tried(basic('m'.repeat(1000), 'x')), 'm'.repeat(256), 'truncated');
    assert.equal(await tried(authRequest({ headers: { authorization: 'Basic !!!' } })), undefined);
  });

  test('a successful check is cached: same credentials answer synchronously, others still run scrypt', async () => {
    const m = createBasicMethod(config(), testContext());
    const first = m.authenticate(basic('alice', ALICE_PW));
    assert.ok(first instanceof Promise);
    assertOk(await first, 'first');
    for (let i = 0; i < 50; i++) assertOk(sync(m.authenticate(basic('alice', ALICE_PW))), 'cached');
    const wrong = m.authenticate(basic('alice', `${ALICE_PW}x`));
    assert.ok(wrong instanceof Promise, 'a different password is not answered from the cache');
    assertFail(await wrong, 'bad_credentials', 'wrong after cached');
    const wrongAgain = m.authenticate(basic('alice', `${ALICE_PW}x`));
    assert.ok(wrongAgain instanceof Promise, 'failures are not cached');
    await wrongAgain;
    assertOk(sync(m.authenticate(basic('alice', ALICE_PW))), 'still cached');
  });

  test('identical concurrent logins share one scrypt run', async () => {
    const m = createBasicMethod(config(), testContext());
    const a = m.authenticate(basic('alice', ALICE_PW));
    const b = m.authenticate(basic('alice', ALICE_PW));
    assert.equal(a, b);
    assertOk(await a, 'shared');
  });

  test('an unknown user costs a scrypt run like a wrong password (no enumeration by timing)', async () => {
    const slow = { N: 16384, r: 8, p: 1 };
    const m = createBasicMethod(config({ users: [{ user: 'alice', hash: hashPassword(ALICE_PW, slow) }] }), testContext());
    const time = async (r: AuthRequest): Promise<[number, IdentityOutcome]> => {
      const t0 = process.hrtime.bigint();
      const o = await m.authenticate(r);
      return [Number(process.hrtime.bigint() - t0) / 1e6, o];
    };
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [tw, ow] = await time(basic('alice', `nope${i}`));
      assertFail(ow, 'bad_credentials', 'wrong');
      wrong.push(tw);
      const [tu, ou] = await time(basic(`ghost${i}`, `nope${i}`));
      assertFail(ou, 'unknown_user', 'unknown');
      unknown.push(tu);
    }
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[1];
    assert.ok(median(unknown) > median(wrong) * 0.4, `unknown user ${median(unknown).toFixed(1)} ms vs wrong password ${median(wrong).toFixed(1)} ms`);
  });

  test('users_file (YAML) relative to baseDir, and clear errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-users-'));
    try {
      const ctx = testContext(dir);
      writeFileSync(join(dir, 'users.yaml'), `- user: carol\n  hash: "${hashPassword('carol-pw', FAST)}"\n  groups: [ops]\n`);
      const m = createBasicMethod(config({ users_file: 'users.yaml' }), ctx);
      assertOk(await m.authenticate(basic('carol', 'carol-pw')), 'carol from file', 'carol');
      assertOk(await m.authenticate(basic('alice', ALICE_PW)), 'alice inline', 'alice');
      assert.throws(() => createBasicMethod(config({ users_file: 'nope.yaml' }), ctx), (e: Error) => e.message.includes(join(dir, 'nope.yaml')));
      writeFileSync(join(dir, 'dup.yaml'), `- user: alice\n  hash: "${ALICE_HASH}"\n`);
      assert.throws(() => createBasicMethod(config({ users_file: 'dup.yaml' }), ctx), /user "alice" is defined twice \(dup\.yaml\[0\]\)/);
      writeFileSync(join(dir, 'weak.yaml'), `- user: dave\n  hash: "scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA=="\n`);
      assert.throws(
        () => createBasicMethod(config({ users_file: 'weak.yaml' }), ctx),
        (e: Error) => /hash of user "dave" \(weak\.yaml\[0\]\): invalid scrypt parameters/.test(e.message) && !e.message.includes('c2FsdHNhbHQ'),
      );
      writeFileSync(join(dir, 'bad.yaml'), `- user: erin\n  hash: plaintext\n`);
      assert.throws(() => createBasicMethod(config({ users_file: 'bad.yaml' }), ctx), /bad\.yaml: entry 0\.hash: expected "scrypt/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
