/**
 * The detection worker thread: tails every spool writer's segments (live
 * proxy traffic and anything ingested into the spool), feeds the events to
 * the rule engine in event-time order, keeps the alert book, sends
 * notifications and hands blocks and tags to the main thread. It runs at the
 * proxy's priority (unlike the store loader) so detection keeps up during
 * the very floods it is there to notice, and never on the proxy's event loop.
 *
 * Its position in the spool and the learned baselines are saved every few
 * seconds, so a restart resumes where it stopped; windows start empty, and
 * events older than every window when they are read are skipped as late.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { promises as fsp, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AuditEvent } from '../../core/event.js';
import type { SpoolCursor } from '../../store/types.js';
import { SpoolReader } from '../../audit/spool/reader.js';
import { Engine, type Transition } from '../engine.js';
import { resolveRules } from '../rules/load.js';
import { fieldsUsed } from '../rules/compile.js';
import { createEventScanner } from '../../core/event-scan.js';
import { AlertBook } from '../alerts/alert-book.js';
import { buildNotifiers, closeNotifiers, NotifierDispatcher } from '../notifiers/index.js';
import type { DetectConfig } from '../../config/detect-schema.js';
import type { DetectInit, DetectMessage, DetectRequest, DetectStats } from './protocol.js';
import type { Notifier } from '../types.js';

const init = workerData as DetectInit;
const port = parentPort!;
const BATCH = 5000;
const SAVE_EVERY_MS = 5000;

function post(m: DetectMessage): void {
  port.postMessage(m);
}
function log(level: 'info' | 'warn' | 'error', msg: string, data?: unknown): void {
  post({ type: 'log', level, msg, data });
}

let detect: DetectConfig = init.detect;
const reader = new SpoolReader(init.spoolDir);
let cursors = new Map<string, SpoolCursor>();
const book = new AlertBook({ file: path.resolve(init.baseDir, detect.alerts_file), retentionDays: detect.alerts_retention_days });
let notifiers = new Map<string, Notifier>();
let dispatcher: NotifierDispatcher;
let stopping = false;
let lastError: string | null = null;
let lastReadAt: string | null = null;

function link(alertId: string): string | null {
  return init.adminUrl ? `${init.adminUrl}/api/v1/alerts/${alertId}` : null;
}

function newDispatcher(n: Map<string, Notifier>): NotifierDispatcher {
  return new NotifierDispatcher(n, {
    log: { warn: (o: object, msg: string) => log('warn', msg, o) },
    onResult: (alertId, record) => {
      // Re-sends of a firing alert (Alertmanager) are recorded only when they fail.
      const prev = book.get(alertId);
      if (record.state === 'sent' && record.kind === 'firing' && prev?.notifications.some((x) => x.notifier === record.notifier && x.kind === 'firing' && x.state === 'sent')) return;
      const a = book.addNotification(alertId, record);
      if (record.state === 'failed') log('warn', `notifier ${record.notifier} could not deliver alert ${alertId}`, { error: record.error, attempts: record.attempts });
      if (a) post({ type: 'alert', alert: a });
    },
  });
}

function onTransition(t: Transition): void {
  book.put(t.alert);
  post({ type: 'alert', alert: t.alert });
  if (t.notifiers.length) dispatcher.dispatch(t.notifiers, { kind: t.kind, alert: t.alert, node: init.node, link: link(t.alert.id) });
  for (const action of t.actions) post({ type: 'effect', action, alertId: t.alert.id });
  if (t.notifiers.length || t.actions.length || t.kind === 'firing') {
    log(t.kind === 'firing' ? 'warn' : 'info', `alert ${t.kind}: ${t.alert.summary}`, { rule: t.alert.rule_id, alert: t.alert.id, shadow: t.alert.shadow, actions: t.alert.actions });
  }
}

function buildRules(d: DetectConfig) {
  const set = resolveRules(d, init.baseDir);
  if (set.errors.length) throw new Error(set.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  return set;
}

const first = buildRules(detect);
const engine = new Engine({ rules: first.rules, builtinIds: first.builtinIds, defaultNotifiers: detect.default_notifiers, maxGroups: detect.max_groups, onTransition });

/** Records are read for the fields the rules use only: most of a record is never decoded. */
function useFieldsOf(rules: Parameters<typeof fieldsUsed>[0]): void {
  const scan = createEventScanner(fieldsUsed(rules));
  reader.decode = (buf, start, end) => scan(buf, start, end) as AuditEvent | null;
}
useFieldsOf(first.rules);

interface SavedState {
  version: 1;
  saved_at: string;
  cursors: SpoolCursor[];
  baselines: Record<string, Record<string, unknown>>;
}

function stateFile(): string {
  return path.resolve(init.baseDir, detect.state_file);
}

function loadState(): SavedState | null {
  try {
    const s = JSON.parse(readFileSync(stateFile(), 'utf8')) as SavedState;
    return s.version === 1 && Array.isArray(s.cursors) ? s : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log('warn', 'detection state unreadable; starting at the end of the spool', { err: (err as Error).message });
    return null;
  }
}

function saveState(): void {
  const s: SavedState = { version: 1, saved_at: new Date().toISOString(), cursors: [...cursors.values()], baselines: engine.snapshot() };
  const file = stateFile();
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify(s));
    renameSync(`${file}.tmp`, file);
  } catch (err) {
    log('warn', 'detection state could not be saved', { err: (err as Error).message });
  }
}

/** Cursors at the end of every writer's newest segment (after its last complete line). */
async function endCursors(): Promise<Map<string, SpoolCursor>> {
  const out = new Map<string, SpoolCursor>();
  for (const writer of await reader.writers()) {
    const segs = await reader.segments(writer);
    if (!segs.length) continue;
    const seg = segs[segs.length - 1];
    const fh = await fsp.open(reader.segmentPath(writer, seg), 'r').catch(() => null);
    if (!fh) continue;
    try {
      const size = (await fh.stat()).size;
      const len = Math.min(size, 1 << 20);
      const buf = Buffer.allocUnsafe(len);
      const { bytesRead } = await fh.read(buf, 0, len, size - len);
      const nl = buf.lastIndexOf(0x0a, bytesRead - 1);
      out.set(writer, { writer, segment: seg, offset: nl === -1 ? size - len : size - len + nl + 1 });
    } finally {
      await fh.close();
    }
  }
  return out;
}

function byTime(a: AuditEvent, b: AuditEvent): number {
  return a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0;
}

async function readOnce(): Promise<number> {
  const r = await reader.read(cursors, BATCH);
  if (r.bad.length) log('error', 'unreadable spool records skipped by detection', { bad: r.bad.slice(0, 5), total: r.bad.length });
  // Writers are read one after another: put the batch in event-time order first.
  r.events.sort(byTime);
  for (const e of r.events) engine.process(e);
  for (const c of r.cursors) cursors.set(c.writer, c);
  lastReadAt = new Date().toISOString();
  return r.events.length;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Alertmanager forgets an alert that is not re-sent within its resolve_timeout
 * (5 min by default): firing alerts are re-sent to Alertmanager notifiers this
 * often, as Prometheus does.
 */
const RESEND_MS = 60_000;

function resendFiring(): void {
  for (const { alert, notifiers: names } of engine.firing()) {
    const am = names.filter((n) => notifiers.get(n)?.type === 'alertmanager');
    if (am.length && alert.status === 'firing') dispatcher.dispatch(am, { kind: 'firing', alert, node: init.node, link: link(alert.id) });
  }
}

/** Ticks are cheap but not free (they sweep idle groups): at most this often. */
const TICK_EVERY_MS = 250;

async function loop(): Promise<void> {
  let lastSave = Date.now();
  let lastTick = 0;
  let lastResend = Date.now();
  while (!stopping) {
    let n = 0;
    try {
      n = await readOnce();
      lastError = null;
    } catch (err) {
      lastError = (err as Error).message;
      log('error', 'reading the spool for detection failed; will retry', { err: lastError });
      await sleep(1000);
    }
    // Quiet traffic still moves time on: alerts resolve, groups expire.
    if (Date.now() - lastTick >= TICK_EVERY_MS) {
      lastTick = Date.now();
      engine.tick(lastTick);
    }
    if (Date.now() - lastResend >= RESEND_MS) {
      lastResend = Date.now();
      resendFiring();
    }
    if (Date.now() - lastSave > SAVE_EVERY_MS) {
      saveState();
      lastSave = Date.now();
    }
    if (n < BATCH) await sleep(detect.poll_interval);
  }
}

async function stats(): Promise<DetectStats> {
  const lag = await reader.lagBytes(cursors).catch(() => 0);
  const c = book.counts();
  return {
    processed: engine.processed,
    late: engine.late,
    firing: c.firing,
    alerts: c.total,
    lagBytes: lag,
    lastReadAt,
    lastError,
    notifications: dispatcher.stats(),
  };
}

async function reload(d: DetectConfig): Promise<void> {
  const set = buildRules(d);
  let nextNotifiers: Map<string, Notifier> | null = null;
  if (JSON.stringify(d.notifiers) !== JSON.stringify(detect.notifiers)) nextNotifiers = buildNotifiers(d.notifiers, { baseDir: init.baseDir });
  engine.setRules(set.rules, { defaultNotifiers: d.default_notifiers, maxGroups: d.max_groups, builtinIds: set.builtinIds });
  useFieldsOf(set.rules);
  if (nextNotifiers) {
    const old = dispatcher;
    const oldNotifiers = notifiers;
    notifiers = nextNotifiers;
    dispatcher = newDispatcher(notifiers);
    // Deliveries in flight finish with the notifiers they started with.
    void old.close().then(() => closeNotifiers(oldNotifiers));
  }
  detect = d;
}

port.on('message', (m: DetectRequest) => {
  if (m.type === 'stop') {
    stopping = true;
    return;
  }
  const reply = (fn: () => unknown) => {
    Promise.resolve()
      .then(fn)
      .then(
        (value) => post({ type: 'reply', id: m.id, ok: true, value }),
        (err: Error) => post({ type: 'reply', id: m.id, ok: false, error: err.message }),
      );
  };
  switch (m.type) {
    case 'reload':
      return reply(() => reload(m.detect));
    case 'alerts':
      return reply(() => book.list(m.query));
    case 'alert':
      return reply(() => book.get(m.alertId));
    case 'ack':
      return reply(() => {
        const a = book.acknowledge(m.alertId, m.by);
        if (a) post({ type: 'alert', alert: a });
        return a;
      });
    case 'rules':
      return reply(() => engine.state());
    case 'stats':
      return reply(() => stats());
  }
});

async function main(): Promise<void> {
  try {
    book.load();
    if (book.badLines) log('warn', 'unreadable lines in the alerts file were skipped', { file: detect.alerts_file, lines: book.badLines });
    notifiers = buildNotifiers(detect.notifiers, { baseDir: init.baseDir });
    dispatcher = newDispatcher(notifiers);
    const state = loadState();
    if (state) {
      cursors = new Map(state.cursors.map((c) => [c.writer, c]));
      engine.restore(state.baselines ?? {});
    } else {
      cursors = await endCursors();
    }
    // Before the backlog: events older than every window are skipped as late, not evaluated against an empty past.
    engine.tick(Date.now());
    engine.adopt(book.firing());
    // Receivers may have lost what was firing while this node was down (Alertmanager's resolve_timeout).
    resendFiring();
  } catch (err) {
    post({ type: 'fatal', error: (err as Error).message });
    return;
  }
  post({ type: 'ready' });
  await loop();
  saveState();
  await dispatcher.close();
  await closeNotifiers(notifiers);
  post({ type: 'stopped' });
  port.close();
}

void main();
