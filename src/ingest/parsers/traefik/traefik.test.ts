import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { goldenSuite, parserConformance, readLines, sourceDirOf } from '../golden.js';
import type { LogParser } from '../../types.js';
import { traefikFactories } from './index.js';
import { goUnquote, TraefikClfParser, TraefikJsonParser } from './traefik.js';

const dir = sourceDirOf(import.meta.url);
const data = (f: string) => readLines(path.join(dir, 'testdata', f));

goldenSuite('traefik', dir, (caseName): LogParser => (caseName === 'json' ? new TraefikJsonParser() : new TraefikClfParser()));
parserConformance('traefik-json', new TraefikJsonParser(), data('json.log').filter((l) => new TraefikJsonParser().parse(l).ok === true));
parserConformance('traefik-clf', new TraefikClfParser(), data('clf.log').filter((l) => new TraefikClfParser().parse(l).ok === true));

test("Go's %q unquoting", () => {
  assert.deepEqual(goUnquote('"a\\"b\\\\c\\td"', 0), ['a"b\\c\td', 12]);
  assert.deepEqual(goUnquote('"caf\\xc3\\xa9 \\u00e9 \\U0001F600"', 0)?.[0], 'café é 😀');
  assert.equal(goUnquote('"open', 0), null);
});

test('json: durations are nanoseconds; options set node and environment', () => {
  const o = new TraefikJsonParser({ node: 'edge-1', environment: 'prod' }).parse(data('json.log')[0]);
  assert.equal(o.ok, true);
  if (o.ok !== true) return;
  assert.equal(o.event.duration_ms, 1.235);
  assert.equal(o.event.upstream_ms, 1.1);
  assert.equal(o.event.node, 'edge-1');
  assert.equal(o.event.environment, 'prod');
});

const SAMPLES: Record<string, string[]> = { 'traefik-json': data('json.log').slice(0, 11), 'traefik-clf': data('clf.log').slice(0, 8) };
const FOREIGN: Record<string, string[]> = {
  nginx: ['127.0.0.1 - - [05/Mar/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0"'],
  apache: ['127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326'],
  caddy: ['{"level":"info","ts":1700000000.123,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"1.2.3.4"},"status":200}'],
  haproxy: ['10.0.1.2 - - [06/Feb/2009:12:14:14 +0100] "GET /index.html HTTP/1.1" 200 2750 "" "" 33317 655 "http-in" "static" "srv1" 10 0 30 69 109 "----" 1 1 1 1 0 0 0 "-" "-"'],
};

test('detect: each Traefik format scores highest on its own sample, others low', () => {
  for (const [format, sample] of Object.entries(SAMPLES)) {
    const scores = traefikFactories.map((f) => [f.format, f.detect!(sample)] as const);
    const best = scores.reduce((a, b) => (b[1] > a[1] ? b : a));
    assert.equal(best[0], format);
    assert.ok(best[1] >= 0.9, `${format} ${best[1]}`);
    for (const [other, s] of scores) if (other !== format) assert.ok(s < 0.2, `${other} on ${format}: ${s}`);
  }
  for (const [name, sample] of Object.entries(FOREIGN)) for (const f of traefikFactories) assert.ok(f.detect!(sample) < 0.2, `${f.format} on ${name}`);
});
