/**
 * Path patterns for policy rules and rate limits, matched against the
 * normalized path: "/admin" (exactly), "/admin/*" (one segment below),
 * "/admin/**" (anything below, and "/admin" itself), "*" inside a segment
 * ("/v*\/users"). Compiled once into a single regular expression.
 */

function escapeRe(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

export function patternToRegExpSource(pattern: string): string {
  let p = pattern;
  let tail = '';
  if (p.endsWith('/**')) {
    p = p.slice(0, -3);
    tail = '(?:/.*)?';
  }
  const body = p
    .split('**')
    .map((part) => part.split('*').map(escapeRe).join('[^/]*'))
    .join('.*');
  return body + tail;
}

export function compilePathPatterns(patterns: readonly string[], caseSensitive: boolean): (path: string) => boolean {
  const exact = new Set<string>();
  const globs: string[] = [];
  for (const raw of patterns) {
    const p = caseSensitive ? raw : raw.toLowerCase();
    if (p.includes('*')) globs.push(patternToRegExpSource(p));
    else exact.add(p);
  }
  const re = globs.length ? new RegExp(`^(?:${globs.join('|')})$`) : null;
  if (!re) return (path) => exact.has(path);
  if (!exact.size) return (path) => re.test(path);
  return (path) => exact.has(path) || re.test(path);
}
