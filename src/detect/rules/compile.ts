/**
 * A rule as the engine runs it: predicates compiled, group key and dedup key
 * builders, schedule, and a measure() that reads the condition's value out of
 * a group's windows. Built once per rules load.
 */
import type { AuditEvent } from '../../core/event.js';
import { compileTimeWindow } from '../../core/time-window.js';
import { compilePredicate, fieldGetter, fieldText, type EventPredicate, type FieldGetter } from './predicate.js';
import { groupKeyOf } from '../../core/event-field.js';
import type { ActionConfig, Predicate, RuleConfig } from './schema.js';
import type { Severity } from '../types.js';

export interface CompiledRule {
  readonly id: string;
  readonly config: RuleConfig;
  readonly severity: Severity;
  readonly match: EventPredicate;
  /** For count/rate/distinct: which matched events are counted. */
  readonly where: EventPredicate | null;
  /** For ratio: the numerator. */
  readonly of: EventPredicate | null;
  readonly history: { windowMs: number; where: EventPredicate; minCount: number } | null;
  /** Event time → active. */
  readonly active: ((ms: number) => boolean) | null;
  readonly groupFields: readonly string[];
  readonly groupGetters: readonly FieldGetter[];
  /** distinct: the field counted; percentile: the numeric field. */
  readonly valueGetter: FieldGetter | null;
  readonly windowMs: number;
  readonly threshold: number;
  readonly strict: boolean;
  readonly minCount: number;
  readonly actions: readonly ActionConfig[];
  /** A stable digest of the definition: a reload keeps the state of rules whose digest is unchanged. */
  readonly digest: string;
  /** The group key of an event (group values joined), or null when a group field is empty. */
  keyOf(e: AuditEvent): string | null;
  dedupKey(values: readonly (string | null)[]): string;
}


export function compileRule(r: RuleConfig): CompiledRule {
  const c = r.condition;
  const groupGetters = r.group_by.map(fieldGetter);
  let active: ((ms: number) => boolean) | null = null;
  if (r.schedule?.inside) active = compileTimeWindow(r.schedule.inside);
  else if (r.schedule?.outside) {
    const inside = compileTimeWindow(r.schedule.outside);
    active = (ms) => !inside(ms);
  }
  const template = r.dedup_key;
  const dedupKey = template
    ? (values: readonly (string | null)[]) =>
        template.replace(/\{([^}]*)\}/g, (_, name: string) => (name === 'rule_id' ? r.id : values[r.group_by.indexOf(name)] ?? ''))
    : (values: readonly (string | null)[]) => (values.length ? `${r.id}:${values.join(',')}` : r.id);
  return {
    id: r.id,
    config: r,
    severity: r.severity as Severity,
    match: compilePredicate(r.match),
    where: 'where' in c && c.where ? compilePredicate(c.where) : null,
    of: c.type === 'ratio' ? compilePredicate(c.of) : null,
    history: r.history ? { windowMs: r.history.window, where: compilePredicate(r.history.where), minCount: r.history.min_count } : null,
    active,
    groupFields: r.group_by,
    groupGetters,
    valueGetter: c.type === 'distinct' || c.type === 'percentile' ? fieldGetter(c.field) : null,
    windowMs: r.window,
    threshold: c.type === 'baseline' ? c.factor : c.threshold,
    strict: 'op' in c && c.op === '>',
    minCount: 'min_count' in c ? c.min_count : 0,
    actions: r.actions,
    digest: JSON.stringify(r),
    keyOf: groupKeyOf(groupGetters),
    dedupKey,
  };
}

/** The top-level event fields a set of rules reads (map fields by their map), plus what the engine itself reads. */
export function fieldsUsed(rules: readonly RuleConfig[]): Set<string> {
  const out = new Set<string>(['id', 'ts', 'kind']);
  const add = (f: string) => out.add(f.split('.')[0]);
  const walk = (p: Predicate | undefined): void => {
    if (!p) return;
    if ('all' in p) p.all.forEach(walk);
    else if ('any' in p) p.any.forEach(walk);
    else if ('not' in p) walk(p.not);
    else add(p.field);
  };
  for (const r of rules) {
    walk(r.match);
    r.group_by.forEach(add);
    walk(r.history?.where);
    const c = r.condition;
    if ('where' in c) walk(c.where);
    if (c.type === 'ratio') walk(c.of);
    if (c.type === 'distinct' || c.type === 'percentile') add(c.field);
  }
  return out;
}

/** Values of the group fields, or null when one is absent (the event cannot be attributed). */
export function groupValues(rule: CompiledRule, e: AuditEvent): (string | null)[] | null {
  const g = rule.groupGetters;
  const out = new Array<string | null>(g.length);
  for (let i = 0; i < g.length; i++) {
    const v = fieldText(g[i](e));
    if (v === null || v === '') return null;
    out[i] = v;
  }
  return out;
}
