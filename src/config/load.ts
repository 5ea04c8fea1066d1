/**
 * Config loading: read → substitute ${ENV} → parse YAML → validate with the
 * schema → cross-check references → freeze. Every error is collected with its
 * path (and YAML line), never thrown one at a time, so `tollgate check` and a
 * refused reload show the whole list at once.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode } from 'yaml';
import ipaddr from 'ipaddr.js';
import { normalizeTarget } from '../proxy/route/normalize-path.js';
import { ConfigSchema, parseDuration, type Config } from './schema.js';
import path from 'node:path';
import { loadRulesFile, resolveRules, type RuleError } from '../detect/rules/load.js';
import { DetectSchema } from './detect-schema.js';
import { BuiltinSchema } from '../detect/rules/schema.js';
import { builtinRules } from '../detect/rules/builtin.js';

export interface ConfigError {
  /** Dotted path into the config, e.g. `backends.api.servers[0].address`. */
  path: string;
  message: string;
  line?: number;
}

export type LoadResult = { ok: true; config: Readonly<Config>; source: string } | { ok: false; errors: ConfigError[]; source: string };

const ENV_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces ${NAME} and ${NAME:-default}; an unset NAME without default is an error. */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv, errors: ConfigError[]): string {
  const lines = text.split('\n');
  return lines
    .map((lineText, i) =>
      lineText.startsWith('#') || lineText.trimStart().startsWith('#')
        ? lineText
        : lineText.replace(ENV_RE, (_m, nameStr: string, def: string | undefined) => {
            const v = env[nameStr];
            if (v !== undefined) return v;
            if (def !== undefined) return def;
            errors.push({ path: '(env)', message: `environment variable ${nameStr} is not set (use \${${nameStr}:-default} for a default)`, line: i + 1 });
            return '';
          }),
    )
    .join('\n');
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, source: file, errors: [{ path: '(file)', message: `cannot read ${file}: ${(err as Error).message}` }] };
  }
  return loadConfigText(text, file, env);
}

export function loadConfigText(text: string, source = '(inline)', env: NodeJS.ProcessEnv = process.env): LoadResult {
  const errors: ConfigError[] = [];
  const substituted = substituteEnv(text, env, errors);
  const lineCounter = new LineCounter();
  const doc = parseDocument(substituted, { lineCounter, prettyErrors: false });
  for (const e of doc.errors) {
    errors.push({ path: '(yaml)', message: e.message.split('\n')[0], line: e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line });
  }
  if (doc.errors.length) return { ok: false, source, errors };
  const raw: unknown = doc.toJS() ?? {};
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) errors.push({ path: formatPath(issue.path), message: issue.message, line: lineOf(issue.path) });
  }
  for (const e of crossCheck(raw)) errors.push({ path: e.path, message: e.message, line: lineOf(e.rawPath) });
  // Built-in overrides, rules files, duplicate ids and notifier names: checked together, also when
  // another section has errors (so one run of `tollgate check` lists them all).
  const rawDetect = (raw as { detect?: unknown } | null)?.detect;
  const detect = parsed.success ? parsed.data.detect : DetectSchema.safeParse(rawDetect ?? {}).data;
  const ruleErrors: RuleError[] = [];
  if (detect?.enabled) ruleErrors.push(...resolveRules(detect).errors);
  else if (!detect) {
    // The detect section itself has errors: its built-in overrides and rules files can still be checked on their own.
    const rd = (rawDetect ?? {}) as { rules_files?: unknown; builtin?: unknown };
    const builtin = BuiltinSchema.safeParse(rd.builtin ?? {});
    if (builtin.success) ruleErrors.push(...builtinRules(builtin.data).errors);
    const files = rd.rules_files;
    if (Array.isArray(files)) files.forEach((f, i) => typeof f === 'string' && ruleErrors.push(...loadRulesFile(path.resolve(f)).errors.map((e) => ({ ...e, path: `detect.rules_files[${i}] ${e.path}` }))));
  }
  for (const e of ruleErrors) {
    const rawPath = e.path.startsWith('detect.') && !e.file ? e.path.split(/[.[\]]+/).filter(Boolean).map((k) => (/^\d+$/.test(k) ? Number(k) : k)) : ['detect'];
    errors.push({ path: e.file ? `${e.path} (${e.file}${e.line ? `:${e.line}` : ''})` : e.path, message: e.message, line: lineOf(rawPath) });
  }
  if (!parsed.success || errors.length) return { ok: false, source, errors: sortErrors(errors) };
  return { ok: true, source, config: deepFreeze(parsed.data) };
}

function sortErrors(errors: ConfigError[]): ConfigError[] {
  return errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

interface RawError extends ConfigError {
  rawPath: PropertyKey[];
}

function isValidCidr(s: string): boolean {
  try {
    if (s.includes('/')) ipaddr.parseCIDR(s);
    else ipaddr.parse(s);
    return true;
  } catch {
    return false;
  }
}

type Raw = Record<string, unknown>;
const asObj = (v: unknown): Raw => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : {});
const asArr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const asStr = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Checks that span sections: references, uniqueness, and values zod can't
 * judge alone. Runs on the raw document, so these errors are reported together
 * with the schema's even when the schema already failed.
 */
function crossCheck(rawDoc: unknown): RawError[] {
  const out: RawError[] = [];
  const err = (rawPath: PropertyKey[], message: string) => out.push({ rawPath, path: formatPath(rawPath), message });
  const c = asObj(rawDoc);
  const backends = asObj(c.backends);

  const routeIds = new Map<string, number>();
  asArr(c.routes).forEach((rv, i) => {
    const r = asObj(rv);
    const id = asStr(r.id);
    if (id !== undefined) {
      if (routeIds.has(id)) err(['routes', i, 'id'], `duplicate route id "${id}" (also routes[${routeIds.get(id)}])`);
      routeIds.set(id, i);
    }
    const backend = asStr(r.backend);
    if (backend !== undefined && !(backend in backends)) {
      const known = Object.keys(backends);
      err(['routes', i, 'backend'], `unknown backend pool "${backend}"${known.length ? ` (known: ${known.join(', ')})` : ' (no backends are defined)'}`);
    }
    asArr(r.hosts).forEach((h, j) => {
      if (typeof h === 'string' && !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(h))
        err(['routes', i, 'hosts', j], `invalid host pattern "${h}": use "example.com" or "*.example.com"`);
    });
  });

  const addrs = new Map<string, string>();
  const noteAddr = (a: string | undefined, where: PropertyKey[]) => {
    if (a === undefined) return;
    const prev = addrs.get(a);
    if (prev) err(where, `address ${a} is already used by ${prev}`);
    else addrs.set(a, formatPath(where));
  };
  const listenerNames = new Set<string>();
  asArr(c.listeners).forEach((lv, i) => {
    const l = asObj(lv);
    noteAddr(asStr(l.address), ['listeners', i, 'address']);
    const ca = asStr(asObj(l.tls).client_ca);
    if (ca !== undefined) {
      try {
        readFileSync(ca);
      } catch (e) {
        err(['listeners', i, 'tls', 'client_ca'], `cannot read ${ca}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    const lname = asStr(l.name) ?? 'http';
    if (listenerNames.has(lname)) err(['listeners', i, 'name'], `duplicate listener name "${lname}"`);
    listenerNames.add(lname);
    asArr(asObj(l.tls).certificates).forEach((cv, j) => {
      const cert = asObj(cv);
      for (const k of ['cert', 'key'] as const) {
        const file = asStr(cert[k]);
        if (file === undefined) continue;
        try {
          readFileSync(file);
        } catch (e) {
          err(['listeners', i, 'tls', 'certificates', j, k], `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      }
    });
  });
  noteAddr(asStr(asObj(c.admin).address) ?? '127.0.0.1:9191', ['admin', 'address']);

  for (const [poolName, pv] of Object.entries(backends)) {
    const pool = asObj(pv);
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(poolName)) err(['backends', poolName], `invalid pool name "${poolName}"`);
    const algorithm = asStr(pool.algorithm) ?? 'round_robin';
    const hashOn = pool.hash_on === undefined ? undefined : asObj(pool.hash_on);
    if (hashOn && algorithm !== 'consistent_hash') err(['backends', poolName, 'hash_on'], `hash_on only applies to algorithm consistent_hash (this pool uses ${algorithm})`);
    if (hashOn && (hashOn.by === 'header' || hashOn.by === 'cookie') && !asStr(hashOn.name))
      err(['backends', poolName, 'hash_on', 'name'], `hash_on.by ${String(hashOn.by)} needs a name`);
    const seen = new Set<string>();
    asArr(pool.servers).forEach((sv, i) => {
      const a = asStr(asObj(sv).address);
      if (a === undefined) return;
      if (seen.has(a)) err(['backends', poolName, 'servers', i, 'address'], `duplicate server ${a} in pool "${poolName}"`);
      seen.add(a);
    });
    const hc = pool.health_check === undefined ? undefined : asObj(pool.health_check);
    if (hc) {
      // Only a timeout the user set: the default (2 s) shrinks to a shorter interval by itself.
      const interval = parseDuration((hc.interval as string | number | undefined) ?? '5s');
      const timeout = hc.timeout === undefined ? null : parseDuration(hc.timeout as string | number);
      if (interval !== null && timeout !== null && timeout > interval) err(['backends', poolName, 'health_check', 'timeout'], 'timeout must not exceed interval');
    }
    const outlier = asObj(pool.outlier);
    const base = parseDuration((outlier.base_ejection as string | number | undefined) ?? '10s');
    const max = parseDuration((outlier.max_ejection as string | number | undefined) ?? '5m');
    if (base !== null && max !== null && max < base) err(['backends', poolName, 'outlier', 'max_ejection'], 'max_ejection must be at least base_ejection');
  }

  asArr(asObj(c.proxy).trusted_proxies).forEach((p, i) => {
    if (typeof p === 'string' && !isValidCidr(p)) err(['proxy', 'trusted_proxies', i], `invalid IP address or CIDR "${p}"`);
  });
  checkAccess(c, err);
  return out;
}

/** References between routes and identity methods, CIDRs, unique ids, secrets each method needs. */
function checkAccess(c: Raw, err: (rawPath: PropertyKey[], message: string) => void): void {
  const access = asObj(c.access);
  const identities = new Map<string, string>();
  const mtlsListeners = asArr(c.listeners).some((l) => asStr(asObj(asObj(l).tls).client_ca) !== undefined);
  asArr(access.identities).forEach((iv, i) => {
    const m = asObj(iv);
    const id = asStr(m.id);
    const type = asStr(m.type) ?? '';
    if (id !== undefined) {
      if (identities.has(id)) err(['access', 'identities', i, 'id'], `duplicate identity id "${id}"`);
      identities.set(id, type);
    }
    if (type === 'jwt') {
      const algs = asArr(m.algorithms).length ? asArr(m.algorithms).map(String) : ['RS256', 'ES256', 'EdDSA'];
      const hs = algs.some((a) => a.startsWith('HS'));
      const asym = algs.some((a) => !a.startsWith('HS'));
      if (hs && !asStr(m.secret)) err(['access', 'identities', i, 'secret'], 'HS* algorithms need a `secret`');
      if (asym && m.jwks === undefined && !asStr(m.jwks_url) && m.discovery !== true)
        err(['access', 'identities', i], 'asymmetric algorithms need `jwks`, `jwks_url` or `discovery: true`');
      if (m.discovery === true && !asStr(m.issuer)) err(['access', 'identities', i, 'issuer'], '`discovery: true` needs the `issuer` URL');
      const secret = asStr(m.secret);
      if (secret !== undefined && Buffer.byteLength(secret) < 32) err(['access', 'identities', i, 'secret'], 'an HS* secret must be at least 32 bytes (RFC 7518 §3.2)');
    }
    for (const k of ['keys_file', 'users_file'] as const) {
      const file = asStr(m[k]);
      if (file === undefined) continue;
      try {
        readFileSync(file);
      } catch (e) {
        err(['access', 'identities', i, k], `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    if (type === 'mtls' && !mtlsListeners) err(['access', 'identities', i], 'an mtls identity needs a listener with `tls.client_ca`');
    const keyIds = new Set<string>();
    asArr(m.keys).forEach((kv, j) => {
      const kid = asStr(asObj(kv).id);
      if (kid === undefined) return;
      if (keyIds.has(kid)) err(['access', 'identities', i, 'keys', j, 'id'], `duplicate key id "${kid}"`);
      keyIds.add(kid);
    });
  });
  for (const k of ['ip_allow', 'ip_deny'] as const) {
    asArr(access[k]).forEach((p, i) => {
      if (typeof p === 'string' && !isValidCidr(p)) err(['access', k, i], `invalid IP address or CIDR "${p}"`);
    });
  }
  asArr(c.routes).forEach((rv, i) => {
    const ra = asObj(asObj(rv).access);
    asArr(ra.identities).forEach((idv, j) => {
      const id = asStr(idv);
      if (id !== undefined && !identities.has(id))
        err(['routes', i, 'access', 'identities', j], `unknown identity "${id}"${identities.size ? ` (known: ${[...identities.keys()].join(', ')})` : ' (access.identities is empty)'}`);
    });
    const checkPath = (v: unknown, where: PropertyKey[]) => {
      if (typeof v !== 'string' || !v.startsWith('/')) return;
      const n = normalizeTarget(v, { semicolons: 'strip', caseSensitive: true });
      // Request paths are normalized before matching: a pattern in another form would never match.
      if (!n.ok) err(where, `path "${v}" is not valid in a request path: ${n.reason}`);
      else if (n.path !== v) err(where, `write the path "${v}" in its normalized form "${n.path}" (request paths are normalized before they are matched)`);
    };
    checkPath(asObj(rv).path_prefix, ['routes', i, 'path_prefix']);
    const ruleIds = new Set<string>();
    const noteRule = (id: string | undefined, where: PropertyKey[]) => {
      if (id === undefined) return;
      if (ruleIds.has(id)) err(where, `duplicate rule id "${id}" in this route`);
      ruleIds.add(id);
    };
    asArr(ra.rules).forEach((rule, j) => {
      const r = asObj(rule);
      noteRule(asStr(r.id), ['routes', i, 'access', 'rules', j, 'id']);
      asArr(r.paths).forEach((pv, k) => checkPath(pv, ['routes', i, 'access', 'rules', j, 'paths', k]));
      asArr(r.source).forEach((p, k) => {
        if (typeof p === 'string' && !isValidCidr(p)) err(['routes', i, 'access', 'rules', j, 'source', k], `invalid IP address or CIDR "${p}"`);
      });
      const needsIdentity = r.users !== undefined || r.groups !== undefined || r.claims !== undefined || r.authenticated === true;
      if (needsIdentity && !asArr(ra.identities).length)
        err(['routes', i, 'access', 'rules', j], 'this rule matches identities but the route has no `identities` to establish them');
    });
    asArr(ra.rate_limits).forEach((lv, j) => {
      const l = asObj(lv);
      noteRule(asStr(l.id), ['routes', i, 'access', 'rate_limits', j, 'id']);
      asArr(l.paths).forEach((pv, k) => checkPath(pv, ['routes', i, 'access', 'rate_limits', j, 'paths', k]));
      if ((l.by === 'user' || l.by === 'api_key') && !asArr(ra.identities).length)
        err(['routes', i, 'access', 'rate_limits', j, 'by'], `a limit by ${String(l.by)} needs identities on the route`);
    });
  });
}

function deepFreeze<T>(o: T): Readonly<T> {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
