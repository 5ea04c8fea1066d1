/**
 * Request-target normalization. The path a policy matches and the path the
 * backend receives must be the same path, or a request can be judged as one
 * resource and served as another ("/public/..%2fadmin", "/ADMIN", "/admin;x").
 * So the target is brought to one canonical form once, here, before routing:
 * ambiguous encodings are refused outright, everything else is rewritten so
 * that no later decoding step (in the backend or its framework) can turn it
 * into a different path.
 *
 * Input is a JavaScript string of code points. Node's HTTP/1 parser refuses
 * raw bytes >= 0x80 in the request line, so raw non-ASCII only arrives from
 * callers that decoded the target as Unicode (tests, HTTP/2); it is encoded as
 * UTF-8 like a browser would.
 */
import { isIPv6 } from 'node:net';

export interface PathOptions {
  semicolons: 'reject' | 'strip' | 'keep';
  caseSensitive: boolean;
}

export type NormalizedTarget =
  | { ok: true; path: string; query: string | null; matchPath: string; changed: boolean }
  | { ok: false; reason: string };

/**
 * Paths made only of pchar characters that need no decoding, with no empty
 * segment and no segment starting with "." (so no dot-segment and no "//"),
 * and an optional trailing "/". Anything else takes the slow path. No "%"
 * and no ";" are in the classes. The segments cannot overlap ("/" starts each
 * one and is not in the classes), so the test is linear.
 */
const FAST_PATH = /^(?:\/[A-Za-z0-9_~!$&'()*+,=:@-][A-Za-z0-9._~!$&'()*+,=:@-]*)*\/?$/;

// Classes of ASCII characters in a path (the "/" separators included).
const C_ENCODE = 0; // outside pchar: percent-encoded on output
const C_PCHAR = 1; // sub-delims, ":", "@", "/": kept as they are
const C_UNRESERVED = 2; // ALPHA / DIGIT / "-" / "." / "_" / "~": an escape of one is decoded
const ASCII_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9._~-]/.test(ch)) ASCII_CLASS[c] = C_UNRESERVED;
  else if ("!$&'()*+,;=:@/".includes(ch)) ASCII_CLASS[c] = C_PCHAR;
  else ASCII_CLASS[c] = C_ENCODE;
}

const HEX = '0123456789ABCDEF';
const DOUBLE_ENCODED = /%25[0-9A-Fa-f]{2}/;
// fatal: refuses invalid sequences, overlong forms and encoded surrogates
// instead of substituting U+FFFD, which would hide them.
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function byteHex(b: number): string {
  return HEX[b >> 4] + HEX[b & 15];
}

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/** Normalizes an origin-form request target (it starts with "/"). */
export function normalizeTarget(target: string, opts: PathOptions): NormalizedTarget {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 || q === target.length - 1 ? null : target.slice(q + 1);

  if (FAST_PATH.test(path)) {
    return { ok: true, path, query, matchPath: opts.caseSensitive ? path : path.toLowerCase(), changed: false };
  }

  // Steps 1 and 2: validate and canonicalize the characters.
  const canon = canonicalize(path);
  if (typeof canon !== 'string') return canon;

  // Steps 3 to 5: parameters, repeated slashes, dot-segments.
  let out = canon;
  let matchOut = canon;
  const hasParams = canon.includes(';');
  if (hasParams && opts.semicolons === 'reject') return fail('path parameter (";") in path');
  // Some backends decode before they split off parameters: an encoded ";" is as ambiguous as a raw one.
  if (opts.semicolons === 'reject' && canon.includes('%3B')) return fail('encoded ";" (%3B) in path');
  if (hasParams || canon.includes('//') || canon.includes('/.')) {
    const r = resolveSegments(canon, opts.semicolons === 'keep' ? 'keep' : 'strip');
    out = r.path;
    matchOut = r.matchPath;
  }

  return { ok: true, path: out, query, matchPath: opts.caseSensitive ? matchOut : matchOut.toLowerCase(), changed: out !== path };
}

/**
 * Refuses what cannot be made unambiguous and returns the path with escapes of
 * unreserved characters decoded, other escapes in upper case and characters
 * outside pchar encoded.
 */
function canonicalize(path: string): string | { ok: false; reason: string } {
  const n = path.length;
  let out = '';
  let runStart = 0; // start of the pending run of characters copied as they are
  let sawEncodedPercent = false;
  let i = 0;
  while (i < n) {
    const c = path.charCodeAt(i);
    if (c < 0x80 && ASCII_CLASS[c] !== C_ENCODE) {
      i++;
      continue;
    }
    if (c === 0x25 /* % */) {
      out += path.slice(runStart, i);
      // A run of consecutive escapes is decoded as one byte sequence, so a
      // UTF-8 character split over several escapes is checked whole.
      const bytes: number[] = [];
      let j = i;
      let nonAscii = false;
      while (j < n && path.charCodeAt(j) === 0x25) {
        const h1 = hexValue(path.charCodeAt(j + 1));
        const h2 = hexValue(path.charCodeAt(j + 2));
        if (h1 < 0 || h2 < 0) return fail(`invalid percent-encoding ${JSON.stringify(path.slice(j, j + 3))} in path`);
        const b = h1 * 16 + h2;
        const esc = '%' + byteHex(b);
        if (b === 0x00) return fail('encoded NUL (%00) in path');
        if (b < 0x20 || b === 0x7f) return fail(`encoded control character (${esc}) in path`);
        if (b === 0x2f) return fail('encoded "/" (%2F) in path');
        if (b === 0x5c) return fail('encoded "\\" (%5C) in path');
        if (b === 0x25) sawEncodedPercent = true;
        if (b >= 0x80) nonAscii = true;
        bytes.push(b);
        j += 3;
      }
      if (nonAscii) {
        try {
          UTF8.decode(Uint8Array.from(bytes));
        } catch {
          return fail(`percent-encoded bytes ${JSON.stringify(path.slice(i, j).toUpperCase())} are not valid UTF-8 (invalid, overlong or surrogate encoding) in path`);
        }
      }
      for (const b of bytes) out += b < 0x80 && ASCII_CLASS[b] === C_UNRESERVED ? String.fromCharCode(b) : '%' + byteHex(b);
      i = j;
      runStart = i;
      continue;
    }
    if (c === 0x5c) return fail('backslash ("\\") in path');
    if (c === 0x00) return fail('NUL in path');
    if (c < 0x20 || c === 0x7f) return fail(`control character 0x${byteHex(c)} in path`);
    out += path.slice(runStart, i);
    if (c < 0x80) {
      out += '%' + byteHex(c);
      i++;
    } else {
      // A run of non-ASCII characters, encoded as UTF-8. encodeURIComponent
      // throws on a lone surrogate, which has no UTF-8 form.
      let j = i + 1;
      while (j < n && path.charCodeAt(j) >= 0x80) j++;
      try {
        out += encodeURIComponent(path.slice(i, j));
      } catch {
        return fail('unpaired UTF-16 surrogate in path');
      }
      i = j;
    }
    runStart = i;
  }
  out += path.slice(runStart);
  // "%25" followed by two hex digits is decoded into an escape by a backend
  // that decodes twice. Checked on the output so that "%25%32%65" (which
  // becomes "%252e" once its unreserved escapes are decoded) is caught too.
  if (sawEncodedPercent && DOUBLE_ENCODED.test(out)) return fail('double percent-encoding ("%25" followed by two hex digits) in path');
  return out;
}

/**
 * Path parameters, repeated slashes and dot-segments, on whole segments.
 * Segment structure is decided on the names (the part before ";"), and `path`
 * and `matchPath` keep the same segments: a segment that is dropped (empty, or
 * removed by a dot-segment) takes its parameters with it. Otherwise in `keep`
 * mode "/admin/..;/x" would be "/x" to the policy but a segment "..;" under
 * /admin to a backend that does not know about parameters.
 */
function resolveSegments(canon: string, mode: 'strip' | 'keep'): { path: string; matchPath: string } {
  const raw = canon.slice(1).split('/');
  const names: string[] = [];
  const params: string[] = [];
  const last = raw.length - 1;
  for (let k = 0; k <= last; k++) {
    const seg = raw[k];
    const semi = seg.indexOf(';');
    const name = semi === -1 ? seg : seg.slice(0, semi);
    const param = semi === -1 || mode === 'strip' ? '' : seg.slice(semi);
    if (name === '.' || name === '..') {
      // RFC 3986 §5.2.4; ".." above the root stays at the root. A dot-segment
      // at the end leaves a trailing "/".
      if (name === '..' && names.length) {
        names.pop();
        params.pop();
      }
      if (k === last) {
        names.push('');
        params.push('');
      }
      continue;
    }
    // Repeated slashes merge: an empty segment survives only as the last one
    // (a trailing "/"), where it carries any parameters it had.
    if (name === '' && k !== last) continue;
    names.push(name);
    params.push(param);
  }
  const matchPath = '/' + names.join('/');
  if (mode === 'strip') return { path: matchPath, matchPath };
  let path = '';
  for (let k = 0; k < names.length; k++) path += '/' + names[k] + params[k];
  return { path: path || '/', matchPath };
}

// ---------------------------------------------------------------- Host

// RFC 3986 reg-name without pct-encoded (an escape in a host name has no use
// and is a common way to smuggle one name past a check on another); an IPv4
// address is a reg-name syntactically.
const REG_NAME = /^[A-Za-z0-9._~!$&'()*+,;=-]+$/;
const REG_NAME_PORT = /^[A-Za-z0-9._~!$&'()*+,;=:-]+$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;
const PORT = /^[0-9]{1,5}$/;

/**
 * The request head checks that need Node's rawHeaders, in one pass: a single,
 * well-formed Host header (RFC 9112 §3.2; required when `hostRequired`, as for
 * HTTP/1.1), and at most one Authorization and Proxy-Authorization header —
 * Node keeps the first, the backend would get all, so we could check one
 * credential while the backend reads another.
 */
export function validateRequestHeaders(rawHeaders: readonly string[], hostRequired = false): { ok: true; host: string | undefined } | { ok: false; reason: string } {
  let host: string | undefined;
  let auth = 0;
  let proxyAuth = 0;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    const len = name.length;
    if (len === 4 && name.toLowerCase() === 'host') {
      if (host !== undefined) return fail('more than one Host header');
      host = rawHeaders[i + 1];
    } else if (len === 13 && name.toLowerCase() === 'authorization') {
      if (++auth > 1) return fail(REPEATED_CREDENTIAL('Authorization'));
    } else if (len === 19 && name.toLowerCase() === 'proxy-authorization') {
      if (++proxyAuth > 1) return fail(REPEATED_CREDENTIAL('Proxy-Authorization'));
    }
  }
  if (host === undefined) return hostRequired ? fail('HTTP/1.1 request without a Host header') : { ok: true, host };
  const reason = hostProblem(host);
  return reason === null ? { ok: true, host } : fail(reason);
}

const REPEATED_CREDENTIAL = (name: string) => `more than one ${name} header (we would check one and the backend might read another)`;

function hostProblem(value: string): string | null {
  if (value === '') return 'empty Host header';
  let name = value;
  let port: string | null = null;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    if (end === -1) return `Host ${JSON.stringify(value)}: "[" without "]"`;
    const inner = value.slice(1, end);
    // The character check first: Node's isIPv6 accepts a zone ("%eth0").
    if (!IPV6_CHARS.test(inner) || !isIPv6(inner)) return `Host ${JSON.stringify(value)}: not an IPv6 address in brackets`;
    const rest = value.slice(end + 1);
    if (rest !== '') {
      if (rest[0] !== ':') return `Host ${JSON.stringify(value)}: unexpected characters after "]"`;
      port = rest.slice(1);
    }
    name = '';
  } else {
    const colon = value.lastIndexOf(':');
    if (colon !== -1) {
      name = value.slice(0, colon);
      port = value.slice(colon + 1);
    }
    // Checked on the whole value too, so "user:pass@evil" is reported for its
    // "@" rather than for a port of "pass@evil".
    if (!REG_NAME.test(name) || !REG_NAME_PORT.test(value)) return `Host ${JSON.stringify(value)}: not a host name or IP address (with an optional port)`;
  }
  if (port !== null && (!PORT.test(port) || Number(port) > 65535)) return `Host ${JSON.stringify(value)}: port must be 1-5 digits, at most 65535`;
  return null;
}
