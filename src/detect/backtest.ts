/**
 * Backtesting: stored events (live or ingested) replayed through rules in
 * event-time order, with the clock ticking every second of event time as it
 * does live, so what would have fired — and when it would have resolved —
 * matches the live run. Nothing is sent, blocked or tagged.
 */
import type { AuditEvent } from '../core/event.js';
import { Engine, type Transition } from './engine.js';
import type { RuleConfig } from './rules/schema.js';
import type { Alert } from './types.js';

export interface BacktestOptions {
  rules: readonly RuleConfig[];
  builtinIds?: ReadonlySet<string>;
  maxGroups?: number;
  /** Where the replay ends (ISO): the clock is moved there at the end, so alerts that cleared before it resolve. */
  to?: string;
}

export interface BacktestTransition {
  kind: 'firing' | 'resolved';
  /** Event time of the transition. */
  at: string;
  alert: Alert;
  /** What the live run would have done (block/tag), as text. */
  would: string[];
}

export interface BacktestResult {
  events: number;
  transitions: BacktestTransition[];
  /** Alerts by id in their final state. */
  alerts: Alert[];
}

const TICK_MS = 1000;

/** Replays pages of events (each page oldest first, pages in order). */
export async function backtest(pages: AsyncIterable<readonly AuditEvent[]>, opts: BacktestOptions): Promise<BacktestResult> {
  const transitions: BacktestTransition[] = [];
  const alerts = new Map<string, Alert>();
  const record = (t: Transition) => {
    const alert = structuredClone(t.alert);
    alerts.set(alert.id, alert);
    transitions.push({ kind: t.kind, at: t.kind === 'firing' ? alert.started_at : (alert.resolved_at ?? alert.started_at), alert, would: t.kind === 'firing' ? [...alert.actions] : [] });
  };
  const engine = new Engine({ rules: opts.rules, builtinIds: opts.builtinIds, defaultNotifiers: [], maxGroups: opts.maxGroups ?? 10_000, onTransition: record });
  let events = 0;
  let nextTick = -Infinity;
  let last = '';
  for await (const page of pages) {
    for (const e of page) {
      if (e.ts < last) throw new Error(`events are not in time order (${e.ts} after ${last})`);
      last = e.ts;
      const ts = Date.parse(e.ts);
      if (ts >= nextTick) {
        // Time passes in steps, as the live worker's tick does.
        if (Number.isFinite(nextTick)) engine.tick(Math.floor(ts / TICK_MS) * TICK_MS);
        nextTick = (Math.floor(ts / TICK_MS) + 1) * TICK_MS;
      }
      engine.process(e);
      events++;
    }
  }
  const end = opts.to ? Date.parse(opts.to) : Number.isFinite(nextTick) ? nextTick : NaN;
  if (Number.isFinite(end)) for (let t = Math.max(nextTick, end - 3_600_000); t <= end; t += TICK_MS) engine.tick(t);
  return { events, transitions, alerts: [...alerts.values()] };
}
