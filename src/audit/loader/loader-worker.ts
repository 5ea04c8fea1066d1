/**
 * The store loader, run in a worker thread: tails every spool writer's
 * segments and loads events into the store in transactions that also advance
 * the cursors (exactly once across crashes), removes loaded segments, applies
 * retention, and answers read queries for the admin API. DuckDB's synchronous
 * native calls stall for up to a second at times; here they stall only this
 * thread, never the proxy's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import type { SpoolCursor, StoreReader } from '../../store/types.js';
import { QueryError } from '../../store/types.js';
import { InvalidEventError } from '../../store/validate.js';
import type { AuditEvent } from '../../core/event.js';
import { SpoolReader, holdCursors, parseRuns, type BadLine, type RawRun } from '../spool/reader.js';
import { completeEvent } from '../../core/event-json.js';
import { DuckDbStore } from '../../store/duckdb/duckdb-store.js';
import { CsvRows } from '../../store/duckdb/bulk-csv.js';
import type { LoaderInit, LoaderMessage, LoaderRequest, LoaderStats } from './protocol.js';

const init = workerData as LoaderInit;
const port = parentPort!;

const stats: LoaderStats = {
  loaded: 0,
  batches: 0,
  errors: 0,
  torn: 0,
  badLines: 0,
  exactLoads: 0,
  segmentsRemoved: 0,
  retentionDeleted: 0,
  lagBytes: 0,
  lastLoadAt: null,
  lastError: null,
  caughtUp: false,
  rollupsBuiltAt: null,
};

let store: DuckDbStore;
const reader = new SpoolReader(init.spoolDir);
const cursors = new Map<string, SpoolCursor>();
let stopping = false;
let streamWanted = false;

function post(m: LoaderMessage): void {
  port.postMessage(m);
}

// One load at a time: two concurrent reads from the same cursors would load events twice.
let loadChain: Promise<unknown> = Promise.resolve();
function loadOnce(): Promise<number> {
  const next = loadChain.then(loadOnceUnlocked, loadOnceUnlocked);
  loadChain = next.catch(() => undefined);
  return next;
}

async function loadOnceUnlocked(): Promise<number> {
  const r = await reader.readRaw(cursors, init.batchSize);
  stats.torn += r.torn;
  reportBad(r.bad);
  if (!r.cursors.length) return 0;
  // Also with no events (only headers, control records or torn tails): the cursors still advance.
  let fast = false;
  try {
    fast = await store.appendRecords(r.runs.map((run) => run.data), r.cursors);
  } catch (err) {
    const first = r.runs[0];
    post({
      type: 'log',
      level: 'warn',
      msg: 'loading a batch of spool records as they are failed; loading it event by event',
      data: { err: (err as Error).message, events: r.count, from: first ? { writer: first.writer, segment: first.segment, offset: first.offset } : null },
    });
  }
  if (!fast) stats.exactLoads++;
  // The exact load returns the events it stored (the ones set aside are reported there).
  const events = fast ? null : await loadExact(r.runs, r.cursors);
  const loaded = events ? events.length : r.count;
  for (const c of r.cursors) cursors.set(c.writer, c);
  stats.loaded += loaded;
  stats.batches++;
  stats.lastLoadAt = new Date().toISOString();
  // Spool records leave null fields out; the live stream shows whole events.
  if (streamWanted && loaded) post({ type: 'events', events: (events ?? parseRuns(r.runs).events).map(completeEvent) });
  return r.count;
}

function reportBad(bad: readonly BadLine[]): void {
  if (!bad.length) return;
  stats.badLines += bad.length;
  post({ type: 'log', level: 'error', msg: 'unreadable spool records skipped', data: { bad: bad.slice(0, 5), total: bad.length } });
}

/**
 * The exact way: every record parsed and checked by the store's row encoder
 * (CsvRows: the store's validation, one event at a time). An event it
 * refuses is reported with its place in the spool and set aside, and the
 * rest of the batch is loaded: one damaged record must not hold back every
 * event after it.
 */
async function loadExact(runs: readonly RawRun[], cursorsAfter: readonly SpoolCursor[]): Promise<AuditEvent[]> {
  const { events, places, bad } = parseRuns(runs, null, true);
  const rows = new CsvRows();
  const stored: AuditEvent[] = [];
  for (let i = 0; i < events.length; i++) {
    try {
      rows.add(events[i]);
      stored.push(events[i]);
    } catch (err) {
      if (!(err instanceof InvalidEventError)) throw err;
      bad.push({ ...places[i], error: err.message });
    }
  }
  await store.appendCsvRows(rows.take(), cursorsAfter);
  reportBad(bad);
  return stored;
}

async function loop(): Promise<void> {
  let lastHousekeeping = 0;
  while (!stopping) {
    let n = 0;
    try {
      n = await loadOnce();
      stats.caughtUp = n < init.batchSize;
      stats.lastError = null;
    } catch (err) {
      stats.errors++;
      stats.lastError = (err as Error).message;
      post({ type: 'log', level: 'error', msg: 'loading spooled events into the store failed; will retry', data: { err: (err as Error).message } });
      await sleep(1000);
      continue;
    }
    const now = Date.now();
    if (now - lastHousekeeping > init.housekeepingMs) {
      lastHousekeeping = now;
      try {
        stats.segmentsRemoved += await reader.removeLoaded(heldBack(cursors));
        if (init.retentionDays > 0) stats.retentionDeleted += await store.deleteOlderThan(new Date(now - init.retentionDays * 86_400_000));
        // Summaries of the hours and days that are over, for fast queries over long ranges.
        if (store.buildRollups) {
          await store.buildRollups(now);
          stats.rollupsBuiltAt = new Date().toISOString();
        }
      } catch (err) {
        post({ type: 'log', level: 'warn', msg: 'spool/store housekeeping failed', data: { err: (err as Error).message } });
      }
    }
    if (n < init.batchSize) await sleep(init.pollMs);
  }
}

/** The loader's cursors, moved back to another reader's where it is behind (so its segments stay). */
function heldBack(own: ReadonlyMap<string, SpoolCursor>): Map<string, SpoolCursor> {
  if (!init.holdFile) return new Map(own);
  let hold: unknown = null;
  try {
    hold = JSON.parse(readFileSync(init.holdFile, 'utf8'));
  } catch {
    // no such reader (yet), or a file being replaced: hold nothing this time
  }
  return holdCursors(own, hold, Date.now());
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const READS: readonly (keyof StoreReader)[] = ['search', 'get', 'timeseries', 'top', 'latency', 'count'];

port.on('message', (m: LoaderRequest) => {
  if (m.type === 'stream') {
    streamWanted = m.on;
    return;
  }
  if (m.type === 'stop') {
    stopping = true;
    return;
  }
  if (m.type === 'flush') {
    // Load everything currently in the spool, then answer.
    void (async () => {
      try {
        while ((await loadOnce()) > 0);
        post({ type: 'reply', id: m.id, ok: true, value: stats.loaded });
      } catch (err) {
        post({ type: 'reply', id: m.id, ok: false, error: (err as Error).message });
      }
    })();
    return;
  }
  if (m.type === 'stats') {
    // Lag is measured when asked (a scrape, /readyz), so it is current even while loading is starved.
    reader.lagBytes(cursors).then(
      (lag) => {
        stats.lagBytes = lag;
        post({ type: 'reply', id: m.id, ok: true, value: { ...stats } });
      },
      () => post({ type: 'reply', id: m.id, ok: true, value: { ...stats } }),
    );
    return;
  }
  if (m.type === 'read') {
    if (!READS.includes(m.method)) {
      post({ type: 'reply', id: m.id, ok: false, error: `unknown method ${m.method}` });
      return;
    }
    const fn = store[m.method] as (...a: unknown[]) => Promise<unknown>;
    fn.apply(store, m.args).then(
      (value) => post({ type: 'reply', id: m.id, ok: true, value }),
      (err: Error) => post({ type: 'reply', id: m.id, ok: false, error: err.message, queryError: err instanceof QueryError }),
    );
  }
});

/**
 * Traffic first: loading into the store runs at a lower CPU priority, so under
 * contention the proxy wins and the spool absorbs the lag (visible as
 * tollgate_spool_lag_bytes). Threads DuckDB starts later inherit the value.
 * Linux only; elsewhere the thread keeps the normal priority.
 */
function lowerThreadPriority(nice: number): void {
  if (nice <= 0) return;
  try {
    const self = readlinkSync('/proc/thread-self'); // "<pid>/task/<tid>"
    const tid = Number(self.split('/').pop());
    if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, nice);
  } catch {
    /* not Linux, or not permitted: keep the default priority */
  }
}

async function main(): Promise<void> {
  lowerThreadPriority(init.nice);
  try {
    store = new DuckDbStore({ path: init.storePath });
    await store.init();
    for (const c of await store.readCursors()) cursors.set(c.writer, c);
  } catch (err) {
    post({ type: 'fatal', error: `cannot open the store at ${init.storePath}: ${(err as Error).message}` });
    return;
  }
  post({ type: 'ready' });
  await loop();
  await store.close();
  post({ type: 'stopped' });
  // The message port would keep this thread alive; nothing is left to do.
  port.close();
}

void main();
