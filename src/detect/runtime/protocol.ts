/** Messages between the main thread and the detection worker thread. */
import type { DetectConfig } from '../../config/detect-schema.js';
import type { EffectAction } from '../engine.js';
import type { Alert } from '../types.js';
import type { AlertQuery } from '../alerts/alert-book.js';
import type { ThreadMessage } from '../../core/thread-handle.js';

export interface DetectInit {
  spoolDir: string;
  detect: DetectConfig;
  node: string;
  /** Base URL of the admin API, for links in notifications (null: none). */
  adminUrl: string | null;
  /** Directory relative paths (rules files, secret files) resolve against. */
  baseDir: string;
}

export interface DetectStats {
  processed: number;
  late: number;
  firing: number;
  alerts: number;
  lagBytes: number;
  lastReadAt: string | null;
  lastError: string | null;
  notifications: Record<string, { sent: number; failed: number; retried: number; dropped: number }>;
}

export type DetectRequest =
  | { type: 'reload'; id: number; detect: DetectConfig }
  | { type: 'alerts'; id: number; query: AlertQuery }
  | { type: 'alert'; id: number; alertId: string }
  | { type: 'ack'; id: number; alertId: string; by: string }
  | { type: 'rules'; id: number }
  | { type: 'stats'; id: number }
  | { type: 'stop' };

/** ready, fatal, log, reply, stopped (see core/thread-handle), blocks and tags for the main thread to carry out, and alert changes. */
export type DetectMessage = ThreadMessage | { type: 'effect'; action: EffectAction; alertId: string } | { type: 'alert'; alert: Alert };
