import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeTarget, validateRequestHeaders, type PathOptions } from './normalize-path.js';

const STRICT: PathOptions = { semicolons: 'reject', caseSensitive: false };
const STRIP: PathOptions = { semicolons: 'strip', caseSensitive: false };
const KEEP: PathOptions = { semicolons: 'keep', caseSensitive: false };
const CASED: PathOptions = { semicolons: 'reject', caseSensitive: true };

interface Accept {
  target: string;
  opts?: PathOptions;
  path: string;
  query?: string | null;
  match?: string;
  changed?: boolean;
}

const accepted: Accept[] = [
  // Unchanged (the fast path and slow-path inputs that are already canonical).
  { target: '/', path: '/', match: '/', changed: false },
  { target: '/a/b?x=1', path: '/a/b', query: 'x=1', match: '/a/b', changed: false },
  { target: '/a/b?', path: '/a/b', query: null, changed: false },
  { target: '/a/b/', path: '/a/b/', changed: false },
  { target: "/a-b_c~d.e/!$&'()*+,=:@", path: "/a-b_c~d.e/!$&'()*+,=:@", changed: false },
  { target: '/a./b..', path: '/a./b..', changed: false },
  { target: '/.well-known/x', path: '/.well-known/x', changed: false },
  { target: '/...', path: '/...', changed: false },
  { target: '/%C3%A9', path: '/%C3%A9', changed: false },
  // The query is never touched, even when it holds what the path refuses.
  { target: '/a?%2F=%00&b=..\\;', path: '/a', query: '%2F=%00&b=..\\;' },
  { target: '/a/./b?../x', path: '/a/b', query: '../x' },
  // Unreserved escapes are decoded; others get upper-case hex.
  { target: '/%7Euser', path: '/~user', match: '/~user', changed: true },
  { target: '/%61dmin', path: '/admin', match: '/admin', changed: true },
  { target: '/%41%44%4d%49%4e', path: '/ADMIN', match: '/admin' },
  { target: '/%2d%2E%5f%7e%30', path: '/-._~0' },
  { target: '/%c3%a9', path: '/%C3%A9', match: '/%c3%a9', changed: true },
  { target: '/a%3bb', opts: STRIP, path: '/a%3Bb', match: '/a%3bb', changed: true },
  { target: '/a%3fb%23c%20d%25', path: '/a%3Fb%23c%20d%25' },
  { target: '/%EF%BD%81dmin', path: '/%EF%BD%81dmin', match: '/%ef%bd%81dmin' },
  { target: '/%F0%9F%98%80', path: '/%F0%9F%98%80' },
  { target: '/%25', path: '/%25' },
  { target: '/%25zz', path: '/%25zz' },
  // Raw characters outside pchar are encoded as UTF-8.
  { target: '/café', path: '/caf%C3%A9', match: '/caf%c3%a9', changed: true },
  { target: '/a b"c<d>e`f{g}h|i^j', path: '/a%20b%22c%3Cd%3Ee%60f%7Bg%7Dh%7Ci%5Ej' },
  { target: '/admin#frag', path: '/admin%23frag', match: '/admin%23frag' },
  { target: '/[x]', path: '/%5Bx%5D' },
  { target: '/\u{1F600}', path: '/%F0%9F%98%80' },
  { target: '/\u0080', path: '/%C2%80' },
  // Repeated slashes and dot-segments.
  { target: '/a/./b//c/', path: '/a/b/c/', changed: true },
  { target: '//admin', path: '/admin', match: '/admin' },
  { target: '///a///b', path: '/a/b' },
  { target: '//', path: '/' },
  { target: '/a/%2e%2e/b', path: '/b', match: '/b', changed: true },
  { target: '/a/%2E./b', path: '/b' },
  { target: '/a/.%2e/b', path: '/b' },
  { target: '/public/%2e%2e/admin', path: '/admin', match: '/admin' },
  { target: '/x/../admin', path: '/admin' },
  { target: '/./admin', path: '/admin' },
  { target: '/../../admin', path: '/admin', match: '/admin' },
  { target: '/a/b/..', path: '/a/' },
  { target: '/a/b/.', path: '/a/b/' },
  { target: '/a/..', path: '/' },
  { target: '/..', path: '/' },
  { target: '/.', path: '/' },
  { target: '/a//../b', path: '/b', changed: true },
  { target: '/a/b/../../../c/./d/', path: '/c/d/' },
  // Case.
  { target: '/ADMIN', path: '/ADMIN', match: '/admin', changed: false },
  { target: '/aDmIn/x', path: '/aDmIn/x', match: '/admin/x' },
  { target: '/ADMIN', opts: CASED, path: '/ADMIN', match: '/ADMIN' },
  { target: '/%41dmin', opts: CASED, path: '/Admin', match: '/Admin' },
  // Path parameters.
  { target: '/admin;x=1', opts: STRIP, path: '/admin', match: '/admin', changed: true },
  { target: '/admin;/', opts: STRIP, path: '/admin/', match: '/admin/' },
  { target: '/;/admin', opts: STRIP, path: '/admin', match: '/admin' },
  { target: '/a;p=1/b;q=2/c', opts: STRIP, path: '/a/b/c' },
  { target: '/admin..;/', opts: STRIP, path: '/admin../', match: '/admin../' },
  { target: '/public/..;/admin', opts: STRIP, path: '/admin', match: '/admin' },
  { target: '/admin;x=1', opts: KEEP, path: '/admin;x=1', match: '/admin', changed: false },
  { target: '/a;p=1/b;q=2/c', opts: KEEP, path: '/a;p=1/b;q=2/c', match: '/a/b/c', changed: false },
  { target: '/a/;p', opts: KEEP, path: '/a/;p', match: '/a/' },
  // A segment that goes away takes its parameters along in keep mode too.
  { target: '/public/..;x/admin', opts: KEEP, path: '/admin', match: '/admin' },
  { target: '/;/admin;j=1', opts: KEEP, path: '/admin;j=1', match: '/admin' },
  { target: '/a/b;x/..', opts: KEEP, path: '/a/', match: '/a/' },
  { target: '/Admin;X=1', opts: { semicolons: 'keep', caseSensitive: true }, path: '/Admin;X=1', match: '/Admin' },
  // With strip/keep an encoded ";" is data, not a delimiter (reject refuses it: some backends decode first).
  { target: '/admin%3Bx=1', opts: KEEP, path: '/admin%3Bx=1', match: '/admin%3bx=1' },
];

for (const a of accepted) {
  test(`accepts ${JSON.stringify(a.target)}${a.opts ? ` (${a.opts.semicolons}${a.opts.caseSensitive ? ', case-sensitive' : ''})` : ''}`, () => {
    const r = normalizeTarget(a.target, a.opts ?? STRICT);
    assert.ok(r.ok, `refused: ${!r.ok ? r.reason : ''}`);
    assert.equal(r.path, a.path, 'path');
    if (a.query !== undefined) assert.equal(r.query, a.query, 'query');
    if (a.match !== undefined) assert.equal(r.matchPath, a.match, 'matchPath');
    else if (!(a.opts ?? STRICT).caseSensitive && (a.opts ?? STRICT).semicolons !== 'keep') assert.equal(r.matchPath, a.path.toLowerCase(), 'matchPath');
    if (a.changed !== undefined) assert.equal(r.changed, a.changed, 'changed');
    else assert.equal(r.changed, r.path !== a.target.split('?')[0], 'changed');
    // Idempotent: the output is already canonical.
    const again = normalizeTarget(r.path + (r.query === null ? '' : '?' + r.query), { ...(a.opts ?? STRICT), semicolons: (a.opts ?? STRICT).semicolons === 'strip' ? 'strip' : 'keep' });
    assert.ok(again.ok);
    assert.equal(again.path, r.path, 'normalizing twice changes nothing');
    assert.equal(again.changed, false);
  });
}

const refused: [target: string, reason: RegExp, opts?: PathOptions][] = [
  // Slashes and backslashes that are not separators.
  ['/public/..%2fadmin', /encoded "\/" \(%2F\)/],
  ['/admin%2F', /encoded "\/" \(%2F\)/],
  ['/a%2fb', /%2F/],
  ['/\\admin', /backslash/],
  ['/a\\..\\admin', /backslash/],
  ['/%5cadmin', /encoded "\\" \(%5C\)/],
  ['/%5Cadmin', /%5C/],
  // NUL and control characters, raw and encoded.
  ['/admin%00', /encoded NUL \(%00\)/],
  ['/admin\u0000', /^NUL in path/],
  ['/admin%09', /encoded control character \(%09\)/],
  ['/admin%0d%0aX: y', /encoded control character \(%0D\)/],
  ['/admin%1F', /%1F/],
  ['/admin%7f', /encoded control character \(%7F\)/],
  ['/admin\t', /control character 0x09/],
  ['/a\u001fb', /control character 0x1F/],
  ['/a\u007fb', /control character 0x7F/],
  // Malformed escapes.
  ['/admin%3Bx=1', /encoded ";" \(%3B\)/],
  ['/a%3bb', /encoded ";"/],
  ['/a%', /invalid percent-encoding "%"/],
  ['/a%2', /invalid percent-encoding "%2"/],
  ['/a%zz', /invalid percent-encoding "%zz"/],
  ['/a%g1', /invalid percent-encoding/],
  ['/a%%41', /invalid percent-encoding/],
  // Double encoding, including forms that only appear once unreserved escapes are decoded.
  ['/%252e%252e/admin', /double percent-encoding/],
  ['/%2561dmin', /double percent-encoding/],
  ['/%252F', /double percent-encoding/],
  ['/%25%32%65', /double percent-encoding/],
  ['/%2525', /double percent-encoding/],
  // Bytes that are not UTF-8, overlong forms and encoded surrogates.
  ['/%c0%afadmin', /not valid UTF-8/],
  ['/%c0%ae%c0%ae/admin', /not valid UTF-8/],
  ['/%C0%AE', /"%C0%AE" are not valid UTF-8/],
  ['/%e0%80%afadmin', /not valid UTF-8/],
  ['/%E0%80%AE', /not valid UTF-8/],
  ['/%f0%80%80%af', /not valid UTF-8/],
  ['/%ED%A0%80', /not valid UTF-8/],
  ['/%ff', /not valid UTF-8/],
  ['/%C3', /not valid UTF-8/],
  ['/%C3x%A9', /not valid UTF-8/],
  ['/%A9', /not valid UTF-8/],
  ['/%F4%90%80%80', /not valid UTF-8/],
  ['/\uD800x', /unpaired UTF-16 surrogate/],
  ['/x\uDC00', /unpaired UTF-16 surrogate/],
  // Path parameters in reject mode.
  ['/admin;x=1', /path parameter \(";"\)/],
  ['/;/admin', /path parameter/],
  ['/admin..;/', /path parameter/],
  ['/a%41;b', /path parameter/],
];

for (const [target, reason, opts] of refused) {
  test(`refuses ${JSON.stringify(target)}`, () => {
    const r = normalizeTarget(target, opts ?? STRICT);
    assert.equal(r.ok, false, `accepted as ${JSON.stringify(r)}`);
    if (!r.ok) assert.match(r.reason, reason);
  });
}

test('refusals do not depend on the semicolon or case options', () => {
  // ";" and its encoding %3B are refused only in reject mode; everything else in every mode.
  for (const [target] of refused.filter(([t]) => !t.includes(';') && !/%3b/i.test(t))) {
    for (const opts of [STRIP, KEEP, CASED]) assert.equal(normalizeTarget(target, opts).ok, false, `${target} ${JSON.stringify(opts)}`);
  }
});

test('the fast path returns the input itself', () => {
  const target = '/api/v1/orders/42';
  const r = normalizeTarget(target, CASED);
  assert.ok(r.ok);
  assert.equal(r.path, target);
  assert.equal(r.matchPath, target);
  assert.equal(r.query, null);
  assert.equal(r.changed, false);
  const withQuery = normalizeTarget('/api/v1/orders/42?a=%2F&b=/../', STRICT);
  assert.ok(withQuery.ok);
  assert.equal(withQuery.path, '/api/v1/orders/42');
  assert.equal(withQuery.query, 'a=%2F&b=/../');
  assert.equal(withQuery.changed, false);
});

test('long inputs stay linear', () => {
  const long = '/' + 'a'.repeat(200_000) + '%';
  const t0 = process.hrtime.bigint();
  assert.equal(normalizeTarget(long, STRICT).ok, false);
  const many = '/a'.repeat(50_000) + '/..'.repeat(50_000) + '/x';
  const r = normalizeTarget(many, STRICT);
  assert.ok(r.ok);
  assert.equal(r.path, '/x');
  assert.ok(Number(process.hrtime.bigint() - t0) / 1e6 < 1000, 'no super-linear backtracking');
});

// ---------------------------------------------------------------- Host

const hostsOk: [string[], string | undefined][] = [
  [[], undefined],
  [['Accept', '*/*'], undefined],
  [['Host', 'localhost'], 'localhost'],
  [['host', 'localhost:80'], 'localhost:80'],
  [['HOST', 'LocalHost'], 'LocalHost'],
  [['Host', 'localhost.'], 'localhost.'],
  [['Host', 'example.com.:8443'], 'example.com.:8443'],
  [['Host', '127.0.0.1'], '127.0.0.1'],
  [['Host', '127.0.0.1:65535'], '127.0.0.1:65535'],
  [['Host', '[::1]'], '[::1]'],
  [['Host', '[::1]:8080'], '[::1]:8080'],
  [['Host', '[2001:db8::ffff:192.0.2.1]'], '[2001:db8::ffff:192.0.2.1]'],
  [['Host', 'a_b-c~d.test'], 'a_b-c~d.test'],
  [['X-Forwarded-Host', 'evil/x', 'Host', 'app.test'], 'app.test'],
];

for (const [raw, host] of hostsOk) {
  test(`Host accepted: ${JSON.stringify(raw)}`, () => {
    assert.deepEqual(validateRequestHeaders(raw), { ok: true, host });
  });
}

const hostsBad: [string[], RegExp][] = [
  [['Host', 'localhost', 'Host', 'evil'], /more than one Host header/],
  [['Host', 'localhost', 'host', 'localhost'], /more than one Host header/],
  [['Host', 'localhost/admin'], /not a host name/],
  [['Host', 'localhost@evil'], /not a host name/],
  [['Host', 'user:pass@evil'], /not a host name/],
  [['Host', 'local\\host'], /not a host name/],
  [['Host', 'local host'], /not a host name/],
  [['Host', 'localhost?x'], /not a host name/],
  [['Host', 'localhost#x'], /not a host name/],
  [['Host', 'local%68ost'], /not a host name/],
  [['Host', 'local\thost'], /not a host name/],
  [['Host', 'local\u0000host'], /not a host name/],
  [['Host', 'hôst'], /not a host name/],
  [['Host', ''], /empty Host/],
  [['Host', 'localhost:'], /port/],
  [['Host', ':80'], /not a host name/],
  [['Host', 'localhost:65536'], /port/],
  [['Host', 'localhost:123456'], /port/],
  [['Host', 'localhost:8o'], /port/],
  [['Host', 'localhost:80:80'], /not a host name/],
  [['Host', '::1'], /not a host name/],
  [['Host', '[::1'], /without "]"/],
  [['Host', '[::1]x'], /after "]"/],
  [['Host', '[::1]:'], /port/],
  [['Host', '[localhost]'], /not an IPv6/],
  [['Host', '[fe80::1%25eth0]'], /not an IPv6/],
  [['Host', '[1.2.3.4]'], /not an IPv6/],
  [['Host', '[v1.x]'], /not an IPv6/],
];

for (const [raw, reason] of hostsBad) {
  test(`Host refused: ${JSON.stringify(raw)}`, () => {
    const r = validateRequestHeaders(raw);
    assert.equal(r.ok, false, JSON.stringify(r));
    if (!r.ok) assert.match(r.reason, reason);
  });
}
