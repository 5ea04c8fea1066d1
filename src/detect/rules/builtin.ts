/**
 * The built-in rule pack: the classic abuse patterns, on by default, each
 * with a threshold chosen to stay quiet on ordinary traffic (the reasoning is
 * in docs/detection.md, next to each rule). Operators turn a rule off or
 * override any of its fields under `detect.builtin.rules.<id>`.
 */
import type { z } from 'zod';
import { RuleSchema, type BuiltinSchema, type RuleConfig } from './schema.js';

type BuiltinConfig = z.output<typeof BuiltinSchema>;
type RuleInput = z.input<typeof RuleSchema>;

/** Authentication failures Tollgate itself established (not "no credential sent"). */
const REFUSED_CREDENTIAL = ['bad_credentials', 'unknown_user', 'bad_signature', 'unknown_key', 'revoked', 'expired', 'wrong_audience', 'wrong_issuer', 'untrusted_certificate'];

export function builtinRuleInputs(b: BuiltinConfig): RuleInput[] {
  // A failed login: refused on a login page (by the application), or credentials Tollgate refused anywhere.
  const failedLogin = {
    any: [
      { all: [{ field: 'path', glob: b.login_paths }, { field: 'status', in: [401, 403] }] },
      { field: 'auth_error', in: REFUSED_CREDENTIAL },
    ],
  };
  return [
    {
      id: 'failed-login-surge',
      description: 'Surge of failed logins from one client',
      severity: 'high',
      labels: { category: 'authentication' },
      match: failedLogin,
      group_by: ['client_ip'],
      window: '1m',
      condition: { type: 'count', threshold: 10 },
      cooldown: '5m',
      resolve_after: '1m',
    },
    {
      id: 'credential-stuffing',
      description: 'Many user names tried from one client',
      severity: 'high',
      labels: { category: 'authentication' },
      match: failedLogin,
      group_by: ['client_ip'],
      window: '10m',
      condition: { type: 'distinct', field: 'user_name', threshold: 8 },
      cooldown: '15m',
      resolve_after: '2m',
    },
    {
      id: 'endpoint-probing',
      description: 'Probing of missing or restricted endpoints',
      severity: 'medium',
      labels: { category: 'reconnaissance' },
      match: { any: [{ field: 'status', in: [403, 404, 405] }, { field: 'decision', equals: 'deny' }] },
      group_by: ['client_ip'],
      window: '5m',
      condition: { type: 'distinct', field: 'path', threshold: 20, max_values: 1000 },
      cooldown: '15m',
      resolve_after: '1m',
    },
    {
      id: 'off-hours-spike',
      description: 'Traffic spike outside business hours',
      severity: 'medium',
      labels: { category: 'traffic' },
      match: { field: 'kind', in: ['http', 'websocket', 'tcp'] },
      group_by: ['host'],
      window: '5m',
      condition: { type: 'rate', threshold: 20 },
      schedule: { outside: b.business_hours },
      cooldown: '30m',
      resolve_after: '5m',
    },
    {
      id: 'hot-resource',
      description: 'Unusually high request rate to a single resource',
      severity: 'low',
      labels: { category: 'traffic' },
      match: { field: 'path', exists: true },
      group_by: ['host', 'path'],
      window: '1m',
      condition: { type: 'rate', threshold: 100 },
      cooldown: '15m',
      resolve_after: '2m',
      max_groups: 50_000,
    },
    {
      id: 'upstream-5xx-surge',
      description: 'Surge of 5xx answers from one upstream',
      severity: 'high',
      labels: { category: 'availability' },
      match: { field: 'upstream', exists: true },
      group_by: ['upstream'],
      window: '5m',
      condition: { type: 'ratio', of: { field: 'status', class: '5xx' }, threshold: 0.2, min_count: 20 },
      cooldown: '10m',
      resolve_after: '2m',
    },
    {
      id: 'route-latency-surge',
      description: 'Latency surge on one route',
      severity: 'medium',
      labels: { category: 'performance' },
      match: { all: [{ field: 'route', exists: true }, { field: 'termination', equals: 'ok' }] },
      group_by: ['route'],
      window: '5m',
      condition: { type: 'percentile', field: 'duration_ms', percentile: 95, threshold: 2000, min_count: 50 },
      cooldown: '10m',
      resolve_after: '2m',
    },
    {
      id: 'denied-regular-user',
      description: 'Requests denied by policy from a user who normally succeeds',
      severity: 'medium',
      labels: { category: 'authorization' },
      match: { field: 'user_id', exists: true },
      group_by: ['user_id'],
      window: '10m',
      condition: { type: 'count', threshold: 5, where: { field: 'decision', equals: 'deny' } },
      history: { window: '7d', where: { field: 'decision', equals: 'allow' }, min_count: 20 },
      cooldown: '1h',
      resolve_after: '5m',
      max_groups: 50_000,
    },
  ];
}

export const BUILTIN_IDS: ReadonlySet<string> = new Set(builtinRuleInputs({ enabled: true, login_paths: [], business_hours: { days: [], hours: '00:00-24:00', tz: 'UTC' }, rules: {} }).map((r) => r.id));

/** Shallow merge of an override into a rule definition; nested objects (condition, history) merge one level deep. */
function merge(base: RuleInput, override: Record<string, unknown>): unknown {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur) ? { ...cur, ...v } : v;
  }
  return out;
}

/** The pack with the operator's overrides applied, validated; errors carry `detect.builtin.rules.<id>` paths. */
export function builtinRules(b: BuiltinConfig): { rules: RuleConfig[]; errors: { path: string; message: string }[] } {
  const rules: RuleConfig[] = [];
  const errors: { path: string; message: string }[] = [];
  for (const id of Object.keys(b.rules)) if (!BUILTIN_IDS.has(id)) errors.push({ path: `detect.builtin.rules.${id}`, message: `no built-in rule "${id}" (built-in rules: ${[...BUILTIN_IDS].join(', ')})` });
  if (!b.enabled) return { rules, errors };
  for (const input of builtinRuleInputs(b)) {
    const o = b.rules[input.id];
    if (o === false) continue;
    const parsed = RuleSchema.safeParse(o ? merge(input, { ...o, id: input.id }) : input);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) errors.push({ path: ['detect', 'builtin', 'rules', input.id, ...issue.path].join('.'), message: issue.message });
      continue;
    }
    rules.push(parsed.data);
  }
  return { rules, errors };
}
