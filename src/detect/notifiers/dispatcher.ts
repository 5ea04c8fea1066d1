/**
 * Delivers notifications to notifiers in the background: dispatch() queues
 * and returns at once; it never blocks and never throws.
 *
 * - Each notifier has its own bounded queue (default 1000 deliveries). When it
 *   is full the oldest queued delivery is dropped, counted, and reported as
 *   failed, so a dead receiver costs bounded memory.
 * - Each notifier works on up to `concurrency` (default 4) deliveries at once,
 *   so one slow delivery does not hold up the others; notifiers are
 *   independent of each other. Deliveries of the same alert (same dedup_key)
 *   to one notifier never overlap and keep their order: a `resolved` is not
 *   sent before the `firing` it follows, even while that one is retried.
 * - Each attempt gets the notifier's timeout. Retryable failures (NotifyError
 *   with `retryable`, or any other error) are retried up to `retries` times,
 *   waiting `backoff` · 2^(n-1) (capped by `max_backoff`, minus up to 10%
 *   random jitter so that retries of many deliveries spread out), or longer
 *   when the receiver asked for it with Retry-After (also capped).
 * - When a delivery is done, `onResult(alertId, record)` says whether it was
 *   sent or failed, after how many attempts, and the last error.
 * - Alerts evaluated in shadow mode are never sent (see Alert.shadow).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { NotifyError, type Notification, type NotificationRecord, type Notifier } from '../types.js';
import { DEFAULT_DELIVERY, DeliveryError, type DeliveryPolicy } from './common.js';

export interface NotifierStats {
  /** Deliveries waiting to start. */
  queued: number;
  /** Deliveries being attempted or waiting for their next retry. */
  in_flight: number;
  sent: number;
  failed: number;
  /** Retries made (attempts after the first). */
  retried: number;
  /** Deliveries dropped before they were attempted (queue overflow, shutdown). */
  dropped: number;
}

export interface DispatcherOptions {
  /** Called once per delivery when it is done (sent, failed, or dropped unsent). Errors it throws are logged and ignored. */
  onResult: (alertId: string, record: NotificationRecord) => void;
  /** Queued deliveries per notifier before the oldest is dropped. Default 1000. */
  queueSize?: number;
  /** Deliveries in progress at once per notifier. Default 4. */
  concurrency?: number;
  /** Waits between attempts; must resolve after `ms` or reject when `signal` aborts. Injectable so that tests do not wait. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Wall clock (ms since the epoch) for the records' `at`. */
  now?: () => number;
  /** Random source of the backoff jitter, in [0, 1). */
  random?: () => number;
  /** Delivery settings of notifiers that do not carry their own (`delivery`). Default: DEFAULT_DELIVERY. */
  defaultPolicy?: DeliveryPolicy;
  log?: { warn(obj: object, msg: string): void };
}

interface Job {
  n: Notification;
  /** Deliveries with the same key to the same notifier are serialized. */
  key: string;
}

interface Lane {
  name: string;
  notifier: Notifier;
  policy: DeliveryPolicy;
  queue: Job[];
  busyKeys: Set<string>;
  active: number;
  stats: NotifierStats;
}

/**
 * Wait before retry number `retry` (1 = the first retry): backoff · 2^(retry-1),
 * capped by max_backoff, minus up to 10% jitter (`random` in [0, 1)).
 */
export function backoffDelay(policy: Pick<DeliveryPolicy, 'backoffMs' | 'maxBackoffMs'>, retry: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.min(Math.max(retry - 1, 0), 52));
  return Math.max(0, Math.round(exp * (1 - 0.1 * random())));
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal });
}

/** `p`, or a rejection as soon as `signal` aborts (for a notifier that ignores its signal). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      p.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

export class NotifierDispatcher {
  private readonly lanes = new Map<string, Lane>();
  private readonly onResult: DispatcherOptions['onResult'];
  private readonly queueSize: number;
  private readonly concurrency: number;
  private readonly sleep: NonNullable<DispatcherOptions['sleep']>;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: NonNullable<DispatcherOptions['log']>;
  /** Aborted at the close deadline: cuts attempts and retry waits short. */
  private readonly abort = new AbortController();
  private closing: Promise<void> | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(notifiers: ReadonlyMap<string, Notifier>, opts: DispatcherOptions) {
    this.onResult = opts.onResult;
    this.queueSize = Math.max(1, opts.queueSize ?? 1000);
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.log = opts.log ?? { warn: () => {} };
    const fallback = opts.defaultPolicy ?? DEFAULT_DELIVERY;
    for (const [name, notifier] of notifiers) {
      const own = (notifier as { delivery?: DeliveryPolicy }).delivery;
      this.lanes.set(name, {
        name,
        notifier,
        policy: { ...fallback, ...own },
        queue: [],
        busyKeys: new Set(),
        active: 0,
        stats: { queued: 0, in_flight: 0, sent: 0, failed: 0, retried: 0, dropped: 0 },
      });
    }
  }

  /**
   * Queues one delivery of `n` per named notifier (names repeated count once)
   * and returns. Unknown names are reported through onResult as failed with
   * 0 attempts. Never throws.
   */
  dispatch(notifierNames: readonly string[], n: Notification): void {
    try {
      if (n.alert.shadow) return;
      // The alert record keeps changing (notifications, acknowledgement,
      // resolution) while deliveries wait: send it as it was now.
      let snapshot: Notification;
      try {
        snapshot = structuredClone(n);
      } catch {
        snapshot = n;
      }
      for (const name of new Set(notifierNames)) {
        const lane = this.lanes.get(name);
        if (lane === undefined) {
          this.later(n.alert.id, this.record(name, n.kind, 'failed', 0, `unknown notifier "${name}"`));
          continue;
        }
        if (this.closing !== null) {
          lane.stats.dropped++;
          this.later(n.alert.id, this.record(name, n.kind, 'failed', 0, 'not sent: notifications are shutting down'));
          continue;
        }
        if (lane.queue.length >= this.queueSize) {
          const old = lane.queue.shift()!;
          lane.stats.dropped++;
          this.later(old.n.alert.id, this.record(name, old.n.kind, 'failed', 0, `dropped unsent: the queue of notifier "${name}" was full (${this.queueSize} deliveries)`));
        }
        lane.queue.push({ n: snapshot, key: n.alert.dedup_key || n.alert.id });
        this.pump(lane);
      }
    } catch (err) {
      this.log.warn({ err }, 'notification dispatch failed');
    }
  }

  /** Counters per notifier (a copy). */
  stats(): Record<string, NotifierStats> {
    const out: Record<string, NotifierStats> = {};
    for (const [name, lane] of this.lanes) out[name] = { ...lane.stats, queued: lane.queue.length, in_flight: lane.active };
    return out;
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops accepting deliveries and lets queued and in-flight ones (with their
   * retries) finish for up to `timeoutMs`. What is still pending then is
   * aborted and reported as failed (in flight) or dropped (never started).
   * Does not close the notifiers themselves. Idempotent.
   */
  close(timeoutMs = 10_000): Promise<void> {
    this.closing ??= (async () => {
      if (!this.isIdle()) {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.max(0, timeoutMs));
        });
        await Promise.race([this.idle(), deadline]);
        clearTimeout(timer);
      }
      this.abort.abort(new Error('notification dispatcher closed'));
      for (const lane of this.lanes.values()) this.dropQueued(lane);
      await this.idle();
    })();
    return this.closing;
  }

  private isIdle(): boolean {
    for (const lane of this.lanes.values()) if (lane.active > 0 || lane.queue.length > 0) return false;
    return true;
  }

  private checkIdle(): void {
    if (!this.idleWaiters.length || !this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private dropQueued(lane: Lane): void {
    for (const job of lane.queue.splice(0)) {
      lane.stats.dropped++;
      this.report(job.n.alert.id, this.record(lane.name, job.n.kind, 'failed', 0, 'not sent: notifications shut down before it could be delivered'));
    }
  }

  private pump(lane: Lane): void {
    if (this.abort.signal.aborted) {
      this.dropQueued(lane);
      return;
    }
    while (lane.active < this.concurrency && lane.queue.length > 0) {
      const i = lane.queue.findIndex((j) => !lane.busyKeys.has(j.key));
      if (i < 0) break;
      const [job] = lane.queue.splice(i, 1);
      lane.active++;
      lane.busyKeys.add(job.key);
      void this.deliver(lane, job)
        .catch((err: unknown) => this.log.warn({ err, notifier: lane.name }, 'notification delivery crashed'))
        .finally(() => {
          lane.active--;
          lane.busyKeys.delete(job.key);
          this.pump(lane);
          this.checkIdle();
        });
    }
  }

  private async deliver(lane: Lane, job: Job): Promise<void> {
    const { policy, notifier } = lane;
    const closed = this.abort.signal;
    let attempts = 0;
    let error = '';
    for (;;) {
      attempts++;
      // A timer of our own rather than AbortSignal.timeout(), whose timer does
      // not keep the process alive: an attempt in flight is work to finish.
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(new DOMException(`timed out after ${policy.timeoutMs} ms`, 'TimeoutError')), Math.max(1, policy.timeoutMs));
      const signal = AbortSignal.any([closed, timeout.signal]);
      let retryable: boolean;
      let retryAfterMs: number | undefined;
      try {
        await untilAborted(
          (async () => notifier.send(job.n, signal))(),
          signal,
        );
        lane.stats.sent++;
        this.report(job.n.alert.id, this.record(lane.name, job.n.kind, 'sent', attempts));
        return;
      } catch (err) {
        if (timeout.signal.aborted) {
          error = `timed out after ${policy.timeoutMs} ms`;
          retryable = true;
        } else if (closed.aborted) {
          error = `aborted: notifications shut down (${describe(err)})`;
          retryable = false;
        } else {
          error = describe(err);
          retryable = err instanceof NotifyError ? err.retryable : true;
          retryAfterMs = err instanceof DeliveryError ? err.retryAfterMs : undefined;
        }
      } finally {
        clearTimeout(timer);
      }
      if (!retryable || attempts > policy.retries || closed.aborted) break;
      lane.stats.retried++;
      const wait = Math.max(backoffDelay(policy, attempts, this.random), Math.min(retryAfterMs ?? 0, policy.maxBackoffMs));
      try {
        await this.sleep(wait, closed);
      } catch {
        // Aborted by close(): the last error stands.
      }
      if (closed.aborted) break;
    }
    lane.stats.failed++;
    this.report(job.n.alert.id, this.record(lane.name, job.n.kind, 'failed', attempts, error));
  }

  private record(notifier: string, kind: Notification['kind'], state: NotificationRecord['state'], attempts: number, error?: string): NotificationRecord {
    const r: NotificationRecord = { notifier, kind, state, attempts, at: new Date(this.now()).toISOString() };
    if (error !== undefined) r.error = error;
    return r;
  }

  private report(alertId: string, record: NotificationRecord): void {
    try {
      this.onResult(alertId, record);
    } catch (err) {
      this.log.warn({ err, alert_id: alertId, notifier: record.notifier }, 'notification result callback failed');
    }
  }

  /** Reports after dispatch() has returned, so its caller is never re-entered. */
  private later(alertId: string, record: NotificationRecord): void {
    queueMicrotask(() => this.report(alertId, record));
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
