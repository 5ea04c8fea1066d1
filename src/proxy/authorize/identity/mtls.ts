/**
 * Client certificates. The TLS listener asks for a certificate and verifies
 * it against `tls.client_ca` but does not abort the handshake on failure
 * (rejectUnauthorized: false), so that a missing or untrusted certificate is
 * refused here, with an audit event saying why, instead of as a bare TLS
 * alert nobody records.
 *
 * All requests on a connection share its certificate, so the outcome is
 * computed once per socket and kept on it.
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { MtlsIdentityConfig } from '../../../config/access-schema.js';
import type { AuthRequest, Identity, IdentityBuildContext, IdentityMethod, IdentityOutcome } from './types.js';
import { NONE, fail } from './util.js';

/** "AB:CD:.." or "abcd.." → "abcd..". */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/:/g, '').toLowerCase();
}

type Dn = Record<string, string | string[] | undefined>;

function first(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? (v[0] ?? null) : v;
}

function all(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** The distinguished name as "CN=alice, OU=eng, O=Example" (order as in the certificate). */
function dnString(dn: Dn | undefined): string {
  if (dn === undefined) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(dn)) for (const x of all(v)) parts.push(`${k}=${x}`);
  return parts.join(', ');
}

export interface SanEntry {
  type: string;
  value: string;
}

/**
 * Parses Node's `subjectaltname` string, e.g.
 * `DNS:a.example, email:x@example.com, URI:spiffe://td/x`. Node quotes a
 * value as a JSON string when it contains a comma, quote or other special
 * characters, so quoted values are decoded rather than split.
 */
export function parseSubjectAltName(s: string | undefined): SanEntry[] {
  const out: SanEntry[] = [];
  if (!s) return out;
  let i = 0;
  while (i < s.length) {
    while (s[i] === ' ') i++;
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    const type = s.slice(i, colon);
    i = colon + 1;
    let value: string;
    if (s[i] === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(s.slice(i, j + 1)) as string;
      } catch {
        value = s.slice(i + 1, j);
      }
      i = j + 1;
      const comma = s.indexOf(',', i);
      i = comma < 0 ? s.length : comma + 1;
    } else {
      const comma = s.indexOf(', ', i);
      const end = comma < 0 ? s.length : comma;
      value = s.slice(i, end);
      i = comma < 0 ? s.length : comma + 2;
    }
    out.push({ type, value });
  }
  return out;
}

const SAN_TYPE = { san_email: 'email', san_dns: 'DNS', san_uri: 'URI' } as const;

export function createMtlsMethod(cfg: MtlsIdentityConfig, _ctx: IdentityBuildContext): IdentityMethod {
  let allowed: Set<string> | null = null;
  if (cfg.allowed_fingerprints !== undefined) {
    allowed = new Set();
    cfg.allowed_fingerprints.forEach((fp, i) => {
      const n = normalizeFingerprint(fp.trim());
      if (!/^[0-9a-f]{64}$/.test(n)) throw new Error(`mtls identity "${cfg.id}": allowed_fingerprints[${i}] is not a SHA-256 fingerprint (64 hex digits, colons optional)`);
      allowed!.add(n);
    });
  }
  // Per method instance, so two mtls methods (or a reloaded one) with different settings never share a cached outcome.
  const slot = Symbol(`tollgate.mtls.${cfg.id}`);

  function evaluate(sock: TLSSocket): IdentityOutcome {
    const cert: PeerCertificate | null | undefined = sock.getPeerCertificate(true);
    if (!cert || !cert.raw || Object.keys(cert).length === 0) return NONE;
    const fp = normalizeFingerprint(cert.fingerprint256 ?? '');
    const subject = dnString(cert.subject);
    const who = `subject "${subject}", sha256 ${fp}`;
    if (!sock.authorized) {
      const e = sock.authorizationError as unknown as { code?: string; message?: string } | string | null | undefined;
      const why = typeof e === 'string' ? e : (e?.code ?? e?.message ?? 'not verified');
      return fail('untrusted_certificate', `client certificate not trusted (${why}): ${who}`);
    }
    if (allowed !== null && !allowed.has(fp)) return fail('refused', `client certificate is not in allowed_fingerprints: ${who}`);

    const san = parseSubjectAltName(cert.subjectaltname);
    let userId: string | null;
    if (cfg.user_from === 'subject_cn') userId = first((cert.subject as Dn | undefined)?.CN);
    else if (cfg.user_from === 'fingerprint') userId = fp;
    else {
      const t = SAN_TYPE[cfg.user_from];
      userId = san.find((x) => x.type === t)?.value ?? null;
    }
    if (!userId) return fail('malformed', `client certificate has no ${cfg.user_from.replace('_', ' ')} for the user id: ${who}`);

    const identity: Identity = {
      userId,
      userName: first((cert.subject as Dn | undefined)?.CN) ?? null,
      groups: cfg.groups_from_ou ? all((cert.subject as Dn | undefined)?.OU) : [],
      claims: {
        subject,
        subject_cn: first((cert.subject as Dn | undefined)?.CN),
        issuer: dnString(cert.issuer),
        issuer_cn: first((cert.issuer as Dn | undefined)?.CN),
        san: san.map((x) => `${x.type}:${x.value}`),
        fingerprint256: fp,
        serial: cert.serialNumber ?? null,
        not_after: cert.valid_to ?? null,
      },
    };
    return { kind: 'ok', identity };
  }

  function authenticate(req: AuthRequest): IdentityOutcome {
    const sock = req.socket as TLSSocket & Record<symbol, IdentityOutcome | undefined>;
    if (sock.encrypted !== true || typeof sock.getPeerCertificate !== 'function') return NONE;
    let outcome = sock[slot];
    if (outcome === undefined) {
      outcome = evaluate(sock);
      sock[slot] = outcome;
    }
    return outcome;
  }

  return {
    id: cfg.id,
    type: 'mtls',
    challenge: null,
    authenticate,
    close: async () => {},
  };
}
