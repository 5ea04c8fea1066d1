/**
 * Hour-of-week baselines for anomaly detection: for each of the 168 local
 * hours of the week (Mon 00:00 … Sun 23:00 in an IANA time zone), an EWMA of
 * the number of events counted in that hour, one update per week.
 *
 * Hours are local clock hours: an hour starts where the local time is hh:00,
 * so in zones with a half-hour offset (Asia/Kolkata) they start at hh:30 UTC.
 * The hour being counted ("open") is folded into its slot when a call to
 * `observe` or `expected` arrives with a time in a later hour:
 *
 *     mean ← count                          (first completed observation)
 *     mean ← mean + alpha · (count − mean)  (later weeks)
 *
 * Hours without events between two calls are folded as zeros — but only
 * after the first event ever (before it nothing is known) and at most the 168
 * hours before the new time (a gap of three weeks folds one zero per slot,
 * not three, and costs at most 168 steps).
 *
 * Daylight saving time. On a 23-hour day the skipped local hour is simply not
 * folded that week. On a 25-hour day the repeated local hour (two real hours
 * with the same slot) is folded once, as the count per hour: the count over
 * both, halved. In general a folded count is scaled to 60 minutes of real
 * time (count · 1 h / real duration of the local hour).
 *
 * Late events: an event in the hour just folded (at most one hour late) is
 * added to that fold exactly — the EWMA is linear, so it adds alpha·n to the
 * slot's mean, or n if that fold was the slot's first. Older events are
 * dropped. Time otherwise only moves forward.
 *
 * Cost: `observe` within the open hour is a comparison and an addition; the
 * time zone (localTime, memoized per minute) is consulted only when an hour
 * changes and by `expected`.
 */
import { localTime } from '../../core/time-window.js';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const SLOTS = 168;
const JSON_VERSION = 1;

export interface BaselineOptions {
  /** IANA time zone the hours of the week are counted in. */
  tz: string;
  /** EWMA weight of a new week's count, 0 < alpha ≤ 1; default 0.3. */
  alpha?: number;
}

/** What a slot has learned: the mean count per hour and how many weeks were folded into it. */
export interface BaselineExpectation {
  mean: number;
  weeks: number;
}

/** Serialized form (toJSON); plain numbers, stable across versions of this file via `version`. */
export interface BaselineJSON {
  version: 1;
  tz: string;
  alpha: number;
  /** Per slot (day·24 + hour, day 0 = Monday): learned mean, and number of folds (0 = nothing learned). */
  mean: number[];
  weeks: number[];
  /** The hour being counted: start/end (epoch ms), slot, events so far. */
  open: { start: number; end: number; slot: number; count: number } | null;
  /** The last folded hour, for late events: start/end, slot, and the mean's change per late event. */
  prev: { start: number; end: number; slot: number; gain: number } | null;
}

export class HourOfWeekBaseline {
  readonly tz: string;
  readonly alpha: number;
  private readonly means = new Float64Array(SLOTS);
  private readonly weeks = new Float64Array(SLOTS);
  private openStart = Number.NaN;
  private openEnd = Number.NaN;
  private openSlot = -1;
  private openCount = 0;
  private prevStart = Number.NaN;
  private prevEnd = Number.NaN;
  private prevSlot = -1;
  private prevGain = 0;

  constructor(opts: BaselineOptions) {
    const alpha = opts.alpha ?? 0.3;
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${alpha}`);
    localTime(0, opts.tz); // throws RangeError for an unknown time zone
    this.tz = opts.tz;
    this.alpha = alpha;
  }

  /** Counts `n` events (default 1) at event time `tsMs` into its hour, folding completed hours first. */
  observe(tsMs: number, n = 1): void {
    if (!(n >= 0) || n === Number.POSITIVE_INFINITY) throw new RangeError(`n must be a finite non-negative number, got ${n}`);
    if (!Number.isFinite(tsMs)) return;
    if (this.openStart !== this.openStart) this.open(this.hourStart(tsMs), -1);
    else if (tsMs >= this.openEnd) this.advanceTo(tsMs);
    if (tsMs >= this.openStart) this.openCount += n;
    else if (tsMs >= this.prevStart && tsMs < this.prevEnd) this.means[this.prevSlot] += this.prevGain * n;
    // else: more than an hour late; dropped.
  }

  /**
   * What was learned for the hour of the week of `tsMs`: the mean count per
   * hour and the number of weeks folded in; null when that slot has no
   * completed observation yet. Folds completed hours first, like observe.
   */
  expected(tsMs: number): BaselineExpectation | null {
    if (!Number.isFinite(tsMs)) return null;
    if (tsMs >= this.openEnd) this.advanceTo(tsMs); // false while nothing was observed (NaN)
    const slot = this.slotOf(tsMs);
    const weeks = this.weeks[slot];
    return weeks === 0 ? null : { mean: this.means[slot], weeks };
  }

  toJSON(): BaselineJSON {
    const hasOpen = this.openStart === this.openStart;
    const hasPrev = this.prevStart === this.prevStart;
    return {
      version: JSON_VERSION,
      tz: this.tz,
      alpha: this.alpha,
      mean: Array.from(this.means),
      weeks: Array.from(this.weeks),
      open: hasOpen ? { start: this.openStart, end: this.openEnd, slot: this.openSlot, count: this.openCount } : null,
      prev: hasPrev ? { start: this.prevStart, end: this.prevEnd, slot: this.prevSlot, gain: this.prevGain } : null,
    };
  }

  /**
   * Restores a baseline saved with toJSON (the object, or after a JSON round
   * trip). `opts` is authoritative for alpha; the time zone must be the one
   * the baseline was learned in, since its slots are local hours. Throws
   * TypeError for malformed input and RangeError for a time-zone mismatch.
   */
  static fromJSON(v: unknown, opts: BaselineOptions): HourOfWeekBaseline {
    const b = new HourOfWeekBaseline(opts);
    if (typeof v !== 'object' || v === null) throw new TypeError('baseline: expected an object');
    const o = v as Partial<Record<keyof BaselineJSON, unknown>>;
    if (o.version !== JSON_VERSION) throw new TypeError(`baseline: unsupported version ${String(o.version)}`);
    if (o.tz !== opts.tz) throw new RangeError(`baseline: learned in time zone ${String(o.tz)}, not ${opts.tz}`);
    const mean = slotArray(o.mean, 'mean');
    const weeks = slotArray(o.weeks, 'weeks');
    for (let i = 0; i < SLOTS; i++) {
      if (!Number.isSafeInteger(weeks[i])) throw new TypeError('baseline: weeks must be non-negative integers');
      b.means[i] = mean[i];
      b.weeks[i] = weeks[i];
    }
    if (o.open !== null) {
      const open = record(o.open, 'open', ['start', 'end', 'slot', 'count']);
      if (!(open.end > open.start) || !isSlot(open.slot) || open.count < 0) throw new TypeError('baseline: invalid open hour');
      b.openStart = open.start;
      b.openEnd = open.end;
      b.openSlot = open.slot;
      b.openCount = open.count;
    }
    if (o.prev !== null) {
      const prev = record(o.prev, 'prev', ['start', 'end', 'slot', 'gain']);
      if (!(prev.end > prev.start) || !isSlot(prev.slot) || prev.gain < 0) throw new TypeError('baseline: invalid previous hour');
      b.prevStart = prev.start;
      b.prevEnd = prev.end;
      b.prevSlot = prev.slot;
      b.prevGain = prev.gain;
    }
    return b;
  }

  /** Folds every hour that ended at or before `tsMs` (tsMs ≥ openEnd) and opens the hour of `tsMs`. */
  private advanceTo(tsMs: number): void {
    const target = this.hourStart(tsMs);
    if (target - this.openEnd > SLOTS * HOUR_MS) {
      // Catch up on at most the last 168 hours: each slot folds one zero at most.
      this.fold();
      this.open(Math.max(this.openEnd, this.hourStart(target - SLOTS * HOUR_MS)), -1);
    }
    while (tsMs >= this.openEnd) {
      const s = this.openEnd;
      const slot = this.slotOf(s);
      if (slot === this.openSlot) {
        // The local hour repeats (DST ends): same slot, one fold over both real hours.
        this.openEnd = this.nextStart(s);
        continue;
      }
      this.fold();
      this.open(s, slot);
    }
  }

  private open(start: number, slot: number): void {
    this.openStart = start;
    this.openEnd = this.nextStart(start);
    this.openSlot = slot === -1 ? this.slotOf(start) : slot;
    this.openCount = 0;
  }

  private fold(): void {
    const slot = this.openSlot;
    const perHour = HOUR_MS / (this.openEnd - this.openStart);
    const value = this.openCount * perHour;
    const w = this.weeks[slot];
    let gain: number;
    if (w === 0) {
      this.means[slot] = value;
      gain = 1;
    } else {
      this.means[slot] += this.alpha * (value - this.means[slot]);
      gain = this.alpha;
    }
    this.weeks[slot] = w + 1;
    this.prevStart = this.openStart;
    this.prevEnd = this.openEnd;
    this.prevSlot = slot;
    this.prevGain = gain * perHour;
  }

  /** Start (epoch ms) of the local hour containing `ms`. */
  private hourStart(ms: number): number {
    const minute = Math.floor(ms / MINUTE_MS) * MINUTE_MS;
    return minute - (localTime(ms, this.tz).minutes % 60) * MINUTE_MS;
  }

  /** Start of the local hour after the one starting at `start`; always later than `start`. */
  private nextStart(start: number): number {
    const next = this.hourStart(start + HOUR_MS);
    return next > start ? next : start + HOUR_MS;
  }

  private slotOf(ms: number): number {
    const t = localTime(ms, this.tz);
    return t.day * 24 + Math.floor(t.minutes / 60);
  }
}

function isSlot(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v < SLOTS;
}

function slotArray(v: unknown, name: string): number[] {
  if (!Array.isArray(v) || v.length !== SLOTS) throw new TypeError(`baseline: ${name} must be an array of ${SLOTS} numbers`);
  for (const x of v) {
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new TypeError(`baseline: ${name} must hold finite non-negative numbers`);
  }
  return v as number[];
}

function record<K extends string>(v: unknown, name: string, keys: readonly K[]): Record<K, number> {
  if (typeof v !== 'object' || v === null) throw new TypeError(`baseline: ${name} must be an object or null`);
  const o = v as Record<string, unknown>;
  for (const k of keys) {
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) throw new TypeError(`baseline: ${name}.${k} must be a finite number`);
  }
  return o as Record<K, number>;
}
