/**
 * How secrets are stored in configuration: API keys as SHA-256 hex (keys are
 * long random strings, so a fast hash is enough and lookups stay O(1)), user
 * passwords as scrypt "scrypt$N$r$p$<salt b64>$<hash b64>" (people choose
 * guessable passwords, so the stored form must be expensive to brute-force).
 */
import { hash as digest, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

export function hashSecret(secret: string): string {
  return digest('sha256', secret, 'hex');
}

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** N = 2^15 costs ~50-100 ms and 32 MiB per check on current hardware; verification results are cached by the basic method. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 32768, r: 8, p: 1 };

const SALT_BYTES = 16;
const KEY_BYTES = 32;

export interface ParsedScrypt extends ScryptParams {
  salt: Buffer;
  hash: Buffer;
}

/** scrypt needs about 128·N·r bytes; Node refuses above `maxmem`, whose default (32 MiB) is too small for N = 2^15, r = 8 plus overhead. */
function maxmem(p: ScryptParams): number {
  return 128 * p.N * p.r * 2 + (1 << 20);
}

function checkParams(p: ScryptParams): string | null {
  if (!Number.isSafeInteger(p.N) || p.N < 2 || (p.N & (p.N - 1)) !== 0) return 'N must be a power of two ≥ 2';
  if (p.N > 1 << 22) return 'N above 2^22 is refused (each check would need gigabytes)';
  if (!Number.isSafeInteger(p.r) || p.r < 1 || p.r > 64) return 'r must be 1-64';
  if (!Number.isSafeInteger(p.p) || p.p < 1 || p.p > 16) return 'p must be 1-16';
  return null;
}

/** Parses a stored scrypt string; throws an Error saying what is wrong (never echoing the hash). */
export function parseScrypt(encoded: string): ParsedScrypt {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') throw new Error('expected "scrypt$N$r$p$<salt b64>$<hash b64>"');
  const params = { N: Number(parts[1]), r: Number(parts[2]), p: Number(parts[3]) };
  const bad = checkParams(params);
  if (bad) throw new Error(`invalid scrypt parameters: ${bad}`);
  // Node's base64 decoder accepts both the standard and the URL-safe alphabet.
  const salt = Buffer.from(parts[4], 'base64');
  const hash = Buffer.from(parts[5], 'base64');
  if (salt.length < 8) throw new Error('scrypt salt must be at least 8 bytes');
  if (hash.length < 16 || hash.length > 128) throw new Error('scrypt hash must be 16-128 bytes');
  return { ...params, salt, hash };
}

export function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): string {
  const bad = checkParams(params);
  if (bad) throw new Error(`invalid scrypt parameters: ${bad}`);
  const salt = randomBytes(SALT_BYTES);
  const hash = scryptSync(password, salt, KEY_BYTES, { N: params.N, r: params.r, p: params.p, maxmem: maxmem(params) });
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Derives with the stored parameters and compares in constant time. Runs on the libuv thread pool. */
export function scryptMatches(password: string, stored: ParsedScrypt): Promise<boolean> {
  return new Promise((resolve, reject) => {
    scrypt(password, stored.salt, stored.hash.length, { N: stored.N, r: stored.r, p: stored.p, maxmem: maxmem(stored) }, (err, derived) => {
      if (err) reject(err);
      else resolve(timingSafeEqual(derived, stored.hash));
    });
  });
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  return scryptMatches(password, parseScrypt(encoded));
}
