import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { goldenSuite, parserConformance, readLines, sourceDirOf } from '../golden.js';
import type { LogParser } from '../../types.js';
import { awsFactories } from './index.js';
import { AlbParser } from './alb.js';
import { ElbParser } from './elb.js';
import { NlbParser } from './nlb.js';
import { awsTime, splitIpPort, tlsVersion, xrayTraceId } from './fields.js';

const dir = sourceDirOf(import.meta.url);
const data = (f: string) => readLines(path.join(dir, 'testdata', f));

goldenSuite('aws', dir, (caseName): LogParser => {
  if (caseName.startsWith('alb')) return new AlbParser();
  if (caseName.startsWith('elb')) return new ElbParser();
  if (caseName.startsWith('nlb')) return new NlbParser();
  throw new Error(`no parser for case ${caseName}`);
});

/** The lines of a golden case that are entries (the conformance suite wants valid lines only). */
function validLines(file: string, parser: LogParser): string[] {
  return data(file).filter((l) => parser.parse(l).ok === true);
}

parserConformance('alb', new AlbParser(), validLines('alb-typical.log', new AlbParser()).concat(validLines('alb-edge.log', new AlbParser())));
parserConformance('elb', new ElbParser(), validLines('elb-classic.log', new ElbParser()));
parserConformance('nlb', new NlbParser(), validLines('nlb-tls.log', new NlbParser()));

function event(parser: LogParser, line: string) {
  const o = parser.parse(line);
  if (o.ok !== true) assert.fail(`not parsed: ${JSON.stringify(o)}`);
  return o.event;
}

const LINE =
  'https 2024-03-05T10:15:31.500000Z app/shop/50dc 203.0.113.7:52311 10.0.1.17:8443 0.001 0.048 0.000 201 201 812 1130 ' +
  '"POST https://api.example.com:443/v1/orders?x=1 HTTP/1.1" "curl/8" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 ' +
  'arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/tg/73 "Root=1-65e6f0c3-0123456789abcdef01234567" "api.example.com" "-" 10 ' +
  '2024-03-05T10:15:31.450000Z "forward" "-" "-" "10.0.1.17:8443" "201" "-" "-" TID_1 "-" "-" "-"';

test('alb: ts is request_creation_time; duration is the sum of the three processing times; upstream_ms the target time', () => {
  const e = event(new AlbParser(), LINE);
  assert.equal(e.ts, '2024-03-05T10:15:31.450Z');
  assert.equal(e.duration_ms, 49);
  assert.equal(e.upstream_ms, 48);
  assert.equal(e.trace_id, '65e6f0c30123456789abcdef01234567');
  assert.equal(e.request_id, 'Root=1-65e6f0c3-0123456789abcdef01234567');
  assert.equal(e.service, 'tg');
  assert.equal(e.route, '10');
  assert.equal(e.attempts, 1);
});

test('alb: any -1 processing time makes duration null but keeps what was measured', () => {
  const e = event(new AlbParser(), LINE.replace('0.001 0.048 0.000', '0.001 0.048 -1'));
  assert.equal(e.duration_ms, null);
  assert.equal(e.upstream_ms, 48);
});

test('alb: ParserOptions fill environment; node comes from the elb field', () => {
  const e = event(new AlbParser({ node: 'fallback', environment: 'prod' }), LINE);
  assert.equal(e.node, 'app/shop/50dc');
  assert.equal(e.environment, 'prod');
});

test('alb: fields appended by AWS later are kept by position, not rejected', () => {
  const e = event(new AlbParser(), `${LINE} new1 "new two"`);
  assert.equal(e.extra?.field_34, 'new1');
  assert.equal(e.extra?.field_35, 'new two');
});

test('alb: the parser reuses its field buffer without leaking between lines', () => {
  const p = new AlbParser();
  const long = event(p, `${LINE} new1`);
  const old = event(p, LINE.split(' "forward"')[0]);
  assert.equal(long.extra?.field_34, 'new1');
  assert.equal(old.extra?.field_34, undefined);
  assert.equal(old.extra?.actions_executed, undefined);
});

test('elb: TCP listener lines are tcp events without HTTP fields', () => {
  const e = event(new ElbParser(), '2024-03-05T10:15:32.123456Z lb 192.168.131.40:2818 10.0.0.3:5432 0.001 0.000028 0.000041 - - 82 305 "- - - " "-" - -');
  assert.equal(e.kind, 'tcp');
  assert.equal(e.method, null);
  assert.equal(e.status, null);
  assert.equal(e.termination, 'ok');
});

test('nlb: a time without a zone is UTC, and tls versions read like ALB ones', () => {
  assert.equal(awsTime('2018-12-20T02:59:40'), '2018-12-20T02:59:40.000Z');
  assert.equal(awsTime('2018-12-20T02:59:40.5+01:00'), '2018-12-20T01:59:40.500Z');
  assert.equal(tlsVersion('tlsv12'), 'TLSv1.2');
  assert.equal(tlsVersion('tlsv13'), 'TLSv1.3');
  assert.equal(tlsVersion('tlsv1'), 'TLSv1');
  assert.equal(tlsVersion('TLSv1.2'), 'TLSv1.2');
});

test('address and trace helpers', () => {
  assert.deepEqual(splitIpPort('1.2.3.4:80'), ['1.2.3.4', 80]);
  assert.deepEqual(splitIpPort('2001:db8::1:443'), ['2001:db8::1', 443]);
  assert.deepEqual(splitIpPort('[2001:db8::1]:443'), ['2001:db8::1', 443]);
  assert.equal(splitIpPort('host.example.com:80'), null);
  assert.equal(splitIpPort('1.2.3.4:99999'), null);
  assert.equal(splitIpPort('1.2.3.4'), null);
  assert.equal(xrayTraceId('Self=1-aa-bb;Root=1-58337262-36d228ad5d99923122bbe354'), '5833726236d228ad5d99923122bbe354');
  assert.equal(xrayTraceId('Root=1-5833-36d2'), null);
});

const SAMPLES: Record<string, string[]> = {
  alb: data('alb-typical.log'),
  elb: data('elb-classic.log').slice(0, 11),
  nlb: data('nlb-tls.log').slice(0, 8),
};
const FOREIGN: Record<string, string[]> = {
  nginx: ['127.0.0.1 - - [05/Mar/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"'],
  haproxy: ['10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET /index.html HTTP/1.1"'],
  envoy: ['[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0" "locations" "10.0.2.1:80"'],
  json: ['{"level":"info","ts":1700000000.123,"logger":"http.log.access","msg":"handled request"}'],
};

test('detect: each AWS format scores highest on its own sample', () => {
  for (const [format, sample] of Object.entries(SAMPLES)) {
    const scores = awsFactories.map((f) => [f.format, f.detect!(sample)] as const);
    const best = scores.reduce((a, b) => (b[1] > a[1] ? b : a));
    assert.equal(best[0], format, `sample of ${format}: ${JSON.stringify(scores)}`);
    assert.ok(best[1] >= 0.9, `${format} scores ${best[1]}`);
    for (const [other, s] of scores) if (other !== format) assert.ok(s < 0.2, `${other} scores ${s} on ${format}`);
  }
});

test('detect: other formats score low', () => {
  for (const [name, sample] of Object.entries(FOREIGN)) {
    for (const f of awsFactories) assert.ok(f.detect!(sample) < 0.2, `${f.format} on ${name}`);
  }
  for (const f of awsFactories) assert.equal(f.detect!(['', '  ']), 0);
});
