/**
 * Compiles a rule's `match` (field tests combined with all/any/not) into one
 * closure over the event, once per rule load: regexes, globs and CIDR sets are
 * built here, so evaluating an event is a few property reads and comparisons.
 */
import type { AuditEvent } from '../../core/event.js';
import { createCidrMatcher } from '../../core/ip.js';
import type { FieldTest, Predicate } from './schema.js';
import { fieldGetter, fieldText, type FieldGetter } from '../../core/event-field.js';

export { fieldGetter, fieldText, type FieldGetter };

export type EventPredicate = (e: AuditEvent) => boolean;

function asNumber(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/** Equality as a human writing YAML means it: 401 equals "401", true equals "true". */
function equalsValue(expected: string | number | boolean | null): (v: unknown) => boolean {
  if (expected === null) return (v) => v === null || v === undefined;
  if (typeof expected === 'number') return (v) => v === expected || asNumber(v) === expected;
  const text = String(expected);
  return (v) => v !== null && v !== undefined && (v === expected || String(v) === text);
}

/** `*` any run of characters (slashes included), `?` one character; anchored. */
export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${globSource(glob)}$`, 's');
}

/** A glob as regular-expression source, unanchored. */
function globSource(glob: string): string {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return re;
}

function compileTest(t: FieldTest): EventPredicate {
  const get = fieldGetter(t.field);
  if (t.equals !== undefined) {
    const eq = equalsValue(t.equals);
    return (e) => eq(get(e));
  }
  if (t.in !== undefined) {
    const texts = new Set<string>();
    let wantsNull = false;
    for (const v of t.in) {
      if (v === null) wantsNull = true;
      else texts.add(String(v));
    }
    // Numbers (status, bytes) are looked up as numbers: String(v) per event would build a string.
    const numbers = new Set<number>();
    // Only canonical spellings: String(Number(t)) === t refuses '', ' 5', '05', '5.0'.
    for (const t of texts) if (String(Number(t)) === t) numbers.add(Number(t));
    return (e) => {
      const v = get(e);
      if (v === null || v === undefined) return wantsNull;
      if (typeof v === 'number') return numbers.has(v);
      return texts.has(typeof v === 'string' ? v : String(v));
    };
  }
  if (t.prefix !== undefined) {
    const p = t.prefix;
    return (e) => {
      const v = get(e);
      return typeof v === 'string' && v.startsWith(p);
    };
  }
  if (t.glob !== undefined) {
    // All patterns in one alternation: one regex run per event instead of one per pattern.
    const globs = Array.isArray(t.glob) ? t.glob : [t.glob];
    const re = new RegExp(`^(?:${globs.map(globSource).join('|')})$`, 's');
    return (e) => {
      const v = fieldText(get(e));
      return v !== null && re.test(v);
    };
  }
  if (t.regex !== undefined) {
    const re = new RegExp(t.regex);
    return (e) => {
      const v = fieldText(get(e));
      return v !== null && re.test(v);
    };
  }
  if (t.cidr !== undefined) {
    const inRange = createCidrMatcher(Array.isArray(t.cidr) ? t.cidr : [t.cidr]);
    return (e) => {
      const v = get(e);
      return typeof v === 'string' && inRange(v);
    };
  }
  const numeric = (cmp: (n: number) => boolean): EventPredicate => (e) => {
    const n = asNumber(get(e));
    return n !== null && cmp(n);
  };
  if (t.gt !== undefined) {
    const x = t.gt;
    return numeric((n) => n > x);
  }
  if (t.gte !== undefined) {
    const x = t.gte;
    return numeric((n) => n >= x);
  }
  if (t.lt !== undefined) {
    const x = t.lt;
    return numeric((n) => n < x);
  }
  if (t.lte !== undefined) {
    const x = t.lte;
    return numeric((n) => n <= x);
  }
  if (t.class !== undefined) {
    const classes = Array.isArray(t.class) ? t.class : [t.class];
    const hundreds = new Set(classes.filter((c) => c !== 'none').map((c) => Number(c[0])));
    const none = classes.includes('none');
    return (e) => {
      const n = asNumber(get(e));
      return n === null ? none : hundreds.has(Math.floor(n / 100));
    };
  }
  if (t.exists !== undefined) {
    const want = t.exists;
    return (e) => {
      const v = get(e);
      return (v !== null && v !== undefined && v !== '') === want;
    };
  }
  // The schema requires one operator; an empty test would be a schema bug.
  throw new Error(`field test on ${t.field} has no operator`);
}

/**
 * Relative cost of evaluating a predicate, to order the parts of all/any:
 * the parts are pure, so evaluating cheap tests first (a status check before
 * a regex over the path) gives the same answer sooner for most events.
 */
function costOf(p: Predicate): number {
  if ('all' in p) return p.all.reduce((n, q) => n + costOf(q), 0);
  if ('any' in p) return p.any.reduce((n, q) => n + costOf(q), 0);
  if ('not' in p) return costOf(p.not);
  const keyed = p.field.includes('.') ? 1 : 0;
  if (p.regex !== undefined || p.glob !== undefined) return 8 + keyed;
  if (p.cidr !== undefined) return 4 + keyed;
  if (p.prefix !== undefined || p.in !== undefined) return 2 + keyed;
  return 1 + keyed;
}

function byCost(parts: readonly Predicate[]): Predicate[] {
  return parts
    .map((q, i) => ({ q, i, c: costOf(q) }))
    .sort((a, b) => a.c - b.c || a.i - b.i)
    .map((x) => x.q);
}

export function compilePredicate(p: Predicate | undefined): EventPredicate {
  if (p === undefined) return () => true;
  if ('all' in p) {
    const parts = byCost(p.all).map(compilePredicate);
    if (parts.length === 1) return parts[0];
    if (parts.length === 2) {
      const [a, b] = parts;
      return (e) => a(e) && b(e);
    }
    return (e) => {
      for (const f of parts) if (!f(e)) return false;
      return true;
    };
  }
  if ('any' in p) {
    const parts = byCost(p.any).map(compilePredicate);
    if (parts.length === 1) return parts[0];
    if (parts.length === 2) {
      const [a, b] = parts;
      return (e) => a(e) || b(e);
    }
    return (e) => {
      for (const f of parts) if (f(e)) return true;
      return false;
    };
  }
  if ('not' in p) {
    const inner = compilePredicate(p.not);
    return (e) => !inner(e);
  }
  return compileTest(p);
}
