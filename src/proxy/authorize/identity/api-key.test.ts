import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKeyIdentitySchema } from '../../../config/access-schema.js';
import { createApiKeyMethod } from './api-key.js';
import { assertFail, assertOk, authRequest, identityConformance, sync, testContext } from './conformance.js';
import { hashSecret } from './index.js';

const ALICE = 'tg_live_alice_0123456789abcdef';
const BOB = 'tg_live_bob_revoked_0123456789';
const CAROL = 'tg_live_carol_expired_01234567';
const STRANGER = 'tg_live_nobody_0123456789abcde';

function config(extra: Record<string, unknown> = {}) {
  return ApiKeyIdentitySchema.parse({
    id: 'keys',
    type: 'api_key',
    query_param: 'api_key',
    keys: [
      { id: 'alice-1', sha256: hashSecret(ALICE), user: 'alice', name: 'Alice', groups: ['eng'] },
      { id: 'bob-1', sha256: hashSecret(BOB).toUpperCase(), user: 'bob', revoked: true },
      { id: 'carol-1', sha256: hashSecret(CAROL), user: 'carol', expires: '2020-01-01T00:00:00Z' },
    ],
    ...extra,
  });
}

identityConformance('api_key', () => {
  const method = createApiKeyMethod(config(), testContext());
  return {
    method,
    validRequest: () => authRequest({ headers: { 'x-api-key': ALICE } }),
    expectedUserId: 'alice',
    missingRequest: () => authRequest({ query: 'page=2' }),
    badRequests: [
      { label: 'unknown key', request: () => authRequest({ headers: { 'x-api-key': STRANGER } }), error: 'unknown_key' },
      { label: 'revoked key', request: () => authRequest({ headers: { 'x-api-key': BOB } }), error: 'revoked' },
      { label: 'expired key', request: () => authRequest({ headers: { 'x-api-key': CAROL } }), error: 'expired' },
      { label: 'empty header', request: () => authRequest({ headers: { 'x-api-key': '  ' } }), error: 'malformed' },
      { label: 'repeated header (joined by node)', request: () => authRequest({ headers: { 'x-api-key': `${ALICE}, ${STRANGER}` } }), error: 'malformed' },
      { label: 'repeated header (array)', request: () => authRequest({ headers: { 'x-api-key': [ALICE, STRANGER] as unknown as string } }), error: 'malformed' },
      { label: 'repeated query parameter', request: () => authRequest({ query: `api_key=${ALICE}&api_key=${STRANGER}` }), error: 'malformed' },
      { label: 'header and query differ', request: () => authRequest({ headers: { 'x-api-key': ALICE }, query: `api_key=${STRANGER}` }), error: 'malformed' },
      { label: 'unknown key in query', request: () => authRequest({ query: `a=1&api_key=${STRANGER}` }), error: 'unknown_key' },
    ],
    secrets: [ALICE, BOB, CAROL, STRANGER],
    syncAfterFirst: true,
    close: async () => {},
  };
});

describe('api_key', () => {
  test('answers synchronously and fills identity, keyId and claims', () => {
    const m = createApiKeyMethod(config(), testContext());
    const r = sync(m.authenticate(authRequest({ headers: { 'x-api-key': ALICE } })));
    assertOk(r, 'alice');
    assert.deepEqual(r.identity, { userId: 'alice', userName: 'Alice', groups: ['eng'], claims: { key_id: 'alice-1' }, keyId: 'alice-1' });
    // The same frozen outcome every time: nothing is allocated per request on success.
    assert.equal(m.authenticate(authRequest({ headers: { 'x-api-key': ALICE } })), r);
  });

  test('failure details name the key id, never the key', () => {
    const m = createApiKeyMethod(config(), testContext());
    const revoked = sync(m.authenticate(authRequest({ headers: { 'x-api-key': BOB } })));
    assert.ok(revoked.kind === 'fail' && revoked.detail.includes('bob-1'));
    const expired = sync(m.authenticate(authRequest({ headers: { 'x-api-key': CAROL } })));
    assert.ok(expired.kind === 'fail' && expired.detail.includes('2020-01-01'));
  });

  test('key in the query string among other parameters, and form-encoded', () => {
    const m = createApiKeyMethod(config(), testContext());
    assertOk(sync(m.authenticate(authRequest({ query: `page=2&api_key=${ALICE}&sort=asc` }))), 'middle', 'alice');
    assertOk(sync(m.authenticate(authRequest({ query: `api_key=${ALICE}` }))), 'only', 'alice');
    assertOk(sync(m.authenticate(authRequest({ query: `x=%zz&api_key=${encodeURIComponent(ALICE)}` }))), 'encoded, with a broken neighbour', 'alice');
    // A parameter whose name merely contains ours is not ours.
    assert.deepEqual(m.authenticate(authRequest({ query: `my_api_key=${ALICE}` })), { kind: 'none' });
    assertFail(sync(m.authenticate(authRequest({ query: 'api_key=%E0%A4%A' }))), 'malformed', 'bad percent-encoding');
    // Same key in header and query is fine.
    assertOk(sync(m.authenticate(authRequest({ headers: { 'x-api-key': ALICE }, query: `api_key=${ALICE}` }))), 'both', 'alice');
  });

  test('without query_param the query string is ignored', () => {
    const m = createApiKeyMethod(config({ query_param: undefined }), testContext());
    assert.deepEqual(m.authenticate(authRequest({ query: `api_key=${ALICE}` })), { kind: 'none' });
  });

  test('Authorization header: Bearer and ApiKey schemes, others are left to other methods', () => {
    const m = createApiKeyMethod(config({ header: 'Authorization' }), testContext());
    assertOk(sync(m.authenticate(authRequest({ headers: { authorization: `Bearer ${ALICE}` } }))), 'Bearer', 'alice');
    assertOk(sync(m.authenticate(authRequest({ headers: { authorization: `ApiKey ${ALICE}` } }))), 'ApiKey', 'alice');
    assertOk(sync(m.authenticate(authRequest({ headers: { authorization: `bearer   ${ALICE}` } }))), 'case and spaces', 'alice');
    assert.deepEqual(m.authenticate(authRequest({ headers: { authorization: 'Basic YWxpY2U6cHc=' } })), { kind: 'none' });
    assertFail(sync(m.authenticate(authRequest({ headers: { authorization: 'Bearer' } }))), 'malformed', 'no key after the scheme');
    assertFail(sync(m.authenticate(authRequest({ headers: { authorization: `Bearer ${STRANGER}` } }))), 'unknown_key', 'unknown');
  });

  test('keys_file (YAML and JSON) relative to baseDir', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-keys-'));
    try {
      writeFileSync(join(dir, 'keys.yaml'), `- id: dave-1\n  sha256: ${hashSecret('dave-key-0123456789')}\n  user: dave\n  groups: [ops]\n`);
      writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: [{ id: 'erin-1', sha256: hashSecret('erin-key-0123456789'), user: 'erin' }] }));
      const ctx = testContext(dir);
      const y = createApiKeyMethod(config({ keys_file: 'keys.yaml' }), ctx);
      assertOk(sync(y.authenticate(authRequest({ headers: { 'x-api-key': 'dave-key-0123456789' } }))), 'from yaml', 'dave');
      assertOk(sync(y.authenticate(authRequest({ headers: { 'x-api-key': ALICE } }))), 'inline keys still work', 'alice');
      const j = createApiKeyMethod(config({ keys_file: 'keys.json' }), ctx);
      assertOk(sync(j.authenticate(authRequest({ headers: { 'x-api-key': 'erin-key-0123456789' } }))), 'from json', 'erin');

      assert.throws(() => createApiKeyMethod(config({ keys_file: 'missing.yaml' }), ctx), (e: Error) => e.message.includes(join(dir, 'missing.yaml')) && /ENOENT/.test(e.message));
      writeFileSync(join(dir, 'bad.yaml'), `- id: x\n  sha256: nothex\n  user: x\n`);
      assert.throws(() => createApiKeyMethod(config({ keys_file: 'bad.yaml' }), ctx), /bad\.yaml: entry 0\.sha256: expected the SHA-256/);
      writeFileSync(join(dir, 'notlist.yaml'), `keys: 3\n`);
      assert.throws(() => createApiKeyMethod(config({ keys_file: 'notlist.yaml' }), ctx), /notlist\.yaml must hold a list/);
      writeFileSync(join(dir, 'broken.yaml'), `- id: [\n`);
      assert.throws(() => createApiKeyMethod(config({ keys_file: 'broken.yaml' }), ctx), /broken\.yaml is not valid YAML or JSON/);
      writeFileSync(join(dir, 'dup.yaml'), `- id: alice-2\n  sha256: ${hashSecret(ALICE)}\n  user: alice\n`);
      assert.throws(() => createApiKeyMethod(config({ keys_file: 'dup.yaml' }), ctx), /"alice-1" and "alice-2" have the same sha256/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('duplicate key ids are refused', () => {
    const cfg = config();
    cfg.keys.push({ ...cfg.keys[0], sha256: hashSecret('other-key-123456') });
    assert.throws(() => createApiKeyMethod(cfg, testContext()), /duplicate API key id "alice-1"/);
  });

  test('a method without keys warns and refuses every key', () => {
    const ctx = testContext();
    const m = createApiKeyMethod(config({ keys: [] }), ctx);
    assert.equal(ctx.warnings.length, 1);
    assertFail(sync(m.authenticate(authRequest({ headers: { 'x-api-key': ALICE } }))), 'unknown_key', 'empty table');
  });

  test('hashSecret is the sha256 hex of the secret', () => {
    assert.equal(hashSecret('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
