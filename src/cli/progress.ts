/**
 * A one-line progress bar for long CLI jobs (ingest): bytes done of a known
 * total with an ETA, or a spinner-free counter when the total is unknown
 * (stdin, syslog, following). Redrawn in place on a TTY at most every 200 ms;
 * never drawn when stderr is not a terminal, so logs and CI output stay clean.
 */

import type { IngestProgress } from '../ingest/run.js';

/** What a long job reports; the same shape ingest emits. */
export type ProgressState = IngestProgress;

function si(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  return String(Math.round(n));
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The progress line (without terminal control characters), at most `width` columns. */
export function progressLine(p: ProgressState, width = 80): string {
  const secs = Math.max(p.elapsedMs / 1000, 0.001);
  const rate = `${si(p.lines / secs)} lines/s`;
  const counts = `${si(p.lines)} lines, ${si(p.events)} events${p.rejected ? `, ${si(p.rejected)} rejected` : ''}`;
  if (p.totalBytes && p.totalBytes > 0) {
    const frac = Math.min(1, p.bytes / p.totalBytes);
    const eta = frac > 0 && frac < 1 ? ` ETA ${formatDuration((p.elapsedMs / frac) * (1 - frac))}` : '';
    const tail = ` ${String(Math.floor(frac * 100)).padStart(3)}% ${counts} ${rate}${eta}`;
    const barWidth = Math.max(10, Math.min(30, width - tail.length - 2));
    const filled = Math.round(frac * barWidth);
    return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}`.slice(0, width);
  }
  return `${counts} ${rate} (${formatDuration(p.elapsedMs)})${p.current ? ` ${p.current}` : ''}`.slice(0, width);
}

export class ProgressBar {
  private last = 0;
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly enabled: boolean,
  ) {}

  update(p: ProgressState, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 200) return;
    this.last = now;
    const width = Math.max(40, (this.out.columns ?? 80) - 1);
    this.out.write(`\r${progressLine(p, width).padEnd(width)}`);
    this.drawn = true;
  }

  /** Clears the bar so the summary starts on a clean line. */
  done(): void {
    if (!this.enabled || !this.drawn) return;
    const width = Math.max(40, (this.out.columns ?? 80) - 1);
    this.out.write(`\r${' '.repeat(width)}\r`);
    this.drawn = false;
  }
}
