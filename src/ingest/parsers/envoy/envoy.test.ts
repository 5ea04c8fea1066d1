import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { goldenSuite, parserConformance, readLines, sourceDirOf } from '../golden.js';
import { envoyFactories } from './index.js';
import { EnvoyParser, RESPONSE_FLAGS } from './envoy.js';

const dir = sourceDirOf(import.meta.url);
const lines = readLines(path.join(dir, 'testdata', 'default.log'));

goldenSuite('envoy', dir, () => new EnvoyParser());
parserConformance('envoy', new EnvoyParser(), lines.filter((l) => new EnvoyParser().parse(l).ok === true));

function event(line: string) {
  const o = new EnvoyParser({ node: 'envoy-1', environment: 'prod' }).parse(line);
  if (o.ok !== true) assert.fail(JSON.stringify(o));
  return o.event;
}

test('response flags: several set, the decisive one wins; every documented flag has a mapping', () => {
  const base = '[2024-03-05T10:15:30.310Z] "GET / HTTP/1.1" 503 FLAGS 0 0 1 - "-" "-" "-" "x" "-"';
  assert.equal(event(base.replace('FLAGS', 'UF,URX')).termination, 'upstream_error');
  assert.equal(event(base.replace('FLAGS', 'DC,UF')).termination, 'client_abort');
  assert.equal(event(base.replace('FLAGS', 'UH')).termination, 'upstream_unavailable');
  assert.equal(event(base.replace('503 FLAGS', '408 SI')).termination, 'request_timeout');
  assert.equal(event(base.replace('503 FLAGS', '504 SI')).termination, 'upstream_timeout');
  for (const f of ['UH', 'UF', 'UO', 'NR', 'URX', 'NC', 'DT', 'DC', 'LH', 'UT', 'LR', 'UR', 'UC', 'DI', 'FI', 'RL', 'UAEX', 'RLSE', 'IH', 'SI', 'DPE', 'UPE', 'UMSDR', 'OM', 'DF']) {
    assert.ok(RESPONSE_FLAGS[f], f);
  }
});

test('options fill node and environment', () => {
  const e = event(lines[0]);
  assert.equal(e.node, 'envoy-1');
  assert.equal(e.environment, 'prod');
});

test('detect: high on Envoy lines, low on others', () => {
  const f = envoyFactories[0];
  assert.ok(f.detect!(lines.slice(0, 20)) >= 0.9);
  const foreign = [
    ['127.0.0.1 - - [05/Mar/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"'],
    ['http 2024-03-05T10:15:30.186641Z app/a/5 1.2.3.4:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://x:80/ HTTP/1.1" "curl" - -'],
    ['{"level":"info","ts":1700000000.123,"logger":"http.log.access"}'],
    ['haproxy[1]: 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 "GET / HTTP/1.1"'],
  ];
  for (const s of foreign) assert.ok(f.detect!(s) < 0.2, s[0]);
});
