/**
 * Wall-clock times of a named time zone (IANA, "Europe/Berlin") to UTC, for
 * logs that write the server's local time without an offset (HAProxy's
 * default dates, Apache %{...}t without %z, Caddy's `wall`). Offsets come
 * from the runtime's time zone data through Intl; they are cached per
 * quarter hour (every zone's transitions fall on quarter hours), so a log
 * costs one Intl call per quarter hour it spans, not one per line.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();
const QUARTER_HOUR_MS = 15 * 60_000;

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    // Throws RangeError for a zone the runtime does not know.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Whether `zone` names a time zone this runtime knows ("UTC", "America/New_York"). */
export function isTimeZone(zone: string): boolean {
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

/** The zone a parser reads offset-less times in: null for UTC, named or not (nothing to convert). */
export function zoneOffsetsFor(zone: string | undefined): ZoneOffsets | null {
  return zone && !/^(?:etc\/)?(?:utc|gmt)$/i.test(zone) ? new ZoneOffsets(zone) : null;
}

/** A wall-clock time (as epoch ms of the same fields in UTC) in `zone` to UTC; unchanged for UTC (null). */
export function localToUtc(localMs: number, zone: ZoneOffsets | null): number {
  return zone === null ? localMs : zone.toUtc(localMs);
}

export class ZoneOffsets {
  private readonly cache = new Map<number, number>();
  private readonly format: Intl.DateTimeFormat;

  constructor(readonly zone: string) {
    this.format = formatterFor(zone);
  }

  /** This zone's offset from UTC (ms, east positive) at the instant `utcMs`. */
  offsetAt(utcMs: number): number {
    const q = Math.floor(utcMs / QUARTER_HOUR_MS);
    let off = this.cache.get(q);
    if (off === undefined) {
      const at = q * QUARTER_HOUR_MS;
      const p: Record<string, number> = {};
      for (const part of this.format.formatToParts(at)) if (part.type !== 'literal') p[part.type] = Number(part.value);
      off = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - at;
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(q, off);
    }
    return off;
  }

  /**
   * The UTC instant of a wall-clock time in this zone, given as the epoch ms
   * the same fields would have in UTC. A time repeated by a fall-back reads
   * as its first occurrence; one skipped by a spring-forward reads with the
   * offset in force before the change (as most systems do).
   */
  toUtc(localMs: number): number {
    const guess = localMs - this.offsetAt(localMs);
    // Transitions are rare and hours apart: the offsets 6 h either side cover both readings near one.
    const before = this.offsetAt(guess - 6 * 3_600_000);
    const after = this.offsetAt(guess + 6 * 3_600_000);
    if (before === after) return localMs - before;
    let best = Number.NaN;
    for (const off of [before, after]) {
      const t = localMs - off;
      if (this.offsetAt(t) === off && !(t >= best)) best = t;
    }
    return Number.isNaN(best) ? localMs - before : best;
  }
}
