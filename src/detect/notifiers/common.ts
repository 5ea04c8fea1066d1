/**
 * What the notifier types share: their delivery settings, the error that
 * carries a receiver's `Retry-After`, secrets read from files, the deadline of
 * one attempt, and the few lines of text every human-facing format uses.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { NotifyError, type Alert, type AlertEvidence, type Notification, type Notifier } from '../types.js';
import { formatDuration } from '../../config/durations.js';

/** How the dispatcher delivers to one notifier (from its `timeout`, `retries`, `backoff`, `max_backoff`). */
export interface DeliveryPolicy {
  /** Time allowed for one attempt. */
  timeoutMs: number;
  /** Attempts after the first, for retryable failures. */
  retries: number;
  /** Wait before the first retry; doubles for each further one. */
  backoffMs: number;
  /** Cap of the wait between attempts. */
  maxBackoffMs: number;
}

export const DEFAULT_DELIVERY: Readonly<DeliveryPolicy> = Object.freeze({ timeoutMs: 10_000, retries: 5, backoffMs: 1000, maxBackoffMs: 60_000 });

/** A notifier built from configuration: it also says how it wants to be delivered to. */
export interface ConfiguredNotifier extends Notifier {
  readonly delivery: DeliveryPolicy;
}

export function deliveryPolicy(cfg: { timeout: number; retries: number; backoff: number; max_backoff: number }): DeliveryPolicy {
  return { timeoutMs: cfg.timeout, retries: cfg.retries, backoffMs: cfg.backoff, maxBackoffMs: Math.max(cfg.max_backoff, 0) };
}

/** A NotifyError that may say when the receiver wants the next attempt (429/503 `Retry-After`). */
export class DeliveryError extends NotifyError {
  constructor(
    message: string,
    retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message, retryable);
    this.name = 'DeliveryError';
  }
}

/** Where the notifiers are built: relative `*_file` paths are resolved against `baseDir`. */
export interface NotifierBuildContext {
  baseDir?: string;
}

/**
 * The value of a secret given inline or as `<field>_file` (read now, trimmed).
 * Errors name the field and file but never the content.
 */
export function readSecret(inline: string | undefined, file: string | undefined, field: string, ctx: NotifierBuildContext = {}): string | undefined {
  if (file === undefined) return inline;
  const p = resolve(ctx.baseDir ?? process.cwd(), file);
  let text: string;
  try {
    text = readFileSync(p, 'utf8');
  } catch (err) {
    throw new Error(`${field}_file: cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const value = text.trim();
  if (value === '') throw new Error(`${field}_file: ${p} is empty`);
  return value;
}

/** The caller's signal combined with this attempt's own deadline; `timedOut()` tells which one fired. */
export function attemptSignal(signal: AbortSignal, timeoutMs: number): { signal: AbortSignal; timedOut(): boolean } {
  const deadline = AbortSignal.timeout(Math.max(1, timeoutMs));
  return {
    signal: AbortSignal.any([signal, deadline]),
    timedOut: () => deadline.aborted || (signal.aborted && (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError'),
  };
}

/** The error for an attempt cut short by its signal. */
export function abortedError(timedOut: boolean, timeoutMs: number): NotifyError {
  return timedOut ? new NotifyError(`timed out after ${timeoutMs} ms`, true) : new NotifyError('aborted', true);
}

// ---------------------------------------------------------------------- text

/** "client_ip=203.0.113.9 user=alice"; a null value (the field was absent) as "(none)". */
export function groupText(group: Record<string, string | null>): string {
  return Object.entries(group)
    .map(([k, v]) => `${k}=${v ?? '(none)'}`)
    .join(' ');
}

/** A window given in seconds, as durations are written in the config: 300 → "5m", 90 → "90s", 7200 → "2h". */
export function windowText(seconds: number): string {
  return formatDuration(Math.round(seconds * 1000));
}

/** A measured value for people: integers as they are, others with at most 4 decimals. */
export function num(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(4)));
}

/** "count 57 >= 50 over 5m". */
export function evidenceText(e: AlertEvidence): string {
  return `${e.condition} ${num(e.value)} ${e.op} ${num(e.threshold)} over ${windowText(e.window_seconds)}`;
}

/** "FIRING high: failed-login-surge client_ip=203.0.113.9". */
export function headline(n: Notification): string {
  const g = groupText(n.alert.group);
  return `${n.kind === 'firing' ? 'FIRING' : 'RESOLVED'} ${n.alert.severity}: ${n.alert.rule_id}${g ? ` ${g}` : ''}`;
}

/** The evidence facts as lines of "label: value". */
export function factLines(a: Alert): [string, string][] {
  const e = a.evidence;
  const lines: [string, string][] = [
    ['Value', `${num(e.value)} (${e.condition}, threshold ${e.op} ${num(e.threshold)})`],
    ['Window', `${windowText(e.window_seconds)} (${e.window_start} to ${e.window_end})`],
    ['Matching events', String(e.count)],
  ];
  if (e.sample_event_ids.length) lines.push(['Sample events', e.sample_event_ids.join(', ')]);
  for (const [k, v] of Object.entries(e.detail ?? {})) lines.push([`Detail ${k}`, v === null ? '(none)' : typeof v === 'number' ? num(v) : v]);
  return lines;
}

/** Cuts `s` to at most `max` characters, marking the cut with "…". */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
}
