/**
 * Client IP resolution through trusted proxies. The peer is the only address
 * we know to be true; X-Forwarded-For / Forwarded are believed only when the
 * peer is a configured trusted proxy, and then only up to the first hop that
 * is not trusted (walking right to left), so a client cannot spoof its
 * address by sending its own X-Forwarded-For.
 */
import { createCidrMatcher, normalizeIp, parseIp } from '../../core/ip.js';

export interface ClientAddress {
  /** The resolved client address. */
  ip: string;
  /** True when ip came from a forwarding header rather than the socket. */
  forwarded: boolean;
  /** The socket peer is a trusted proxy (its forwarding headers are extended, not replaced). */
  peerTrusted: boolean;
}

export type ClientIpResolver = (peerIp: string, xff: string | undefined, forwarded: string | undefined) => ClientAddress;

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

export function createClientIpResolver(trustedProxies: readonly string[]): { resolve: ClientIpResolver; isTrusted: (ip: string) => boolean } {
  const isTrusted = createCidrMatcher(trustedProxies);
  const resolve: ClientIpResolver = (peerIp, xff, forwarded) => {
    const peer = normalizeIp(peerIp);
    if (!isTrusted(peer)) return { ip: peer, forwarded: false, peerTrusted: false };
    let chain: string[] | null = null;
    if (xff) chain = xff.split(',').map(stripPort);
    else if (forwarded) chain = parseForwardedFor(forwarded);
    if (!chain || !chain.length) return { ip: peer, forwarded: false, peerTrusted: true };
    let client = peer;
    for (let i = chain.length - 1; i >= 0; i--) {
      const a = parseIp(chain[i]);
      // A malformed hop ends the walk: nothing left of it can be believed.
      if (!a) break;
      client = a.toString();
      if (!isTrusted(client)) break;
    }
    return { ip: client, forwarded: client !== peer, peerTrusted: true };
  };
  return { resolve, isTrusted };
}
