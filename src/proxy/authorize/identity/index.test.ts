import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { IdentitySchema } from '../../../config/access-schema.js';
import { hashKeyCommand, hashPasswordCommand, type HashIo } from '../../../cli/hash.js';
import { buildIdentityMethods, closeIdentityMethods, hashPassword, hashSecret, verifyPassword } from './index.js';
import { testContext } from './conformance.js';

const configs = () =>
  [
    { id: 'keys', type: 'api_key', keys: [{ id: 'k1', sha256: hashSecret('key-one-0123456789'), user: 'svc' }] },
    { id: 'sso', type: 'jwt', jwks_url: 'http://127.0.0.1:9/jwks.json' },
    { id: 'certs', type: 'mtls' },
    { id: 'staff', type: 'basic', users: [{ user: 'a', hash: hashPassword('pw', { N: 1024, r: 8, p: 1 }) }] },
    { id: 'gate', type: 'forward_auth', url: 'http://127.0.0.1:9/auth' },
  ].map((c) => IdentitySchema.parse(c));

describe('buildIdentityMethods', () => {
  test('builds every type by id, without contacting anything', async () => {
    const m = buildIdentityMethods(configs(), testContext());
    assert.deepEqual([...m.keys()], ['keys', 'sso', 'certs', 'staff', 'gate']);
    assert.deepEqual([...m.values()].map((x) => x.type), ['api_key', 'jwt', 'mtls', 'basic', 'forward_auth']);
    assert.deepEqual([...m.values()].map((x) => x.challenge), [null, 'Bearer realm="tollgate"', null, 'Basic realm="tollgate", charset="UTF-8"', null]);
    await closeIdentityMethods(m);
    await closeIdentityMethods(m);
  });

  test('a repeated id or a broken method fails the whole build with the identity named', () => {
    const dup = [...configs(), IdentitySchema.parse({ id: 'keys', type: 'mtls' })];
    assert.throws(() => buildIdentityMethods(dup, testContext()), /identity id "keys" is used twice/);
    const broken = [...configs(), IdentitySchema.parse({ id: 'filed', type: 'api_key', keys_file: 'does-not-exist.yaml' })];
    assert.throws(() => buildIdentityMethods(broken, testContext('/nonexistent-dir')), /api_key identity "filed": cannot read keys file \/nonexistent-dir\/does-not-exist\.yaml: ENOENT/);
  });
});

function io(input: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown }): HashIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { stdin: input, stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, out, err };
}

describe('hash CLI helpers', () => {
  test('hash-key from an argument or piped stdin (one trailing newline removed)', async () => {
    const a = io(Readable.from([]));
    assert.equal(await hashKeyCommand('abc', a), hashSecret('abc'));
    assert.deepEqual(a.out, [`${hashSecret('abc')}\n`]);
    const p = io(Readable.from([Buffer.from('my-key'), Buffer.from('-123\n')]));
    assert.equal(await hashKeyCommand(undefined, p), hashSecret('my-key-123'));
    await assert.rejects(hashKeyCommand(undefined, io(Readable.from(['\n']))), /empty secret/);
  });

  test('hash-password from a hidden terminal prompt, asked twice', async () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true, raw: [] as boolean[], setRawMode(r: boolean) { this.raw.push(r); } });
    const t = io(tty);
    const done = hashPasswordCommand(undefined, t, { N: 1024, r: 8, p: 1 });
    tty.write('s3cx\u007fret\r');
    await new Promise((r) => setImmediate(r));
    tty.write('s3cret\r');
    const h = await done;
    assert.equal(await verifyPassword('s3cret', h), true);
    assert.deepEqual(t.out, [`${h}\n`]);
    assert.ok(!t.err.join('').includes('s3cret'), 'not echoed');
    assert.deepEqual(tty.raw, [true, false, true, false]);

    const tty2 = Object.assign(new PassThrough(), { isTTY: true, setRawMode() {} });
    const mismatch = hashPasswordCommand(undefined, io(tty2), { N: 1024, r: 8, p: 1 });
    tty2.write('one\r');
    await new Promise((r) => setImmediate(r));
    tty2.write('two\r');
    await assert.rejects(mismatch, /differ/);
  });

  test('hash-password from an argument or stdin', async () => {
    const h = await hashPasswordCommand('pw', io(Readable.from([])), { N: 1024, r: 8, p: 1 });
    assert.equal(await verifyPassword('pw', h), true);
    const piped = await hashPasswordCommand(undefined, io(Readable.from(['pa ss\r\n'])), { N: 1024, r: 8, p: 1 });
    assert.equal(await verifyPassword('pa ss', piped), true);
  });
});
