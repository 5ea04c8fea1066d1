import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { goldenSuite, parserConformance, readLines, sourceDirOf } from '../golden.js';
import { caddyFactories } from './index.js';
import { CaddyParser, caddyTime } from './caddy.js';
import { cipherSuiteName, tlsVersionName } from './tls.js';
import { ZoneOffsets } from '../../../core/time-zone.js';

const dir = sourceDirOf(import.meta.url);
const lines = readLines(path.join(dir, 'testdata', 'access.log'));

goldenSuite('caddy', dir, () => new CaddyParser());
parserConformance('caddy', new CaddyParser(), lines.filter((l) => new CaddyParser().parse(l).ok === true));

test('tls numbers to names', () => {
  assert.equal(tlsVersionName(772), 'TLSv1.3');
  assert.equal(tlsVersionName(771), 'TLSv1.2');
  assert.equal(tlsVersionName(769), 'TLSv1');
  assert.equal(tlsVersionName(9999), '0x270f');
  assert.equal(cipherSuiteName(4865), 'TLS_AES_128_GCM_SHA256');
  assert.equal(cipherSuiteName(0xc02f), 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
  assert.equal(cipherSuiteName(255), '0x00ff');
});

test('options: node and environment are taken from ParserOptions', () => {
  const o = new CaddyParser({ node: 'caddy-1', environment: 'prod' }).parse(lines[0]);
  assert.equal(o.ok, true);
  if (o.ok === true) {
    assert.equal(o.event.node, 'caddy-1');
    assert.equal(o.event.environment, 'prod');
  }
});

test('duration as a Go duration string', () => {
  const line = lines[0].replace('"duration":0.000929675', '"duration":"2m3.5s"');
  const o = new CaddyParser().parse(line);
  assert.equal(o.ok === true && o.event.duration_ms, 123500);
});

const FOREIGN = {
  traefik: ['{"ClientHost":"10.0.0.1","DownstreamStatus":200,"RequestMethod":"GET","RequestPath":"/","StartUTC":"2024-01-01T00:00:00Z","Duration":1000}'],
  nginx: ['127.0.0.1 - - [05/Mar/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"'],
  envoy: ['[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0" "locations" "10.0.2.1:80"'],
};

test('detect: Caddy scores high on its own sample and low on others', () => {
  const f = caddyFactories[0];
  assert.ok(f.detect!(lines.slice(0, 14)) >= 0.9);
  for (const [name, sample] of Object.entries(FOREIGN)) assert.ok(f.detect!(sample) < 0.2, name);
  assert.equal(f.detect!([]), 0);
  // A file that begins with Caddy's own start-up messages (other loggers) is still Caddy's.
  const startup = Array.from({ length: 26 }, (_, i) => JSON.stringify({ level: 'info', ts: 1646861400.1 + i, logger: 'http', msg: 'enabling automatic HTTP->HTTPS redirects' }));
  assert.ok(f.detect!([...startup, ...lines.slice(0, 14)]) >= 0.9);
  assert.equal(f.detect!(startup), 0, 'only its own messages: nothing to judge by');
});

test('ts in every Caddy time_format', () => {
  const at = '2022-03-09T21:30:01.524Z';
  const cases: [unknown, string | null][] = [
    [1646861401.5241024, at], // unix_seconds_float (the default)
    ['1646861401.5241024', at],
    [1646861401524.102, at], // unix_milli_float
    [1646861401524102, at], // microseconds
    [JSON.parse('1646861401524102400') as number, at], // unix_nano: past 2^53, as JSON.parse reads it
    ['2022-03-09T21:30:01.524Z', at], // iso8601, rfc3339_nano
    ['2022-03-09T22:30:01.524+0100', at],
    ['2022-03-09T22:30:01.524+01:00', at],
    ['09/Mar/2022:21:30:01 +0000', '2022-03-09T21:30:01.000Z'], // common_log
    ['2022/03/09 21:30:01', '2022-03-09T21:30:01.000Z'], // wall (no zone: UTC)
    ['2022/03/09 21:30:01.524', at], // wall_milli
    ['2022/03/09 21:30:01.524102400', at], // wall_nano
    ['2022/02/31 21:30:01', null], // wall, an impossible date: refused, not 3 March
    ['2022-02-31T21:30:01Z', null],
    ['yesterday', null],
    [-5, null],
    [null, null],
    [{}, null],
  ];
  for (const [v, want] of cases) assert.equal(caddyTime(v), want, JSON.stringify(v));
});

test('wall times are read in the given timezone', () => {
  assert.equal(caddyTime('2022/03/09 21:30:01', new ZoneOffsets('Europe/Berlin')), '2022-03-09T20:30:01.000Z');
  assert.equal(caddyTime(1646861401.524, new ZoneOffsets('Europe/Berlin')), '2022-03-09T21:30:01.524Z', 'epoch times have no zone to apply');
});
