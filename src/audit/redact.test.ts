import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuditSchema } from '../config/schema.js';
import {
  ALWAYS_REDACTED_HEADERS,
  REDACTED,
  authorizationFilter,
  cookieFilter,
  createQueryFilter,
  createRedactor,
  hashValue,
  maskIp,
  redactUrlQuery,
  setCookieFilter,
} from './redact.js';

/** The redactor exactly as a default config builds it, plus overrides. */
function redactor(over: { request?: string[]; response?: string[]; headers?: string[]; query_params?: string[] } = {}) {
  const audit = AuditSchema.parse({
    record_headers: { ...(over.request && { request: over.request }), ...(over.response && { response: over.response }) },
    redact: { ...(over.headers && { headers: over.headers }), ...(over.query_params && { query_params: over.query_params }) },
  });
  return createRedactor({ ...audit.redact, record_headers: audit.record_headers });
}

void test('headers: only configured names are recorded, as req.<name> / res.<name>', () => {
  const r = redactor({ request: ['Accept', 'x-custom'], response: ['content-type'] });
  const out = r.headers({ accept: 'text/html', 'x-custom': 'a', 'x-other': 'b' }, { 'content-type': 'text/plain', server: 'x' });
  assert.deepEqual(out, { 'req.accept': 'text/html', 'req.x-custom': 'a', 'res.content-type': 'text/plain' });
});

void test('headers: null when nothing configured is present', () => {
  const r = redactor();
  assert.equal(r.headers({ 'x-other': 'b' }, {}), null);
  assert.equal(r.headers(null, undefined), null);
});

void test('headers: multi-valued joined with ", ", numbers stringified', () => {
  const r = redactor({ request: ['x-multi'], response: ['content-length', 'vary'] });
  assert.deepEqual(r.headers({ 'x-multi': ['a', 'b'] }, { 'content-length': 42, vary: ['accept', 'origin'] }), {
    'req.x-multi': 'a, b',
    'res.content-length': '42',
    'res.vary': 'accept, origin',
  });
});

void test('headers: prototype keys are not taken for headers', () => {
  const r = redactor({ request: ['constructor', '__proto__', 'tostring'] });
  assert.equal(r.headers({}, {}), null);
});

void test('headers: authorization keeps the scheme only', () => {
  const r = redactor({ request: ['authorization', 'proxy-authorization'] });
  assert.deepEqual(r.headers({ authorization: 'Bearer eyJhbGciOi.secret.sig', 'proxy-authorization': 'Basic dXNlcjpwYXNz' }, {}), {
    'req.authorization': `Bearer ${REDACTED}`,
    'req.proxy-authorization': `Basic ${REDACTED}`,
  });
  assert.equal(authorizationFilter('bearer   abc'), `bearer ${REDACTED}`);
  assert.equal(authorizationFilter('Digest username="u", response="r"'), `Digest ${REDACTED}`);
  // A bare secret, or one whose first word is not a known scheme, is redacted whole.
  assert.equal(authorizationFilter('sk_live_abcdef'), REDACTED);
  assert.equal(authorizationFilter('sk_live_abc def'), REDACTED);
  assert.equal(authorizationFilter(''), '');
  assert.equal(authorizationFilter(['Bearer a', 'Basic b']), `Bearer ${REDACTED}, Basic ${REDACTED}`);
});

void test('headers: cookie keeps names, set-cookie keeps the name of each cookie set', () => {
  const r = redactor({ request: ['cookie'], response: ['set-cookie'] });
  assert.deepEqual(
    r.headers({ cookie: 'session=abc123; theme=dark' }, { 'set-cookie': ['session=xyz; Path=/; HttpOnly; Secure', 'csrf=tok; SameSite=Strict'] }),
    { 'req.cookie': `session=${REDACTED}; theme=${REDACTED}`, 'res.set-cookie': `session=${REDACTED}, csrf=${REDACTED}` },
  );
  assert.equal(cookieFilter('a=1;b=2;;  c=3 '), `a=${REDACTED}; b=${REDACTED}; c=${REDACTED}`);
  assert.equal(cookieFilter('justavalue'), REDACTED);
  assert.equal(cookieFilter('we ird=1'), REDACTED); // not a token: may be part of a value
  assert.equal(cookieFilter(['a=1', 'b=2']), `a=${REDACTED}; b=${REDACTED}`);
  assert.equal(cookieFilter(''), '');
  assert.equal(setCookieFilter('id=a3fWa; Expires=Thu, 21 Oct 2031 07:28:00 GMT'), `id=${REDACTED}`);
});

void test('headers: x-api-key and configured headers are redacted whole, case-insensitively', () => {
  const r = redactor({ request: ['x-api-key', 'x-secret', 'accept'], headers: ['X-Secret'] });
  assert.deepEqual(r.headers({ 'x-api-key': 'k-123', 'x-secret': ['s1', 's2'], accept: '*/*' }, {}), {
    'req.x-api-key': REDACTED,
    'req.x-secret': REDACTED,
    'req.accept': '*/*',
  });
  assert.deepEqual([...ALWAYS_REDACTED_HEADERS].sort(), ['authorization', 'cookie', 'proxy-authorization', 'set-cookie', 'x-api-key']);
});

void test('query: absent or empty is null', () => {
  const r = redactor();
  assert.equal(r.query(null), null);
  assert.equal(r.query(undefined), null);
  assert.equal(r.query(''), null);
  assert.equal(createQueryFilter([])(''), null);
  assert.equal(createQueryFilter([])('a=1'), 'a=1');
});

void test('query: values of configured params are replaced, everything else byte for byte', () => {
  const r = redactor();
  const cases: [string, string][] = [
    ['token=abc', `token=${REDACTED}`],
    ['TOKEN=x', `TOKEN=${REDACTED}`],
    ['a=1&token=x&token=y', `a=1&token=${REDACTED}&token=${REDACTED}`],
    ['a=1&token=x&b=2', `a=1&token=${REDACTED}&b=2`],
    ['token', 'token'], // no value, nothing to hide
    ['token=', 'token='],
    ['token=&a=1', 'token=&a=1'],
    ['access%5Ftoken=abc', `access%5Ftoken=${REDACTED}`],
    ['access%5ftoken=abc&x=1', `access%5ftoken=${REDACTED}&x=1`],
    ['%74%6F%6B%65%6E=abc', `%74%6F%6B%65%6E=${REDACTED}`],
    ['q=a+b%20c&token=a+b%20c', `q=a+b%20c&token=${REDACTED}`],
    ['token=a=b=c', `token=${REDACTED}`],
    ['token=abc#frag', `token=${REDACTED}`], // a "#" never reaches us; if it did, it stays inside the value
    ['x-amz-signature=deadbeef&X-Amz-Credential=AKIA%2F2024', `x-amz-signature=${REDACTED}&X-Amz-Credential=${REDACTED}`],
    ['a=1;token=x', `a=1;token=${REDACTED}`],
    ['token=x;y', `token=${REDACTED}`], // the value runs to the next "&"
    ['next=/cb?code=xyz&a=1', `next=/cb?code=${REDACTED}&a=1`],
    ['?token=x', `?token=${REDACTED}`],
    ['&&token=x&&', `&&token=${REDACTED}&&`],
    ['monkey=1&keyboard=2&mykey=3', 'monkey=1&keyboard=2&mykey=3'],
    ['q=%E2%9C%93&page=2', 'q=%E2%9C%93&page=2'],
    ['q=100%&x=%zz', 'q=100%&x=%zz'],
    ['to%ZZken=1', 'to%ZZken=1'],
    ['tok%65n=1&tok%zzen=2', `tok%65n=${REDACTED}&tok%zzen=2`],
    // Array and nested forms (PHP, Rails, qs): any part that is a configured name.
    ['token[]=x&token[]=y', `token[]=${REDACTED}&token[]=${REDACTED}`],
    ['token[0]=x', `token[0]=${REDACTED}`],
    ['token%5B%5D=x', `token%5B%5D=${REDACTED}`],
    ['user[password]=hunter2&user[name]=bob', `user[password]=${REDACTED}&user[name]=bob`],
    ['a[b][secret]=s', `a[b][secret]=${REDACTED}`],
    ['tokens[]=x&[token]=y', `tokens[]=x&[token]=${REDACTED}`],
    [`${'p'.repeat(200)}[token]=x`, `${'p'.repeat(200)}[token]=${REDACTED}`],
    [`${'p'.repeat(200)}%5Btoken%5D=x`, `${'p'.repeat(200)}%5Btoken%5D=${REDACTED}`],
    [`a[${'x'.repeat(300)}][token]=s3cret`, `a[${'x'.repeat(300)}][token]=${REDACTED}`],
  ];
  for (const [input, want] of cases) assert.equal(r.query(input), want, input);
});

void test('query: the fast path returns the very same string', () => {
  const r = redactor();
  const q = 'page=2&sort=desc&q=hello+world';
  assert.equal(r.query(q), q);
});

void test('query: custom names, including "+" for space in names', () => {
  const f = createQueryFilter(['Session ID', 'pw']);
  assert.equal(f('session+id=1&PW=2&pwx=3'), `session+id=${REDACTED}&PW=${REDACTED}&pwx=3`);
  assert.equal(f('session%20id=1'), `session%20id=${REDACTED}`);
});

void test('query: hostile input stays fast', () => {
  const r = redactor();
  const inputs = ['&' + '%'.repeat(16_000), '+'.repeat(16_000) + '=', 'a=' + 'token'.repeat(3000), '&'.repeat(16_000) + 'token=x'];
  const t0 = performance.now();
  for (const q of inputs) r.query(q);
  assert.ok(performance.now() - t0 < 500, `took ${performance.now() - t0} ms`);
});

void test('no secret survives: a corpus of requests', () => {
  const secrets = ['s3cr3tTok', 'hunter2pw', 'AKIAEXAMPLE', 'eyJzZWNyZXQ', 'sessVal99', 'refreshXYZ', 'apik3yv4l', 'sigabcdef'];
  const r = redactor({
    request: ['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'x-auth-token', 'accept'],
    response: ['set-cookie', 'content-type'],
    headers: ['x-auth-token'],
  });
  const [s0, s1, s2, s3, s4, s5, s6, s7] = secrets;
  const queries = [
    `token=${s0}`,
    `password=${s1}&user=bob`,
    `X-Amz-Credential=${s2}%2F20240101&X-Amz-Signature=${s7}`,
    `id_token=${s3}.${s3}&state=ok`,
    `a=1&refresh_token=${s5}&refresh_token=${s5}`,
    `access%5Ftoken=${s0}`,
    `%61pi_key=${s6}`,
    `APIKEY=${s6}`,
    `redirect=/cb?token=${s0}`,
    `x=1;secret=${s1};y=2`,
    `sig=${s7}&code=${s4}`,
    `?key=${s6}#${s6}`,
    `token=${s0}+${s1}%20${s2}`,
  ];
  for (const q of queries) {
    const out = r.query(q) ?? '';
    for (const s of secrets) assert.ok(!out.includes(s), `${s} survived in query ${JSON.stringify(out)}`);
  }
  const headerSets: [Record<string, string | string[]>, Record<string, string | string[]>][] = [
    [{ authorization: `Bearer ${s3}` }, {}],
    [{ authorization: s0 }, {}],
    [{ authorization: `${s0} ${s1}` }, {}],
    [{ 'proxy-authorization': `Basic ${s1}` }, {}],
    [{ cookie: `session=${s4}; refresh=${s5}` }, { 'set-cookie': [`session=${s4}; Path=/`, `${s5}`] }],
    [{ cookie: [`a=${s4}`, `${s5}`] }, { 'set-cookie': `x=${s4}; Domain=${s5}` }],
    [{ 'x-api-key': s6, 'x-auth-token': [s0, s1] }, {}],
  ];
  for (const [req, res] of headerSets) {
    const out = JSON.stringify(r.headers(req, res));
    for (const s of secrets) assert.ok(!out.includes(s), `${s} survived in headers ${out}`);
  }
});

void test('maskIp', () => {
  assert.equal(maskIp('203.0.113.57'), '203.0.113.0');
  assert.equal(maskIp('203.0.113.57', 16), '203.0.0.0');
  assert.equal(maskIp('203.0.113.57', 32), '203.0.113.57');
  assert.equal(maskIp('203.0.113.57', 0), '0.0.0.0');
  assert.equal(maskIp('203.0.113.255', 25), '203.0.113.128');
  assert.equal(maskIp('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::');
  assert.equal(maskIp('2001:db8:1:2:3:4:5:6', 24, 48), '2001:db8:1::');
  assert.equal(maskIp('2001:db8::1', 24, 128), '2001:db8::1');
  assert.equal(maskIp('::ffff:198.51.100.7'), '198.51.100.0');
  assert.equal(maskIp('::1'), '::');
  assert.equal(maskIp('256.1.1.1'), null);
  assert.equal(maskIp('example.com'), null);
  assert.equal(maskIp(''), null);
  assert.throws(() => maskIp('1.2.3.4', 33), RangeError);
  assert.throws(() => maskIp('1.2.3.4', 24, -1), RangeError);
});

void test('hashValue: keyed, stable, 16 hex chars', () => {
  const a = hashValue('alice', 'k1');
  assert.match(a, /^[0-9a-f]{16}$/);
  assert.equal(hashValue('alice', 'k1'), a);
  assert.notEqual(hashValue('alice', 'k2'), a);
  assert.notEqual(hashValue('bob', 'k1'), a);
  assert.equal(hashValue('alice', Buffer.from('k1')), a);
});

void test('referer: the query of a URL is redacted like a request\'s, the rest kept', () => {
  const r = redactor();
  const cases: [string, string][] = [
    ['https://app.example/cb?access_token=abc&state=1', `https://app.example/cb?access_token=${REDACTED}&state=1`],
    ['https://app.example/cb?state=1#token=frag', 'https://app.example/cb?state=1#token=frag'],
    ['https://app.example/cb?code=xyz#section', `https://app.example/cb?code=${REDACTED}#section`],
    ['https://app.example/monkey', 'https://app.example/monkey'],
    ['https://app.example/?', 'https://app.example/?'],
  ];
  for (const [input, want] of cases) assert.equal(redactUrlQuery(input, r.query), want, input);
});
