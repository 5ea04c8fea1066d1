/**
 * Route matching: compiled once per config, tried in order, first match wins.
 * Hosts match exactly or by wildcard ("*.example.com" matches any name with
 * one or more labels before ".example.com"); path prefixes match on segment
 * boundaries so "/api" never captures "/apix".
 */
import type { RouteConfig } from '../../config/schema.js';

export interface CompiledRoute<P> {
  readonly id: string;
  readonly service: string;
  readonly pool: P;
  readonly config: RouteConfig;
  readonly labels: Readonly<Record<string, string>> | null;
  /** Prefix to strip for the backend, or null. */
  readonly strip: string | null;
}

interface Matcher<P> {
  route: CompiledRoute<P>;
  exact: Set<string> | null;
  suffixes: string[] | null;
  anyHost: boolean;
  prefix: string;
  methods: Set<string> | null;
}

/** Lower-cased host without port or trailing dot. */
export function normalizeHost(h: string | undefined): string {
  if (!h) return '';
  let host = h;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    host = end > 0 ? host.slice(0, end + 1) : host;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host.toLowerCase();
}

/** Splits a request target into path and query (null when absent or empty). */
export function splitTarget(url: string): { path: string; query: string | null } {
  const q = url.indexOf('?');
  if (q === -1) return { path: url, query: null };
  return { path: url.slice(0, q), query: q === url.length - 1 ? null : url.slice(q + 1) };
}

/** The request target the backend receives: `url` with the route's strip_prefix removed. */
export function backendTarget(route: { strip: string | null }, url: string): string {
  if (!route.strip) return url;
  const rest = url.slice(route.strip.length);
  return rest.startsWith('/') ? rest : '/' + rest;
}

export function pathHasPrefix(path: string, prefix: string): boolean {
  if (prefix === '/' || prefix === '') return true;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (!path.startsWith(p)) return false;
  const next = path.charCodeAt(p.length);
  return Number.isNaN(next) || next === 0x2f /* / */;
}

export class Router<P> {
  private readonly matchers: Matcher<P>[];

  /**
   * @param caseSensitive when false (the default of `access.paths.case_sensitive`),
   *   prefixes are compared lower-cased and `match` expects a lower-cased path.
   */
  constructor(routes: readonly RouteConfig[], resolvePool: (name: string) => P, caseSensitive = true) {
    this.matchers = routes.map((r) => {
      const exact = new Set<string>();
      const suffixes: string[] = [];
      for (const h of r.hosts ?? []) {
        const lh = h.toLowerCase();
        if (lh.startsWith('*.')) suffixes.push(lh.slice(1));
        else exact.add(lh);
      }
      const labels = Object.keys(r.labels).length ? r.labels : null;
      return {
        route: { id: r.id, service: r.service ?? r.backend, pool: resolvePool(r.backend), config: r, labels, strip: r.strip_prefix && r.path_prefix !== '/' ? r.path_prefix.replace(/\/$/, '') : null },
        exact: exact.size ? exact : null,
        suffixes: suffixes.length ? suffixes : null,
        anyHost: !r.hosts || r.hosts.length === 0,
        prefix: caseSensitive ? r.path_prefix : r.path_prefix.toLowerCase(),
        // GET routes serve HEAD too, as every HTTP server does.
        methods: r.methods?.length ? new Set(r.methods.includes('GET') ? [...r.methods, 'HEAD'] : r.methods) : null,
      };
    });
  }

  get routes(): CompiledRoute<P>[] {
    return this.matchers.map((m) => m.route);
  }

  /** host: normalized (see normalizeHost); path: without query. */
  match(host: string, path: string, method: string): CompiledRoute<P> | null {
    for (const m of this.matchers) {
      if (!m.anyHost) {
        let ok = m.exact !== null && m.exact.has(host);
        if (!ok && m.suffixes) {
          for (const s of m.suffixes) {
            if (host.length > s.length && host.endsWith(s)) {
              ok = true;
              break;
            }
          }
        }
        if (!ok) continue;
      }
      if (!pathHasPrefix(path, m.prefix)) continue;
      if (m.methods && !m.methods.has(method)) continue;
      return m.route;
    }
    return null;
  }
}
