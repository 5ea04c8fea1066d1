/**
 * The alert book: every alert and each of its changes (fired, evidence
 * updated, notified, acknowledged, resolved), kept in memory for the API and
 * in an append-only NDJSON file so a restart keeps the history. The file
 * holds whole snapshots, the last one per id wins, and it is compacted (a
 * rewrite through a temporary file and a rename) when it holds mostly stale
 * snapshots. Alert volume is small — these are the rare moments a rule fires.
 */
import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import path from 'node:path';
import type { Alert, AlertStatus, NotificationRecord } from '../types.js';

export interface AlertQuery {
  status?: AlertStatus;
  rule_id?: string;
  severity?: string;
  /** true: shadow (dry-run) alerts only; false: real ones only; absent: both. */
  shadow?: boolean;
  acknowledged?: boolean;
  /** started_at bounds (ISO). */
  from?: string;
  to?: string;
  /** Group value, e.g. an IP or user: matches any group field's value. */
  group?: string;
  limit?: number;
  /** The id of the last alert of the previous page. */
  cursor?: string;
}

export interface AlertPage {
  alerts: Alert[];
  next_cursor: string | null;
}

export interface AlertBookOptions {
  /** null: memory only (backtests). */
  file: string | null;
  retentionDays: number;
  /** Most alerts kept; the oldest resolved ones go first. */
  maxAlerts?: number;
}

export class AlertBook {
  private readonly alerts = new Map<string, Alert>();
  private lines = 0;
  private readonly maxAlerts: number;
  /** Lines of the file that could not be read at load (reported, skipped). */
  badLines = 0;

  constructor(private readonly opts: AlertBookOptions) {
    this.maxAlerts = opts.maxAlerts ?? 10_000;
  }

  load(): void {
    if (!this.opts.file) return;
    let text = '';
    try {
      text = readFileSync(this.opts.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      this.lines++;
      try {
        const a = JSON.parse(line) as Alert;
        if (typeof a.id !== 'string' || typeof a.rule_id !== 'string') throw new Error('not an alert');
        this.alerts.delete(a.id);
        this.alerts.set(a.id, a);
      } catch {
        // A torn last line after a crash, or an edit: the rest of the book stands.
        this.badLines++;
      }
    }
    this.prune();
    this.compactIfStale(true);
  }

  /** Alerts that were firing when the node stopped. */
  firing(): Alert[] {
    return [...this.alerts.values()].filter((a) => a.status === 'firing');
  }

  /** Records a new alert or a change to one. */
  put(a: Alert): void {
    this.alerts.delete(a.id);
    this.alerts.set(a.id, a);
    this.write(a);
    if (this.alerts.size > this.maxAlerts) this.prune();
  }

  get(id: string): Alert | null {
    return this.alerts.get(id) ?? null;
  }

  addNotification(id: string, r: NotificationRecord): Alert | null {
    const a = this.alerts.get(id);
    if (!a) return null;
    a.notifications.push(r);
    a.updated_at = new Date().toISOString();
    this.write(a);
    return a;
  }

  acknowledge(id: string, by: string): Alert | null {
    const a = this.alerts.get(id);
    if (!a) return null;
    if (a.acknowledged_at === null) {
      a.acknowledged_at = new Date().toISOString();
      a.acknowledged_by = by;
      a.updated_at = a.acknowledged_at;
      this.write(a);
    }
    return a;
  }

  list(q: AlertQuery = {}): AlertPage {
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000);
    const from = q.from ? Date.parse(q.from) : -Infinity;
    const to = q.to ? Date.parse(q.to) : Infinity;
    const all = [...this.alerts.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const out: Alert[] = [];
    let next: string | null = null;
    for (const a of all) {
      if (q.cursor && a.id >= q.cursor) continue;
      if (q.status && a.status !== q.status) continue;
      if (q.rule_id && a.rule_id !== q.rule_id) continue;
      if (q.severity && a.severity !== q.severity) continue;
      if (q.shadow !== undefined && a.shadow !== q.shadow) continue;
      if (q.acknowledged !== undefined && (a.acknowledged_at !== null) !== q.acknowledged) continue;
      const started = Date.parse(a.started_at);
      if (started < from || started >= to) continue;
      if (q.group !== undefined && !Object.values(a.group).includes(q.group)) continue;
      if (out.length === limit) {
        next = out[out.length - 1].id;
        break;
      }
      out.push(a);
    }
    return { alerts: out, next_cursor: next };
  }

  counts(): { firing: number; total: number } {
    let firing = 0;
    for (const a of this.alerts.values()) if (a.status === 'firing' && !a.shadow) firing++;
    return { firing, total: this.alerts.size };
  }

  private write(a: Alert): void {
    if (!this.opts.file) return;
    mkdirSync(path.dirname(this.opts.file), { recursive: true });
    appendFileSync(this.opts.file, JSON.stringify(a) + '\n');
    this.lines++;
    this.compactIfStale(false);
  }

  /** Drops alerts past retention, then the oldest resolved ones above the cap. */
  private prune(): void {
    const cutoff = this.opts.retentionDays > 0 ? Date.now() - this.opts.retentionDays * 86_400_000 : -Infinity;
    for (const [id, a] of this.alerts) if (a.status === 'resolved' && Date.parse(a.resolved_at ?? a.started_at) < cutoff) this.alerts.delete(id);
    if (this.alerts.size <= this.maxAlerts) return;
    for (const [id, a] of this.alerts) {
      if (this.alerts.size <= this.maxAlerts) break;
      if (a.status === 'resolved') this.alerts.delete(id);
    }
  }

  private compactIfStale(force: boolean): void {
    const file = this.opts.file;
    if (!file) return;
    if (!force && this.lines < 2 * this.alerts.size + 1000) return;
    if (force && this.lines === this.alerts.size) return;
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, [...this.alerts.values()].map((a) => JSON.stringify(a) + '\n').join(''));
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    this.lines = this.alerts.size;
  }
}
