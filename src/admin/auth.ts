/**
 * Admin API authentication: Bearer tokens stored as SHA-256 hashes, each with
 * a role. Roles are ordered — viewer < operator < admin — and every endpoint
 * names the least role it needs. With no token configured, a random admin
 * token is generated once and kept in `admin.token_file` (mode 0600), so a
 * fresh install is never an open admin API and the CLI on the same machine
 * can still talk to it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AdminTokenConfig } from '../config/access-schema.js';

export type Role = 'viewer' | 'operator' | 'admin';
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

export function roleAllows(have: Role, need: Role): boolean {
  return RANK[have] >= RANK[need];
}

export interface AdminCaller {
  tokenId: string;
  role: Role;
}

export type AdminAuthResult = { ok: true; caller: AdminCaller } | { ok: false; error: 'missing' | 'malformed' | 'unknown_key'; detail: string };

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** Reads the generated token, or creates one. Returns the token text. */
export function ensureGeneratedToken(file: string): string {
  try {
    const t = readFileSync(file, 'utf8').trim();
    if (t) return t;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const token = `tga_${randomBytes(32).toString('base64url')}`;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  return token;
}

export class AdminAuth {
  private readonly byHash = new Map<string, AdminCaller>();

  constructor(tokens: readonly AdminTokenConfig[], generated: string | null) {
    for (const t of tokens) this.byHash.set(t.sha256.toLowerCase(), { tokenId: t.id, role: t.role });
    if (generated) this.byHash.set(sha256Hex(generated), { tokenId: 'generated', role: 'admin' });
  }

  authenticate(authorization: string | undefined): AdminAuthResult {
    if (!authorization) return { ok: false, error: 'missing', detail: 'no Authorization header' };
    const m = /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(authorization);
    if (!m) return { ok: false, error: 'malformed', detail: 'expected "Authorization: Bearer <token>"' };
    const caller = this.byHash.get(sha256Hex(m[1]));
    if (!caller) return { ok: false, error: 'unknown_key', detail: 'token not recognized' };
    return { ok: true, caller };
  }
}
