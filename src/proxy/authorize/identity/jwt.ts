/**
 * JSON Web Tokens (JWS compact form), verified with jose against a shared
 * secret (HS*), a static key set, a key set URL or a key set found through
 * OIDC discovery.
 *
 * Hot path: a token that verified before is answered from a bounded cache
 * without touching crypto or promises. Cheap synchronous checks (shape,
 * header, algorithm) run before any key lookup so garbage never costs a
 * fetch. Remote key sets are cached for `jwks_cache`, refreshed in the
 * background shortly before they expire, and refetched early (at most once
 * per `jwks_cooldown`) when a token names a `kid` the cached set lacks: that
 * is how key rotation is picked up without letting forged kids hammer the
 * key server.
 */
import { createLocalJWKSet, errors, jwtVerify, type CryptoKey, type JSONWebKeySet, type JWTPayload, type JWTVerifyOptions, type LocalJWKSet, type FlattenedJWSInput, type JWSHeaderParameters } from 'jose';
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import type { Agent } from 'undici';
import type { JwtIdentityConfig } from '../../../config/access-schema.js';
import type { AuthRequest, IdentityBuildContext, IdentityMethod, IdentityOutcome } from './types.js';
import { FetchError, fetchJson, jsonAgent } from './fetch-json.js';
import { MULTIPLE_COOKIES, NONE, TtlLru, authParam, claimAt, cookieValue, fail, groupsFrom } from './util.js';

/** Bound on the verified-token cache (a token is ~1 KiB, so ~10 MiB at most). */
const TOKEN_CACHE_ENTRIES = 10_000;
/** A cached verification is reused at most this long, so key-set changes and revocations take effect within a minute. */
const TOKEN_CACHE_MS = 60_000;
/** Real tokens are well under this; a larger value is refused before parsing. */
const MAX_TOKEN_CHARS = 16 * 1024;
/** Part of the key set lifetime after which a background refresh starts. */
const REFRESH_AT = 0.8;
/** After a failed key set fetch, requests are answered from the failure for this long instead of retrying at once. */
const FAILURE_BACKOFF_MS = 5_000;

const B64URL = /^[A-Za-z0-9_-]+$/;
const B64URL_OR_EMPTY = /^[A-Za-z0-9_-]*$/;

/** The key server (or discovery) could not be reached: fail closed with 503. */
class KeysUnavailable extends Error {}

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey | Uint8Array>;

interface RemoteOptions {
  id: string;
  jwksUrl: string | null;
  /** Set when the key set URL comes from OIDC discovery. */
  issuer: string | null;
  cacheMs: number;
  cooldownMs: number;
  timeoutMs: number;
  log: IdentityBuildContext['log'];
}

/** A fetched key set with its lifetime, refresh and unknown-kid refetch logic. */
class RemoteKeySet {
  private set: LocalJWKSet | null = null;
  private fetchedAt = 0;
  private inflight: Promise<LocalJWKSet> | null = null;
  private lastKidRefetch = -Infinity;
  private failedAt = -Infinity;
  private lastFailure = '';
  private jwksUri: string | null;
  private readonly agent: Agent;
  private readonly abort = new AbortController();
  private readonly backoffMs: number;

  constructor(private readonly o: RemoteOptions) {
    this.jwksUri = o.jwksUrl;
    this.agent = jsonAgent(o.timeoutMs);
    this.backoffMs = Math.min(FAILURE_BACKOFF_MS, Math.max(o.cooldownMs, 100));
  }

  /** The set to verify with: the cached one (refreshing in the background when it is getting old), or a freshly fetched one. */
  async current(): Promise<LocalJWKSet> {
    const now = Date.now();
    const set = this.set;
    const recentlyFailed = now - this.failedAt < this.backoffMs;
    if (set !== null) {
      const age = now - this.fetchedAt;
      if (age < this.o.cacheMs) {
        if (age >= this.o.cacheMs * REFRESH_AT && this.inflight === null && !recentlyFailed) this.refresh().catch(() => {});
        return set;
      }
      // Expired. While the key server is failing, keep verifying with the last good set rather than refusing everyone.
      if (recentlyFailed) return set;
      return this.refresh().catch(() => set);
    }
    if (recentlyFailed) throw new KeysUnavailable(this.lastFailure);
    return this.refresh();
  }

  /**
   * A token named a kid that `used` lacks. Returns a newer set to retry with,
   * or null when there is none and the cooldown forbids fetching one.
   */
  async afterUnknownKid(used: LocalJWKSet): Promise<LocalJWKSet | null> {
    if (this.set !== null && this.set !== used) return this.set;
    if (this.inflight !== null) return this.inflight.catch(() => null);
    const now = Date.now();
    if (now - this.lastKidRefetch < this.o.cooldownMs) return null;
    this.lastKidRefetch = now;
    return this.refresh().catch(() => null);
  }

  /** One fetch at a time: concurrent callers share it. */
  private refresh(): Promise<LocalJWKSet> {
    if (this.inflight !== null) return this.inflight;
    const p = this.load().then(
      (set) => {
        this.set = set;
        this.fetchedAt = Date.now();
        this.failedAt = -Infinity;
        return set;
      },
      (err: unknown) => {
        this.failedAt = Date.now();
        this.lastFailure = err instanceof FetchError ? err.message : `key set fetch failed: ${(err as Error).message}`;
        if (!this.abort.signal.aborted) this.o.log.warn({ identity: this.o.id, err: this.lastFailure, have_keys: this.set !== null }, 'JWT key set fetch failed');
        throw new KeysUnavailable(this.lastFailure);
      },
    );
    const tracked = p.finally(() => {
      if (this.inflight === tracked) this.inflight = null;
    });
    this.inflight = tracked;
    return tracked;
  }

  private async load(): Promise<LocalJWKSet> {
    const uri = this.jwksUri ?? (await this.discover());
    const doc = await fetchJson(uri, this.agent, this.o.timeoutMs, this.abort.signal);
    try {
      return createLocalJWKSet(doc as JSONWebKeySet);
    } catch {
      throw new FetchError(`${uri} is not a JSON Web Key Set`);
    }
  }

  /** OIDC discovery, once per method instance (a reload builds a new one). */
  private async discover(): Promise<string> {
    const issuer = this.o.issuer as string;
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const doc = (await fetchJson(url, this.agent, this.o.timeoutMs, this.abort.signal)) as Record<string, unknown> | null;
    if (doc === null || typeof doc !== 'object') throw new FetchError(`${url} is not a discovery document`);
    // OIDC Discovery 1.0 §4.3: the issuer in the document must be exactly the one asked for, or the keys could be another issuer's.
    if (doc.issuer !== issuer) throw new FetchError(`${url} names issuer ${JSON.stringify(doc.issuer)}, expected ${JSON.stringify(issuer)}`);
    const jwksUri = doc.jwks_uri;
    if (typeof jwksUri !== 'string' || !/^https?:\/\//i.test(jwksUri)) throw new FetchError(`${url} has no usable jwks_uri`);
    this.jwksUri = jwksUri;
    return jwksUri;
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.agent.destroy().catch(() => {});
  }
}

/**
 * Static keys are checked when the configuration is loaded, not when the
 * first token arrives: each must be a public key node can import. A private
 * key in the configuration is refused outright (it would let anyone who reads
 * the file sign tokens).
 */
function checkPublicJwk(jwk: Record<string, unknown>, i: number): void {
  const name = typeof jwk.kid === 'string' ? `key ${i} (kid ${JSON.stringify(jwk.kid)})` : `key ${i}`;
  if ('d' in jwk || jwk.kty === 'oct') throw new Error(`${name} holds private or symmetric key material; use secret for HS* and only public keys in jwks`);
  try {
    createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`);
  }
}

function isHmac(alg: string): boolean {
  return alg.startsWith('HS');
}

function short(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}

function isoSeconds(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? new Date(v * 1000).toISOString() : 'an invalid time';
}

export function createJwtMethod(cfg: JwtIdentityConfig, ctx: IdentityBuildContext): IdentityMethod {
  const header = cfg.header.toLowerCase();
  const isAuthorization = header === 'authorization';
  const allowed = new Set<string>(cfg.algorithms);
  const hmacAllowed = cfg.algorithms.some(isHmac);
  const asymAllowed = cfg.algorithms.filter((a) => !isHmac(a));

  // Configuration mistakes that would otherwise only show as every token being refused.
  if (cfg.discovery && cfg.issuer === undefined) throw new Error(`jwt identity "${cfg.id}": discovery needs issuer`);
  if (cfg.discovery && cfg.jwks_url !== undefined) throw new Error(`jwt identity "${cfg.id}": set either jwks_url or discovery, not both`);
  if (hmacAllowed && cfg.secret === undefined) throw new Error(`jwt identity "${cfg.id}": algorithms ${cfg.algorithms.filter(isHmac).join(', ')} need secret`);
  const hasKeySet = cfg.jwks !== undefined || cfg.jwks_url !== undefined || cfg.discovery;
  if (asymAllowed.length > 0 && !hasKeySet) {
    throw new Error(`jwt identity "${cfg.id}": algorithms ${asymAllowed.join(', ')} need jwks, jwks_url or discovery (for a shared secret set algorithms to [HS256])`);
  }
  if (cfg.secret !== undefined && !hmacAllowed) ctx.log.warn({ identity: cfg.id }, 'jwt secret is set but no HS* algorithm is allowed: the secret is unused');
  if (cfg.secret !== undefined && Buffer.byteLength(cfg.secret) < 32) ctx.log.warn({ identity: cfg.id }, 'jwt secret is shorter than 32 bytes: HS* tokens can be brute-forced');

  const secret = cfg.secret === undefined ? null : new TextEncoder().encode(cfg.secret);
  let staticSet: LocalJWKSet | null = null;
  if (cfg.jwks !== undefined) {
    try {
      cfg.jwks.keys.forEach(checkPublicJwk);
      staticSet = createLocalJWKSet(cfg.jwks);
    } catch (err) {
      throw new Error(`jwt identity "${cfg.id}": jwks is not a valid JSON Web Key Set: ${(err as Error).message}`);
    }
  }
  const remote =
    cfg.jwks_url !== undefined || cfg.discovery
      ? new RemoteKeySet({
          id: cfg.id,
          jwksUrl: cfg.jwks_url ?? null,
          issuer: cfg.discovery ? (cfg.issuer ?? null) : null,
          cacheMs: cfg.jwks_cache,
          cooldownMs: cfg.jwks_cooldown,
          timeoutMs: cfg.jwks_timeout,
          log: ctx.log,
        })
      : null;

  const verifyOptions: JWTVerifyOptions = {
    algorithms: cfg.algorithms,
    clockTolerance: cfg.clock_skew / 1000,
    ...(cfg.issuer !== undefined ? { issuer: cfg.issuer } : {}),
    ...(cfg.audience !== undefined ? { audience: cfg.audience } : {}),
    ...(cfg.max_age > 0 ? { maxTokenAge: cfg.max_age / 1000 } : {}),
    // A token without an expiry would be good forever once leaked.
    requiredClaims: ['exp'],
  };
  if (cfg.audience === undefined && (cfg.jwks_url !== undefined || cfg.discovery)) {
    // With a shared identity provider, tokens it issued for any other application would pass.
    ctx.log.warn({ identity: cfg.id }, 'JWT identity without `audience`: tokens the issuer made for other applications are accepted too');
  }

  const getKey: KeyResolver = async (h, token) => {
    const alg = h.alg ?? '';
    if (isHmac(alg)) {
      if (secret === null) throw new errors.JWKSNoMatchingKey();
      return secret;
    }
    if (staticSet !== null) {
      try {
        return await staticSet(h, token);
      } catch (err) {
        if (remote === null || !(err instanceof errors.JWKSNoMatchingKey)) throw err;
      }
    }
    if (remote === null) throw new errors.JWKSNoMatchingKey();
    const set = await remote.current();
    try {
      return await set(h, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      // Possibly a rotated key: one (rate-limited) refetch, then one retry.
      const fresh = await remote.afterUnknownKid(set);
      if (fresh === null) throw err;
      return fresh(h, token);
    }
  };

  async function verifyToken(token: string): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, getKey, verifyOptions)).payload;
    } catch (err) {
      // No kid and several keys fit the algorithm: jose hands over the candidates; the first that verifies wins.
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
      for await (const key of err) {
        try {
          return (await jwtVerify(token, key, verifyOptions)).payload;
        } catch (e) {
          if (!(e instanceof errors.JWSSignatureVerificationFailed)) throw e;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  }

  const cache = new TtlLru<IdentityOutcome>(TOKEN_CACHE_ENTRIES);
  const inflight = new Map<string, Promise<IdentityOutcome>>();

  const EMPTY = fail('malformed', 'empty bearer token');
  const MULTIPLE = fail('malformed', 'token given more than once');
  const NOT_COMPACT = fail('malformed', 'not a JWS compact token (three base64url parts)');

  function extract(req: AuthRequest): string | IdentityOutcome {
    const v = req.headers[header];
    if (v !== undefined) {
      const s = Array.isArray(v) ? (v.length === 1 ? v[0] : null) : v;
      if (s === null) return MULTIPLE;
      if (!isAuthorization) return s.trim() || EMPTY;
      const a = authParam(s, ['bearer']);
      if (a !== null) return a.param || EMPTY;
      // Another scheme in Authorization (Basic, ...): not ours, but a cookie may still carry a token.
    }
    if (cfg.cookie !== undefined) {
      const c = cookieValue(req.headers.cookie, cfg.cookie);
      if (c === MULTIPLE_COOKIES) return MULTIPLE;
      if (c !== null) return c || EMPTY;
    }
    return NONE;
  }

  /** Shape and header checks that need no key; returns the kid (or undefined) when the token may be verified. */
  function precheck(token: string): { kid: string | undefined } | IdentityOutcome {
    if (token.length > MAX_TOKEN_CHARS) return fail('malformed', `token longer than ${MAX_TOKEN_CHARS} characters`);
    const d1 = token.indexOf('.');
    const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
    if (d1 <= 0 || d2 < 0 || token.indexOf('.', d2 + 1) >= 0) return NOT_COMPACT;
    const h = token.slice(0, d1);
    if (!B64URL.test(h) || !B64URL.test(token.slice(d1 + 1, d2)) || !B64URL_OR_EMPTY.test(token.slice(d2 + 1))) return NOT_COMPACT;
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    } catch {
      return fail('malformed', 'token header is not JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return fail('malformed', 'token header is not a JSON object');
    const { alg, kid } = parsed as { alg?: unknown; kid?: unknown };
    if (typeof alg !== 'string') return fail('malformed', 'token header has no "alg"');
    if (alg.toLowerCase() === 'none') return fail('bad_signature', 'unsigned token (alg "none") refused');
    if (!allowed.has(alg)) return fail('bad_signature', `algorithm ${short(alg)} is not accepted (allowed: ${cfg.algorithms.join(', ')})`);
    if (d2 === token.length - 1) return fail('bad_signature', 'token has an empty signature');
    return { kid: typeof kid === 'string' ? kid : undefined };
  }

  function toOutcome(payload: JWTPayload): IdentityOutcome {
    const uid = claimAt(payload, cfg.claims.user_id);
    const userId = typeof uid === 'string' ? uid : typeof uid === 'number' ? String(uid) : '';
    if (userId === '') return fail('malformed', `token has no "${cfg.claims.user_id}" claim for the user id`);
    const name = claimAt(payload, cfg.claims.user_name);
    // Frozen because one cached outcome is handed to every request that presents this token.
    return Object.freeze({
      kind: 'ok',
      identity: Object.freeze({
        userId,
        userName: typeof name === 'string' ? name : null,
        groups: Object.freeze(groupsFrom(claimAt(payload, cfg.claims.groups))),
        claims: Object.freeze(payload),
      }),
    });
  }

  function mapError(err: unknown, kid: string | undefined): IdentityOutcome {
    if (err instanceof KeysUnavailable) return fail('unavailable', `signing keys unavailable: ${err.message}`, 503);
    if (err instanceof errors.JWTExpired) {
      if (err.claim === 'iat') return fail('expired', `token issued at ${isoSeconds(err.payload.iat)} is older than max_age`);
      return fail('expired', `token expired at ${isoSeconds(err.payload.exp)}`);
    }
    if (err instanceof errors.JWTClaimValidationFailed) {
      switch (err.claim) {
        case 'nbf':
          return fail('not_yet_valid', `token not valid before ${isoSeconds(err.payload.nbf)}`);
        case 'iat':
          if (err.reason === 'missing') return fail('malformed', 'token has no "iat" claim (needed for max_age)');
          if (err.reason === 'invalid') return fail('malformed', '"iat" claim is not a number');
          return fail('not_yet_valid', `token issued in the future (${isoSeconds(err.payload.iat)})`);
        case 'exp':
          if (err.reason === 'missing') return fail('malformed', 'token has no "exp" claim (tokens must expire)');
          return fail('malformed', `"exp" claim: ${err.message}`);
        case 'iss':
          return fail('wrong_issuer', `issuer ${short(err.payload.iss ?? null)} is not accepted`);
        case 'aud':
          return fail('wrong_audience', `audience ${short(err.payload.aud ?? null)} is not accepted`);
        default:
          return fail('malformed', `claim "${short(err.claim)}": ${err.message}`);
      }
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) return fail('bad_signature', 'signature verification failed');
    if (err instanceof errors.JWKSNoMatchingKey) return fail('unknown_key', kid === undefined ? 'no key matches the token (no kid)' : `no key with kid ${short(kid)}`);
    if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return fail('bad_signature', err.message);
    if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return fail('malformed', err.message);
    if (err instanceof errors.JWKInvalid || err instanceof errors.JWKSInvalid) {
      ctx.log.warn({ identity: cfg.id, kid, err: err.message }, 'JWT key unusable');
      return fail('unknown_key', `key ${short(kid ?? '(no kid)')} is unusable: ${err.message}`);
    }
    // jose raises TypeError when a key cannot be used with the token's algorithm.
    ctx.log.warn({ identity: cfg.id, err: (err as Error).message }, 'unexpected JWT verification error');
    return fail('bad_signature', `token cannot be verified: ${(err as Error).message}`);
  }

  async function verifyAndCache(token: string, kid: string | undefined): Promise<IdentityOutcome> {
    let payload: JWTPayload;
    try {
      payload = await verifyToken(token);
    } catch (err) {
      return mapError(err, kid);
    }
    const outcome = toOutcome(payload);
    if (outcome.kind === 'ok') {
      const now = Date.now();
      let until = now + TOKEN_CACHE_MS;
      if (typeof payload.exp === 'number') until = Math.min(until, payload.exp * 1000);
      if (cfg.max_age > 0 && typeof payload.iat === 'number') until = Math.min(until, payload.iat * 1000 + cfg.max_age);
      if (until > now) cache.set(token, outcome, until);
    }
    return outcome;
  }

  function authenticate(req: AuthRequest): IdentityOutcome | Promise<IdentityOutcome> {
    const token = extract(req);
    if (typeof token !== 'string') return token;
    const hit = cache.get(token, Date.now());
    if (hit !== undefined) return hit;
    const pre = precheck(token);
    if ('kind' in pre) return pre;
    // Identical tokens arriving together (a client's parallel requests) share one verification.
    const pending = inflight.get(token);
    if (pending !== undefined) return pending;
    const p = verifyAndCache(token, pre.kid).finally(() => inflight.delete(token));
    inflight.set(token, p);
    return p;
  }

  let closing: Promise<void> | null = null;
  return {
    id: cfg.id,
    type: 'jwt',
    challenge: 'Bearer realm="tollgate"',
    authenticate,
    close() {
      closing ??= (async () => {
        cache.clear();
        await remote?.close();
      })();
      return closing;
    },
  };
}
