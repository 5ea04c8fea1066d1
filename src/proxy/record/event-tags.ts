/**
 * Event tags: labels a detection rule's `tag` action puts on a group's
 * subsequent events (e.g. `suspect=endpoint-probing` on everything one
 * client IP does for the next hour). The admin process keeps the list and
 * pushes snapshots to every proxy process; the recorder applies them to each
 * event just before it is spooled, so they work for every outcome, denied and
 * failed requests included. With no tags in force the cost is one size check.
 */
import type { AuditEvent } from '../../core/event.js';
import { GROUP_SEP as SEP, fieldGetter, groupKeyOf } from '../../core/event-field.js';

export interface EventTag {
  /** The group fields and their values, e.g. ["client_ip"] / ["203.0.113.9"]. */
  fields: string[];
  values: string[];
  label: string;
  value: string;
  /** ISO time the tag stops being applied. */
  expires_at: string;
  /** The rule that added it. */
  rule_id: string;
}

interface Index {
  keyOf: (e: AuditEvent) => string | null;
  byValues: Map<string, { label: string; value: string; expires: number }[]>;
}

export class EventTags {
  private indexes: Index[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  replace(tags: readonly EventTag[], now = Date.now()): void {
    const byFields = new Map<string, Index>();
    let count = 0;
    for (const t of tags) {
      const expires = Date.parse(t.expires_at);
      if (!(expires > now)) continue;
      const fk = t.fields.join(SEP);
      let idx = byFields.get(fk);
      if (!idx) {
        idx = { keyOf: groupKeyOf(t.fields.map(fieldGetter)), byValues: new Map() };
        byFields.set(fk, idx);
      }
      const vk = t.values.join(SEP);
      const list = idx.byValues.get(vk) ?? [];
      list.push({ label: t.label, value: t.value, expires });
      idx.byValues.set(vk, list);
      count++;
    }
    this.indexes = [...byFields.values()];
    this.count = count;
  }

  /** Adds the labels of every tag in force whose group this event belongs to. */
  apply(e: AuditEvent, now = Date.now()): void {
    for (const idx of this.indexes) {
      const key = idx.keyOf(e);
      if (key === null) continue;
      const tags = idx.byValues.get(key);
      if (!tags) continue;
      for (const t of tags) {
        if (t.expires <= now) continue;
        // Copy: the labels object may be shared with the route's configured labels.
        e.labels = { ...(e.labels ?? {}), [t.label]: t.value };
      }
    }
  }
}

/**
 * The admin process's list of tags in force: detection adds to it, expired
 * tags drop out on a timer, and every change is pushed to the proxy
 * processes. Tags are not persisted: they are short-lived hints, and the
 * alert that added one keeps the record of it.
 */
export class TagRegistry {
  private tags: EventTag[] = [];
  private timer: NodeJS.Timeout | null = null;
  private listeners = new Set<(tags: EventTag[]) => void>();

  list(now = Date.now()): EventTag[] {
    return this.tags.filter((t) => Date.parse(t.expires_at) > now);
  }

  onChange(fn: (tags: EventTag[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Adds a tag; the same label on the same group is replaced (new value and expiry). */
  add(tag: EventTag): void {
    const same = (t: EventTag) => t.label === tag.label && t.fields.join(SEP) === tag.fields.join(SEP) && t.values.join(SEP) === tag.values.join(SEP);
    this.tags = [...this.list().filter((t) => !same(t)), tag];
    this.changed();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private changed(): void {
    const list = this.list();
    this.tags = list;
    for (const fn of this.listeners) fn(list);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!list.length) return;
    const next = Math.min(...list.map((t) => Date.parse(t.expires_at)));
    this.timer = setTimeout(() => this.changed(), Math.max(0, Math.min(next - Date.now() + 10, 2 ** 31 - 1)));
    this.timer.unref();
  }
}
