/** Messages between the main thread and the detection worker thread. */
import type { DetectConfig } from '../../config/detect-schema.js';
import type { EffectAction } from '../engine.js';
import type { Alert } from '../types.js';
import type { AlertQuery } from '../alerts/alert-book.js';

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

export type DetectMessage =
  | { type: 'ready' }
  | { type: 'stopped' }
  | { type: 'fatal'; error: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; msg: string; data?: unknown }
  /** A block or tag the main thread carries out. */
  | { type: 'effect'; action: EffectAction; alertId: string }
  | { type: 'alert'; alert: Alert }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: string };
