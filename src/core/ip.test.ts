import { test } from 'node:test';
import assert from 'node:assert/strict';
import ipaddr from 'ipaddr.js';
import { createCidrMatcher, ipv4ToUint, normalizeIp } from './ip.js';

test('ipv4ToUint reads canonical dotted quads only', () => {
  assert.equal(ipv4ToUint('0.0.0.0'), 0);
  assert.equal(ipv4ToUint('255.255.255.255'), 0xffffffff);
  assert.equal(ipv4ToUint('192.0.2.1'), 0xc0000201);
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', '1.2.3.', '::1', '1.2.3.4 ', 'a.b.c.d', '1.2.3.4/8']) assert.equal(ipv4ToUint(bad), -1, bad);
});

test('the CIDR matcher agrees with ipaddr.js on random addresses and ranges (IPv4 fast path, IPv6, mapped ranges)', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const ranges = ['10.0.0.0/8', '192.168.1.0/24', '203.0.113.7/32', '172.16.0.0/12', '0.0.0.0/0', '2001:db8::/32', '::ffff:198.51.100.0/120'];
  for (let k = 0; k < 20; k++) {
    const set = ranges.filter(() => rnd() < 0.4);
    const m = createCidrMatcher(set);
    for (let i = 0; i < 2000; i++) {
      const ip = rnd() < 0.8 ? [0, 0, 0, 0].map(() => Math.floor(rnd() * (rnd() < 0.5 ? 256 : 20)) + (rnd() < 0.3 ? 0 : 0)).map((x, j) => (j === 0 && rnd() < 0.5 ? [10, 192, 172, 203, 198][Math.floor(rnd() * 5)] : x)).join('.') : `2001:db8::${Math.floor(rnd() * 65535).toString(16)}`;
      const a = ipaddr.parse(normalizeIp(ip));
      const want = set.some((r) => {
        let [net, bits] = ipaddr.parseCIDR(r);
        if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress()) [net, bits] = [(net as ipaddr.IPv6).toIPv4Address(), bits - 96];
        return net.kind() === a.kind() && a.match(net, bits);
      });
      assert.equal(m(ip), want, `${ip} in ${set.join(',')}`);
    }
  }
  assert.equal(createCidrMatcher(['10.0.0.0/8'])('010.0.0.1'), false, 'non-canonical spellings take the general path');
});
