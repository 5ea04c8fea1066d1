/**
 * Main-thread handle of the detection worker: starts it, relays its logs,
 * answers the admin API's alert and rule calls through it, and hands the
 * blocks and tags rules order to the host (the node) through `onEffect`.
 */
import type { Logger } from 'pino';
import { ThreadHandle } from '../../core/thread-handle.js';
import type { DetectConfig } from '../../config/detect-schema.js';
import type { AlertPage, AlertQuery } from '../alerts/alert-book.js';
import type { EffectAction, RuleState } from '../engine.js';
import type { Alert } from '../types.js';
import type { DetectInit, DetectMessage, DetectRequest, DetectStats } from './protocol.js';

export interface DetectorOptions extends DetectInit {
  onEffect(action: EffectAction, alertId: string): void;
}

export class Detector extends ThreadHandle<DetectRequest, Extract<DetectMessage, { type: 'effect' | 'alert' }>> {
  constructor(
    private readonly opts: DetectorOptions,
    log: Logger,
  ) {
    super(log, 'detection worker');
  }

  start(): Promise<void> {
    const { onEffect, ...init } = this.opts;
    return this.startThread(new URL('./detect-worker.js', import.meta.url), init satisfies DetectInit, (m) => {
      if (m.type === 'alert') {
        this.emit('alert', m.alert);
        return;
      }
      try {
        onEffect(m.action, m.alertId);
      } catch (err) {
        this.log.error({ err: (err as Error).message, action: m.action }, 'detection action failed');
      }
    });
  }

  reload(detect: DetectConfig): Promise<void> {
    return this.call({ type: 'reload', detect });
  }
  alerts(query: AlertQuery): Promise<AlertPage> {
    return this.call({ type: 'alerts', query });
  }
  alert(alertId: string): Promise<Alert | null> {
    return this.call({ type: 'alert', alertId });
  }
  acknowledge(alertId: string, by: string): Promise<Alert | null> {
    return this.call({ type: 'ack', alertId, by });
  }
  rules(): Promise<RuleState[]> {
    return this.call({ type: 'rules' });
  }
  stats(): Promise<DetectStats> {
    return this.call({ type: 'stats' });
  }
  stop(): Promise<void> {
    return this.stopThread({ type: 'stop' });
  }
}
