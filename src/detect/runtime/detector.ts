/**
 * Main-thread handle of the detection worker: starts it, relays its logs,
 * answers the admin API's alert and rule calls through it, and hands the
 * blocks and tags rules order to the host (the node) through `onEffect`.
 */
import { Worker } from 'node:worker_threads';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { DetectConfig } from '../../config/detect-schema.js';
import type { AlertPage, AlertQuery } from '../alerts/alert-book.js';
import type { EffectAction, RuleState } from '../engine.js';
import type { Alert } from '../types.js';
import type { DetectInit, DetectMessage, DetectRequest, DetectStats } from './protocol.js';

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface DetectorOptions extends DetectInit {
  onEffect(action: EffectAction, alertId: string): void;
}

export class Detector extends EventEmitter {
  private worker: Worker | null = null;
  private nextId = 1;
  private pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private exited = false;
  fatal: string | null = null;

  constructor(
    private readonly opts: DetectorOptions,
    private readonly log: Logger,
  ) {
    super();
  }

  start(): Promise<void> {
    const { onEffect, ...init } = this.opts;
    const w = new Worker(new URL('./detect-worker.js', import.meta.url), { workerData: init satisfies DetectInit });
    this.worker = w;
    return new Promise((resolve, reject) => {
      w.on('message', (m: DetectMessage) => {
        switch (m.type) {
          case 'ready':
            resolve();
            break;
          case 'fatal':
            this.fatal = m.error;
            reject(new Error(m.error));
            break;
          case 'log':
            this.log[m.level](m.data ?? {}, m.msg);
            break;
          case 'effect':
            try {
              onEffect(m.action, m.alertId);
            } catch (err) {
              this.log.error({ err: (err as Error).message, action: m.action }, 'detection action failed');
            }
            break;
          case 'alert':
            this.emit('alert', m.alert);
            break;
          case 'reply': {
            const p = this.pending.get(m.id);
            if (!p) break;
            this.pending.delete(m.id);
            if (m.ok) p.resolve(m.value);
            else p.reject(new Error(m.error));
            break;
          }
          case 'stopped':
            break;
        }
      });
      w.on('error', (err) => {
        this.fatal = err.message;
        this.log.error({ err }, 'detection worker crashed');
        reject(err);
      });
      w.on('exit', (code) => {
        this.exited = true;
        for (const p of this.pending.values()) p.reject(new Error('detection stopped'));
        this.pending.clear();
        if (code !== 0 && !this.fatal) this.fatal = `detection worker exited with code ${code}`;
      });
    });
  }

  get running(): boolean {
    return this.worker !== null && !this.exited && !this.fatal;
  }

  private call<T>(req: WithoutId<Extract<DetectRequest, { id: number }>>): Promise<T> {
    if (!this.worker || this.exited) return Promise.reject(new Error('detection is not running'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve, reject });
      this.worker!.postMessage({ ...req, id });
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

  async stop(): Promise<void> {
    const w = this.worker;
    if (!w || this.exited) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => void w.terminate().then(() => resolve()), 15_000);
      w.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      w.postMessage({ type: 'stop' } satisfies DetectRequest);
    });
  }
}
