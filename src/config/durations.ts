/** Durations as written in config and on the command line; no schema library, so light clients (the CLI's admin commands) load only this. */

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const LARGEST_FIRST = ['d', 'h', 'm', 's'] as const;

/** Parses "250ms", "5s", "1m", "2h", "7d" or a number of milliseconds. */
export function parseDuration(v: string | number): number | null {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : null;
  const m = DURATION_RE.exec(v.trim());
  if (!m) return null;
  return Math.round(parseFloat(m[1]) * UNIT_MS[m[2] ?? 'ms']);
}

/** The shortest unit that states `ms` exactly: 90000 → "90s", 3600000 → "1h", 1500 → "1500ms". */
export function formatDuration(ms: number): string {
  for (const unit of LARGEST_FIRST) {
    const size = UNIT_MS[unit];
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
