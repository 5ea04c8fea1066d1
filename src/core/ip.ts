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

export function createCidrMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  const ranges: [Parsed, number][] = cidrs.map(parseRange);
  if (!ranges.length) return () => false;
  // Peer addresses repeat: remember answers (bounded).
  const cache = new Map<string, boolean>();
  return (ip: string) => {
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
