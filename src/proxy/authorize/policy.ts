/**
 * Per-route policies: ordered rules, first enforced match decides; a
 * restricted route denies what no rule allows. Rules are compiled once per
 * configuration (CIDR sets, path patterns, time windows) into predicates, so
 * a request only pays for the checks a rule actually has.
 *
 * Shadow mode (a rule's or the whole route's) evaluates and records what
 * would have happened without enforcing it, like Envoy's RBAC shadow engine.
 */
import type { PolicyRuleConfig, RouteAccessConfig } from '../../config/access-schema.js';
import { createCidrMatcher } from '../../core/ip.js';
import type { Identity } from './identity/types.js';
import { compileTimeWindow } from '../../core/time-window.js';
import { compilePathPatterns } from './path-pattern.js';
import { claimAt } from './identity/util.js';

export interface PolicySubject {
  identity: Identity | null;
  method: string;
  /** The normalized path used for matching (lower-cased unless paths are case-sensitive). */
  matchPath: string;
  clientIp: string;
  nowMs: number;
}

export interface PolicyDecision {
  allow: boolean;
  /** The rule that decided, or null for the route's default. */
  ruleId: string | null;
  reason: string;
  /** Whether a shadow evaluation contributed to `reason`. */
  shadow: boolean;
}

type Predicate = (s: PolicySubject) => boolean;

/** A method list; GET includes HEAD, which backends answer with their GET handlers (and side effects). */
export function methodSet(methods: readonly string[]): ReadonlySet<string> {
  const set = new Set(methods);
  if (set.has('GET')) set.add('HEAD');
  return set;
}

function claimMatches(actual: unknown, expected: readonly string[]): boolean {
  if (Array.isArray(actual)) return actual.some((a) => expected.includes(String(a)));
  if (actual === undefined || actual === null) return false;
  return expected.includes(String(actual));
}

function compileRule(rule: PolicyRuleConfig, caseSensitive: boolean): Predicate {
  const preds: Predicate[] = [];
  if (rule.authenticated !== undefined) {
    const want = rule.authenticated;
    preds.push((s) => (s.identity !== null) === want);
  }
  if (rule.users) {
    const users = new Set(rule.users);
    preds.push((s) => s.identity !== null && users.has(s.identity.userId));
  }
  if (rule.groups) {
    const groups = new Set(rule.groups);
    preds.push((s) => s.identity !== null && s.identity.groups.some((g) => groups.has(g)));
  }
  if (rule.claims) {
    const wanted = Object.entries(rule.claims).map(([k, v]) => [k, Array.isArray(v) ? v : [v]] as const);
    preds.push((s) => s.identity !== null && wanted.every(([k, v]) => claimMatches(claimAt(s.identity!.claims, k), v)));
  }
  if (rule.methods) {
    const methods = methodSet(rule.methods);
    preds.push((s) => methods.has(s.method));
  }
  if (rule.paths) {
    const match = compilePathPatterns(rule.paths, caseSensitive);
    preds.push((s) => match(s.matchPath));
  }
  if (rule.source) {
    const inSource = createCidrMatcher(rule.source);
    preds.push((s) => inSource(s.clientIp));
  }
  if (rule.time) {
    const inside = compileTimeWindow(rule.time);
    preds.push((s) => inside(s.nowMs));
  }
  if (rule.not_time) {
    const inside = compileTimeWindow(rule.not_time);
    preds.push((s) => !inside(s.nowMs));
  }
  if (preds.length === 0) return () => true;
  if (preds.length === 1) return preds[0];
  return (s) => {
    for (const p of preds) if (!p(s)) return false;
    return true;
  };
}

interface CompiledRule {
  id: string;
  allow: boolean;
  shadow: boolean;
  reason: string;
  matches: Predicate;
}

export type Policy = (s: PolicySubject) => PolicyDecision;

const ALLOW_OPEN: PolicyDecision = Object.freeze({ allow: true, ruleId: null, reason: 'no rule denies (route not restricted)', shadow: false });

/** Compiles a route's rules into one decision function. */
export function compilePolicy(access: RouteAccessConfig, caseSensitive: boolean): Policy {
  const rules: CompiledRule[] = access.rules.map((r) => ({
    id: r.id,
    allow: r.action === 'allow',
    shadow: r.shadow,
    reason: r.reason ?? `rule ${r.id} ${r.action === 'allow' ? 'allows' : 'denies'}`,
    matches: compileRule(r, caseSensitive),
  }));
  const restricted = access.restricted;
  const defaultDecision: PolicyDecision = restricted
    ? { allow: false, ruleId: null, reason: 'restricted route: no rule allows', shadow: false }
    : ALLOW_OPEN;
  const hasShadowRules = rules.some((r) => r.shadow);

  /** The enforced outcome, and the first shadow rule that matched before it (if any). */
  const evaluate = (s: PolicySubject): { decision: PolicyDecision; shadowHit: CompiledRule | null } => {
    let shadowHit: CompiledRule | null = null;
    for (const r of rules) {
      if (!r.matches(s)) continue;
      if (r.shadow) {
        shadowHit ??= r;
        continue;
      }
      return { decision: { allow: r.allow, ruleId: r.id, reason: r.reason, shadow: false }, shadowHit };
    }
    return { decision: defaultDecision, shadowHit };
  };

  if (access.shadow) {
    // The whole policy is observed, never enforced: traffic flows, the event says what would have happened.
    return (s) => {
      const { decision } = evaluate(s);
      return {
        allow: true,
        ruleId: decision.ruleId,
        reason: `shadow: would ${decision.allow ? 'allow' : 'deny'} (${decision.reason})`,
        shadow: true,
      };
    };
  }
  if (rules.length === 0) return () => defaultDecision;
  if (!hasShadowRules) return (s) => evaluate(s).decision;
  return (s) => {
    const { decision, shadowHit } = evaluate(s);
    if (!shadowHit || shadowHit.allow === decision.allow) return decision;
    const note = `shadow: rule ${shadowHit.id} would ${shadowHit.allow ? 'allow' : 'deny'}`;
    return { ...decision, ruleId: decision.ruleId ?? shadowHit.id, reason: `${note}; enforced: ${decision.reason}`, shadow: true };
  };
}
