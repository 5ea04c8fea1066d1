import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { goldenSuite, parserConformance, readLines, sourceDirOf } from '../golden.js';
import type { LogParser } from '../../types.js';
import { haproxyFactories } from './index.js';
import { compileFormat, CLFLOG, HTTPLOG, TCPLOG } from './format.js';
import { haproxyTermination, HaproxyParser, unhash } from './parser.js';
import { syslogHeader } from './syslog.js';

const dir = sourceDirOf(import.meta.url);
const data = (f: string) => readLines(path.join(dir, 'testdata', f));
const factory = (format: string) => haproxyFactories.find((f) => f.format === format)!;

/** custom-<name>.log is parsed with the log-format in custom-<name>.format. */
function parserFor(caseName: string): LogParser {
  if (caseName.startsWith('custom-')) {
    const logFormat = readFileSync(path.join(dir, 'testdata', `${caseName}.format`), 'utf8');
    return factory('haproxy').create({ logFormat });
  }
  const format = { http: 'haproxy-http', tcp: 'haproxy-tcp', clf: 'haproxy-clf' }[caseName];
  if (!format) throw new Error(`no parser for case ${caseName}`);
  return factory(format).create({});
}

goldenSuite('haproxy', dir, parserFor);

const valid = (file: string, p: LogParser) => data(file).filter((l) => p.parse(l).ok === true);
for (const [name, file] of [['haproxy-http', 'http.log'], ['haproxy-tcp', 'tcp.log'], ['haproxy-clf', 'clf.log']]) {
  const p = factory(name).create({});
  parserConformance(name, p, valid(file, p));
}
parserConformance('haproxy (custom)', parserFor('custom-wide'), valid('custom-wide.log', parserFor('custom-wide')));

function event(p: LogParser, line: string) {
  const o = p.parse(line);
  if (o.ok !== true) assert.fail(`not parsed: ${JSON.stringify(o)}`);
  return o.event;
}

test('syslog headers: host, pid and where the message starts', () => {
  const msg = '10.0.0.1:1 [x';
  const cases: [string, string | null, string | null][] = [
    [`<134>Oct 11 22:14:15 lb1 haproxy[1234]: ${msg}`, 'lb1', '1234'],
    [`<134>Oct  1 22:14:15 haproxy[1234]: ${msg}`, null, '1234'],
    [`Oct 11 22:14:15 lb1 haproxy[9]: ${msg}`, 'lb1', '9'],
    [`<134>1 2024-10-11T22:14:15.003Z lb2 haproxy 1234 - - ${msg}`, 'lb2', '1234'],
    [`<134>1 2024-10-11T22:14:15.003Z - haproxy - - [sd id="a\\]b"] ${msg}`, null, null],
    [`2024-10-11T22:14:15+00:00 lb3 haproxy[7]: ${msg}`, 'lb3', '7'],
    [`haproxy[1234]: ${msg}`, null, '1234'],
    [`haproxy: ${msg}`, null, null],
    [msg, null, null],
  ];
  for (const [line, host, pid] of cases) {
    const h = syslogHeader(line);
    assert.equal(line.slice(h.start), msg, line);
    assert.equal(h.host, host, line);
    assert.equal(h.pid, pid, line);
  }
});

test('termination: the mapping table of the README', () => {
  const t = (s: string, status: number | null = 200, noSrv = false) => haproxyTermination(s, status, noSrv);
  assert.equal(t('----'), 'ok');
  assert.equal(t('--'), 'ok');
  assert.equal(t('LR--', 301), 'ok');
  assert.equal(t('CD--'), 'client_abort');
  assert.equal(t('CR--', null), 'client_abort');
  assert.equal(t('cR--', 408), 'request_timeout');
  assert.equal(t('cD'), 'client_abort');
  assert.equal(t('SC--', 503), 'upstream_error');
  assert.equal(t('SC--', 503, true), 'upstream_unavailable');
  assert.equal(t('SH--', 502), 'upstream_error');
  assert.equal(t('sH--', 504), 'upstream_timeout');
  assert.equal(t('sC--', 503), 'upstream_timeout');
  assert.equal(t('sQ--', 503), 'upstream_unavailable');
  assert.equal(t('PR--', 400), 'bad_request');
  assert.equal(t('PR--', 403), 'denied');
  assert.equal(t('PR--', 429), 'rate_limited');
  assert.equal(t('PR--', 414), 'request_too_large');
  assert.equal(t('PT--', 500), 'denied');
  assert.equal(t('PH--', 502), 'upstream_error');
  assert.equal(t('PC--', 503), 'internal_error');
  assert.equal(t('RC--', 503), 'internal_error');
  assert.equal(t('IH--', 500), 'internal_error');
  assert.equal(t('KD--'), 'internal_error');
  assert.equal(t('DD--'), 'upstream_error');
  assert.equal(t('UD--'), 'upstream_error');
});

test('log-format compile errors are clear', () => {
  assert.throws(() => compileFormat(''), /empty/);
  assert.throws(() => compileFormat('%ci %zz'), /unsupported HAProxy log-format variable "%zz"/);
  assert.throws(() => compileFormat('%HM%HU'), /need a separator/);
  assert.throws(() => compileFormat('%ci %{+json}o'), /unsupported HAProxy log-format flag/);
  assert.throws(() => compileFormat('%[src'), /unclosed "\["/);
  assert.throws(() => factory('haproxy').create({}), /needs the log-format/);
  assert.throws(() => factory('haproxy').create({ logFormat: 'text only' }), /no variables/);
});

test('log-format as written in haproxy.cfg (keyword, quotes, escaped spaces) compiles the same', () => {
  const a = compileFormat('%ci:%cp [%t] %ft %b/%s');
  const b = compileFormat('log-format "%ci:%cp\\ [%t]\\ %ft %b/%s"');
  assert.equal(a.source, b.source);
  // A comment after the format, as haproxy.cfg allows, is not part of it; nor are the quotes of a whole quoted format.
  assert.equal(compileFormat('    log-format "%ci:%cp [%t] %ft %b/%s"   # short form').source, a.source);
  assert.equal(compileFormat('log-format %ci:%cp\\ [%t]\\ %ft\\ %b/%s # escaped spaces').source, a.source);
  assert.equal(compileFormat('"%ci:%cp [%t] %ft %b/%s"  # quoted').source, a.source);
  // HAProxy 3.x's predefined formats, alone or extended; another variable of the HAProxy process is refused with the reason.
  assert.equal(compileFormat('log-format "${HAPROXY_HTTP_LOG_FMT}"').source, compileFormat(HTTPLOG).source);
  assert.equal(compileFormat('log-format "${HAPROXY_TCP_LOG_FMT} %[var(txn.x)]"').source, `${TCPLOG} %[var(txn.x)]`);
  assert.ok(compileFormat('${HAPROXY_HTTPS_LOG_FMT}').http);
  assert.equal(compileFormat('log-format "${HAPROXY_HTTP_CLF_LOG_FMT}"').source, compileFormat(CLFLOG).source);
  assert.equal(compileFormat('log-format "${HAPROXY_TCP_CLF_LOG_FMT}"').http, false);
  assert.throws(() => compileFormat('log-format "${MY_FMT}"'), /\$\{MY_FMT\}, a variable of the HAProxy process/);
  assert.equal(compileFormat('%ci %ST %r').http, true);
  assert.equal(compileFormat('%ci:%cp [%t] %b/%s %Tt').http, false);
});

test('a custom format without a date is rejected per line with bad_timestamp', () => {
  const p = new HaproxyParser('haproxy', compileFormat('%ci %ST'), {});
  const o = p.parse('1.2.3.4 200');
  assert.equal(o.ok, false);
  assert.equal(o.ok === false && o.reason, 'bad_timestamp');
});

test('%Ts past the range of a Date is rejected as bad_timestamp, not thrown', () => {
  const p = new HaproxyParser('haproxy', compileFormat('%ci %Ts %ST'), {});
  const ok = p.parse('1.2.3.4 1700000000 200');
  assert.equal(ok.ok === true && ok.event.ts, '2023-11-14T22:13:20.000Z');
  for (const ts of ['99999999999999', '123456789012345678901234567890']) {
    const o = p.parse(`1.2.3.4 ${ts} 200`);
    assert.equal(o.ok === false && o.reason, 'bad_timestamp', ts);
  }
  const hex = new HaproxyParser('haproxy', compileFormat('%ci %{+X}Ts %ST'), {});
  assert.equal(hex.parse('1.2.3.4 FFFFFFFFFFFFFF 200').ok, false);
});

test('dates without an offset are HAProxy\'s local time: read in the given timezone, UTC without one', () => {
  const line = '10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET / HTTP/1.1"';
  assert.equal(event(factory('haproxy-http').create({}), line).ts, '2009-02-06T12:14:14.655Z');
  assert.equal(event(factory('haproxy-http').create({ timezone: 'Europe/Berlin' }), line).ts, '2009-02-06T11:14:14.655Z');
  const summer = line.replace('06/Feb/2009', '06/Jul/2009');
  assert.equal(event(factory('haproxy-http').create({ timezone: 'Europe/Berlin' }), summer).ts, '2009-07-06T10:14:14.655Z');
});

test('ParserOptions.node is used when the line has no syslog host; environment is set', () => {
  const p = factory('haproxy-http').create({ node: 'lb-fallback', environment: 'staging' });
  const line = '10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET / HTTP/1.1"';
  const e = event(p, line);
  assert.equal(e.node, 'lb-fallback');
  assert.equal(e.environment, 'staging');
  assert.equal(event(p, `<134>Oct 11 22:14:15 lb9 haproxy[1]: ${line}`).node, 'lb9');
});

test('#XX decoding (8.6)', () => {
  assert.equal(unhash('a#22b#7C#23c'), 'a"b|#c');
  assert.equal(unhash('#zz #2'), '#zz #2');
});

test('the parser keeps no state from one line to the next', () => {
  const p = factory('haproxy-http').create({});
  const withCaptures = data('http.log')[6];
  const without = data('http.log')[0].replace('{1wt.eu} {} ', '');
  assert.ok(event(p, withCaptures).extra?.captured_request_headers);
  assert.equal(event(p, without).extra?.captured_request_headers, undefined);
});

const SAMPLES: Record<string, string[]> = {
  'haproxy-http': data('http.log').slice(0, 24),
  'haproxy-tcp': data('tcp.log').slice(0, 7),
  'haproxy-clf': data('clf.log').slice(0, 4),
};
const FOREIGN: Record<string, string[]> = {
  nginx: ['127.0.0.1 - - [05/Mar/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"'],
  alb: ['http 2024-03-05T10:15:30.186641Z app/a/5 1.2.3.4:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://x:80/ HTTP/1.1" "curl" - -'],
  envoy: ['[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0" "locations" "10.0.2.1:80"'],
  traefik: ['192.168.1.1 - - [10/Oct/2023:13:55:36 +0000] "GET /path HTTP/1.1" 200 1234 "-" "Mozilla/5.0" 42 "router@docker" "http://172.17.0.3:80" 12ms'],
  caddy: ['{"level":"info","ts":1700000000.123,"logger":"http.log.access","msg":"handled request"}'],
};

test('detect: each HAProxy format scores highest on its own sample', () => {
  const auto = haproxyFactories.filter((f) => f.detect);
  for (const [format, sample] of Object.entries(SAMPLES)) {
    const scores = auto.map((f) => [f.format, f.detect!(sample)] as const);
    const best = scores.reduce((a, b) => (b[1] > a[1] ? b : a));
    assert.equal(best[0], format, `sample of ${format}: ${JSON.stringify(scores)}`);
    assert.ok(best[1] >= 0.9, `${format} scores ${best[1]}`);
    for (const [other, s] of scores) if (other !== format) assert.ok(s < 0.2, `${other} scores ${s} on ${format}`);
  }
});

test('detect: other formats score low; the custom format is never auto-detected', () => {
  for (const [name, sample] of Object.entries(FOREIGN)) {
    for (const f of haproxyFactories) if (f.detect) assert.ok(f.detect(sample) < 0.2, `${f.format} on ${name}`);
  }
  assert.equal(factory('haproxy').detect, undefined);
  assert.equal(factory('haproxy').needsLogFormat, true);
});
