/**
 * Reading one field of an event by name — a catalog field, or a key inside
 * the labels/headers/extra maps — as detection rules and event tags name them.
 */
import type { AuditEvent } from './event.js';

export type FieldGetter = (e: AuditEvent) => unknown;

const JSON_MAPS = new Set(['labels', 'headers', 'extra']);

/** A getter for `status`, `labels.team`, `headers.req.user-agent`, `extra.elb_status_code`. */
export function fieldGetter(field: string): FieldGetter {
  const dot = field.indexOf('.');
  if (dot === -1) {
    // A getter with the name written out (e.status) is a monomorphic property load; e[field] with a
    // variable key is a generic lookup, per event per rule. Only plain identifiers are compiled.
    if (!/^[a-z_][a-z0-9_]*$/.test(field)) return (e) => (e as unknown as Record<string, unknown>)[field];
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    return new Function('e', `return e.${field};`) as FieldGetter;
  }
  const map = field.slice(0, dot);
  const key = field.slice(dot + 1);
  if (!JSON_MAPS.has(map)) throw new Error(`"${field}": only labels, headers and extra have keys`);
  return (e) => {
    const m = (e as unknown as Record<string, Record<string, string> | null>)[map];
    return m ? m[key] ?? null : null;
  };
}

/** The value as text for group keys and distinct counting (null stays null). */
export function fieldText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : String(v);
}

/** Joins group values into one key (a character no header or path value carries). */
export const GROUP_SEP = '\u0001';

/**
 * The key of the group an event belongs to, for the given fields' values
 * joined by GROUP_SEP, or null when one of them is absent or empty (the event
 * cannot be attributed). Detection rules and event tags both group this way.
 */
export function groupKeyOf(getters: readonly FieldGetter[]): (e: AuditEvent) => string | null {
  if (getters.length === 0) return () => '';
  if (getters.length === 1) {
    const get = getters[0];
    return (e) => {
      const v = fieldText(get(e));
      return v === null || v === '' ? null : v;
    };
  }
  if (getters.length === 2) {
    // Two fields (e.g. host and path): the joined key is interned, so an event's key is the same string
    // object as last time — no new string to build and hash on every event. Bounded: cleared when large.
    const [ga, gb] = getters;
    let interned = new Map<string, Map<string, string>>();
    let size = 0;
    return (e) => {
      const a = fieldText(ga(e));
      const b = fieldText(gb(e));
      if (a === null || a === '' || b === null || b === '') return null;
      let inner = interned.get(a);
      if (!inner) {
        if (size > 100_000) {
          interned = new Map();
          size = 0;
        }
        interned.set(a, (inner = new Map()));
      }
      let key = inner.get(b);
      if (key === undefined) {
        inner.set(b, (key = a + GROUP_SEP + b));
        size++;
      }
      return key;
    };
  }
  return (e) => {
    let key = '';
    for (let i = 0; i < getters.length; i++) {
      const v = fieldText(getters[i](e));
      if (v === null || v === '') return null;
      key = i === 0 ? v : key + GROUP_SEP + v;
    }
    return key;
  };
}
