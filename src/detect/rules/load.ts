/**
 * The rule set a node runs: the built-in pack (with overrides), the rules
 * inline in the config and the rules files, validated together — every error
 * with its file and path, duplicate ids and unknown notifiers included — so a
 * bad rules file refuses a reload like any other config error.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, isNode } from 'yaml';
import type { z } from 'zod';
import { BUILTIN_IDS, builtinRules } from './builtin.js';
import { RulesFileSchema, type RuleConfig, type BuiltinSchema, type RuleSchema } from './schema.js';

export interface RuleError {
  path: string;
  message: string;
  /** The rules file, when the error is in one. */
  file?: string;
  line?: number;
}

export interface DetectRulesInput {
  rules: readonly z.output<typeof RuleSchema>[];
  rules_files: readonly string[];
  builtin: z.output<typeof BuiltinSchema>;
  notifiers: Readonly<Record<string, unknown>>;
  default_notifiers: readonly string[];
}

export interface RuleSet {
  rules: RuleConfig[];
  builtinIds: ReadonlySet<string>;
  errors: RuleError[];
}

function formatPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out;
}

/** Reads one rules file: `rules: [...]`. */
export function loadRulesFile(file: string): { rules: RuleConfig[]; errors: RuleError[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { rules: [], errors: [{ path: '(file)', file, message: `cannot read rules file: ${(err as Error).message}` }] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length) {
    return { rules: [], errors: doc.errors.map((e) => ({ path: '(yaml)', file, message: e.message.split('\n')[0], line: e.linePos?.[0]?.line })) };
  }
  const parsed = RulesFileSchema.safeParse(doc.toJS() ?? {});
  if (parsed.success) return { rules: parsed.data.rules, errors: [] };
  const lineOf = (p: readonly PropertyKey[]): number | undefined => {
    for (let n = p.length; n >= 0; n--) {
      const node = doc.getIn(p.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return { rules: [], errors: parsed.error.issues.map((i) => ({ path: formatPath(i.path) || '(root)', file, message: i.message, line: lineOf(i.path) })) };
}

export function resolveRules(d: DetectRulesInput, baseDir = process.cwd()): RuleSet {
  const errors: RuleError[] = [];
  const sources: { rule: RuleConfig; where: string }[] = [];
  const pack = builtinRules(d.builtin);
  errors.push(...pack.errors);
  for (const r of pack.rules) sources.push({ rule: r, where: `built-in rule ${r.id}` });
  d.rules.forEach((r, i) => sources.push({ rule: r, where: `detect.rules[${i}]` }));
  for (const [i, f] of d.rules_files.entries()) {
    const file = path.resolve(baseDir, f);
    const loaded = loadRulesFile(file);
    for (const e of loaded.errors) errors.push({ ...e, path: `detect.rules_files[${i}] ${e.path}` });
    loaded.rules.forEach((r, j) => sources.push({ rule: r, where: `${f}: rules[${j}]` }));
  }
  const seen = new Map<string, string>();
  const out: RuleConfig[] = [];
  for (const { rule, where } of sources) {
    const prev = seen.get(rule.id);
    if (prev !== undefined) {
      const hint = BUILTIN_IDS.has(rule.id) ? ' (to change a built-in rule, override it under detect.builtin.rules)' : '';
      errors.push({ path: where, message: `duplicate rule id "${rule.id}" (also ${prev})${hint}` });
      continue;
    }
    seen.set(rule.id, where);
    out.push(rule);
    rule.actions.forEach((a, k) => {
      if (a.type !== 'alert') return;
      for (const n of a.notifiers ?? []) {
        if (!(n in d.notifiers)) errors.push({ path: `${where}.actions[${k}].notifiers`, message: `unknown notifier "${n}"${knownNotifiers(d)}` });
      }
    });
  }
  d.default_notifiers.forEach((n, i) => {
    if (!(n in d.notifiers)) errors.push({ path: `detect.default_notifiers[${i}]`, message: `unknown notifier "${n}"${knownNotifiers(d)}` });
  });
  return { rules: out, builtinIds: new Set(pack.rules.map((r) => r.id)), errors };
}

function knownNotifiers(d: DetectRulesInput): string {
  const names = Object.keys(d.notifiers);
  return names.length ? ` (known: ${names.join(', ')})` : ' (detect.notifiers is empty)';
}
