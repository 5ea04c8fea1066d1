/**
 * API keys: the key arrives in a header (or a query parameter), is hashed
 * with SHA-256 and looked up in a Map built once. Hashing first means the
 * lookup never compares the secret itself, so there is no timing oracle on
 * how much of a key matched, and per-request work is constant and
 * synchronous.
 */
import { ApiKeyEntrySchema, type ApiKeyEntry, type ApiKeyIdentityConfig } from '../../../config/access-schema.js';
import type { AuthRequest, IdentityBuildContext, IdentityMethod, IdentityOutcome } from './types.js';
import { NONE, authParam, fail, loadListFile, queryParam, sha256Hex } from './util.js';

interface KeyRecord {
  id: string;
  revoked: boolean;
  /** ms since epoch; Infinity when the key does not expire. */
  expiresAt: number;
  expiresIso: string | null;
  /** Built once: every request with this key returns the same object. */
  ok: IdentityOutcome;
}

type Extracted = string | IdentityOutcome;

const AUTH_SCHEMES = ['bearer', 'apikey'] as const;

function buildTable(entries: readonly ApiKeyEntry[], source: (i: number) => string): Map<string, KeyRecord> {
  const byHash = new Map<string, KeyRecord>();
  const ids = new Map<string, string>();
  entries.forEach((e, i) => {
    const where = source(i);
    const hash = e.sha256.toLowerCase();
    const prevId = ids.get(e.id);
    if (prevId !== undefined) throw new Error(`duplicate API key id "${e.id}" (${prevId} and ${where})`);
    ids.set(e.id, where);
    const clash = byHash.get(hash);
    if (clash) throw new Error(`API keys "${clash.id}" and "${e.id}" have the same sha256 (${where})`);
    const expiresAt = e.expires === undefined ? Infinity : Date.parse(e.expires);
    const identity = Object.freeze({
      userId: e.user,
      userName: e.name ?? null,
      groups: Object.freeze([...e.groups]),
      claims: Object.freeze({ key_id: e.id }),
      keyId: e.id,
    });
    byHash.set(hash, {
      id: e.id,
      revoked: e.revoked,
      expiresAt,
      expiresIso: e.expires ?? null,
      ok: Object.freeze({ kind: 'ok', identity }),
    });
  });
  return byHash;
}

export function createApiKeyMethod(cfg: ApiKeyIdentityConfig, ctx: IdentityBuildContext): IdentityMethod {
  const header = cfg.header.toLowerCase();
  const isAuthorization = header === 'authorization';
  const param = cfg.query_param ?? null;

  const fromFile = cfg.keys_file === undefined ? [] : loadListFile(ctx.baseDir, cfg.keys_file, 'keys', ApiKeyEntrySchema);
  const all = [...cfg.keys, ...fromFile];
  const table = buildTable(all, (i) => (i < cfg.keys.length ? `keys[${i}]` : `${cfg.keys_file}[${i - cfg.keys.length}]`));
  if (table.size === 0) ctx.log.warn({ identity: cfg.id }, 'API key identity has no keys: every key will be refused');

  const malformed = (detail: string) => fail('malformed', detail);
  const MULTIPLE = malformed('API key given more than once');
  const EMPTY = malformed('empty API key');
  const UNKNOWN = fail('unknown_key', 'unknown API key');

  /** The key from the header: a string, NONE, or a fail outcome. */
  function fromHeader(req: AuthRequest): Extracted {
    const v = req.headers[header];
    if (v === undefined) return NONE;
    // Node joins repeated headers with ", " (and keeps only the first Authorization); an array only comes from hand-built headers.
    if (Array.isArray(v)) return v.length === 1 ? checkOne(v[0]) : MULTIPLE;
    if (isAuthorization) {
      const a = authParam(v, AUTH_SCHEMES);
      if (a === null) return NONE; // Basic, Negotiate, ...: another method's credentials
      return checkOne(a.param);
    }
    return checkOne(v);
  }

  function checkOne(raw: string): Extracted {
    const key = raw.trim();
    if (key.length === 0) return EMPTY;
    // Keys are tokens without commas or spaces; a comma means a header was repeated.
    if (key.includes(',')) return MULTIPLE;
    return key;
  }

  function fromQuery(req: AuthRequest): Extracted {
    if (param === null) return NONE;
    const q = queryParam(req.query, param);
    switch (q.kind) {
      case 'absent':
        return NONE;
      case 'multiple':
        return MULTIPLE;
      case 'bad_encoding':
        return malformed(`API key query parameter "${param}" is not valid percent-encoding`);
      case 'one':
        return checkOne(q.value);
    }
  }

  function authenticate(req: AuthRequest): IdentityOutcome {
    const h = fromHeader(req);
    const q = fromQuery(req);
    let key: string;
    if (typeof h === 'string') {
      if (typeof q === 'string' && q !== h) return malformed(`different API keys in header "${header}" and query parameter "${param}"`);
      if (typeof q !== 'string' && q.kind === 'fail') return q;
      key = h;
    } else if (h.kind === 'fail') {
      return h;
    } else if (typeof q === 'string') {
      key = q;
    } else {
      return q;
    }
    const rec = table.get(sha256Hex(key));
    if (rec === undefined) return UNKNOWN;
    if (rec.revoked) return fail('revoked', `API key "${rec.id}" is revoked`);
    if (rec.expiresAt !== Infinity && Date.now() >= rec.expiresAt) return fail('expired', `API key "${rec.id}" expired at ${rec.expiresIso}`);
    return rec.ok;
  }

  return {
    id: cfg.id,
    type: 'api_key',
    challenge: null,
    authenticate,
    close: async () => {},
  };
}
