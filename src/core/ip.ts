/**
 * IP addresses in one canonical text form, and CIDR matching: what the proxy
 * (trusted proxies, IP lists, blocks), policies and detection rules share.
 */
import ipaddr from 'ipaddr.js';

type Parsed = ipaddr.IPv4 | ipaddr.IPv6;

const normalized = new Map<string, string>();

/** Canonical text of an address: IPv4-mapped IPv6 becomes IPv4, IPv6 is compressed. */
export function normalizeIp(ip: string): string {
  // Socket peers repeat (keep-alive, a few proxies): remember answers, bounded.
  let n = normalized.get(ip);
  if (n === undefined) {
    n = normalizeIpUncached(ip);
    if (normalized.size > 10_000) normalized.clear();
    normalized.set(ip, n);
  }
  return n;
}

function normalizeIpUncached(ip: string): string {
  try {
    const a = ipaddr.parse(ip);
    if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) return (a as ipaddr.IPv6).toIPv4Address().toString();
    return a.toString();
  } catch {
    return ip;
  }
}

export function parseIp(ip: string): Parsed | null {
  try {
    const a = ipaddr.parse(ip);
    if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) return (a as ipaddr.IPv6).toIPv4Address();
    return a;
  } catch {
    return null;
  }
}

/**
 * A CIDR as [network, prefix length]; an IPv4-mapped IPv6 range
 * (::ffff:192.0.2.0/120) becomes the IPv4 range it denotes, because client
 * addresses are normalized to IPv4 before they are matched.
 */
export function parseRange(c: string): [Parsed, number] {
  if (!c.includes('/')) {
    const a = parseIp(c)!;
    return [a, a.kind() === 'ipv4' ? 32 : 128];
  }
  const [net, bits] = ipaddr.parseCIDR(c);
  if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) return [(net as ipaddr.IPv6).toIPv4Address(), bits - 96];
  return [net, bits];
}

/**
 * A dotted-quad IPv4 address in canonical form ("192.0.2.1", no leading
 * zeros) as an unsigned 32-bit number; -1 for anything else (IPv6, other
 * spellings), which then takes the general path.
 */
export function ipv4ToUint(s: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && part === 0) return -1; // leading zero: not canonical (octal in some parsers)
      part = part * 10 + (c - 48);
      if (part > 255) return -1;
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
}

export function createCidrMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  const ranges: [Parsed, number][] = cidrs.map(parseRange);
  if (!ranges.length) return () => false;
  // IPv4 ranges as (network, mask) numbers: canonical IPv4 addresses — nearly every client — match without parsing.
  const v4: [number, number][] = [];
  for (const [net, bits] of ranges) {
    if (net.kind() !== 'ipv4') continue;
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    v4.push([(ipv4ToUint(net.toString()) & mask) >>> 0, mask]);
  }
  // Other spellings and IPv6 repeat too (peers, a few proxies): remember answers (bounded).
  const cache = new Map<string, boolean>();
  return (ip: string) => {
    const n = ipv4ToUint(ip);
    if (n !== -1) {
      for (let i = 0; i < v4.length; i++) if (((n & v4[i][1]) >>> 0) === v4[i][0]) return true;
      return false;
    }
    let hit = cache.get(ip);
    if (hit !== undefined) return hit;
    const a = parseIp(ip);
    hit = false;
    if (a) {
      for (const [net, bits] of ranges) {
        if (net.kind() === a.kind() && a.match(net, bits)) {
          hit = true;
          break;
        }
      }
    }
    if (cache.size > 10_000) cache.clear();
    cache.set(ip, hit);
    return hit;
  };
}
