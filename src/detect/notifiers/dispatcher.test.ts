/**
 * The dispatcher with in-process notifiers whose behaviour each test scripts
 * (fail, hang, succeed): queueing, retries and backoff, timeouts, ordering,
 * overflow, concurrency, shutdown. The notifier types themselves are tested
 * against receivers in their own files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NotifyError, type Notification, type NotificationRecord } from '../types.js';
import { DeliveryError, type ConfiguredNotifier, type DeliveryPolicy } from './common.js';
import { backoffDelay, NotifierDispatcher, type DispatcherOptions } from './dispatcher.js';
import { firingNotification, resolvedNotification } from './testing.js';

type Behave = (call: number, n: Notification, signal: AbortSignal) => Promise<void>;

class FakeNotifier implements ConfiguredNotifier {
  readonly type = 'webhook';
  readonly calls: { n: Notification; at: number }[] = [];
  active = 0;
  maxActive = 0;
  constructor(
    readonly name: string,
    readonly delivery: DeliveryPolicy,
    private readonly behave: Behave = async () => {},
  ) {}

  async send(n: Notification, signal: AbortSignal): Promise<void> {
    this.calls.push({ n, at: Date.now() });
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await this.behave(this.calls.length, n, signal);
    } finally {
      this.active--;
    }
  }
}

const POLICY: DeliveryPolicy = { timeoutMs: 1000, retries: 5, backoffMs: 100, maxBackoffMs: 250 };

/** A promise with its resolver, to hold a delivery until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

function setup(notifiers: FakeNotifier[], opts: Partial<DispatcherOptions> = {}) {
  const results: { alertId: string; record: NotificationRecord }[] = [];
  const waits: number[] = [];
  const d = new NotifierDispatcher(new Map(notifiers.map((n) => [n.name, n])), {
    onResult: (alertId, record) => results.push({ alertId, record }),
    sleep: async (ms) => {
      waits.push(ms);
    },
    random: () => 0,
    ...opts,
  });
  return { d, results, waits };
}

function alertN(i: number): Notification {
  return firingNotification({ id: `al_${i}`, dedup_key: `k${i}` });
}

const tick = () => new Promise((r) => setImmediate(r));

test('backoffDelay doubles from backoff, is capped by max_backoff, jitters down by at most 10%', () => {
  const p = { backoffMs: 1000, maxBackoffMs: 60_000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8].map((r) => backoffDelay(p, r, () => 0)),
    [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000],
  );
  for (let i = 0; i < 50; i++) {
    const d = backoffDelay(p, 3, Math.random);
    assert.ok(d > 3600 - 1 && d <= 4000, `${d}`);
  }
  assert.equal(backoffDelay({ backoffMs: 0, maxBackoffMs: 0 }, 5), 0);
  assert.equal(backoffDelay(p, 10_000, () => 0), 60_000, 'huge retry counts do not overflow');
});

test('dispatch returns at once and never throws, even for a receiver that never answers or bad input', async () => {
  const hold = gate();
  const slow = new FakeNotifier('slow', POLICY, () => hold.promise);
  const { d, results } = setup([slow]);
  const t0 = performance.now();
  for (let i = 0; i < 100; i++) d.dispatch(['slow'], alertN(i));
  assert.ok(performance.now() - t0 < 200, 'dispatching 100 deliveries took too long');
  assert.doesNotThrow(() => d.dispatch(['slow'], null as unknown as Notification));
  assert.doesNotThrow(() => d.dispatch(null as unknown as string[], alertN(1)));
  assert.equal(results.length, 0);
  hold.open();
  await d.idle();
  assert.equal(d.stats().slow.sent, 100);
  await d.close();
});

test('retryable failures are retried with exponential backoff, then sent', async () => {
  const n = new FakeNotifier('n', POLICY, async (call) => {
    if (call <= 3) throw new NotifyError(`503 #${call}`, true);
  });
  const { d, results, waits } = setup([n]);
  d.dispatch(['n'], alertN(1));
  await d.idle();
  assert.deepEqual(waits, [100, 200, 250], 'backoff 100 ms doubling, capped at 250 ms');
  assert.equal(results.length, 1);
  assert.equal(results[0].alertId, 'al_1');
  assert.equal(results[0].record.state, 'sent');
  assert.equal(results[0].record.attempts, 4);
  assert.equal(results[0].record.error, undefined);
  assert.deepEqual(d.stats().n, { queued: 0, in_flight: 0, sent: 1, failed: 0, retried: 3, dropped: 0 });
  // The same notification object is sent on every attempt (webhook keeps its delivery id by it).
  assert.equal(new Set(n.calls.map((c) => c.n)).size, 1);
  await d.close();
});

test('errors that are not NotifyErrors are retried; a Retry-After is honoured up to max_backoff', async () => {
  const n = new FakeNotifier('n', { ...POLICY, maxBackoffMs: 5000 }, async (call) => {
    if (call === 1) throw new Error('socket hang up');
    if (call === 2) throw new DeliveryError('429', true, 3000);
    if (call === 3) throw new DeliveryError('429', true, 3_600_000);
  });
  const { d, results, waits } = setup([n]);
  d.dispatch(['n'], alertN(1));
  await d.idle();
  assert.deepEqual(waits, [100, 3000, 5000]);
  assert.equal(results[0].record.state, 'sent');
  await d.close();
});

test('a non-retryable failure fails at once; exhausted retries fail with the last error', async () => {
  const fatal = new FakeNotifier('fatal', POLICY, async () => {
    throw new NotifyError('400 bad request', false);
  });
  const flaky = new FakeNotifier('flaky', { ...POLICY, retries: 2 }, async (call) => {
    throw new NotifyError(`503 #${call}`, true);
  });
  const { d, results } = setup([fatal, flaky]);
  d.dispatch(['fatal', 'flaky'], alertN(1));
  await d.idle();
  const by = Object.fromEntries(results.map((r) => [r.record.notifier, r.record]));
  assert.deepEqual({ state: by.fatal.state, attempts: by.fatal.attempts, error: by.fatal.error }, { state: 'failed', attempts: 1, error: '400 bad request' });
  assert.deepEqual({ state: by.flaky.state, attempts: by.flaky.attempts, error: by.flaky.error }, { state: 'failed', attempts: 3, error: '503 #3' });
  assert.equal(fatal.calls.length, 1);
  assert.equal(flaky.calls.length, 3);
  assert.deepEqual(d.stats().flaky, { queued: 0, in_flight: 0, sent: 0, failed: 1, retried: 2, dropped: 0 });
  await d.close();
});

test('each attempt gets the timeout, even when the notifier ignores its signal', async () => {
  const n = new FakeNotifier('n', { ...POLICY, timeoutMs: 150, retries: 1 }, () => new Promise(() => {}));
  const { d, results } = setup([n]);
  const t0 = Date.now();
  d.dispatch(['n'], alertN(1));
  await d.idle();
  const took = Date.now() - t0;
  assert.equal(results[0].record.state, 'failed');
  assert.equal(results[0].record.attempts, 2);
  assert.equal(results[0].record.error, 'timed out after 150 ms');
  assert.ok(took >= 280 && took < 2000, `two 150 ms attempts took ${took} ms`);
  await d.close();
});

test('the signal passed to send aborts at the timeout', async () => {
  let aborted: string | undefined;
  const n = new FakeNotifier('n', { ...POLICY, timeoutMs: 100, retries: 0 }, (_c, _n, signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => {
    aborted = (signal.reason as Error).name;
    reject(new NotifyError('aborted', true));
  })));
  const { d, results } = setup([n]);
  d.dispatch(['n'], alertN(1));
  await d.idle();
  assert.equal(aborted, 'TimeoutError');
  assert.equal(results[0].record.error, 'timed out after 100 ms');
  await d.close();
});

test('a full queue drops the oldest queued delivery, counts it and reports it', async () => {
  const hold = gate();
  const n = new FakeNotifier('n', POLICY, () => hold.promise);
  const { d, results } = setup([n], { concurrency: 1, queueSize: 3 });
  for (let i = 1; i <= 6; i++) d.dispatch(['n'], alertN(i));
  assert.deepEqual(d.stats().n, { queued: 3, in_flight: 1, sent: 0, failed: 0, retried: 0, dropped: 2 });
  await tick();
  const dropped = results.filter((r) => r.record.state === 'failed');
  assert.deepEqual(dropped.map((r) => r.alertId), ['al_2', 'al_3']);
  for (const r of dropped) {
    assert.equal(r.record.attempts, 0);
    assert.match(r.record.error ?? '', /queue .* was full \(3 deliveries\)/);
  }
  hold.open();
  await d.idle();
  assert.deepEqual(n.calls.map((c) => c.n.alert.id), ['al_1', 'al_4', 'al_5', 'al_6']);
  assert.deepEqual(d.stats().n, { queued: 0, in_flight: 0, sent: 4, failed: 0, retried: 0, dropped: 2 });
  await d.close();
});

test('per notifier at most `concurrency` deliveries at once; a slow notifier does not hold up another', async () => {
  const hold = gate();
  const slow = new FakeNotifier('slow', POLICY, () => hold.promise);
  const fast = new FakeNotifier('fast', POLICY);
  const { d, results } = setup([slow, fast], { concurrency: 4 });
  for (let i = 1; i <= 10; i++) d.dispatch(['slow', 'fast'], alertN(i));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(slow.active, 4, 'four slow deliveries in flight');
  assert.equal(d.stats().slow.queued, 6);
  assert.equal(results.filter((r) => r.record.notifier === 'fast' && r.record.state === 'sent').length, 10, 'the fast notifier got everything meanwhile');
  hold.open();
  await d.idle();
  assert.equal(slow.maxActive, 4);
  assert.equal(d.stats().slow.sent, 10);
  await d.close();
});

test('deliveries of one alert keep their order: resolved waits for its firing (and its retries)', async () => {
  const order: string[] = [];
  let firingAttempts = 0;
  const n = new FakeNotifier('pd', POLICY, async (_call, note) => {
    order.push(`${note.alert.id}:${note.kind}`);
    await new Promise((r) => setTimeout(r, 10));
    if (note.alert.id === 'A' && note.kind === 'firing' && ++firingAttempts === 1) throw new NotifyError('503', true);
  });
  const { d, results } = setup([n], { concurrency: 4 });
  d.dispatch(['pd'], firingNotification({ id: 'A', dedup_key: 'a' }));
  d.dispatch(['pd'], resolvedNotification({ id: 'A', dedup_key: 'a' }));
  // Another alert is not held up by the first one.
  d.dispatch(['pd'], firingNotification({ id: 'B', dedup_key: 'b' }));
  await d.idle();
  assert.deepEqual(order.filter((o) => o.startsWith('A:')), ['A:firing', 'A:firing', 'A:resolved']);
  assert.equal(order[1], 'B:firing', `B went out while A was busy: ${order.join(', ')}`);
  assert.deepEqual(results.map((r) => `${r.alertId}:${r.record.kind}:${r.record.state}:${r.record.attempts}`), ['B:firing:sent:1', 'A:firing:sent:2', 'A:resolved:sent:1']);
  await d.close();
});

test('unknown notifiers are reported after dispatch returns; repeated names count once; shadow alerts are not sent', async () => {
  const n = new FakeNotifier('n', POLICY);
  const { d, results } = setup([n]);
  d.dispatch(['nope', 'n', 'n'], alertN(1));
  assert.equal(results.length, 0, 'nothing reported during dispatch()');
  d.dispatch(['n'], firingNotification({ id: 'shadowed', shadow: true }));
  await d.idle();
  await tick();
  const unknown = results.find((r) => r.record.notifier === 'nope');
  assert.deepEqual(unknown?.record && { state: unknown.record.state, attempts: unknown.record.attempts, error: unknown.record.error }, { state: 'failed', attempts: 0, error: 'unknown notifier "nope"' });
  assert.equal(n.calls.length, 1);
  assert.ok(!n.calls.some((c) => c.n.alert.id === 'shadowed'));
  await d.close();
});

test('the alert is sent as it was when dispatched', async () => {
  const hold = gate();
  const n = new FakeNotifier('n', POLICY, () => hold.promise);
  const { d } = setup([n], { concurrency: 1 });
  const first = alertN(1);
  const second = alertN(2);
  d.dispatch(['n'], first);
  d.dispatch(['n'], second);
  second.alert.summary = 'changed later';
  second.alert.notifications.push({ notifier: 'x', kind: 'firing', state: 'sent', attempts: 1, at: '2025-01-01T00:00:00Z' });
  hold.open();
  await d.idle();
  assert.equal(n.calls[1].n.alert.summary, 'Many failed logins from one client address');
  assert.deepEqual(n.calls[1].n.alert.notifications, []);
  await d.close();
});

test('a throwing onResult does not break delivery', async () => {
  const warnings: string[] = [];
  const n = new FakeNotifier('n', POLICY);
  const d = new NotifierDispatcher(new Map([['n', n]]), {
    onResult: () => {
      throw new Error('alert book is closed');
    },
    log: { warn: (_o, m) => warnings.push(m) },
  });
  d.dispatch(['n'], alertN(1));
  d.dispatch(['n'], alertN(2));
  await d.idle();
  assert.equal(d.stats().n.sent, 2);
  assert.equal(warnings.length, 2);
  await d.close();
});

test('close() lets in-flight deliveries finish within the deadline', async () => {
  const n = new FakeNotifier('n', POLICY, () => new Promise((r) => setTimeout(r, 100)));
  const { d, results } = setup([n], { concurrency: 1 });
  d.dispatch(['n'], alertN(1));
  d.dispatch(['n'], alertN(2));
  await d.close(5000);
  assert.deepEqual(results.map((r) => r.record.state), ['sent', 'sent']);
  // After close, dispatch drops and reports.
  d.dispatch(['n'], alertN(3));
  await tick();
  assert.equal(results[2].record.state, 'failed');
  assert.match(results[2].record.error ?? '', /shutting down/);
  assert.equal(d.stats().n.dropped, 1);
  await d.close();
});

test('close() gives up at its deadline: in-flight deliveries and retry waits are aborted, queued ones dropped', async () => {
  const stuck = new FakeNotifier('stuck', { ...POLICY, timeoutMs: 60_000 }, () => new Promise(() => {}));
  const waiting = new FakeNotifier('waiting', { ...POLICY, backoffMs: 60_000, maxBackoffMs: 60_000 }, async () => {
    throw new NotifyError('503', true);
  });
  // The real sleep, so that close() has to interrupt a long backoff wait.
  const { d, results } = setup([stuck, waiting], { concurrency: 1, sleep: undefined });
  d.dispatch(['stuck', 'waiting'], alertN(1));
  d.dispatch(['stuck'], alertN(2));
  await new Promise((r) => setTimeout(r, 30));
  const t0 = Date.now();
  await d.close(200);
  const took = Date.now() - t0;
  assert.ok(took >= 150 && took < 2000, `close took ${took} ms`);
  const by = results.map((r) => `${r.record.notifier}:${r.alertId}:${r.record.state}:${r.record.attempts}`).sort();
  assert.deepEqual(by, ['stuck:al_1:failed:1', 'stuck:al_2:failed:0', 'waiting:al_1:failed:1']);
  assert.match(results.find((r) => r.record.notifier === 'stuck' && r.alertId === 'al_1')?.record.error ?? '', /aborted: notifications shut down/);
  assert.equal(results.find((r) => r.record.notifier === 'waiting')?.record.error, '503');
  assert.deepEqual(d.stats().stuck, { queued: 0, in_flight: 0, sent: 0, failed: 1, retried: 0, dropped: 1 });
  // Idempotent.
  await d.close(200);
});
