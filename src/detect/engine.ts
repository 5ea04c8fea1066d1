/**
 * The rule engine: events in (live from the spool, or replayed from the store
 * by a backtest), alert transitions out. Pure event-time logic — the clock is
 * the newest event time seen, moved on by tick() when traffic is quiet — so a
 * backtest over stored events raises the same alerts the live run did.
 *
 * Per rule, per group (the group_by values): sliding windows sized for the
 * condition, bounded by max_groups (least recently seen group evicted and
 * counted). A group whose condition is met fires an alert unless an alert
 * with the same dedup key is already firing (the group joins it) or the key
 * is cooling down after its last resolution. An alert resolves when every
 * group behind it has been clear for resolve_after.
 */
import type { AuditEvent } from '../core/event.js';
import { uuidv7 } from '../core/ids.js';
import { IsoMillis } from '../core/iso-time.js';
import { formatDuration } from '../config/durations.js';
import { compileRule, groupValues, type CompiledRule } from './rules/compile.js';
import { fieldText } from './rules/predicate.js';
import type { ActionConfig, RuleConfig } from './rules/schema.js';
import type { Alert, AlertEvidence, RuleState } from './types.js';

export type { RuleState } from './types.js';
import { CountWindow, DistinctWindow, LatencyWindow, HourOfWeekBaseline } from './windows/index.js';

/** What the engine asks its host to do when an alert fires or resolves. */
export interface Transition {
  kind: 'firing' | 'resolved';
  alert: Alert;
  /** Notifiers to send this transition to (none for shadow rules). */
  notifiers: string[];
  /** Block and tag actions for the group that fired (none on resolve and for shadow rules). */
  actions: EffectAction[];
}

export type EffectAction =
  | { type: 'block'; kind: 'ip' | 'user'; value: string; duration_ms: number; rule_id: string; reason: string }
  | { type: 'tag'; fields: string[]; values: string[]; label: string; value: string; expires_ms: number; rule_id: string };

export interface EngineOptions {
  rules: readonly RuleConfig[];
  /** Notifiers of `alert` actions that name none. */
  defaultNotifiers: readonly string[];
  /** Groups per rule unless the rule says otherwise. */
  maxGroups: number;
  /** Ids of rules from the built-in pack (reported by state()). */
  builtinIds?: ReadonlySet<string>;
  onTransition(t: Transition): void;
}

const SAMPLE_IDS = 5;
/** Dropped groups kept per rule for reuse. */
const SPARE_GROUPS = 256;
/** Percentile and baseline values are recomputed at most this often per group (event time). */
const HEAVY_EVAL_MS = 1000;

interface Group {
  key: string;
  values: string[];
  lastSeen: number;
  /** Seen since the last eviction or sweep pass looked at it (second-chance order). */
  touched: boolean;
  counted: CountWindow;
  numerator: CountWindow | null;
  distinct: DistinctWindow | null;
  latency: LatencyWindow | null;
  history: CountWindow | null;
  /** The last SAMPLE_IDS counted event ids, as a ring (next write at samplesAt % SAMPLE_IDS). */
  samples: string[];
  samplesAt: number;
  /** The dedup key of the alert this group keeps firing, or null. */
  firingKey: string | null;
  clearSince: number | null;
  lastHeavyEval: number;
}

interface ActiveAlert {
  alert: Alert;
  /** Where its transitions go (none for shadow rules). */
  notifiers: string[];
  groups: Set<string>;
  /** An alert adopted after a restart: resolves by this event time unless a group joins it. */
  adoptedUntil: number | null;
}

interface Measure {
  value: number;
  threshold: number;
  met: boolean;
  count: number;
  detail?: Record<string, number | string | null>;
}

class RuleRuntime {
  readonly groups = new Map<string, Group>();
  readonly active = new Map<string, ActiveAlert>();
  /** dedup key → event time until which it may not fire again. */
  readonly cooldowns = new Map<string, number>();
  readonly baselines = new Map<string, HourOfWeekBaseline>();
  readonly maxGroups: number;
  matched = 0;
  evicted = 0;
  fired = 0;
  shadowHits = 0;
  suppressed = 0;
  lastFiredAt: number | null = null;

  constructor(
    readonly rule: CompiledRule,
    maxGroups: number,
  ) {
    this.maxGroups = rule.config.max_groups ?? maxGroups;
    this.horizonMs = Math.max(rule.windowMs, rule.history?.windowMs ?? 0);
    const type = rule.config.condition.type;
    this.heavy = type === 'percentile' || type === 'baseline';
  }

  /** How far back any of the rule's windows reach. */
  readonly horizonMs: number;
  /** Percentile and baseline values are costly to recompute: throttled per group. */
  readonly heavy: boolean;

  /**
   * Groups dropped by eviction and sweeps, kept for reuse: with more sources
   * than max_groups, groups come and go all the time, and recycling their
   * windows (typed arrays, maps) keeps that churn away from the garbage collector.
   */
  private readonly spare: Group[] = [];

  newGroup(key: string, values: string[], now: number): Group {
    const g = this.spare.pop();
    if (g) {
      g.key = key;
      g.values = values;
      g.lastSeen = now;
      g.touched = true;
      g.counted.reset();
      g.numerator?.reset();
      g.distinct?.reset();
      g.latency?.reset();
      g.history?.reset();
      g.samples.fill('');
      g.samplesAt = 0;
      g.firingKey = null;
      g.clearSince = null;
      g.lastHeavyEval = -Infinity;
      return g;
    }
    const r = this.rule;
    const c = r.config.condition;
    return {
      key,
      values,
      lastSeen: now,
      touched: true,
      counted: new CountWindow(r.windowMs),
      numerator: c.type === 'ratio' ? new CountWindow(r.windowMs) : null,
      distinct: c.type === 'distinct' ? new DistinctWindow(r.windowMs, c.max_values) : null,
      latency: c.type === 'percentile' ? new LatencyWindow(r.windowMs) : null,
      history: r.history ? new CountWindow(r.history.windowMs, 168) : null,
      samples: new Array<string>(SAMPLE_IDS).fill(''),
      samplesAt: 0,
      firingKey: null,
      clearSince: null,
      lastHeavyEval: -Infinity,
    };
  }

  /** Keeps a dropped group for newGroup (a bounded number of them). */
  recycle(g: Group): void {
    if (this.spare.length < SPARE_GROUPS) this.spare.push(g);
  }

  baseline(key: string): HourOfWeekBaseline {
    let b = this.baselines.get(key);
    if (!b) {
      const c = this.rule.config.condition;
      b = new HourOfWeekBaseline({ tz: c.type === 'baseline' ? c.tz : 'UTC' });
      this.baselines.set(key, b);
      // Baselines outlive groups (they learn for weeks) but not without bound.
      if (this.baselines.size > this.maxGroups) {
        const oldest = this.baselines.keys().next().value;
        if (oldest !== undefined) this.baselines.delete(oldest);
      }
    }
    return b;
  }

  /** Whether the condition is met, without building the evidence (the per-event path). */
  met(g: Group, now: number): boolean {
    const r = this.rule;
    const c = r.config.condition;
    let v: number;
    switch (c.type) {
      case 'count':
        v = g.counted.total(now);
        break;
      case 'rate':
        v = g.counted.total(now) / (r.windowMs / 1000);
        break;
      case 'distinct':
        v = g.distinct!.count(now);
        break;
      case 'ratio': {
        const total = g.counted.total(now);
        if (total === 0 || total < c.min_count) return false;
        v = g.numerator!.total(now) / total;
        break;
      }
      default:
        return this.measure(g, now).met;
    }
    return r.strict ? v > r.threshold : v >= r.threshold;
  }

  measure(g: Group, now: number): Measure {
    const r = this.rule;
    const c = r.config.condition;
    const strictMet = (v: number, t: number) => (r.strict ? v > t : v >= t);
    switch (c.type) {
      case 'count': {
        const n = g.counted.total(now);
        return { value: n, threshold: c.threshold, met: strictMet(n, c.threshold), count: n };
      }
      case 'rate': {
        const n = g.counted.total(now);
        const rate = n / (r.windowMs / 1000);
        return { value: round(rate), threshold: c.threshold, met: strictMet(rate, c.threshold), count: n };
      }
      case 'distinct': {
        const n = g.distinct!.count(now);
        return { value: n, threshold: c.threshold, met: strictMet(n, c.threshold), count: g.counted.total(now) };
      }
      case 'ratio': {
        const total = g.counted.total(now);
        const part = g.numerator!.total(now);
        const share = total ? part / total : 0;
        return { value: round(share), threshold: c.threshold, met: total > 0 && total >= c.min_count && strictMet(share, c.threshold), count: total, detail: { numerator: part } };
      }
      case 'percentile': {
        const n = g.latency!.count(now);
        const q = n ? g.latency!.quantile(now, c.percentile / 100) : null;
        return { value: q === null ? 0 : round(q), threshold: c.threshold, met: q !== null && n >= c.min_count && strictMet(q, c.threshold), count: n, detail: { percentile: c.percentile } };
      }
      case 'baseline': {
        const n = g.counted.total(now);
        const learned = this.baseline(g.key).expected(now);
        if (!learned || learned.weeks < c.min_weeks) return { value: n, threshold: 0, met: false, count: n, detail: { expected: null, weeks: learned?.weeks ?? 0 } };
        const expected = learned.mean * (r.windowMs / 3_600_000);
        const threshold = Math.max(c.factor * expected, c.min_count);
        return { value: n, threshold: round(threshold), met: n >= c.min_count && n >= threshold, count: n, detail: { expected: round(expected), factor: c.factor, weeks: learned.weeks } };
      }
    }
  }
}

/** The ring's ids, oldest first. */
function recentSamples(g: Group): string[] {
  const out: string[] = [];
  for (let i = Math.max(0, g.samplesAt - SAMPLE_IDS); i < g.samplesAt; i++) out.push(g.samples[i % SAMPLE_IDS]);
  return out;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export class Engine {
  private runtimes: RuleRuntime[] = [];
  private byId = new Map<string, RuleRuntime>();
  private now = -Infinity;
  private defaultNotifiers: readonly string[];
  private maxGroups: number;
  private builtinIds: ReadonlySet<string>;
  private readonly emit: (t: Transition) => void;
  /** Events seen (admin events excluded). */
  processed = 0;
  /** Events that arrived too late for the window of at least one rule they matched (ignored by that rule). */
  late = 0;

  constructor(opts: EngineOptions) {
    this.emit = opts.onTransition;
    this.defaultNotifiers = opts.defaultNotifiers;
    this.maxGroups = opts.maxGroups;
    this.builtinIds = opts.builtinIds ?? new Set();
    this.setRules(opts.rules);
  }

  /**
   * Replaces the rule set. Rules whose definition is unchanged keep their
   * windows, alerts and baselines; changed or new rules start empty; alerts
   * of removed rules resolve now.
   */
  setRules(rules: readonly RuleConfig[], opts: { defaultNotifiers?: readonly string[]; maxGroups?: number; builtinIds?: ReadonlySet<string> } = {}): void {
    if (opts.defaultNotifiers) this.defaultNotifiers = opts.defaultNotifiers;
    if (opts.maxGroups) this.maxGroups = opts.maxGroups;
    if (opts.builtinIds) this.builtinIds = opts.builtinIds;
    const old = this.byId;
    const next: RuleRuntime[] = [];
    const nextById = new Map<string, RuleRuntime>();
    for (const r of rules) {
      const compiled = compileRule(r);
      const prev = old.get(r.id);
      const rt = prev && prev.rule.digest === compiled.digest ? prev : new RuleRuntime(compiled, this.maxGroups);
      nextById.set(r.id, rt);
      if (r.enabled) next.push(rt);
    }
    for (const [id, prev] of old) {
      if (nextById.get(id) === prev) continue;
      // Changed or removed: what it was firing ends here.
      for (const [key, a] of prev.active) this.resolve(prev, key, a, this.now);
    }
    this.runtimes = next;
    this.byId = nextById;
  }

  /** Event time in ms, the second parsed once per second. */
  private readonly isoMillis = new IsoMillis();

  /** The current event-time clock (ms). */
  get clock(): number {
    return this.now;
  }

  process(e: AuditEvent): void {
    if (e.kind === 'admin') return;
    const ts = this.isoMillis.parse(e.ts);
    if (!Number.isFinite(ts)) return;
    this.processed++;
    if (ts > this.now) this.now = ts;
    const now = this.now;
    let late = false;
    for (const rt of this.runtimes) {
      const r = rt.rule;
      if (!r.match(e)) continue;
      if (r.active && !r.active(ts)) continue;
      if (ts <= now - rt.horizonMs) {
        late = true;
        continue;
      }
      const key = r.keyOf(e);
      if (key === null) continue;
      rt.matched++;
      let g = rt.groups.get(key);
      if (!g) {
        if (rt.groups.size >= rt.maxGroups) this.evictOne(rt, now);
        g = rt.newGroup(key, groupValues(r, e) as string[], now);
        rt.groups.set(key, g);
      }
      g.lastSeen = now;
      g.touched = true;
      this.add(rt, g, e, ts);
      if (g.firingKey === null) this.evaluate(rt, g, now, e);
    }
    if (late) this.late++;
  }

  private add(rt: RuleRuntime, g: Group, e: AuditEvent, ts: number): void {
    const r = rt.rule;
    const c = r.config.condition;
    if (g.history && r.history!.where(e)) g.history.add(ts);
    let counts = true;
    switch (c.type) {
      case 'count':
      case 'rate':
        counts = r.where === null || r.where(e);
        if (counts) g.counted.add(ts);
        break;
      case 'distinct': {
        counts = r.where === null || r.where(e);
        const v = counts ? fieldText(r.valueGetter!(e)) : null;
        if (v === null) counts = false;
        else {
          g.counted.add(ts);
          g.distinct!.add(ts, v);
        }
        break;
      }
      case 'ratio':
        g.counted.add(ts);
        if (r.of!(e)) g.numerator!.add(ts);
        else counts = false;
        break;
      case 'percentile': {
        const v = r.valueGetter!(e);
        if (typeof v === 'number' && Number.isFinite(v)) g.latency!.add(ts, v);
        else counts = false;
        break;
      }
      case 'baseline':
        g.counted.add(ts);
        rt.baseline(g.key).observe(ts);
        break;
    }
    if (counts) {
      g.samples[g.samplesAt++ % SAMPLE_IDS] = e.id;
    }
  }

  private evaluate(rt: RuleRuntime, g: Group, now: number, e: AuditEvent | null): void {
    if (e && rt.heavy) {
      if (now - g.lastHeavyEval < HEAVY_EVAL_MS) return;
      g.lastHeavyEval = now;
    }
    if (!rt.met(g, now)) return;
    if (g.history && g.history.total(now) < rt.rule.history!.minCount) return;
    this.fire(rt, g, rt.measure(g, now), now);
  }

  private fire(rt: RuleRuntime, g: Group, m: Measure, now: number): void {
    const r = rt.rule;
    const key = r.dedupKey(g.values);
    const existing = rt.active.get(key);
    const actions = r.config.shadow ? [] : this.effects(rt, g, now);
    if (existing) {
      // Another group (or the same one after a restart) behind an alert that is already firing.
      existing.groups.add(g.key);
      existing.adoptedUntil = null;
      g.firingKey = key;
      g.clearSince = null;
      if (m.value > existing.alert.evidence.value) existing.alert.evidence.value = m.value;
      if (actions.length) {
        existing.alert.actions.push(...actions.map(describeAction));
        this.emit({ kind: 'firing', alert: existing.alert, notifiers: [], actions });
      }
      return;
    }
    const until = rt.cooldowns.get(key);
    if (until !== undefined) {
      if (now < until) {
        rt.suppressed++;
        return;
      }
      rt.cooldowns.delete(key);
    }
    const group: Record<string, string | null> = {};
    r.groupFields.forEach((f, i) => (group[f] = g.values[i]));
    const evidence: AlertEvidence = {
      condition: r.config.condition.type,
      value: m.value,
      threshold: m.threshold,
      op: r.strict ? '>' : '>=',
      window_seconds: r.windowMs / 1000,
      window_start: new Date(now - r.windowMs).toISOString(),
      window_end: new Date(now).toISOString(),
      count: m.count,
      sample_event_ids: recentSamples(g),
      ...(m.detail ? { detail: m.detail } : {}),
    };
    const groupText = r.groupFields.map((f, i) => `${f}=${g.values[i]}`).join(' ');
    const alert: Alert = {
      id: uuidv7(),
      rule_id: r.id,
      summary: `${r.config.description || r.id}${groupText ? ` (${groupText})` : ''}: ${evidence.condition} ${m.value} ${evidence.op} ${m.threshold} in ${formatDuration(r.windowMs)}`,
      severity: r.severity,
      status: 'firing',
      dedup_key: key,
      group,
      labels: { ...r.config.labels },
      shadow: r.config.shadow,
      started_at: new Date(now).toISOString(),
      resolved_at: null,
      updated_at: new Date().toISOString(),
      evidence,
      actions: actions.map(describeAction),
      acknowledged_at: null,
      acknowledged_by: null,
      notifications: [],
    };
    const notifiers = r.config.shadow ? [] : this.notifiersOf(r.actions);
    rt.active.set(key, { alert, notifiers, groups: new Set([g.key]), adoptedUntil: null });
    g.firingKey = key;
    g.clearSince = null;
    rt.fired++;
    rt.lastFiredAt = now;
    if (r.config.shadow) rt.shadowHits++;
    this.emit({ kind: 'firing', alert, notifiers, actions });
  }

  private effects(rt: RuleRuntime, g: Group, now: number): EffectAction[] {
    const r = rt.rule;
    const out: EffectAction[] = [];
    for (const a of r.actions) {
      if (a.type === 'block') {
        const value = g.values[r.groupFields.indexOf(a.target)];
        out.push({ type: 'block', kind: a.target === 'user_id' ? 'user' : 'ip', value, duration_ms: a.duration, rule_id: r.id, reason: `detection rule ${r.id}: ${r.config.description || r.id}` });
      } else if (a.type === 'tag') {
        out.push({ type: 'tag', fields: [...r.groupFields], values: [...g.values], label: a.label, value: a.value ?? r.id, expires_ms: now + a.duration, rule_id: r.id });
      }
    }
    return out;
  }

  private notifiersOf(actions: readonly ActionConfig[]): string[] {
    const names = new Set<string>();
    for (const a of actions) if (a.type === 'alert') for (const n of a.notifiers ?? this.defaultNotifiers) names.add(n);
    return [...names];
  }

  private resolve(rt: RuleRuntime, key: string, a: ActiveAlert, now: number): void {
    rt.active.delete(key);
    for (const gk of a.groups) {
      const g = rt.groups.get(gk);
      if (g && g.firingKey === key) {
        g.firingKey = null;
        g.clearSince = null;
      }
    }
    const at = Number.isFinite(now) ? now : Date.now();
    a.alert.status = 'resolved';
    a.alert.resolved_at = new Date(at).toISOString();
    a.alert.updated_at = new Date().toISOString();
    rt.cooldowns.set(key, at + rt.rule.config.cooldown);
    this.emit({ kind: 'resolved', alert: a.alert, notifiers: rt.rule.config.shadow ? [] : this.notifiersOf(rt.rule.actions), actions: [] });
  }

  /**
   * Makes room for a new group: second-chance order (a CLOCK approximation of
   * least recently seen) — groups seen since the hand last passed get another
   * round, groups behind a firing alert are never evicted. Amortized O(1),
   * without reordering the map on every event.
   */
  private evictOne(rt: RuleRuntime, now: number): void {
    // One iterator over the map: entries given a second chance are re-added at its end, and the
    // bound stops the walk before it could come round to them twice.
    let left = rt.groups.size * 2 + 1;
    for (const [key, g] of rt.groups) {
      if (left-- <= 0) return;
      rt.groups.delete(key);
      if (g.firingKey === null && !g.touched) {
        if (g.lastSeen > now - rt.horizonMs) rt.evicted++;
        rt.recycle(g);
        return;
      }
      g.touched = false;
      rt.groups.set(key, g);
    }
  }

  /** Drops idle groups: looks at a slice of each rule's groups per tick, so a full pass takes a few ticks whatever the count. */
  private sweep(rt: RuleRuntime, now: number): void {
    let budget = Math.min(rt.groups.size, 256 + (rt.groups.size >> 4));
    const horizon = now - rt.horizonMs;
    // Entries re-added during the pass go to the end; the budget stops the pass before it reaches them.
    for (const [key, g] of rt.groups) {
      if (budget-- <= 0) return;
      rt.groups.delete(key);
      if (g.firingKey === null && g.lastSeen <= horizon) {
        rt.recycle(g);
        continue;
      }
      rt.groups.set(key, g);
    }
  }

  /**
   * Moves the clock to `nowMs` (if later) and re-evaluates what time alone
   * changes: firing alerts whose condition cleared resolve; groups idle for
   * longer than their window are dropped; expired cooldowns are forgotten.
   */
  tick(nowMs: number): void {
    if (nowMs > this.now) this.now = nowMs;
    const now = this.now;
    for (const rt of this.runtimes) {
      for (const [key, a] of rt.active) {
        let allClear = true;
        for (const gk of a.groups) {
          const g = rt.groups.get(gk);
          if (!g) {
            a.groups.delete(gk);
            continue;
          }
          const m = rt.measure(g, now);
          if (m.met) {
            g.clearSince = null;
            allClear = false;
            if (m.value > a.alert.evidence.value) a.alert.evidence.value = m.value;
          } else {
            g.clearSince ??= now;
            if (now - g.clearSince < rt.rule.config.resolve_after) allClear = false;
          }
        }
        if (a.adoptedUntil !== null && now < a.adoptedUntil) allClear = false;
        if (allClear) this.resolve(rt, key, a, now);
      }
      // Heavy conditions that were throttled on events get their evaluation here.
      if (rt.heavy) {
        for (const g of rt.groups.values()) if (g.firingKey === null && g.lastSeen > now - rt.horizonMs) this.evaluate(rt, g, now, null);
      }
      this.sweep(rt, now);
      for (const [key, until] of rt.cooldowns) if (until <= now) rt.cooldowns.delete(key);
    }
  }

  /** Alerts that were firing before a restart: kept firing for one window, resolved unless the condition is met again. */
  adopt(alerts: readonly Alert[]): void {
    for (const a of alerts) {
      const rt = this.byId.get(a.rule_id);
      if (!rt || a.status !== 'firing' || rt.active.has(a.dedup_key)) continue;
      const started = Date.parse(a.started_at);
      const base = Math.max(Number.isFinite(this.now) ? this.now : Date.now(), started);
      rt.active.set(a.dedup_key, { alert: a, notifiers: a.shadow ? [] : this.notifiersOf(rt.rule.actions), groups: new Set(), adoptedUntil: base + rt.rule.windowMs });
    }
  }

  firing(): { alert: Alert; notifiers: string[] }[] {
    const out: { alert: Alert; notifiers: string[] }[] = [];
    for (const rt of this.byId.values()) for (const a of rt.active.values()) out.push({ alert: a.alert, notifiers: a.notifiers });
    return out;
  }

  state(): RuleState[] {
    return [...this.byId.values()].map((rt) => {
      const r = rt.rule.config;
      let valuesEvicted = 0;
      for (const g of rt.groups.values()) valuesEvicted += g.distinct?.capped ?? 0;
      return {
        id: r.id,
        description: r.description,
        severity: r.severity,
        enabled: r.enabled,
        builtin: this.builtinIds.has(r.id),
        shadow: r.shadow,
        condition: r.condition.type,
        window_seconds: r.window / 1000,
        matched: rt.matched,
        groups: rt.groups.size,
        groups_evicted: rt.evicted,
        values_evicted: valuesEvicted,
        fired: rt.fired,
        shadow_hits: rt.shadowHits,
        suppressed: rt.suppressed,
        firing: rt.active.size,
        last_fired_at: rt.lastFiredAt === null ? null : new Date(rt.lastFiredAt).toISOString(),
      };
    });
  }

  /** Learned baselines, to survive a restart (they take weeks to learn). */
  snapshot(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const rt of this.byId.values()) {
      if (!rt.baselines.size) continue;
      const m: Record<string, unknown> = {};
      for (const [k, b] of rt.baselines) m[k] = b.toJSON();
      out[rt.rule.id] = { digest: baselineDigest(rt.rule.config), baselines: m };
    }
    return out;
  }

  restore(snap: Record<string, Record<string, unknown>>): void {
    for (const [id, v] of Object.entries(snap)) {
      const rt = this.byId.get(id);
      if (!rt || v.digest !== baselineDigest(rt.rule.config) || typeof v.baselines !== 'object' || !v.baselines) continue;
      const c = rt.rule.config.condition;
      const tz = c.type === 'baseline' ? c.tz : 'UTC';
      for (const [k, b] of Object.entries(v.baselines as Record<string, unknown>)) {
        try {
          rt.baselines.set(k, HourOfWeekBaseline.fromJSON(b, { tz }));
        } catch {
          /* a damaged entry relearns */
        }
      }
    }
  }
}

/** What a baseline learned depends on the stream it saw: match, groups, schedule and zone. */
function baselineDigest(r: RuleConfig): string {
  return JSON.stringify([r.match ?? null, r.group_by, r.schedule ?? null, r.condition.type === 'baseline' ? r.condition.tz : null]);
}

export function describeAction(a: EffectAction): string {
  if (a.type === 'block') return `block ${a.kind} ${a.value} for ${formatDuration(a.duration_ms)}`;
  return `tag ${a.label}=${a.value} on ${a.fields.map((f, i) => `${f}=${a.values[i]}`).join(' ')} until ${new Date(a.expires_ms).toISOString()}`;
}
