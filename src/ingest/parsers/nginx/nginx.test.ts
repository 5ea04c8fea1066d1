import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familyFixtures, goldenSuite, parserConformance, sourceDirOf } from '../golden.js';
import { parseClfTime, unescapeLogString } from '../common.js';
import { apacheFactories } from '../apache/index.js';
import { NGINX_COMBINED, nginxFactories } from './index.js';
import { compileNginxFormat, unwrapLogFormat } from './log-format.js';
import { serializeEvent } from '../../../core/event-json.js';

const dir = sourceDirOf(import.meta.url);
const { factory, parserFor, custom, event, sample } = familyFixtures(dir, nginxFactories, 'nginx');

goldenSuite('nginx', dir, parserFor);

const LINE = '203.0.113.7 - - [12/Mar/2024:10:15:32 +0000] "GET /a?b=1 HTTP/1.1" 200 5120 "https://example.com/" "curl/8.5.0"';
parserConformance('nginx-combined', factory('nginx-combined').create({}), [LINE, '::1 - bob [12/Mar/2024:10:15:32 -0500] "GET / HTTP/2.0" 101 0 "-" "-"']);
parserConformance('nginx-common', factory('nginx-common').create({}), ['203.0.113.7 - - [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 5120']);
parserConformance('nginx-main', factory('nginx-main').create({}), [LINE + ' "198.51.100.1, 10.0.0.1"']);
parserConformance('nginx-json', factory('nginx-json').create({}), ['{"time_local":"12/Mar/2024:10:15:32 +0000","remote_addr":"203.0.113.7","request":"GET / HTTP/1.1","status":"200"}', '{"msec":1710238532.5,"status":204}']);
for (const c of ['custom-upstream', 'custom-tls', 'custom-json-escape']) parserConformance(`nginx ${c}`, parserFor(c), sample(c, 3));

test('options: node and environment are recorded; $hostname names the node when logged', () => {
  const p = factory('nginx-combined').create({ node: 'lb-3', environment: 'prod' });
  const e = event(p, LINE);
  assert.equal(e.node, 'lb-3');
  assert.equal(e.environment, 'prod');
  const h = factory('nginx').create({ logFormat: '$hostname [$time_local] $status', node: 'lb-3' });
  assert.equal(event(h, 'edge-9 [12/Mar/2024:10:15:32 +0000] 200').node, 'edge-9');
});

test('ts is the request start: the duration is subtracted from the log time (NGINX logs at completion)', () => {
  const p = custom('[$time_local] "$request" $status $request_time');
  const e = event(p, '[12/Mar/2024:10:15:32 +0000] "GET /ws HTTP/1.1" 101 3600.250');
  assert.equal(e.ts, '2024-03-12T09:15:31.750Z');
  assert.equal(e.duration_ms, 3600250);
  assert.equal(e.kind, 'websocket');
  // $msec is finer than $time_local, whichever comes first.
  const m = custom('[$time_local] $msec $status');
  assert.equal(event(m, '[12/Mar/2024:10:15:32 +0000] 1710238532.987 200').ts, '2024-03-12T10:15:32.987Z');
});

test('status to termination', () => {
  const p = factory('nginx-common').create({});
  const term = (status: string, request = 'GET / HTTP/1.1'): unknown => event(p, `192.0.2.1 - - [12/Mar/2024:10:15:32 +0000] "${request}" ${status} 0`).termination;
  assert.equal(term('200'), 'ok');
  assert.equal(term('404'), 'ok');
  assert.equal(term('499'), 'client_abort');
  assert.equal(term('502'), 'upstream_error');
  assert.equal(term('504'), 'upstream_timeout');
  assert.equal(term('408'), 'request_timeout');
  assert.equal(term('494'), 'request_too_large');
  assert.equal(term('400'), 'ok');
  assert.equal(term('400', '\\x16\\x03\\x01'), 'bad_request');
  assert.equal(term('400', '-'), 'bad_request');
  assert.equal(term('408', '-'), 'request_timeout');
});

test('compiler: unknown variables go to extra under their name', () => {
  const p = custom('$remote_addr [$time_local] "$request" $status $my_custom_var ${geoip_country_code}');
  const e = event(p, '192.0.2.1 [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 abc NL');
  assert.deepEqual(e.extra, { my_custom_var: 'abc', geoip_country_code: 'NL' });
});

test('compiler: $http_* and $sent_http_* are request and response headers', () => {
  const p = custom('[$time_local] $status "$http_x_api_key_id" "$sent_http_content_type" "$http_user_agent"');
  const e = event(p, '[12/Mar/2024:10:15:32 +0000] 200 "k-17" "text/html" "curl/8"');
  assert.deepEqual(e.headers, { 'req.x-api-key-id': 'k-17', 'res.content-type': 'text/html' });
  assert.equal(e.user_agent, 'curl/8');
});

test('credentials and cookies are redacted as in live traffic', () => {
  const p = custom('[$time_local] $status "$http_authorization" "$http_cookie" "$sent_http_set_cookie" "$http_x_api_key" $cookie_session');
  const e = event(p, '[12/Mar/2024:10:15:32 +0000] 200 "Basic YWxpY2U6cHc=" "session=abc" "session=def; Secure" "k-123" abc');
  assert.deepEqual(e.headers, { 'req.authorization': 'Basic REDACTED', 'req.cookie': 'session=REDACTED', 'res.set-cookie': 'session=REDACTED', 'req.x-api-key': 'REDACTED' });
  assert.deepEqual(e.extra, { cookie_session: 'REDACTED' });
  const j = factory('nginx-json').create({});
  const o = j.parse('{"msec":"1710238532.000","status":"200","http_authorization":"Bearer t0k3n"}');
  assert.equal(o.ok === true && o.event.headers?.['req.authorization'], 'Bearer REDACTED');
});

test('compiler: clear errors for formats that cannot be read back', () => {
  const bad: [string, RegExp][] = [
    ['$remote_addr$remote_port [$time_local]', /\$remote_addr and \$remote_port are adjacent/],
    ['[$time_local] ${status', /without "}"/],
    ['[$time_local] $ $status', /not followed by a variable name/],
    ['[$time_local] ${bad-name}', /invalid variable name/],
    ['$remote_addr "$request" $status', /no time variable/],
    ['', /needs the log_format/],
    ['   ', /empty/],
    ['just text', /no variables/],
    ["log_format x escape=yaml '$time_local'", /unknown escape=yaml/],
    ["log_format x '$time_local", /unterminated/],
    ['$time_local\n$status', /line break/],
  ];
  for (const [fmt, msg] of bad) assert.throws(() => factory('nginx').create({ logFormat: fmt }), msg, JSON.stringify(fmt));
  assert.throws(() => factory('nginx').create({}), /needs the log_format/);
  assert.equal(factory('nginx').needsLogFormat, true);
});

test('compiler: log_format as written in nginx.conf, quoted strings concatenated', () => {
  const conf = `log_format main '$remote_addr - $remote_user [$time_local] "$request" '\n    '$status $body_bytes_sent "$http_referer" '\n    '"$http_user_agent"';`;
  assert.deepEqual(unwrapLogFormat(conf), { text: NGINX_COMBINED, escape: 'default' });
  assert.deepEqual(unwrapLogFormat(`'${NGINX_COMBINED}'`), { text: NGINX_COMBINED, escape: 'default' });
  assert.deepEqual(unwrapLogFormat(NGINX_COMBINED), { text: NGINX_COMBINED, escape: 'default' });
  assert.deepEqual(unwrapLogFormat(`log_format j escape=json '{"a":"$msec"}';`), { text: '{"a":"$msec"}', escape: 'json' });
  assert.deepEqual(unwrapLogFormat(`log_format x "a \\"$status\\"" '$msec';`), { text: 'a "$status"$msec', escape: 'default' });
  // Comments as nginx.conf has them, after a string or after the directive's `;`.
  const commented = `    log_format x '$remote_addr [$time_local] '   # who and when\n                 '"$request" $status';  # what`;
  assert.deepEqual(unwrapLogFormat(commented), { text: '$remote_addr [$time_local] "$request" $status', escape: 'default' });
  // A bare format in double quotes, as the value of log_format, is unwrapped like one in single quotes...
  assert.deepEqual(unwrapLogFormat(`"$remote_addr [$time_local] \\"$request\\" $status"`), { text: '$remote_addr [$time_local] "$request" $status', escape: 'default' });
  // ...but a format that merely begins and ends with a quote of its own is the format.
  assert.deepEqual(unwrapLogFormat(`"$request" $status "$http_referer"`), { text: '"$request" $status "$http_referer"', escape: 'default' });
  const lf = compileNginxFormat(conf);
  assert.equal(lf.fields.length, 8);
  assert.deepEqual(lf.fields.map((f) => f.quoted), [false, false, false, true, false, false, true, true]);
});

test('compiler: escape=none takes quoted values verbatim', () => {
  const none = custom(`log_format raw escape=none '[$time_local] "$request" $status "$http_user_agent"';`);
  const e = event(none, '[12/Mar/2024:10:15:32 +0000] "GET /a\\x41 HTTP/1.1" 200 "C:\\path\\"');
  assert.equal(e.path, '/a\\x41');
  assert.equal(e.user_agent, 'C:\\path\\');
  const def = custom(`[$time_local] "$request" $status`);
  assert.equal(event(def, '[12/Mar/2024:10:15:32 +0000] "GET /a\\x41 HTTP/1.1" 200').path, '/aA');
});

test('compiler: unquoted values that hold spaces (time, upstream lists) are read whole', () => {
  const p = custom('$time_local $status $upstream_addr $upstream_status $upstream_response_time $request_time');
  const e = event(p, '12/Mar/2024:10:15:32 +0000 200 10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80 502, 504 : 200 0.001, 0.002 : 0.003 0.010');
  assert.equal(e.upstream, '10.0.0.3:80');
  assert.equal(e.attempts, 3);
  assert.equal(e.upstream_status, 200);
  assert.equal(e.upstream_ms, 3);
  assert.equal(e.duration_ms, 10);
  assert.deepEqual(e.extra, { upstream_addr: '10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80', upstream_status: '502, 504 : 200', upstream_response_time: '0.001, 0.002 : 0.003' });
});

test('a token as the last field: text after it is trailing data, not part of the value', () => {
  const o = factory('nginx-common').create({}).parse(LINE);
  assert.equal(o.ok, false);
  assert.equal(o.ok === false && o.reason, 'trailing_data');
});

test('detect: each built-in format picks its own sample, above every other NGINX and Apache format', () => {
  const all = [...nginxFactories, ...apacheFactories].filter((f) => f.detect);
  for (const [format, caseName] of [['nginx-combined', 'combined'], ['nginx-common', 'common'], ['nginx-main', 'main'], ['nginx-json', 'json']]) {
    const s = sample(caseName);
    const scores = all.map((f) => [f.format, f.detect?.(s) ?? 0] as const).sort((a, b) => b[1] - a[1]);
    assert.equal(scores[0][0], format, `${caseName}: ${JSON.stringify(scores)}`);
    assert.ok(scores[0][1] > scores[1][1], `${caseName}: a clear winner ${JSON.stringify(scores)}`);
    assert.ok(scores[0][1] >= 0.8, `${caseName}: confident ${JSON.stringify(scores)}`);
  }
});

test('detect: other JSON access logs (Caddy, Traefik) score low as nginx-json; text scores 0', () => {
  const caddy = ['{"level":"info","ts":1710238532.12,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"203.0.113.7","method":"GET","uri":"/"},"status":200,"duration":0.001}'];
  assert.ok((factory('nginx-json').detect?.(caddy) ?? 1) < 0.5);
  assert.equal(factory('nginx-json').detect?.([LINE]), 0);
  assert.equal(factory('nginx-combined').detect?.(['{"a":1}']), 0);
  assert.equal(factory('nginx-combined').detect?.([]), 0);
});

test('common helpers: \\xHH runs decode as UTF-8, JSON and Apache escapes, CLF time, ISO from ms', () => {
  assert.equal(unescapeLogString('caf\\xC3\\xA9 \\xF0\\x9F\\x98\\x80'), 'café 😀');
  assert.equal(unescapeLogString('\\xFF\\xFEA'), '\uFFFD\uFFFDA');
  assert.equal(unescapeLogString('\\x22q\\x22 \\"q\\" \\\\'), '"q" "q" \\');
  assert.equal(unescapeLogString('\\u00e9\\ud83d\\ude00 \\n\\t\\b\\v'), 'é😀 \n\t\b\v');
  assert.equal(unescapeLogString('no escapes'), 'no escapes');
  assert.equal(unescapeLogString('ends with \\'), 'ends with \\');
  assert.equal(parseClfTime('10/Oct/2000:13:55:36 -0700'), '2000-10-10T20:55:36.000Z');
  assert.equal(parseClfTime('10/Oct/2000:13:55:36.250 +0000'), '2000-10-10T13:55:36.250Z');
  assert.equal(parseClfTime('10/Oct/2000:13-55-36 -0700'), null);
});

test('variables named like Object.prototype members are unknown variables, kept in extra', () => {
  const p = factory('nginx').create({ logFormat: '$remote_addr [$time_local] "$request" $status $constructor $tostring $hasownproperty $__proto__' });
  const o = p.parse('203.0.113.7 [12/Mar/2024:10:15:32 +0000] "GET / HTTP/1.1" 200 a b c d');
  assert.equal(o.ok, true);
  // __proto__ too: assigned into a plain object it would set the prototype and vanish.
  if (o.ok === true) assert.equal(serializeEvent(o.event).match(/"extra":(\{[^}]*\})/)?.[1], '{"constructor":"a","tostring":"b","hasownproperty":"c","__proto__":"d"}');
});

test('audit.redact.headers (ParserOptions.redactHeaders): a configured header is redacted by the text and the JSON parsers, others kept', () => {
  const opts = { redactHeaders: ['X-Auth-Token'] };
  const text = factory('nginx').create({ ...opts, logFormat: '$remote_addr [$time_local] "$request" $status "$http_x_auth_token" "$http_x_trace_note"' });
  const t = text.parse('192.0.2.1 [24/Nov/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 "s3cr3t" "fine"');
  assert.ok(t.ok === true, JSON.stringify(t));
  assert.deepEqual(t.event.headers, { 'req.x-auth-token': 'REDACTED', 'req.x-trace-note': 'fine' });
  const json = factory('nginx-json').create(opts);
  const j = json.parse('{"time_local":"24/Nov/2026:10:00:00 +0000","remote_addr":"192.0.2.1","request":"GET /a HTTP/1.1","status":200,"http_x_auth_token":"s3cr3t","http_x_trace_note":"fine"}');
  assert.ok(j.ok === true, JSON.stringify(j));
  assert.deepEqual(j.event.headers, { 'req.x-auth-token': 'REDACTED', 'req.x-trace-note': 'fine' });
  // Without the option, the same header is kept (it is no secret by itself).
  const plain = factory('nginx-json').create({}).parse('{"time_local":"24/Nov/2026:10:00:00 +0000","remote_addr":"192.0.2.1","request":"GET /a HTTP/1.1","status":200,"http_x_auth_token":"s3cr3t"}');
  assert.ok(plain.ok === true && plain.event.headers?.['req.x-auth-token'] === 's3cr3t');
});
