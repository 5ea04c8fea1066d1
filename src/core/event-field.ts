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
