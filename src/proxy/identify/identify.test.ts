import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClientIpResolver, parseForwardedFor, stripPort } from './client-ip.js';
import { resolveRequestId, traceIdOf } from './correlation.js';

test('X-Forwarded-For from an untrusted peer is ignored', () => {
  const { resolve } = createClientIpResolver(['10.0.0.0/8']);
  assert.deepEqual(resolve('203.0.113.9', '1.2.3.4', undefined), { ip: '203.0.113.9', forwarded: false, peerTrusted: false });
});

test('through trusted proxies, the right-most untrusted hop is the client', () => {
  const { resolve } = createClientIpResolver(['10.0.0.0/8', '127.0.0.1']);
  // the client spoofed 6.6.6.6 on the left; 198.51.100.7 reached our edge proxy 10.1.1.1
  assert.deepEqual(resolve('127.0.0.1', '6.6.6.6, 198.51.100.7, 10.1.1.1', undefined), { ip: '198.51.100.7', forwarded: true, peerTrusted: true });
  assert.equal(resolve('127.0.0.1', '10.2.2.2, 10.1.1.1', undefined).ip, '10.2.2.2', 'all trusted: the left-most');
  assert.equal(resolve('::ffff:127.0.0.1', '198.51.100.7', undefined).ip, '198.51.100.7', 'IPv4-mapped peer');
  assert.equal(resolve('127.0.0.1', 'garbage, 198.51.100.7', undefined).ip, '198.51.100.7');
  assert.equal(resolve('127.0.0.1', '198.51.100.7, garbage', undefined).ip, '127.0.0.1', 'a malformed hop ends the walk');
  assert.equal(resolve('127.0.0.1', '[2001:db8::1]:443', undefined).ip, '2001:db8::1');
});

test('Forwarded (RFC 7239) is used when X-Forwarded-For is absent', () => {
  const { resolve } = createClientIpResolver(['127.0.0.1']);
  assert.equal(resolve('127.0.0.1', undefined, 'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"').ip, '2001:db8:cafe::17');
  assert.deepEqual(parseForwardedFor('For="_gazonk", for=192.0.2.43:80'), ['_gazonk', '192.0.2.43']);
  assert.equal(stripPort('192.0.2.43:80'), '192.0.2.43');
  assert.equal(stripPort('2001:db8::1'), '2001:db8::1');
});

test('IPv6 trusted ranges', () => {
  const { resolve, isTrusted } = createClientIpResolver(['fd00::/8']);
  assert.ok(isTrusted('fd12::1'));
  assert.equal(resolve('fd12::1', '2001:db8::5', undefined).ip, '2001:db8::5');
});

test('request ids: sane ones are kept, others replaced', () => {
  assert.deepEqual(resolveRequestId('abc-123'), { id: 'abc-123', generated: false });
  assert.equal(resolveRequestId(undefined).generated, true);
  assert.equal(resolveRequestId('has space').generated, true);
  assert.equal(resolveRequestId('x'.repeat(200)).generated, true);
});

test('traceparent: trace id of valid headers only', () => {
  assert.equal(traceIdOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(traceIdOf('00-00000000000000000000000000000000-00f067aa0ba902b7-01'), null);
  assert.equal(traceIdOf('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'), null);
  assert.equal(traceIdOf('00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'), null, 'upper case is invalid');
  assert.equal(traceIdOf('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future'), '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(traceIdOf(undefined), null);
});
