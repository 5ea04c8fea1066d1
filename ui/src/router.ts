/**
 * Hash routing: #/page?filters. Everything a page shows is in its URL (a
 * search can be shared by copying it), and nothing secret ever is.
 */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  page: string;
  /** Path after the page, e.g. the id in #/event/<id>. */
  arg: string | null;
  params: URLSearchParams;
}

export function parseRoute(hash = location.hash): Route {
  const h = hash.replace(/^#\/?/, '');
  const q = h.indexOf('?');
  const path = q === -1 ? h : h.slice(0, q);
  const [page, ...rest] = path.split('/');
  return { page: page || 'overview', arg: rest.length ? decodeURIComponent(rest.join('/')) : null, params: new URLSearchParams(q === -1 ? '' : h.slice(q + 1)) };
}

export function href(page: string, params: Record<string, string | null | undefined> = {}, arg?: string): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') p.set(k, v);
  const qs = p.toString();
  return `#/${page}${arg ? '/' + encodeURIComponent(arg) : ''}${qs ? '?' + qs : ''}`;
}

export function navigate(page: string, params: Record<string, string | null | undefined> = {}, arg?: string): void {
  location.hash = href(page, params, arg);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(parseRoute());
  useEffect(() => {
    const on = () => setRoute(parseRoute());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
