/** Messages between the main thread and the store loader worker thread. */
import type { AuditEvent } from '../../core/event.js';
import type { StoreReader } from '../../store/types.js';
import type { ThreadMessage } from '../../core/thread-handle.js';

export interface LoaderInit {
  spoolDir: string;
  storePath: string;
  batchSize: number;
  pollMs: number;
  retentionDays: number;
  housekeepingMs: number;
  /** Niceness of the loader thread (0 = same as the proxy). */
  nice: number;
  /**
   * Another reader's saved position (a JSON file with `saved_at` and
   * `cursors`, e.g. detection's state file): segments it has not read yet are
   * kept, unless its position is older than 5 minutes (that reader is gone).
   */
  holdFile?: string | null;
}

export interface LoaderStats {
  loaded: number;
  batches: number;
  errors: number;
  torn: number;
  /** Unreadable records skipped, and events the store refused (reported with their place in the spool). */
  badLines: number;
  /** Batches the store refused as a whole (the native JSON reader), then loaded event by event. */
  exactLoads: number;
  segmentsRemoved: number;
  retentionDeleted: number;
  lagBytes: number;
  lastLoadAt: string | null;
  lastError: string | null;
  caughtUp: boolean;
  /** When summaries of finished hours and days were last brought up to date (null: not yet). */
  rollupsBuiltAt: string | null;
}

export type LoaderRequest =
  | { type: 'read'; id: number; method: keyof StoreReader; args: unknown[] }
  | { type: 'stats'; id: number }
  | { type: 'flush'; id: number }
  | { type: 'stream'; on: boolean }
  | { type: 'stop' };

/** ready, fatal, log, reply, stopped (see core/thread-handle), and the live events. */
export type LoaderMessage = ThreadMessage | { type: 'events'; events: AuditEvent[] };
