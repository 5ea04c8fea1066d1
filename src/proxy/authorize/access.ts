/**
 * The authorize stage: decides, for a routed request, whether it may go on —
 * and writes who the caller is and why into the audit event.
 *
 *   client check (ip_allow / ip_deny / dynamic IP blocks)   → 403 block
 *   rate limits by client IP or route (every attempt counts, failed logins
 *     included, and before any credential is checked)        → 429
 *   identity (route's methods, in order; first with a credential decides)
 *   rate limits by user or API key (once the identity is known) → 429
 *   failed credential → 401 (503 when the auth service is down)
 *   dynamic user block                                     → 403 block
 *   missing credential on a route that needs one           → 401
 *   policy rules (first enforced match; restricted = default deny) → 403/401
 *
 * Everything is compiled once per configuration. The verdict is returned
 * synchronously whenever no step needs I/O (API keys, cached tokens, local
 * limits), so an authorized request costs no promise.
 */
import type { IncomingMessage } from 'node:http';
import type { AccessConfig, RouteAccessConfig } from '../../config/access-schema.js';
import type { AuditEvent } from '../../core/event.js';
import { ERRORS, type ErrorSpec } from '../../core/errors.js';
import { createCidrMatcher } from '../../core/ip.js';
import type { BlockList } from './blocks.js';
import type { Identity, IdentityMethod, IdentityOutcome, AuthRequest } from './identity/types.js';
import { compilePolicy, methodSet, type Policy } from './policy.js';
import { compilePathPatterns } from './path-pattern.js';
import { responseHeaders, type RateLimiter, type CompiledLimit, type LimitResult } from './ratelimit/limiter.js';

export type Verdict =
  | { allow: true; upstreamHeaders: Readonly<Record<string, string>> | null }
  | { allow: false; spec: ErrorSpec; reason: string; headers: Readonly<Record<string, string>> | null };

const ALLOW: Verdict = Object.freeze({ allow: true, upstreamHeaders: null });

export interface GateRequest {
  req: IncomingMessage;
  event: AuditEvent;
  /** Normalized path for matching (lower-cased unless case-sensitive). */
  matchPath: string;
  scheme: 'http' | 'https';
}

function refuse(spec: ErrorSpec, reason: string, headers: Readonly<Record<string, string>> | null = null): Verdict {
  return { allow: false, spec, reason, headers };
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as Promise<T> | null)?.then === 'function';
}

/** Global checks that do not depend on the route: IP lists and IP blocks. */
export class ClientGate {
  private readonly allowList: ((ip: string) => boolean) | null;
  private readonly denyList: ((ip: string) => boolean) | null;

  constructor(
    access: AccessConfig,
    private readonly blocks: BlockList,
  ) {
    this.allowList = access.ip_allow.length ? createCidrMatcher(access.ip_allow) : null;
    this.denyList = access.ip_deny.length ? createCidrMatcher(access.ip_deny) : null;
  }

  /** Fills decision/rule/reason and returns the refusal, or null to go on. */
  check(e: AuditEvent): Verdict | null {
    const ip = e.client_ip ?? '';
    if (this.denyList?.(ip)) return this.block(e, 'ip_deny', `client ${ip} is in access.ip_deny`);
    if (this.allowList && !this.allowList(ip)) return this.block(e, 'ip_allow', `client ${ip} is not in access.ip_allow`);
    const b = this.blocks.ip(ip);
    if (b) return this.block(e, `block:${b.id}`, `IP ${b.value} blocked${b.expires_at ? ` until ${b.expires_at}` : ''}${b.reason ? `: ${b.reason}` : ''}`);
    return null;
  }

  private block(e: AuditEvent, ruleId: string, reason: string): Verdict {
    e.rule_id = ruleId;
    return refuse(ERRORS.BLOCKED, reason);
  }
}

interface RouteLimit {
  limit: CompiledLimit;
  by: 'client_ip' | 'user' | 'api_key' | 'route';
  applies: ((method: string, matchPath: string) => boolean) | null;
}

type IdentityStep = { method: IdentityMethod; outcome: IdentityOutcome } | null;

export interface RouteGateDeps {
  identities: ReadonlyMap<string, IdentityMethod>;
  blocks: BlockList;
  limiter: RateLimiter | null;
  caseSensitive: boolean;
}

/** One route's access control, compiled. */
export class RouteGate {
  private readonly methods: IdentityMethod[];
  private readonly policy: Policy;
  private readonly limits: RouteLimit[];
  /** Limits by client IP or route: checked before identity. */
  private readonly early: RouteLimit[];
  /** Limits by user or API key: checked once the identity is known. */
  private readonly late: RouteLimit[];
  private readonly anonymous: boolean;
  private readonly challenge: Record<string, string> | null;
  /** Nothing to check: the gate answers allow without looking at the request. */
  readonly open: boolean;

  constructor(
    private readonly routeId: string,
    access: RouteAccessConfig,
    private readonly deps: RouteGateDeps,
  ) {
    this.methods = access.identities.map((id) => {
      const m = deps.identities.get(id);
      if (!m) throw new Error(`route ${routeId}: unknown identity ${id}`);
      return m;
    });
    this.policy = compilePolicy(access, deps.caseSensitive);
    this.anonymous = access.anonymous;
    if (access.rate_limits.length && !deps.limiter) throw new Error(`route ${routeId}: rate limits need a limiter`);
    const compiled = access.rate_limits.length ? deps.limiter!.limitsFor(routeId) : [];
    this.limits = compiled.map((limit) => {
      const methods = limit.methods ? methodSet([...limit.methods]) : null;
      const paths = limit.paths ? compilePathPatterns(limit.paths, deps.caseSensitive) : null;
      return {
        limit,
        by: limit.by,
        applies: methods || paths ? (m: string, p: string) => (!methods || methods.has(m)) && (!paths || paths(p)) : null,
      };
    });
    this.early = this.limits.filter((l) => l.by === 'client_ip' || l.by === 'route');
    this.late = this.limits.filter((l) => l.by === 'user' || l.by === 'api_key');
    const challenges = this.methods.map((m) => m.challenge).filter((c): c is string => c !== null);
    this.challenge = challenges.length ? { 'www-authenticate': challenges.join(', ') } : null;
    this.open = this.methods.length === 0 && this.limits.length === 0 && access.rules.length === 0 && !access.restricted && !access.shadow;
  }

  check(g: GateRequest): Verdict | Promise<Verdict> {
    if (this.open) {
      g.event.decision = 'allow';
      return ALLOW;
    }
    // Limits that need no identity run first, so a flood cannot make us run scrypt, call the
    // auth service or fetch keys for every request.
    if (this.early.length) {
      const limited = this.applyLimits(g, null, this.early);
      if (isPromise(limited)) return limited.then((v) => v ?? this.identifyThenDecide(g));
      if (limited) return limited;
    }
    return this.identifyThenDecide(g);
  }

  private identifyThenDecide(g: GateRequest): Verdict | Promise<Verdict> {
    const step = this.identify(g, 0);
    if (isPromise(step)) return step.then((s) => this.afterIdentity(g, s));
    return this.afterIdentity(g, step);
  }

  private authRequest(g: GateRequest): AuthRequest {
    const e = g.event;
    return {
      method: e.method ?? 'GET',
      host: e.host ?? '',
      path: e.path ?? '/',
      query: e.query,
      headers: g.req.headers,
      clientIp: e.client_ip ?? '',
      scheme: g.scheme,
      socket: g.req.socket,
    };
  }

  /** Tries the route's methods from `i` on; the first that finds a credential decides. */
  private identify(g: GateRequest, i: number, ar?: AuthRequest): IdentityStep | Promise<IdentityStep> {
    if (i >= this.methods.length) return null;
    const req = ar ?? this.authRequest(g);
    for (let k = i; k < this.methods.length; k++) {
      const method = this.methods[k];
      let out: IdentityOutcome | Promise<IdentityOutcome>;
      try {
        out = method.authenticate(req);
      } catch (err) {
        out = { kind: 'fail', error: 'unavailable', detail: `${method.id}: ${(err as Error).message}`, status: 503 };
      }
      if (isPromise(out)) {
        return out.then(
          (o) => (o.kind === 'none' ? this.identify(g, k + 1, req) : { method, outcome: o }),
          (err: Error) => ({ method, outcome: { kind: 'fail', error: 'unavailable', detail: `${method.id}: ${err.message}`, status: 503 } as IdentityOutcome }),
        );
      }
      if (out.kind !== 'none') return { method, outcome: out };
    }
    return null;
  }

  private afterIdentity(g: GateRequest, step: IdentityStep): Verdict | Promise<Verdict> {
    const e = g.event;
    let identity: Identity | null = null;
    let upstreamHeaders: Readonly<Record<string, string>> | null = null;
    if (step) {
      e.auth_method = step.method.type;
      if (step.outcome.kind === 'ok') {
        identity = step.outcome.identity;
        e.user_id = identity.userId;
        e.user_name = identity.userName;
        upstreamHeaders = step.outcome.upstreamHeaders ?? null;
      } else if (step.outcome.kind === 'fail') {
        e.auth_error = step.outcome.error;
        if (step.outcome.attemptedUser !== undefined) e.user_name = step.outcome.attemptedUser;
      }
    } else if (this.methods.length && !this.anonymous) {
      e.auth_error = 'missing';
    }
    if (this.late.length && identity) {
      const limited = this.applyLimits(g, identity, this.late);
      if (isPromise(limited)) return limited.then((v) => v ?? this.decide(g, step, identity, upstreamHeaders));
      if (limited) return limited;
    }
    return this.decide(g, step, identity, upstreamHeaders);
  }

  private decide(g: GateRequest, step: IdentityStep, identity: Identity | null, upstreamHeaders: Readonly<Record<string, string>> | null): Verdict {
    const e = g.event;
    if (step && step.outcome.kind === 'fail') {
      const o = step.outcome;
      e.rule_id = `identity:${step.method.id}`;
      const spec = o.status === 503 ? ERRORS.AUTH_UNAVAILABLE : o.status === 403 ? ERRORS.FORBIDDEN : ERRORS.UNAUTHORIZED;
      return refuse(spec, `${step.method.type} ${o.error}: ${o.detail}`, spec === ERRORS.UNAUTHORIZED ? this.challenge : null);
    }
    if (identity) {
      const b = this.deps.blocks.user(identity.userId);
      if (b) {
        e.rule_id = `block:${b.id}`;
        return refuse(ERRORS.BLOCKED, `user ${b.value} blocked${b.expires_at ? ` until ${b.expires_at}` : ''}${b.reason ? `: ${b.reason}` : ''}`);
      }
    } else if (this.methods.length && !this.anonymous) {
      e.rule_id = 'identity';
      return refuse(ERRORS.UNAUTHORIZED, `no credentials (route accepts ${this.methods.map((m) => m.type).join(', ')})`, this.challenge);
    }
    const d = this.policy({ identity, method: e.method ?? 'GET', matchPath: g.matchPath, clientIp: e.client_ip ?? '', nowMs: Date.now() });
    e.rule_id = d.ruleId;
    if (d.allow) {
      e.decision = 'allow';
      if (d.shadow || d.ruleId) e.reason = e.reason ? `${e.reason}; ${d.reason}` : d.reason;
      return upstreamHeaders ? { allow: true, upstreamHeaders } : ALLOW;
    }
    // Anonymous callers denied by policy get 401: with credentials the answer might differ.
    if (!identity && this.methods.length) return refuse(ERRORS.UNAUTHORIZED, d.reason, this.challenge);
    return refuse(ERRORS.FORBIDDEN, d.reason);
  }

  /** Counts the request against every applicable limit of `limits`; returns the first refusal. */
  private applyLimits(g: GateRequest, identity: Identity | null, limits: readonly RouteLimit[]): Verdict | null | Promise<Verdict | null> {
    const e = g.event;
    const method = e.method ?? 'GET';
    const pending: Promise<LimitResult>[] = [];
    const pendingLimits: RouteLimit[] = [];
    let refusal: Verdict | null = null;
    for (const l of limits) {
      if (l.applies && !l.applies(method, g.matchPath)) continue;
      let key: string | undefined;
      if (l.by === 'client_ip') key = e.client_ip ?? '';
      else if (l.by === 'route') key = '';
      else if (l.by === 'user') key = identity?.userId;
      else key = identity?.keyId;
      if (key === undefined) continue;
      const r = this.deps.limiter!.check(this.routeId, l.limit, key);
      if (isPromise(r)) {
        pending.push(r);
        pendingLimits.push(l);
        continue;
      }
      refusal ??= this.limitVerdict(e, l, r);
    }
    if (!pending.length) return refusal;
    return Promise.all(pending).then((results) => {
      results.forEach((r, i) => (refusal ??= this.limitVerdict(e, pendingLimits[i], r)));
      return refusal;
    });
  }

  private limitVerdict(e: AuditEvent, l: RouteLimit, r: LimitResult): Verdict | null {
    if (r.allowed) return null;
    if (l.limit.shadow) {
      e.reason = `shadow: rate limit ${l.limit.id} would refuse`;
      return null;
    }
    e.rule_id = l.limit.id;
    return refuse(ERRORS.RATE_LIMITED, `rate limit ${l.limit.id} (${l.limit.policy}) exceeded${r.degraded ? ` [${r.degraded}]` : ''}`, responseHeaders(r, l.limit));
  }
}
