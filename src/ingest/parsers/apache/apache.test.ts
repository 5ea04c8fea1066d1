import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familyFixtures, goldenSuite, parserConformance, sourceDirOf } from '../golden.js';
import { nginxFactories } from '../nginx/index.js';
import { APACHE_COMBINED, apacheFactories } from './index.js';
import { compileApacheFormat, unwrapLogFormat } from './log-format.js';

const dir = sourceDirOf(import.meta.url);
const { factory, parserFor, custom, event, sample } = familyFixtures(dir, apacheFactories, 'apache');

goldenSuite('apache', dir, parserFor);

parserConformance('apache-common', factory('apache-common').create({}), sample('common', 4));
parserConformance('apache-combined', factory('apache-combined').create({}), sample('combined', 4));
for (const c of ['custom-full', 'custom-msec', 'custom-end']) parserConformance(`apache ${c}`, parserFor(c), sample(c, 3));

test('%b: "-" is 0 bytes, %B writes 0 itself', () => {
  const e = event(factory('apache-common').create({}), '192.0.2.1 - - [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 304 -');
  assert.equal(e.bytes_out, 0);
  const B = custom('%h %t "%r" %>s %B');
  assert.equal(event(B, '192.0.2.1 [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 304 0').bytes_out, 0);
});

test('durations: %D (µs) beats %T (whole seconds), %{ms}T and %{us}T', () => {
  const line = (d: string): string => `192.0.2.1 [12/Mar/2024:10:15:32 +0000] ${d} "GET / HTTP/1.1" 200`;
  assert.equal(event(custom('%h %t %T %D "%r" %>s'), line('2 2500123')).duration_ms, 2500.123);
  assert.equal(event(custom('%h %t %D %T "%r" %>s'), line('2500123 2')).duration_ms, 2500.123);
  assert.equal(event(custom('%h %t %T "%r" %>s'), line('2')).duration_ms, 2000);
  assert.equal(event(custom('%h %t %{ms}T "%r" %>s'), line('17')).duration_ms, 17);
  assert.equal(event(custom('%h %t %{us}T "%r" %>s'), line('1700')).duration_ms, 1.7);
  // %t is when the request arrived: no duration is subtracted.
  assert.equal(event(custom('%h %t %D "%r" %>s'), line('2500123')).ts, '2024-03-12T10:15:32.000Z');
});

test('%X "X" (connection aborted before the response completed) is a client abort', () => {
  const p = custom('%h %t "%r" %>s %X');
  assert.equal(event(p, '192.0.2.1 [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 X').termination, 'client_abort');
  assert.equal(event(p, '192.0.2.1 [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 +').termination, 'ok');
  assert.equal(event(p, '192.0.2.1 [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 502 -').termination, 'upstream_error');
});

test('%s is the original status, %>s the final one', () => {
  const p = custom('%h %t "%r" %s %>s');
  assert.equal(event(p, '192.0.2.1 [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 302 200').status, 200);
  const q = custom('%h %t "%r" %>s %s');
  assert.equal(event(q, '192.0.2.1 [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 302').status, 200);
});

test('conditional directives (%!200{...}i, %400,501{...}i) may log "-"', () => {
  const p = custom('%h %t "%r" %400,501s %>s "%!200{Referer}i"');
  const e = event(p, '192.0.2.1 [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" - 200 "-"');
  assert.equal(e.status, 200);
  assert.equal(e.referer, null);
});

test('time formats: %{sec}t, %{msec}t, %{usec}t, strftime with and without a zone, begin: and end:', () => {
  const ts = (fmt: string, value: string): string => event(custom(`%h [${fmt}] "%r" %>s %D`), `192.0.2.1 [${value}] "GET / HTTP/1.1" 200 250000`).ts;
  assert.equal(ts('%{sec}t', '1710238532'), '2024-03-12T10:15:32.000Z');
  assert.equal(ts('%{msec}t', '1710238532123'), '2024-03-12T10:15:32.123Z');
  assert.equal(ts('%{usec}t', '1710238532123456'), '2024-03-12T10:15:32.123Z');
  assert.equal(ts('%{%Y-%m-%d %H:%M:%S}t', '2024-03-12 10:15:32'), '2024-03-12T10:15:32.000Z');
  assert.equal(ts('%{%d/%b/%Y:%H:%M:%S %z}t', '12/Mar/2024:11:15:32 +0100'), '2024-03-12T10:15:32.000Z');
  assert.equal(ts('%{%a, %d %b %Y %T %Z}t', 'Tue, 12 Mar 2024 10:15:32 GMT'), '2024-03-12T10:15:32.000Z');
  assert.equal(ts('%{%F %I:%M:%S %p}t', '2024-03-12 10:15:32 PM'), '2024-03-12T22:15:32.000Z');
  assert.equal(ts('%{begin:%FT%T}t', '2024-03-12T10:15:32'), '2024-03-12T10:15:32.000Z');
  assert.equal(ts('%{end:%FT%T}t.%{end:msec_frac}t', '2024-03-12T10:15:32.750'), '2024-03-12T10:15:32.500Z');
  assert.equal(ts('%{%FT%T}t.%{usec_frac}t', '2024-03-12T10:15:32.123456'), '2024-03-12T10:15:32.123Z');
  // An impossible date is refused, not rolled over into March.
  const feb31 = custom('%h [%{%Y-%m-%d %H:%M:%S %z}t] "%r" %>s').parse('192.0.2.1 [2024-02-31 10:00:00 +0000] "GET / HTTP/1.1" 200');
  assert.equal(feb31.ok === false && feb31.reason, 'bad_timestamp');
  const bad = custom('%h [%{%d/%b/%Y:%H:%M:%S %Z}t] "%r" %>s');
  const o = bad.parse('192.0.2.1 [12/Mar/2024:10:15:32 CET] "GET / HTTP/1.1" 200');
  assert.equal(o.ok === false && o.reason, 'bad_timestamp');
});

test('compiler: clear errors for formats that cannot be read back', () => {
  const bad: [string, RegExp][] = [
    ['%h %Z %t', /unknown directive %Z/],
    ['%h %t %i', /%i needs a header name/],
    ['%h%u %t', /%h and %u are adjacent/],
    ['%h %t "%r" %>s %{%c}t', /%c cannot be read back/],
    ['%h %{%H:%M:%S}t', /does not hold a full date/],
    ['%h "%r" %>s', /no time directive/],
    ['%h %{msec}t %{msec_frac}t', /need a time to the second/],
    ['%h %{bogus}T %t', /the unit is s, ms or us/],
    ['%h %{x}p %t', /canonical, local or remote/],
    ['%h %t %', /ends the format/],
    ['%h %{Referer %t', /without "}"/],
    ['', /needs the LogFormat/],
    [' ', /empty/],
    ['no directives', /no directives/],
    ['%h %t\\n%r', /line break/],
  ];
  for (const [fmt, msg] of bad) assert.throws(() => custom(fmt), msg, JSON.stringify(fmt));
  assert.throws(() => factory('apache').create({}), /needs the LogFormat/);
});

test('compiler: LogFormat as written in httpd.conf', () => {
  const plain = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"';
  assert.equal(plain, APACHE_COMBINED);
  assert.equal(unwrapLogFormat(String.raw`LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" combined`), plain);
  assert.equal(unwrapLogFormat(String.raw`CustomLog "logs/access log" "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""`), plain);
  assert.equal(unwrapLogFormat(String.raw`CustomLog logs/access_log combined`), 'combined');
  // httpd reads single-quoted arguments too.
  assert.equal(unwrapLogFormat(String.raw`LogFormat '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"' combined`), plain);
  assert.equal(unwrapLogFormat(String.raw`"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\""`), plain);
  assert.equal(unwrapLogFormat(String.raw`%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"`), plain);
  assert.equal(unwrapLogFormat(plain), plain);
  // Starts and ends with a quote but its inner quotes are not escaped: a bare format.
  assert.equal(unwrapLogFormat('"%r" %>s %t "%{User-Agent}i"'), '"%r" %>s %t "%{User-Agent}i"');
  const lf = compileApacheFormat(APACHE_COMBINED);
  assert.deepEqual(lf.fields.map((f) => f.label), ['%h', '%l', '%u', '%t', '%r', '%>s', '%b', '%{Referer}i', '%{User-Agent}i']);
});

test('directives without a catalog field land in extra; other headers in headers', () => {
  const p = custom('%h %t "%r" %>s %A %p %{local}p %P %k %R %f %{sid}C %{FOO}e %{note}n %{SSL_CLIENT_VERIFY}x %{X-Api-Version}i %{Cache-Control}o');
  const e = event(p, '192.0.2.1 [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 10.0.0.2 443 8443 1234 2 proxy-server /var/www/index.html abc123 bar noted SUCCESS 3 no-store');
  assert.deepEqual(e.extra, {
    local_ip: '10.0.0.2', server_port: '443', local_port: '8443', pid: '1234', keepalive_requests: '2', handler: 'proxy-server',
    filename: '/var/www/index.html', 'cookie.sid': 'REDACTED', 'env.FOO': 'bar', 'note.note': 'noted', 'ssl.SSL_CLIENT_VERIFY': 'SUCCESS',
  });
  assert.deepEqual(e.headers, { 'req.x-api-version': '3', 'res.cache-control': 'no-store' });
});

test('credentials and cookies are redacted as in live traffic', () => {
  const p = custom('%h %t "%r" %>s "%{Authorization}i" "%{Cookie}i" "%{Set-Cookie}o" "%{X-Api-Key}i" "%{X-Other}i"');
  const e = event(p, '192.0.2.1 [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 "Bearer eyJabc" "sid=1; theme=dark" "sid=2; Path=/; HttpOnly" "k-123" "plain"');
  assert.deepEqual(e.headers, {
    'req.authorization': 'Bearer REDACTED', 'req.cookie': 'sid=REDACTED; theme=REDACTED', 'res.set-cookie': 'sid=REDACTED',
    'req.x-api-key': 'REDACTED', 'req.x-other': 'plain',
  });
});

test('detect: each built-in format picks its own sample, above every other Apache and NGINX format', () => {
  const all = [...nginxFactories, ...apacheFactories].filter((f) => f.detect);
  for (const [format, caseName] of [['apache-combined', 'combined'], ['apache-common', 'common']]) {
    const s = sample(caseName);
    const scores = all.map((f) => [f.format, f.detect?.(s) ?? 0] as const).sort((a, b) => b[1] - a[1]);
    assert.equal(scores[0][0], format, `${caseName}: ${JSON.stringify(scores)}`);
    assert.ok(scores[0][1] > scores[1][1], `${caseName}: a clear winner ${JSON.stringify(scores)}`);
    assert.ok(scores[0][1] >= 0.8, `${caseName}: confident ${JSON.stringify(scores)}`);
  }
});

test('a time without %z is the server\'s local time: read in the given timezone (UTC without one); a time with %z keeps its offset', () => {
  const logFormat = '%h [%{%d/%b/%Y %T}t] "%r" %>s %b';
  const line = '192.0.2.1 [12/Mar/2024 10:15:32] "GET / HTTP/1.1" 200 5';
  assert.equal(event(factory('apache').create({ logFormat }), line).ts, '2024-03-12T10:15:32.000Z');
  assert.equal(event(factory('apache').create({ logFormat, timezone: 'America/New_York' }), line).ts, '2024-03-12T14:15:32.000Z');
  const zoned = factory('apache-common').create({ timezone: 'America/New_York' });
  assert.equal(event(zoned, '192.0.2.1 - - [12/Mar/2024:10:15:32 +0100] "GET / HTTP/1.1" 304 -').ts, '2024-03-12T09:15:32.000Z');
});

test('mod_log_config\'s own example: date, time, milliseconds and offset logged as separate pieces', () => {
  const logFormat = '%h [%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] "%r" %>s %b';
  const p = factory('apache').create({ logFormat, timezone: 'America/New_York' });
  assert.equal(event(p, '192.0.2.1 [12/Mar/2024 10:15:32.250 +0100] "GET / HTTP/1.1" 200 5').ts, '2024-03-12T09:15:32.250Z', 'the logged offset wins over --timezone');
  assert.equal(event(p, '192.0.2.1 [12/Mar/2024 10:15:32.250 -0530] "GET / HTTP/1.1" 200 5').ts, '2024-03-12T15:45:32.250Z');
  const bad = p.parse('192.0.2.1 [12/Mar/2024 10:15:32.250 +2500] "GET / HTTP/1.1" 200 5');
  assert.equal(bad.ok, false);
  assert.throws(() => factory('apache').create({ logFormat: '%h [%t %{%z}t] "%r" %>s %b' }), /needs a time without an offset/);
});
