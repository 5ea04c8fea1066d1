/**
 * Header rewriting between client and backend. Hop-by-hop headers (RFC 9110
 * §7.6.1, plus any named in Connection) never cross the proxy. Forwarding
 * headers are rebuilt, not trusted: from an untrusted peer, X-Forwarded-For
 * and Forwarded are replaced by the peer; from a trusted proxy, the peer is
 * appended to the chain it sent.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);
/**
 * Expectations are the proxy's to meet: Node answers `Expect: 100-continue`
 * itself (and 417 to any other), so the backend gets the body without it
 * (RFC 9110 §10.1.1).
 */
const MET_HERE = 'expect';
/** Rebuilt by us for the backend. */
const REBUILT = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded', 'x-real-ip']);

function connectionTokens(v: string | string[] | undefined): Set<string> | null {
  if (!v) return null;
  const s = Array.isArray(v) ? v.join(',') : v;
  const out = new Set<string>();
  for (const t of s.split(',')) {
    const n = t.trim().toLowerCase();
    if (n && n !== 'close' && n !== 'keep-alive' && n !== 'upgrade') out.add(n);
  }
  return out.size ? out : null;
}

export interface ForwardFacts {
  peerIp: string;
  peerTrusted: boolean;
  scheme: 'http' | 'https';
  host: string | undefined;
  requestIdHeader: string;
  requestId: string;
  /** Keep Upgrade/Connection for a WebSocket handshake. */
  upgrade?: boolean;
  /** Client headers never passed on (path/method override headers; names forward auth sets). Lower case. */
  strip?: ReadonlySet<string> | null;
  /** Headers set for the backend by access control (forward-auth identity headers). */
  extra?: Readonly<Record<string, string>> | null;
}

function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

/**
 * Builds the backend request headers as a flat [name, value, ...] array from
 * the client's raw headers (keeps duplicates and order, no object allocation).
 */
export function backendRequestHeaders(rawHeaders: readonly string[], headers: IncomingHttpHeaders, f: ForwardFacts): string[] {
  const drop = connectionTokens(headers.connection);
  const out: string[] = [];
  const ridName = f.requestIdHeader;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || REBUILT.has(lower) || lower === ridName) {
      if (f.upgrade && (lower === 'upgrade' || lower === 'connection')) out.push(name, rawHeaders[i + 1]);
      continue;
    }
    if (lower === MET_HERE || drop?.has(lower) || f.strip?.has(lower)) continue;
    // CGI, WSGI and PHP turn "X-Auth_User" into the same variable as "X-Auth-User".
    if (f.strip && lower.includes('_') && f.strip.has(lower.replace(/_/g, '-'))) continue;
    out.push(name, rawHeaders[i + 1]);
  }
  if (f.extra) for (const name in f.extra) out.push(name, f.extra[name]);
  const xff = headers['x-forwarded-for'];
  out.push('x-forwarded-for', f.peerTrusted && xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${f.peerIp}` : f.peerIp);
  const xfp = headers['x-forwarded-proto'];
  out.push('x-forwarded-proto', f.peerTrusted && typeof xfp === 'string' && xfp ? xfp : f.scheme);
  if (f.host) {
    const xfh = headers['x-forwarded-host'];
    out.push('x-forwarded-host', f.peerTrusted && typeof xfh === 'string' && xfh ? xfh : f.host);
  }
  let fwd = `for=${forwardedNode(f.peerIp)};proto=${f.scheme}`;
  // A token as RFC 7239 §4 allows bare; a port's ':' or an IPv6 literal's brackets need quotes.
  if (f.host && /^[A-Za-z0-9.-]+$/.test(f.host)) fwd += `;host=${f.host}`;
  else if (f.host) fwd += `;host="${f.host.replace(/["\\]/g, '')}"`;
  const prev = headers.forwarded;
  out.push('forwarded', f.peerTrusted && prev ? `${prev}, ${fwd}` : fwd);
  out.push(ridName, f.requestId);
  return out;
}

/** Response headers for the client: hop-by-hop removed; the request id added. */
export function clientResponseHeaders(headers: IncomingHttpHeaders, requestIdHeader: string, requestId: string): OutgoingHttpHeaders {
  const drop = connectionTokens(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || drop?.has(name)) continue;
    out[name] = headers[name];
  }
  out[requestIdHeader] = requestId;
  return out;
}
