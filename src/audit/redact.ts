/**
 * Redaction: keeps secrets out of audit events while keeping what an auditor
 * needs (which auth scheme, which cookies, which parameters were sent).
 *
 * Built like Caddy's logging filters: small pure filters, each one a plain
 * function, composed once from config by createRedactor(). The composition is
 * done at config (re)load so the per-request work is a few property lookups
 * and, for the query, one regex test on the common path: this runs for every
 * request (~30k req/s on two cores), so it must not split or allocate when
 * there is nothing to hide.
 *
 * The rule everywhere: when in doubt, redact. A filter that cannot parse a
 * value returns "REDACTED" rather than the value.
 */
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import ipaddr from 'ipaddr.js';
import type { AuditConfig } from '../config/schema.js';

/** What replaces a secret value. */
export const REDACTED = 'REDACTED';

/**
 * Headers that are always redacted when recorded, whatever the config says.
 * Recording them is still allowed (the scheme and cookie names are useful).
 */
export const ALWAYS_REDACTED_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];

/** Header values as Node gives them (lower-case keys); numbers from OutgoingHttpHeaders are accepted too. */
export type HeaderBag = IncomingHttpHeaders | Record<string, string | string[] | number | undefined>;

/** A header filter: receives the raw value (arrays for repeated headers) and returns what is recorded. */
export type HeaderFilter = (value: string | string[]) => string;

export interface Redactor {
  /**
   * The configured request (`req.<name>`) and response (`res.<name>`) headers,
   * filtered; null when none of them was present. Keys of the bags must be
   * lower-case, as Node's `req.headers` and `res.getHeaders()` are.
   */
  headers(reqHeaders: HeaderBag | null | undefined, resHeaders: HeaderBag | null | undefined): Record<string, string> | null;
  /** The raw query (without `?`) with secret parameter values replaced; null when empty or absent. */
  query: QueryFilter;
}

export type RedactConfig = AuditConfig['redact'] & { record_headers: AuditConfig['record_headers'] };

// ---------------------------------------------------------------------------
// Header filters

const joinValues = (value: string | string[]): string => (typeof value === 'string' ? value : value.join(', '));

/** Records the value as received; repeated headers joined with ", ". */
export const keepFilter: HeaderFilter = joinValues;

/** Replaces any non-empty value with "REDACTED" (an empty value hides nothing and says the header was sent empty). */
export const redactFilter: HeaderFilter = (value) => (joinValues(value) === '' ? '' : REDACTED);

/**
 * Authentication schemes that are kept. An allowlist, not "the first word",
 * because some clients send a bare secret with a space in it, and its first
 * word would then be recorded as the "scheme".
 */
const AUTH_SCHEMES = new Set([
  'basic', 'bearer', 'digest', 'dpop', 'hoba', 'mutual', 'negotiate', 'ntlm', 'privatetoken', 'scram-sha-1', 'scram-sha-256', 'vapid',
  'aws4-hmac-sha256', 'token', 'apikey', 'api-key', 'oauth', 'gnap', 'concealed', 'sharedkey', 'sharedaccesssignature', 'signature', 'hmac',
]);

/** `Bearer abc` → `Bearer REDACTED`: the scheme tells an auditor how the client authenticated and is not secret. */
export const authorizationFilter: HeaderFilter = (value) => {
  const parts = typeof value === 'string' ? [value] : value;
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const v = parts[i].trim();
    let r: string;
    if (v === '') r = '';
    else {
      const sp = v.search(/[ \t]/);
      const scheme = sp === -1 ? '' : v.slice(0, sp);
      r = scheme !== '' && AUTH_SCHEMES.has(scheme.toLowerCase()) ? `${scheme} ${REDACTED}` : REDACTED;
    }
    out = i === 0 ? r : `${out}, ${r}`;
  }
  return out;
};

/** A cookie name is an RFC 6265 token; anything else may be part of a value and is not kept. */
const COOKIE_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function redactCookiePair(pair: string): string {
  const eq = pair.indexOf('=');
  if (eq === -1) return REDACTED; // `Cookie: abc` is a value with an empty name
  const cname = pair.slice(0, eq).trim();
  return COOKIE_NAME_RE.test(cname) ? `${cname}=${REDACTED}` : REDACTED;
}

/** `Cookie: session=abc; theme=dark` → `session=REDACTED; theme=REDACTED`: which cookies were sent, not their values. */
export const cookieFilter: HeaderFilter = (value) => {
  // HTTP/2 clients may send several cookie headers; they form one list.
  const joined = typeof value === 'string' ? value : value.join('; ');
  let out = '';
  for (const piece of joined.split(';')) {
    const p = piece.trim();
    if (p === '') continue;
    out = out === '' ? redactCookiePair(p) : `${out}; ${redactCookiePair(p)}`;
  }
  return out;
};

/**
 * `Set-Cookie: session=abc; Path=/; HttpOnly` → `session=REDACTED`: the name
 * of each cookie set. Attributes are dropped rather than parsed, so nothing
 * from a malformed header can slip through.
 */
export const setCookieFilter: HeaderFilter = (value) => {
  const parts = typeof value === 'string' ? [value] : value;
  let out = '';
  for (const v of parts) {
    if (v.trim() === '') continue;
    const semi = v.indexOf(';');
    const r = redactCookiePair((semi === -1 ? v : v.slice(0, semi)).trim());
    out = out === '' ? r : `${out}, ${r}`;
  }
  return out;
};

/**
 * The filter for one header name: specific filters for credentials and
 * cookies, plain redaction for the other always-redacted and configured names,
 * otherwise the value as is.
 */
export function headerFilterFor(name: string, extraRedacted: ReadonlySet<string> = new Set()): HeaderFilter {
  const n = name.toLowerCase();
  switch (n) {
    case 'authorization':
    case 'proxy-authorization':
      return authorizationFilter;
    case 'cookie':
      return cookieFilter;
    case 'set-cookie':
      return setCookieFilter;
    default:
      return ALWAYS_REDACTED_HEADERS.includes(n) || extraRedacted.has(n) ? redactFilter : keepFilter;
  }
}

// ---------------------------------------------------------------------------
// Query filter

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Decodes a parameter name the way form decoders do ("+" is a space); never throws. */
function decodeName(raw: string): string {
  if (raw.indexOf('%') === -1 && raw.indexOf('+') === -1) return raw;
  const s = raw.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(s);
  } catch {
    // Malformed escapes elsewhere in the name: decode the well-formed ones byte by byte.
    return s.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
}

/** A compiled query filter: the query with secret values replaced, null for an empty one. */
export interface QueryFilter {
  (rawQuery: string | null | undefined): string | null;
  /**
   * The filter's pre-check, with no false negatives: a query it does not
   * match is returned unchanged. Null when no names are configured. Bulk
   * loaders that parse inside the store (store/duckdb/bulk-log.ts) use it to
   * hand every query that might hold a secret to this filter.
   */
  readonly suspect: RegExp | null;
}

/**
 * Compiles a query filter for these parameter names (case-insensitive).
 *
 * Parameters are separated by "&"; ";" and "?" also start a parameter name,
 * because some backends split on ";" and a nested URL in a value
 * (`next=/cb?token=abc`) carries its own parameters. A matched value runs to
 * the next "&" (it may itself contain ";" or "?"), so the redaction errs on
 * the side of hiding more. Everything that is not a secret value is kept byte
 * for byte, in order.
 */
export function createQueryFilter(names: readonly string[]): QueryFilter {
  const set = new Set(names.map((n) => n.toLowerCase()).filter((n) => n !== ''));
  if (set.size === 0) return Object.assign((q: string | null | undefined) => (q ? q : null), { suspect: null });
  // Longest possible spelling of a configured name: every UTF-8 byte as "%XX" (plus room for brackets around it).
  let maxRawLen = 0;
  for (const n of set) maxRawLen = Math.max(maxRawLen, Buffer.byteLength(n) * 3);
  // Cheap pre-check with no false negatives: a match needs either a configured
  // name as a substring (unencoded names), or a "%" or "+" in some name
  // followed by "=" (encoded names). Most queries fail both and are returned
  // as they are, without being split. The second branch excludes "%+" before
  // its first "%"/"+" so it stays linear on hostile input like "&%%%%…".
  const maybe = new RegExp(`${[...set].map(escapeRe).join('|')}|(?:^|[&;?])[^=&;?%+]*[%+][^=&;?]*=`, 'i');

  // Array and nested forms name the parameter too: PHP, Rails and qs read `token[]=…`,
  // `token[0]=…` as token and `user[password]=…` as a password, so any of their parts counts.
  const matches = (raw: string): boolean => {
    // Longer names are not decoded (cost), except those that may nest a configured name in brackets.
    if (raw.length === 0 || (raw.length > maxRawLen && raw.indexOf('[') === -1 && !/%5b/i.test(raw)) || raw.length > 64 * 1024) return false;
    const name = decodeName(raw).toLowerCase();
    if (set.has(name)) return true;
    const open = name.indexOf('[');
    if (open < 0) return false;
    if (set.has(name.slice(0, open))) return true;
    for (const m of name.slice(open).matchAll(/\[([^\]]*)\]/g)) if (set.has(m[1])) return true;
    return false;
  };

  const filter = (q: string | null | undefined): string | null => {
    if (!q) return null;
    if (!maybe.test(q)) return q;
    const n = q.length;
    let out = '';
    let copied = 0; // q[0, copied) is already in out
    let changed = false;
    let seg = 0; // start of the current "&" segment
    while (seg <= n) {
      let segEnd = q.indexOf('&', seg);
      if (segEnd === -1) segEnd = n;
      // Walk the pieces of the segment; a piece starts at the segment start or after ";" or "?".
      let piece = seg;
      let eq = -1;
      for (let i = seg; i <= segEnd; i++) {
        const c = i < segEnd ? q.charCodeAt(i) : -1;
        if (c === 61 /* = */) {
          if (eq === -1) {
            eq = i;
            if (matches(q.slice(piece, i))) {
              if (i + 1 < segEnd) {
                out += q.slice(copied, i + 1) + REDACTED;
                copied = segEnd;
                changed = true;
              }
              break; // the value runs to the end of the segment
            }
          }
        } else if (c === 59 /* ; */ || c === 63 /* ? */ || c === -1) {
          piece = i + 1;
          eq = -1;
        }
      }
      seg = segEnd + 1;
    }
    return changed ? out + q.slice(copied) : q;
  };
  return Object.assign(filter, { suspect: maybe });
}

/**
 * A URL (a Referer) with its query's secret parameters redacted by `filter`;
 * the rest as it is. A link to `/cb?access_token=…` is as secret as the query.
 */
export function redactUrlQuery(url: string, filter: QueryFilter): string {
  const q = url.indexOf('?');
  if (q === -1 || filter.suspect === null) return url;
  const hash = url.indexOf('#', q);
  const query = hash === -1 ? url.slice(q + 1) : url.slice(q + 1, hash);
  const out = filter(query);
  return out === query || out === null ? url : url.slice(0, q + 1) + out + (hash === -1 ? '' : url.slice(hash));
}

// ---------------------------------------------------------------------------
// The redactor

interface CompiledHeader {
  name: string;
  key: string;
  filter: HeaderFilter;
}

function compileHeaders(names: readonly string[], prefix: string, extraRedacted: ReadonlySet<string>): CompiledHeader[] {
  const seen = new Set<string>();
  const out: CompiledHeader[] = [];
  for (const raw of names) {
    const name = raw.trim().toLowerCase();
    if (name === '' || seen.has(name)) continue;
    seen.add(name);
    out.push({ name, key: prefix + name, filter: headerFilterFor(name, extraRedacted) });
  }
  return out;
}

function pick(bag: HeaderBag | null | undefined, list: readonly CompiledHeader[], out: Record<string, string> | null): Record<string, string> | null {
  if (!bag) return out;
  for (let i = 0; i < list.length; i++) {
    const h = list[i];
    const v: unknown = bag[h.name];
    // typeof checks rather than `=== undefined`: a plain-object bag answers
    // "constructor" or "__proto__" from its prototype.
    let value: string;
    if (typeof v === 'string' || Array.isArray(v)) value = h.filter(v as string | string[]);
    else if (typeof v === 'number') value = h.filter(String(v));
    else continue;
    (out ??= {})[h.key] = value;
  }
  return out;
}

/** Compiles the configured redaction once; the returned functions are cheap per request. */
export function createRedactor(cfg: RedactConfig): Redactor {
  const extra = new Set(cfg.headers.map((h) => h.trim().toLowerCase()));
  const req = compileHeaders(cfg.record_headers.request, 'req.', extra);
  const res = compileHeaders(cfg.record_headers.response, 'res.', extra);
  const query = createQueryFilter(cfg.query_params);
  return {
    headers: (reqHeaders, resHeaders) => pick(resHeaders, res, pick(reqHeaders, req, null)),
    query,
  };
}

// ---------------------------------------------------------------------------
// Pseudonymization helpers (for retention, erasure and exports)

function checkPrefix(p: number, max: number, what: string): void {
  if (!Number.isInteger(p) || p < 0 || p > max) throw new RangeError(`${what} prefix must be an integer 0-${max}, got ${p}`);
}

function maskBytes(bytes: number[], prefix: number): number[] {
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(8, Math.max(0, prefix - i * 8));
    bytes[i] &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return bytes;
}

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Truncates an address to its network: `203.0.113.57` → `203.0.113.0` (/24),
 * `2001:db8:1:2:3:4:5:6` → `2001:db8:1:2::` (/64). IPv4-mapped IPv6
 * (`::ffff:203.0.113.57`, as dual-stack sockets report) is masked and
 * returned as IPv4. Returns null for anything that is not an IP address, so a
 * host name or garbage is never passed through unmasked.
 */
export function maskIp(ip: string, v4Prefix = 24, v6Prefix = 64): string | null {
  checkPrefix(v4Prefix, 32, 'IPv4');
  checkPrefix(v6Prefix, 128, 'IPv6');
  const m = IPV4_RE.exec(ip);
  if (m) {
    const bytes = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
    if (bytes.some((b) => b > 255)) return null;
    return maskBytes(bytes, v4Prefix).join('.');
  }
  if (!ipaddr.IPv6.isValid(ip)) return null;
  const addr = ipaddr.IPv6.parse(ip);
  if (addr.isIPv4MappedAddress()) return maskBytes(addr.toIPv4Address().toByteArray(), v4Prefix).join('.');
  return new ipaddr.IPv6(maskBytes(addr.toByteArray(), v6Prefix)).toRFC5952String();
}

/**
 * A stable pseudonym for a user id, key or IP: HMAC-SHA256 with a secret key,
 * hex, first 16 characters (64 bits: collisions are negligible at audit-trail
 * sizes, and without the key the value cannot be recovered by guessing).
 */
export function hashValue(value: string, key: string | Buffer): string {
  return createHmac('sha256', key).update(value).digest('hex').slice(0, 16);
}
