import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { MtlsIdentitySchema } from '../../../config/access-schema.js';
import { createMtlsMethod, normalizeFingerprint, parseSubjectAltName } from './mtls.js';
import { assertFail, assertOk, authRequest, identityConformance, sync, testContext } from './conformance.js';
import type { AuthRequest } from './types.js';

/** Certificates made with the openssl CLI, as an operator would. */
interface Pki {
  dir: string;
  pem(name: string): string;
  fingerprint(name: string): string;
}

function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'tg-mtls-'));
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const ca = (name: string, cn: string) =>
    ossl('req', '-x509', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const leaf = (name: string, subj: string, caName: string, san?: string) => {
    writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth,serverAuth\n${san ? `subjectAltName=${san}\n` : ''}`);
    ossl('req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj);
    ossl('x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  };
  ca('ca', 'Tollgate Test Client CA');
  ca('rogue-ca', 'Rogue CA');
  leaf('server', '/CN=localhost', 'ca', 'DNS:localhost');
  leaf('alice', '/O=Example/OU=eng/OU=ops/CN=alice', 'ca', 'email:alice@example.com,DNS:alice.example.com,URI:spiffe://example.com/alice');
  leaf('bob', '/O=Example/CN=bob', 'ca', 'email:bob@example.com');
  leaf('nocn', '/O=Example/OU=svc', 'ca');
  leaf('mallory', '/O=Example/OU=eng/CN=alice', 'rogue-ca', 'email:alice@example.com');
  ossl('req', '-x509', ...ecKey, '-keyout', 'selfsigned.key', '-out', 'selfsigned.crt', '-days', '2', '-subj', '/CN=alice', '-addext', 'extendedKeyUsage=clientAuth');
  return {
    dir,
    pem: (name) => readFileSync(join(dir, name), 'utf8'),
    fingerprint: (name) => new X509Certificate(readFileSync(join(dir, `${name}.crt`))).fingerprint256,
  };
}

/** A TLS server like a Tollgate `client_auth: request` listener; hands out the server side of each connection. */
class TlsHarness {
  server!: Server;
  private waiting: ((s: TLSSocket) => void)[] = [];
  private readonly clients: TLSSocket[] = [];
  private readonly servers: TLSSocket[] = [];

  constructor(private readonly pki: Pki) {}

  async start(): Promise<this> {
    this.server = createServer({
      key: this.pki.pem('server.key'),
      cert: this.pki.pem('server.crt'),
      ca: this.pki.pem('ca.crt'),
      requestCert: true,
      rejectUnauthorized: false,
    });
    this.server.on('secureConnection', (s: TLSSocket) => {
      this.servers.push(s);
      s.on('error', () => {});
      this.waiting.shift()?.(s);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  /** Connects with this client certificate (or none) and returns the server's socket for the connection. */
  async connect(client: string | null, maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3'): Promise<TLSSocket> {
    const serverSide = new Promise<TLSSocket>((resolve) => this.waiting.push(resolve));
    const c = connect({
      host: '127.0.0.1',
      port: (this.server.address() as AddressInfo).port,
      servername: 'localhost',
      rejectUnauthorized: false,
      maxVersion,
      ...(client ? { key: this.pki.pem(`${client}.key`), cert: this.pki.pem(`${client}.crt`) } : {}),
    });
    c.on('error', () => {});
    this.clients.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once('secureConnect', resolve);
      c.once('error', reject);
    });
    return serverSide;
  }

  async stop(): Promise<void> {
    for (const s of [...this.clients, ...this.servers]) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const req = (socket: TLSSocket): AuthRequest => authRequest({ socket });

let pki: Pki;
let tls: TlsHarness;
const sockets: Record<string, TLSSocket> = {};

before(async () => {
  pki = makePki();
  tls = await new TlsHarness(pki).start();
  for (const name of ['alice', 'bob', 'nocn', 'mallory', 'selfsigned']) sockets[name] = await tls.connect(name);
  sockets.none = await tls.connect(null);
  sockets.alice12 = await tls.connect('alice', 'TLSv1.2');
});

after(async () => {
  await tls?.stop();
  if (pki) rmSync(pki.dir, { recursive: true, force: true });
});

function mtls(extra: Record<string, unknown> = {}) {
  return createMtlsMethod(MtlsIdentitySchema.parse({ id: 'certs', type: 'mtls', ...extra }), testContext());
}

identityConformance('mtls', () => {
  const method = mtls({ allowed_fingerprints: [pki.fingerprint('alice'), normalizeFingerprint(pki.fingerprint('nocn')).toUpperCase()] });
  return {
    method,
    validRequest: () => req(sockets.alice),
    expectedUserId: 'alice',
    missingRequest: () => req(sockets.none),
    badRequests: [
      { label: 'certificate from another CA', request: () => req(sockets.mallory), error: 'untrusted_certificate' },
      { label: 'self-signed certificate', request: () => req(sockets.selfsigned), error: 'untrusted_certificate' },
      { label: 'trusted but not in allowed_fingerprints', request: () => req(sockets.bob), error: 'refused' },
      { label: 'no subject CN', request: () => req(sockets.nocn), error: 'malformed' },
    ],
    secrets: ['alice', 'bob', 'nocn', 'mallory', 'selfsigned'].map((n) => pki.pem(`${n}.key`)),
    syncAfterFirst: true,
    close: async () => {},
  };
});

describe('mtls', () => {
  test('identity from a verified certificate: CN, OU groups and certificate claims', () => {
    const o = sync(mtls().authenticate(req(sockets.alice)));
    assertOk(o, 'alice', 'alice');
    assert.equal(o.identity.userName, 'alice');
    assert.deepEqual(o.identity.groups, ['eng', 'ops']);
    const c = o.identity.claims;
    assert.match(c.subject as string, /O=Example, OU=eng, OU=ops, CN=alice/);
    assert.equal(c.subject_cn, 'alice');
    assert.equal(c.issuer, 'CN=Tollgate Test Client CA');
    assert.deepEqual(c.san, ['email:alice@example.com', 'DNS:alice.example.com', 'URI:spiffe://example.com/alice']);
    assert.equal(c.fingerprint256, normalizeFingerprint(pki.fingerprint('alice')));
    assert.match(c.serial as string, /^[0-9A-F]+$/i);
  });

  test('user_from: SAN email, DNS, URI and fingerprint; OU groups can be off', () => {
    assertOk(sync(mtls({ user_from: 'san_email' }).authenticate(req(sockets.alice))), 'email', 'alice@example.com');
    assertOk(sync(mtls({ user_from: 'san_dns' }).authenticate(req(sockets.alice))), 'dns', 'alice.example.com');
    assertOk(sync(mtls({ user_from: 'san_uri' }).authenticate(req(sockets.alice))), 'uri', 'spiffe://example.com/alice');
    assertOk(sync(mtls({ user_from: 'fingerprint' }).authenticate(req(sockets.alice))), 'fp', normalizeFingerprint(pki.fingerprint('alice')));
    const noGroups = sync(mtls({ groups_from_ou: false }).authenticate(req(sockets.alice)));
    assertOk(noGroups, 'no OU groups');
    assert.deepEqual(noGroups.identity.groups, []);
    assertFail(sync(mtls({ user_from: 'san_uri' }).authenticate(req(sockets.bob))), 'malformed', 'bob has no URI SAN');
  });

  test('untrusted certificates report the verification error and the fingerprint', () => {
    const m = mtls();
    for (const name of ['mallory', 'selfsigned']) {
      const o = sync(m.authenticate(req(sockets[name])));
      assertFail(o, 'untrusted_certificate', name);
      assert.ok(o.kind === 'fail' && /\((?:[A-Z_]{6,}|[a-z ]{10,})\)/.test(o.detail), o.kind === 'fail' ? o.detail : '');
      assert.ok(o.kind === 'fail' && o.detail.includes(normalizeFingerprint(pki.fingerprint(name))));
    }
  });

  test('without allowed_fingerprints every certificate of the CA is accepted', () => {
    const m = mtls();
    assertOk(sync(m.authenticate(req(sockets.bob))), 'bob', 'bob');
    assertOk(sync(m.authenticate(req(sockets.alice12))), 'alice over TLS 1.2', 'alice');
  });

  test('allowed_fingerprints accepts colons or none, any case, and rejects garbage at build time', () => {
    const fp = pki.fingerprint('bob');
    for (const form of [fp, fp.toLowerCase(), normalizeFingerprint(fp), normalizeFingerprint(fp).toUpperCase()]) {
      assertOk(sync(mtls({ allowed_fingerprints: [form] }).authenticate(req(sockets.bob))), form, 'bob');
    }
    assert.throws(() => mtls({ allowed_fingerprints: ['abc'] }), /allowed_fingerprints\[0\] is not a SHA-256 fingerprint/);
  });

  test('no certificate or no TLS: none', () => {
    const m = mtls();
    assert.deepEqual(m.authenticate(req(sockets.none)), { kind: 'none' });
    assert.deepEqual(m.authenticate(authRequest()), { kind: 'none' });
  });

  test('the outcome is computed once per connection and per method', () => {
    const a = mtls();
    const b = mtls({ user_from: 'san_email' });
    const first = sync(a.authenticate(req(sockets.alice)));
    assert.equal(sync(a.authenticate(req(sockets.alice))), first, 'same object from the socket');
    assertOk(sync(b.authenticate(req(sockets.alice))), 'another method on the same socket', 'alice@example.com');
    assertOk(sync(a.authenticate(req(sockets.alice))), 'first method unaffected', 'alice');
  });
});

describe('parseSubjectAltName', () => {
  test('plain, quoted and empty values', () => {
    assert.deepEqual(parseSubjectAltName('DNS:a.example, email:x@example.com, URI:spiffe://td/x'), [
      { type: 'DNS', value: 'a.example' },
      { type: 'email', value: 'x@example.com' },
      { type: 'URI', value: 'spiffe://td/x' },
    ]);
    assert.deepEqual(parseSubjectAltName('URI:"http://x/a, b", DNS:c.example'), [
      { type: 'URI', value: 'http://x/a, b' },
      { type: 'DNS', value: 'c.example' },
    ]);
    assert.deepEqual(parseSubjectAltName('IP Address:127.0.0.1'), [{ type: 'IP Address', value: '127.0.0.1' }]);
    assert.deepEqual(parseSubjectAltName(undefined), []);
    assert.deepEqual(parseSubjectAltName(''), []);
  });
});
