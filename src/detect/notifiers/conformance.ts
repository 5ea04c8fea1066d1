/**
 * The contract every notifier type must meet, as one node:test suite. Each
 * type's test file runs it against a local receiver on 127.0.0.1 that speaks
 * the receiver's protocol and answers as a script says. A notifier must:
 *
 * - deliver a firing and a resolved notification in its documented wire
 *   format (checked by the setup's checkWire, which knows the format);
 * - report a retryable refusal (HTTP 5xx, SMTP 4xx) as a retryable
 *   NotifyError, so that the dispatcher retries it and it is then sent;
 * - report a final refusal (HTTP 4xx, SMTP 5xx) as a non-retryable
 *   NotifyError, so that it fails after one attempt;
 * - give up on a receiver that never answers within its timeout;
 * - close idempotently.
 *
 * Setups configure `timeout` at most 1 s and `retries` 2, so the suite runs
 * in a few seconds; the dispatcher's waits between attempts are skipped.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NotifyError, type Notification, type NotificationRecord } from '../types.js';
import type { ConfiguredNotifier } from './common.js';
import { NotifierDispatcher, type NotifierStats } from './dispatcher.js';
import { NOTIFIER_TYPES } from './schema.js';
import { firingNotification, resolvedNotification, type Behaviour } from './testing.js';

export interface NotifierUnderTest<R> {
  notifier: ConfiguredNotifier;
  /** Answers for the next deliveries, in order (then `ok`). */
  script(...b: Behaviour[]): void | Promise<void>;
  /** Every delivery attempt the receiver got since the last clear(), oldest first. */
  received(): Promise<R[]>;
  clear(): void | Promise<void>;
  /** Asserts that `got` is `n` in the notifier's documented wire format. */
  checkWire(got: R, n: Notification): void;
  /** Stops the receiver (the notifier is closed by the suite). */
  close(): Promise<void>;
}

export interface ConformanceOptions {
  /** A reason to skip the whole suite (e.g. a real server that is not installed: test/support/skip.ts), or false. */
  skip?: string | false;
}

export interface DispatchOutcome {
  record: NotificationRecord;
  alertId: string;
  stats: NotifierStats;
  /** The waits the dispatcher asked for between attempts. */
  waits: number[];
}

/** Sends `n` once through a NotifierDispatcher with no real waits; resolves when it is done. */
export async function dispatchOnce(notifier: ConfiguredNotifier, n: Notification): Promise<DispatchOutcome> {
  const results: { alertId: string; record: NotificationRecord }[] = [];
  const waits: number[] = [];
  const d = new NotifierDispatcher(new Map([[notifier.name, notifier]]), {
    onResult: (alertId, record) => results.push({ alertId, record }),
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  d.dispatch([notifier.name], n);
  await d.idle();
  const stats = d.stats()[notifier.name];
  await d.close();
  assert.equal(results.length, 1, `expected one result, got ${JSON.stringify(results)}`);
  return { ...results[0], stats, waits };
}

const live = (): AbortSignal => new AbortController().signal;

export function notifierConformance<R>(name: string, setup: () => Promise<NotifierUnderTest<R>>, opts: ConformanceOptions = {}): void {
  describe(`notifier conformance: ${name}`, { skip: opts.skip ?? false }, () => {
    let s: NotifierUnderTest<R>;
    before(async () => {
      s = await setup();
    });
    after(async () => {
      await s?.notifier.close?.();
      await s?.close();
    });
    beforeEach(async () => {
      await s.clear();
    });

    test('declares its name, type and delivery settings', () => {
      assert.ok(s.notifier.name.length > 0);
      assert.ok((NOTIFIER_TYPES as readonly string[]).includes(s.notifier.type), `unknown type ${s.notifier.type}`);
      const p = s.notifier.delivery;
      assert.ok(p.timeoutMs > 0 && p.timeoutMs <= 1000, 'the setup must configure a timeout of at most 1 s');
      assert.equal(p.retries, 2, 'the setup must configure retries: 2');
    });

    test('delivers a firing notification in the documented wire format', async () => {
      const n = firingNotification();
      await s.notifier.send(n, live());
      const got = await s.received();
      assert.equal(got.length, 1, 'one delivery');
      s.checkWire(got[0], n);
    });

    test('delivers a resolved notification in the documented wire format', async () => {
      const n = resolvedNotification();
      await s.notifier.send(n, live());
      const got = await s.received();
      assert.equal(got.length, 1, 'one delivery');
      s.checkWire(got[0], n);
    });

    test('a retryable refusal is a retryable NotifyError; the dispatcher retries, then it is sent', async () => {
      await s.script('retryable');
      await assert.rejects(s.notifier.send(firingNotification(), live()), (e: unknown) => {
        assert.ok(e instanceof NotifyError, `expected a NotifyError, got ${String(e)}`);
        assert.equal(e.retryable, true, `retryable: ${e.message}`);
        return true;
      });
      await s.clear();

      await s.script('retryable', 'ok');
      const n = firingNotification();
      const out = await dispatchOnce(s.notifier, n);
      assert.equal(out.alertId, n.alert.id);
      assert.equal(out.record.state, 'sent', `record: ${JSON.stringify(out.record)}`);
      assert.equal(out.record.attempts, 2);
      assert.equal(out.record.kind, 'firing');
      assert.equal(out.record.notifier, s.notifier.name);
      assert.ok(!Number.isNaN(Date.parse(out.record.at)));
      assert.deepEqual({ sent: out.stats.sent, failed: out.stats.failed, retried: out.stats.retried }, { sent: 1, failed: 0, retried: 1 });
      assert.equal(out.waits.length, 1, 'one wait before the retry');
      const got = await s.received();
      assert.equal(got.length, 2, 'two attempts reached the receiver');
      for (const g of got) s.checkWire(g, n);
    });

    test('a final refusal is a non-retryable NotifyError; the dispatcher fails it after one attempt', async () => {
      await s.script('fatal');
      await assert.rejects(s.notifier.send(firingNotification(), live()), (e: unknown) => {
        assert.ok(e instanceof NotifyError, `expected a NotifyError, got ${String(e)}`);
        assert.equal(e.retryable, false, `not retryable: ${e.message}`);
        assert.ok(e.message.length > 0);
        return true;
      });
      await s.clear();

      await s.script('fatal');
      const out = await dispatchOnce(s.notifier, resolvedNotification());
      assert.equal(out.record.state, 'failed');
      assert.equal(out.record.kind, 'resolved');
      assert.equal(out.record.attempts, 1);
      assert.ok(out.record.error && out.record.error.length > 0, 'the record says why');
      assert.deepEqual({ sent: out.stats.sent, failed: out.stats.failed, retried: out.stats.retried }, { sent: 0, failed: 1, retried: 0 });
      assert.equal(out.waits.length, 0);
      assert.equal((await s.received()).length, 1, 'exactly one attempt');
    });

    test('a receiver that never answers times out', async () => {
      const timeout = s.notifier.delivery.timeoutMs;
      await s.script('hang');
      const t0 = Date.now();
      await assert.rejects(s.notifier.send(firingNotification(), live()), (e: unknown) => {
        assert.ok(e instanceof NotifyError, `expected a NotifyError, got ${String(e)}`);
        assert.equal(e.retryable, true);
        assert.match(e.message, /timed out/);
        return true;
      });
      const took = Date.now() - t0;
      assert.ok(took >= timeout * 0.8, `gave up after ${took} ms, before its ${timeout} ms timeout`);
      assert.ok(took < timeout + 3000, `took ${took} ms with a ${timeout} ms timeout`);
      await s.clear();

      await s.script('hang', 'hang', 'hang');
      const out = await dispatchOnce(s.notifier, firingNotification());
      assert.equal(out.record.state, 'failed');
      assert.equal(out.record.attempts, 3, 'first attempt plus 2 retries');
      assert.match(out.record.error ?? '', /timed out/);
      assert.equal(out.stats.retried, 2);
    });

    test('close() resolves and is idempotent', async () => {
      await s.notifier.close?.();
      await s.notifier.close?.();
    });
  });
}
