/**
 * Client IP resolution through trusted proxies. The peer is the only address
 * we know to be true; X-Forwarded-For / Forwarded are believed only when the
 * peer is a configured trusted proxy, and then only up to the first hop that
 * is not trusted (walking right to left), so a client cannot spoof its
 * address by sending its own X-Forwarded-For.
 */
import ipaddr from 'ipaddr.js';

type Parsed = ipaddr.IPv4 | ipaddr.IPv6;

export interface ClientAddress {
  /** The resolved client address. */
  ip: string;
  /** True when ip came from a forwarding header rather than the socket. */
  forwarded: boolean;
  /** The socket peer is a trusted proxy (its forwarding headers are extended, not replaced). */
  peerTrusted: boolean;
}

export type ClientIpResolver = (peerIp: string, xff: string | undefined, forwarded: string | undefined) => ClientAddress;

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

/** Strips a port and brackets from an address as found in forwarding headers: "1.2.3.4:80", "[::1]:80", "::1". */
export function stripPort(s: string): string {
  s = s.trim();
  if (s.startsWith('"') && s.endsWith('"')) s = s.slice(1, -1);
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    return end > 0 ? s.slice(1, end) : s;
  }
  const colon = s.indexOf(':');
  if (colon !== -1 && colon === s.lastIndexOf(':')) return s.slice(0, colon); // IPv4 with port
  return s;
}

function parse(ip: string): Parsed | null {
  try {
    const a = ipaddr.parse(ip);
    if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) return (a as ipaddr.IPv6).toIPv4Address();
    return a;
  } catch {
    return null;
  }
}

/** Addresses from `Forwarded: for=...` elements (RFC 7239), in order. */
export function parseForwardedFor(header: string): string[] {
  const out: string[] = [];
  for (const element of header.split(',')) {
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1) continue;
      if (pair.slice(0, eq).trim().toLowerCase() === 'for') out.push(stripPort(pair.slice(eq + 1)));
    }
  }
  return out;
}

/**
 * A CIDR as [network, prefix length]; an IPv4-mapped IPv6 range
 * (::ffff:192.0.2.0/120) becomes the IPv4 range it denotes, because client
 * addresses are normalized to IPv4 before they are matched.
 */
export function parseRange(c: string): [Parsed, number] {
  if (!c.includes('/')) {
    const a = parse(c)!;
    return [a, a.kind() === 'ipv4' ? 32 : 128];
  }
  const [net, bits] = ipaddr.parseCIDR(c);
  if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) return [(net as ipaddr.IPv6).toIPv4Address(), bits - 96];
  return [net, bits];
}

export function createTrustMatcher(cidrs: readonly string[]): (ip: string) => boolean {
  const ranges: [Parsed, number][] = cidrs.map(parseRange);
  if (!ranges.length) return () => false;
  // Peer addresses repeat: remember answers (bounded).
  const cache = new Map<string, boolean>();
  return (ip: string) => {
    let hit = cache.get(ip);
    if (hit !== undefined) return hit;
    const a = parse(ip);
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

export function createClientIpResolver(trustedProxies: readonly string[]): { resolve: ClientIpResolver; isTrusted: (ip: string) => boolean } {
  const isTrusted = createTrustMatcher(trustedProxies);
  const resolve: ClientIpResolver = (peerIp, xff, forwarded) => {
    const peer = normalizeIp(peerIp);
    if (!isTrusted(peer)) return { ip: peer, forwarded: false, peerTrusted: false };
    let chain: string[] | null = null;
    if (xff) chain = xff.split(',').map(stripPort);
    else if (forwarded) chain = parseForwardedFor(forwarded);
    if (!chain || !chain.length) return { ip: peer, forwarded: false, peerTrusted: true };
    let client = peer;
    for (let i = chain.length - 1; i >= 0; i--) {
      const a = parse(chain[i]);
      // A malformed hop ends the walk: nothing left of it can be believed.
      if (!a) break;
      client = a.toString();
      if (!isTrusted(client)) break;
    }
    return { ip: client, forwarded: client !== peer, peerTrusted: true };
  };
  return { resolve, isTrusted };
}
