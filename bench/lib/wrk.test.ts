import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLatency, parseWrk, wrkArgs } from './wrk.js';

// Verbatim shape of wrk 4.1.0 (Debian 12) with --latency.
const CLEAN = `Running 10s test @ http://127.0.0.1:40123/api/v1/items?id=42&page=3
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.31ms    1.02ms  42.17ms   93.12%
    Req/Sec    24.59k     2.01k   29.83k    71.00%
  Latency Distribution
     50%    1.10ms
     75%    1.48ms
     90%    2.02ms
     99%    4.26ms
  489312 requests in 10.01s, 112.46MB read
Requests/sec:  48883.41
Transfer/sec:     11.23MB
`;

const WITH_ERRORS = `Running 2s test @ http://127.0.0.1:40123/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us  301.12us   1.02s    98.50%
    Req/Sec     4.10k   210.33     4.55k    80.00%
  Latency Distribution
     50%  790.00us
     75%  900.00us
     90%    1.01ms
     99%    2.00s
  16400 requests in 2.00s, 3.77MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 17
Requests/sec:   8199.10
Transfer/sec:      1.88MB
`;

test('parses throughput, percentiles in ms and the absence of errors', () => {
  const r = parseWrk(CLEAN);
  assert.equal(r.requests, 489312);
  assert.equal(r.durationS, 10.01);
  assert.equal(r.rps, 48883.41);
  assert.equal(r.latencyMs.p50, 1.1);
  assert.equal(r.latencyMs.p99, 4.26);
  assert.equal(r.latencyMs.max, 42.17);
  assert.equal(r.errors, 0);
  assert.equal(r.non2xx3xx, 0);
});

test('converts us and s latencies and counts socket errors and non-2xx answers', () => {
  const r = parseWrk(WITH_ERRORS);
  assert.ok(Math.abs(r.latencyMs.p50 - 0.79) < 1e-9);
  assert.equal(r.latencyMs.p99, 2000);
  assert.equal(r.latencyMs.max, 1020);
  assert.deepEqual(r.socketErrors, { connect: 1, read: 2, write: 3, timeout: 4 });
  assert.equal(r.non2xx3xx, 17);
  assert.equal(r.errors, 27);
});

test('refuses output without the latency distribution instead of guessing', () => {
  const noLatency = CLEAN.replace(/ {2}Latency Distribution[\s\S]*?99%.*\n/, '');
  assert.throws(() => parseWrk(noLatency), /50% latency/);
  assert.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused'), /request count/);
});

test('latency units', () => {
  assert.equal(parseLatency('250.00us'), 0.25);
  assert.equal(parseLatency('3.5ms'), 3.5);
  assert.equal(parseLatency('1.00m'), 60_000);
  assert.throws(() => parseLatency('3 ms'));
});

test('wrk arguments carry every header and the path with its query string', () => {
  const args = wrkArgs({ url: 'http://127.0.0.1:1/a?b=1&c=2', threads: 2, connections: 64, durationS: 10, headers: ['Accept: */*', 'Cookie: s=1'] });
  assert.deepEqual(args, ['-t', '2', '-c', '64', '-d', '10s', '--latency', '-H', 'Accept: */*', '-H', 'Cookie: s=1', 'http://127.0.0.1:1/a?b=1&c=2']);
});
