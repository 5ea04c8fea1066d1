/**
 * Small helpers shared by the identity methods: a bounded TTL cache, reading
 * one credential out of headers, cookies and query strings without building
 * whole parsed objects per request, and loading the key/user side files.
 */
import { hash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import type { IdentityOutcome, AuthError } from './types.js';

/** One-shot hash: no Hash object per call on the per-request path. */
export function sha256Hex(s: string): string {
  return hash('sha256', s, 'hex');
}

/** A fail outcome; status only when it is not the default 401. */
export function fail(error: AuthError, detail: string, status?: 401 | 403 | 503): IdentityOutcome {
  return status === undefined ? { kind: 'fail', error, detail } : { kind: 'fail', error, detail, status };
}

/** Shared so the "no credential" path allocates nothing. */
export const NONE: IdentityOutcome = Object.freeze({ kind: 'none' });

/**
 * A bounded map whose entries expire. Recency is refreshed on every hit
 * (delete + set moves a key to the end of the Map's insertion order), so the
 * first key in iteration order is always the least recently used one.
 */
export class TtlLru<V> {
  private readonly map = new Map<string, { value: V; expiresAt: number }>();
  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string, now: number): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (now >= e.expiresAt) {
      this.map.delete(key);
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  set(key: string, value: V, expiresAt: number): void {
    this.map.delete(key);
    if (this.map.size >= this.maxEntries) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, { value, expiresAt });
  }

  clear(): void {
    this.map.clear();
  }
}

/** A header value as one string; null when absent; an array (only possible for set-cookie or hand-built headers) is returned as is. */
export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | string[] | null {
  const v = headers[name];
  return v === undefined ? null : v;
}

/**
 * Splits "Scheme credentials" when the scheme is one of `schemes` (lower
 * case; compared case-insensitively as RFC 9110 requires). Returns null when
 * the header uses another scheme, so another method can claim it.
 */
export function authParam(value: string, schemes: readonly string[]): { scheme: string; param: string } | null {
  const sp = value.indexOf(' ');
  const scheme = (sp < 0 ? value : value.slice(0, sp)).toLowerCase();
  if (!schemes.includes(scheme)) return null;
  return { scheme, param: sp < 0 ? '' : value.slice(sp + 1).trim() };
}

/**
 * The value of cookie `name` in a Cookie header, null when absent, or
 * `MULTIPLE_COOKIES` when it appears more than once (we would check one copy
 * and the backend might read the other).
 */
export const MULTIPLE_COOKIES = Symbol('multiple cookies');
export function cookieValue(header: string | string[] | undefined, name: string): string | null | typeof MULTIPLE_COOKIES {
  if (header === undefined) return null;
  const s = Array.isArray(header) ? header.join('; ') : header;
  let found: string | null = null;
  let i = 0;
  while (i < s.length) {
    let end = s.indexOf(';', i);
    if (end < 0) end = s.length;
    const eq = s.indexOf('=', i);
    if (eq > i && eq < end && s.slice(i, eq).trim() === name) {
      if (found !== null) return MULTIPLE_COOKIES;
      let v = s.slice(eq + 1, end).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      found = v;
    }
    i = end + 1;
  }
  return found;
}

export type QueryParam = { kind: 'absent' } | { kind: 'one'; value: string } | { kind: 'multiple' } | { kind: 'bad_encoding' };

const ABSENT: QueryParam = { kind: 'absent' };

/**
 * Finds parameter `name` in a raw query string (form-encoding rules, as
 * URLSearchParams: "+" is a space). Scans instead of building a
 * URLSearchParams so requests without the parameter cost one indexOf.
 */
export function queryParam(query: string | null, name: string): QueryParam {
  if (query === null || query.length === 0 || !query.includes(name)) return ABSENT;
  let found: string | null = null;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    let n: string;
    try {
      n = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      continue; // a different, badly encoded parameter is not ours to judge
    }
    if (n !== name) continue;
    if (found !== null) return { kind: 'multiple' };
    try {
      found = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      return { kind: 'bad_encoding' };
    }
  }
  return found === null ? ABSENT : { kind: 'one', value: found };
}

/** A dotted path into claims; a key that itself contains dots (URL-namespaced claims) wins over the path reading. */
export function claimAt(obj: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.prototype.hasOwnProperty.call(obj, path)) return obj[path];
  if (!path.includes('.')) return undefined;
  let cur: unknown = obj;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, seg)) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

/** Groups from an array claim or a space/comma separated string. */
export function groupsFrom(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((g): g is string => typeof g === 'string' && g.length > 0);
  if (typeof v === 'string') return v.split(/[\s,]+/).filter((g) => g.length > 0);
  return [];
}

/**
 * Reads a YAML or JSON side file (keys_file, users_file) holding a list of
 * entries (or `{ <listKey>: [...] }`) and validates each entry. Errors name the
 * file and the entry so a reload failure points at the line to fix.
 */
export function loadListFile<T extends z.ZodType>(baseDir: string, file: string, listKey: string, itemSchema: T): z.output<T>[] {
  const path = resolve(baseDir, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${listKey} file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`${listKey} file ${path} is not valid YAML or JSON: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  if (!Array.isArray(doc) && typeof doc === 'object' && Array.isArray((doc as Record<string, unknown>)[listKey])) {
    doc = (doc as Record<string, unknown>)[listKey];
  }
  if (!Array.isArray(doc)) throw new Error(`${listKey} file ${path} must hold a list of ${listKey} (or an object with a "${listKey}" list)`);
  return doc.map((item, i) => {
    const r = itemSchema.safeParse(item);
    if (!r.success) {
      const issue = r.error.issues[0];
      const where = issue.path.length ? `.${issue.path.join('.')}` : '';
      throw new Error(`${listKey} file ${path}: entry ${i}${where}: ${issue.message}`);
    }
    return r.data;
  });
}
