/**
 * HTTP Basic authentication against users with scrypt password hashes.
 *
 * scrypt is deliberately slow, and clients send the same credentials on every
 * request, so a successful check is remembered for a minute, keyed by the
 * user and a SHA-256 of the password (the password itself is never kept).
 * Unknown users still pay one scrypt against a dummy hash, so response time
 * does not tell which user names exist.
 */
import { randomBytes } from 'node:crypto';
import { BasicUserSchema, type BasicIdentityConfig, type BasicUser } from '../../../config/access-schema.js';
import type { AuthRequest, IdentityBuildContext, IdentityMethod, IdentityOutcome } from './types.js';
import { DEFAULT_SCRYPT, parseScrypt, scryptMatches, type ParsedScrypt } from './secrets.js';
import { NONE, TtlLru, authParam, fail, loadListFile, sha256Hex } from './util.js';

/** Password checks in progress at most, per method (each scrypt takes ~32 MiB and a pool thread). */
const MAX_PENDING_CHECKS = 16;
const CACHE_MS = 60_000;
const CACHE_ENTRIES = 1_000;
/** Longer headers are not credentials anyone types; refuse before decoding. */
const MAX_CREDENTIALS_CHARS = 4096;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

interface UserRecord {
  user: string;
  revoked: boolean;
  hash: ParsedScrypt;
  ok: IdentityOutcome;
}

export function createBasicMethod(cfg: BasicIdentityConfig, ctx: IdentityBuildContext): IdentityMethod {
  const fromFile = cfg.users_file === undefined ? [] : loadListFile(ctx.baseDir, cfg.users_file, 'users', BasicUserSchema);
  const users = new Map<string, UserRecord>();
  const add = (u: BasicUser, where: string) => {
    if (users.has(u.user)) throw new Error(`basic identity "${cfg.id}": user "${u.user}" is defined twice (${where})`);
    let hash: ParsedScrypt;
    try {
      hash = parseScrypt(u.hash);
    } catch (err) {
      throw new Error(`basic identity "${cfg.id}": hash of user "${u.user}" (${where}): ${(err as Error).message}`);
    }
    const identity = Object.freeze({ userId: u.user, userName: u.name ?? null, groups: Object.freeze([...u.groups]), claims: Object.freeze({}) });
    users.set(u.user, { user: u.user, revoked: u.revoked, hash, ok: Object.freeze({ kind: 'ok', identity }) });
  };
  cfg.users.forEach((u, i) => add(u, `users[${i}]`));
  fromFile.forEach((u, i) => add(u, `${cfg.users_file}[${i}]`));
  if (users.size === 0) ctx.log.warn({ identity: cfg.id }, 'basic identity has no users: every login will be refused');

  // Same cost parameters as a real user (the first one), so an unknown name takes as long as a wrong password.
  const model = users.values().next().value?.hash ?? { ...DEFAULT_SCRYPT, salt: Buffer.alloc(16), hash: Buffer.alloc(32) };
  const dummy: ParsedScrypt = { N: model.N, r: model.r, p: model.p, salt: randomBytes(model.salt.length), hash: randomBytes(model.hash.length) };

  const cache = new TtlLru<IdentityOutcome>(CACHE_ENTRIES);
  const inflight = new Map<string, Promise<IdentityOutcome>>();

  const realm = cfg.realm.replace(/["\\]/g, '\\$&');
  const MALFORMED_B64 = fail('malformed', 'Basic credentials are not base64');
  const NO_COLON = fail('malformed', 'Basic credentials have no ":" between user and password');
  const EMPTY = fail('malformed', 'empty Basic credentials');
  const BUSY = fail('unavailable', `more than ${MAX_PENDING_CHECKS} password checks in progress`, 503);

  async function check(user: string, password: string, cacheKey: string): Promise<IdentityOutcome> {
    const rec = users.get(user);
    let matches: boolean;
    try {
      matches = await scryptMatches(password, rec?.hash ?? dummy);
    } catch (err) {
      ctx.log.warn({ identity: cfg.id, err: (err as Error).message }, 'scrypt failed');
      return fail('unavailable', 'password check failed', 503);
    }
    const attempted = (o: IdentityOutcome): IdentityOutcome => (o.kind === 'fail' ? { ...o, attemptedUser: user.slice(0, 256) } : o);
    if (rec === undefined) return attempted(fail('unknown_user', `unknown user ${JSON.stringify(user.slice(0, 100))}`));
    if (rec.revoked) return attempted(fail('revoked', `user ${JSON.stringify(user)} is revoked`));
    if (!matches) return attempted(fail('bad_credentials', `wrong password for user ${JSON.stringify(user)}`));
    cache.set(cacheKey, rec.ok, Date.now() + CACHE_MS);
    return rec.ok;
  }

  function authenticate(req: AuthRequest): IdentityOutcome | Promise<IdentityOutcome> {
    const v = req.headers.authorization;
    if (v === undefined) return NONE;
    const a = authParam(v, ['basic']);
    if (a === null) return NONE;
    const b64 = a.param;
    if (b64.length === 0) return EMPTY;
    if (b64.length > MAX_CREDENTIALS_CHARS) return fail('malformed', 'Basic credentials too long');
    if (!BASE64.test(b64)) return MALFORMED_B64;
    const decoded = Buffer.from(b64, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return NO_COLON;
    const user = decoded.slice(0, colon);
    if (user.length === 0) return fail('malformed', 'Basic credentials have an empty user name');
    const password = decoded.slice(colon + 1);
    // "\0" cannot occur in the hex digest, so distinct (user, password) pairs never share a key.
    const key = `${sha256Hex(password)}\0${user}`;
    const hit = cache.get(key, Date.now());
    if (hit !== undefined) {
      // A user revoked by a reload gets a new method instance (and an empty cache), so a hit is still valid.
      return hit;
    }
    const pending = inflight.get(key);
    if (pending !== undefined) return pending;
    // scrypt is deliberately expensive and runs on libuv's small thread pool (shared with the
    // spool's fsyncs): a flood of distinct guesses is refused (fail closed) rather than queued.
    if (inflight.size >= MAX_PENDING_CHECKS) return BUSY;
    const p = check(user, password, key).finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  }

  let closed = false;
  return {
    id: cfg.id,
    type: 'basic',
    challenge: `Basic realm="${realm}", charset="UTF-8"`,
    authenticate,
    close: async () => {
      if (closed) return;
      closed = true;
      cache.clear();
    },
  };
}
