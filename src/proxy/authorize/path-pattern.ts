/**
 * Path patterns for policy rules and rate limits, matched against the
 * normalized path: "/admin" (exactly), "/admin/*" (one segment below),
 * "/admin/**" (anything below, and "/admin" itself), "*" inside a segment
 * ("/v*\/users").
 *
 * The path is attacker-controlled, so matching must not backtrack
 * catastrophically: a regular expression built from "/a*a*a*b" takes
 * polynomial time on "/aaaa…". This is the classic wildcard matcher with a
 * single backtrack point, applied twice — to segments (for "**") and to
 * characters within a segment (for "*") — so a match costs at most
 * O(pattern × path).
 */

/**
 * The classic wildcard match with a single backtrack point: `p` against `s`,
 * where `isStar(p[i])` matches any run (including none) and `same` compares a
 * pattern item with a subject item. O(|p| × |s|) at worst.
 */
function wildcard<P, S>(p: ArrayLike<P>, s: ArrayLike<S>, isStar: (x: P) => boolean, same: (x: P, y: S) => boolean): boolean {
  let pi = 0;
  let si = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    if (pi < p.length && !isStar(p[pi]) && same(p[pi], s[si])) {
      pi++;
      si++;
    } else if (pi < p.length && isStar(p[pi])) {
      star = pi++;
      mark = si;
    } else if (star !== -1) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && isStar(p[pi])) pi++;
  return pi === p.length;
}

const isCharStar = (c: string): boolean => c === '*';
const sameChar = (a: string, b: string): boolean => a === b;
const isSegmentStar = (seg: string): boolean => seg === '**';

/** "*" within one segment: any run of characters. */
function segmentMatches(p: string, s: string): boolean {
  return wildcard(p, s, isCharStar, sameChar);
}

/** "**" as a whole segment: any number of segments (including none); "*" inside a segment. */
function segmentsMatch(p: readonly string[], s: readonly string[]): boolean {
  return wildcard(p, s, isSegmentStar, segmentMatches);
}

/** "/admin/" and "/admin" are the same resource to most backends (Express, Spring): one trailing slash is ignored. */
function withoutTrailingSlash(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

export function compilePathPatterns(patterns: readonly string[], caseSensitive: boolean): (path: string) => boolean {
  const exact = new Set<string>();
  const globs: string[][] = [];
  for (const raw of patterns) {
    const p = withoutTrailingSlash(caseSensitive ? raw : raw.toLowerCase());
    if (p.includes('*')) globs.push(p.split('/'));
    else exact.add(p);
  }
  if (!globs.length) return (path) => exact.has(withoutTrailingSlash(path));
  return (raw) => {
    const path = withoutTrailingSlash(raw);
    if (exact.has(path)) return true;
    const segs = path.split('/');
    for (const g of globs) if (segmentsMatch(g, segs)) return true;
    return false;
  };
}
