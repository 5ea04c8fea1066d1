/**
 * Access-control sections of the configuration: identity methods, per-route
 * policies, rate limits, IP lists and dynamic blocks, admin tokens, path
 * normalization. Kept apart from schema.ts only for size; ConfigSchema wires
 * them in and they are documented from here like every other section.
 */
import { isTimeZone } from '../core/time-zone.js';
import { z } from 'zod';
import { duration } from './primitives.js';


const idRe = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const id = (what: string) => z.string().regex(idRe, `${what} must be 1-64 characters of letters, digits, "_", "." or "-", starting with a letter or digit`);
const sha256Hex = z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected the SHA-256 of the secret as 64 hex digits (e.g. `tollgate hash-key`)');
const cidrList = (description: string) => z.array(z.string()).default([]).describe(description);

// ---------------------------------------------------------------- identities

export const ApiKeyEntrySchema = z
  .object({
    id: id('key id').describe('Stable id of the key (recorded in events as the key that was used; never the key itself).'),
    sha256: sha256Hex.describe('SHA-256 of the key, hex. The key itself is never stored.'),
    user: z.string().min(1).describe('User id the key authenticates as (`user_id`).'),
    name: z.string().optional().describe('Display name (`user_name`).'),
    groups: z.array(z.string()).default([]).describe('Groups of this identity, for policies.'),
    revoked: z.boolean().default(false).describe('A revoked key is refused with `auth_error` = `revoked` (rather than `unknown_key`).'),
    expires: z.string().datetime({ offset: true }).optional().describe('ISO 8601 time after which the key is refused as `expired`.'),
  })
  .strict();

export const ApiKeyIdentitySchema = z
  .object({
    id: id('identity id'),
    type: z.literal('api_key'),
    header: z.string().default('x-api-key').describe('Header carrying the key. `authorization` accepts `Bearer <key>` and `ApiKey <key>`.'),
    query_param: z.string().optional().describe('Also accept the key from this query parameter (it is redacted in events).'),
    keys: z.array(ApiKeyEntrySchema).default([]).describe('Keys, stored as hashes.'),
    keys_file: z.string().optional().describe('YAML or JSON file with more keys (a list in the same shape as `keys`); re-read on reload.'),
  })
  .strict();

export const ClaimMappingSchema = z
  .object({
    user_id: z.string().default('sub').describe('Claim giving `user_id` (dotted path allowed, e.g. "ext.uid").'),
    user_name: z.string().default('email').describe('Claim giving `user_name`.'),
    groups: z.string().default('groups').describe('Claim giving the groups (an array or a space/comma separated string), e.g. "roles" or "realm_access.roles".'),
  })
  .strict();

export const JwtIdentitySchema = z
  .object({
    id: id('identity id'),
    type: z.literal('jwt'),
    header: z.string().default('authorization').describe('Header carrying the token; for `authorization` the `Bearer` scheme is required.'),
    cookie: z.string().optional().describe('Also accept the token from this cookie.'),
    algorithms: z
      .array(z.enum(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']))
      .min(1)
      .default(['RS256', 'ES256', 'EdDSA'])
      .describe('Accepted signature algorithms; a token signed otherwise is refused (`bad_signature`). `none` is never accepted.'),
    issuer: z.string().optional().describe('Required `iss` (refused as `wrong_issuer`). Also the OIDC issuer when `discovery` is true.'),
    audience: z.union([z.string(), z.array(z.string())]).optional().describe('Accepted `aud` value(s) (refused as `wrong_audience`).'),
    clock_skew: duration('Tolerance for `exp` and `nbf`.').prefault('30s'),
    max_age: duration('Refuse tokens whose `iat` is older than this (0 = no limit).').prefault('0'),
    secret: z.string().optional().describe('Shared secret for HS* algorithms (use `${ENV}` substitution).'),
    jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).optional().describe('A static JSON Web Key Set.'),
    jwks_url: z.string().url().optional().describe('URL of a JSON Web Key Set, fetched and cached.'),
    discovery: z.boolean().default(false).describe('Find `jwks_uri` through OIDC discovery at `<issuer>/.well-known/openid-configuration`.'),
    jwks_cache: duration('How long a fetched key set is used before it is fetched again (rotation).').prefault('10m'),
    jwks_cooldown: duration('Least time between two fetches triggered by a token with an unknown `kid` (protects the key server).').prefault('30s'),
    jwks_timeout: duration('Time allowed to fetch the key set.').prefault('5s'),
    claims: ClaimMappingSchema.prefault({}).describe('Which claims fill the identity.'),
  })
  .strict();

export const MtlsIdentitySchema = z
  .object({
    id: id('identity id'),
    type: z.literal('mtls'),
    user_from: z
      .enum(['subject_cn', 'san_email', 'san_dns', 'san_uri', 'fingerprint'])
      .default('subject_cn')
      .describe('Which part of the verified client certificate becomes `user_id` (the fingerprint is always recorded in `reason` detail).'),
    allowed_fingerprints: z.array(z.string()).optional().describe('If set, only certificates with these SHA-256 fingerprints (hex, colons optional) are accepted.'),
    groups_from_ou: z.boolean().default(true).describe('Use the subject OU values as groups.'),
  })
  .strict()
  .describe('Client certificates verified against the listener `tls.client_ca`.');

export const BasicUserSchema = z
  .object({
    user: z.string().min(1).describe('User name (`user_id`).'),
    hash: z
      .string()
      .regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=_-]+\$[A-Za-z0-9+/=_-]+$/, 'expected "scrypt$N$r$p$salt$hash" (see `tollgate hash-password`)')
      .describe('scrypt hash "scrypt$N$r$p$<salt b64>$<hash b64>".'),
    name: z.string().optional().describe('Display name (`user_name`).'),
    groups: z.array(z.string()).default([]).describe('Groups, for policies.'),
    revoked: z.boolean().default(false).describe('Refuse this user (`revoked`).'),
  })
  .strict();

export const BasicIdentitySchema = z
  .object({
    id: id('identity id'),
    type: z.literal('basic'),
    realm: z.string().default('tollgate').describe('Realm sent in `WWW-Authenticate`.'),
    users: z.array(BasicUserSchema).default([]).describe('Users with scrypt password hashes.'),
    users_file: z.string().optional().describe('YAML or JSON file with more users (same shape as `users`); re-read on reload.'),
  })
  .strict();

export const ForwardAuthIdentitySchema = z
  .object({
    id: id('identity id'),
    type: z.literal('forward_auth'),
    url: z.string().url().describe('Auth service URL. It receives a GET with the original method, URI, host and client IP in X-Forwarded-* headers.'),
    timeout: duration('Time allowed for the auth service to answer; on timeout or error the request is refused with 503 (fail closed).').prefault('2s'),
    request_headers: z
      .array(z.string())
      .default(['authorization', 'cookie'])
      .describe('Client request headers passed to the auth service.'),
    user_header: z.string().default('x-auth-user').describe('Response header of the auth service with `user_id`.'),
    name_header: z.string().default('x-auth-name').describe('Response header with `user_name`.'),
    groups_header: z.string().default('x-auth-groups').describe('Response header with comma-separated groups.'),
    copy_headers: z.array(z.string()).default([]).describe('Auth-service response headers copied onto the request sent to the backend.'),
    cache: duration('Cache an allow answer this long for the same credentials on the same method, host, path and query (0 = ask every time).').prefault('0'),
  })
  .strict();

export const IdentitySchema = z.discriminatedUnion('type', [ApiKeyIdentitySchema, JwtIdentitySchema, MtlsIdentitySchema, BasicIdentitySchema, ForwardAuthIdentitySchema]);

// ---------------------------------------------------------------- policies

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

export const TimeWindowSchema = z
  .object({
    days: z
      .array(z.string().regex(/^(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?$/, 'days are "mon".."sun" or ranges like "mon-fri"'))
      .default([...DAYS])
      .describe('Days, e.g. ["mon-fri"] or ["sat", "sun"].'),
    hours: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/, 'hours are "HH:MM-HH:MM" (a window that ends before it starts wraps past midnight)')
      .default('00:00-24:00')
      .describe('Local time window "HH:MM-HH:MM"; "22:00-06:00" wraps past midnight.'),
    tz: z
      .string()
      .default('UTC')
      .refine(isTimeZone, 'unknown IANA time zone')
      .describe('IANA time zone, e.g. "Europe/Berlin".'),
  })
  .strict();

export const PolicyRuleSchema = z
  .object({
    id: id('rule id').describe('Stable id, recorded as `rule_id` when this rule decides.'),
    action: z.enum(['allow', 'deny']).describe('What a match decides.'),
    users: z.array(z.string()).optional().describe('Matches these user ids.'),
    groups: z.array(z.string()).optional().describe('Matches identities in any of these groups.'),
    claims: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional().describe('Matches identities whose claims have these values (a list means any of them).'),
    authenticated: z.boolean().optional().describe('true matches identified callers, false anonymous ones.'),
    methods: z.array(z.string().regex(/^[A-Z]+$/)).optional().describe('Matches these methods.'),
    paths: z
      .array(z.string().startsWith('/'))
      .optional()
      .describe('Path patterns on the normalized path: "/admin" (exact), "/admin/*" (one segment), "/admin/**" (anything below, and "/admin" itself).'),
    source: z.array(z.string()).optional().describe('Matches client IPs in these CIDRs (IPv4 and IPv6).'),
    time: TimeWindowSchema.optional().describe('Matches only inside this time window.'),
    not_time: TimeWindowSchema.optional().describe('Matches only outside this time window.'),
    shadow: z.boolean().default(false).describe('Evaluate and record (reason "shadow: ..."), but do not enforce.'),
    reason: z.string().optional().describe('Text recorded as `reason` when this rule decides.'),
  })
  .strict();

export const RateLimitSchema = z
  .object({
    id: id('rate limit id').describe('Recorded as `rule_id` on a 429.'),
    by: z.enum(['client_ip', 'user', 'api_key', 'route']).describe('What is counted: each client IP, each user, each API key, or the route as a whole.'),
    rate: z.number().positive().describe('Requests allowed per `per`.'),
    per: duration('The period of `rate`.').prefault('1s'),
    burst: z.number().int().min(0).default(0).describe('Extra requests allowed at once on top of the steady rate.'),
    methods: z.array(z.string().regex(/^[A-Z]+$/)).optional().describe('Count only these methods.'),
    paths: z.array(z.string().startsWith('/')).optional().describe('Count only these path patterns (as in policy rules).'),
    shadow: z.boolean().default(false).describe('Count and record, but do not refuse.'),
  })
  .strict();

export const RouteAccessSchema = z
  .object({
    identities: z.array(id('identity id')).default([]).describe('Identity methods tried on this route, in order; the first that finds credentials decides.'),
    anonymous: z
      .boolean()
      .default(false)
      .describe('Let requests without credentials through to the policy (which can match `authenticated: false`). Default: a route with identities refuses them with 401.'),
    restricted: z.boolean().default(false).describe('Deny what no rule allows (default deny). Otherwise what no rule denies is allowed.'),
    shadow: z.boolean().default(false).describe('Evaluate and record the whole policy of this route without enforcing it.'),
    rules: z.array(PolicyRuleSchema).default([]).describe('Ordered rules; the first enforced match decides.'),
    rate_limits: z.array(RateLimitSchema).default([]).describe('Rate limits of this route.'),
  })
  .strict()
  .prefault({});

// ---------------------------------------------------------------- global access

export const AccessSchema = z
  .object({
    identities: z.array(IdentitySchema).default([]).describe('Identity methods, referenced by id from routes.'),
    ip_allow: cidrList('If not empty, only clients in these CIDRs are served; others get 403 (`block`, rule `ip_allow`).'),
    ip_deny: cidrList('Clients in these CIDRs get 403 (`block`, rule `ip_deny`).'),
    blocks_file: z.string().default('./data/blocks.json').describe('Where dynamic blocks (POST /api/v1/blocks, detection rules) are kept across restarts.'),
    shared_blocks: z
      .object({
        url: z.string().describe('Redis URL, e.g. "redis://10.0.0.5:6379/0" (use `${ENV}` for passwords).'),
        prefix: z.string().default('tollgate:blocks').describe('Hash holding the blocks; `<prefix>:changes` is the channel that announces changes.'),
      })
      .strict()
      .optional()
      .describe('Share dynamic blocks across a fleet through Redis: a block made on any node (admin API, detection rule) is enforced on all of them.'),
    rate_limit: z
      .object({
        redis: z
          .object({
            url: z.string().describe('Redis URL, e.g. "redis://127.0.0.1:6379/0" (use `${ENV}` for passwords).'),
            prefix: z.string().default('tollgate:rl:').describe('Key prefix.'),
            timeout: duration('A Redis answer slower than this counts as Redis unreachable for that request.').prefault('50ms'),
          })
          .strict()
          .optional()
          .describe('Share rate limits between Tollgate processes through Redis.'),
        fallback: z
          .enum(['local', 'allow', 'deny'])
          .default('local')
          .describe('When Redis is unreachable: `local` enforces the limits per process, `allow` lets traffic through, `deny` refuses it.'),
        max_keys: z.number().int().min(1000).default(100_000).describe('Most counters kept in memory per process (least recently used are evicted).'),
      })
      .strict()
      .prefault({})
      .describe('Rate limit storage.'),
    paths: z
      .object({
        semicolons: z
          .enum(['reject', 'strip', 'keep'])
          .default('reject')
          .describe('Path parameters (";jsessionid=..."): `reject` answers 400; `strip` removes them before matching and forwarding; `keep` forwards them but matches policies without them.'),
        case_sensitive: z
          .boolean()
          .default(false)
          .describe('Whether route prefixes and policy paths match case-sensitively. Default false, so "/ADMIN" cannot slip past a rule on "/admin" to a case-insensitive backend.'),
        strip_headers: z
          .array(z.string())
          .default([
            'x-original-url', 'x-rewrite-url', 'x-override-url', 'x-original-uri', 'x-forwarded-uri', 'x-forwarded-path', 'x-forwarded-prefix',
            'x-envoy-original-path', 'x-http-method-override', 'x-http-method', 'x-method-override',
          ])
          .describe('Client headers removed before forwarding because some backends let them override the path or method the policy saw.'),
      })
      .strict()
      .prefault({})
      .describe('Path normalization: percent-decoding of unreserved characters, dot-segments and repeated slashes are resolved once; encoded "/" or "\\", NUL, invalid or overlong encodings get 400.'),
  })
  .strict();

export const AdminTokenSchema = z
  .object({
    id: id('token id').describe('Recorded as the caller of admin API events.'),
    sha256: sha256Hex.describe('SHA-256 of the token (hex).'),
    role: z.enum(['viewer', 'operator', 'admin']).describe('`viewer` reads; `operator` also manages blocks and acknowledges alerts; `admin` also reloads configuration.'),
  })
  .strict();

export type AccessConfig = z.output<typeof AccessSchema>;
export type RouteAccessConfig = z.output<typeof RouteAccessSchema>;
export type IdentityConfig = z.output<typeof IdentitySchema>;
export type ApiKeyIdentityConfig = z.output<typeof ApiKeyIdentitySchema>;
export type ApiKeyEntry = z.output<typeof ApiKeyEntrySchema>;
export type JwtIdentityConfig = z.output<typeof JwtIdentitySchema>;
export type MtlsIdentityConfig = z.output<typeof MtlsIdentitySchema>;
export type BasicIdentityConfig = z.output<typeof BasicIdentitySchema>;
export type BasicUser = z.output<typeof BasicUserSchema>;
export type ForwardAuthIdentityConfig = z.output<typeof ForwardAuthIdentitySchema>;
export type PolicyRuleConfig = z.output<typeof PolicyRuleSchema>;
export type RateLimitConfig = z.output<typeof RateLimitSchema>;
export type TimeWindowConfig = z.output<typeof TimeWindowSchema>;
export type AdminTokenConfig = z.output<typeof AdminTokenSchema>;
