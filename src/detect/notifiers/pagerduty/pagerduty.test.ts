/**
 * PagerDuty is tested against a local receiver (no PagerDuty account here)
 * that checks the documented Events API v2 wire format and answers like the
 * real endpoint: 202 with {status: "success", dedup_key}, 400 "invalid
 * event", 429 and 5xx.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotifyError, SEVERITIES, type Notification } from '../../types.js';
import { notifierConformance } from '../conformance.js';
import { PagerDutyNotifierSchema } from '../schema.js';
import { firingNotification, HttpReceiver, resolvedNotification, type ReceivedRequest } from '../testing.js';
import { createPagerDutyNotifier, PAGERDUTY_SEVERITIES, pagerDutyDedupKey, pagerDutyEvent, pagerDutySeverity, type PagerDutyEvent, type PagerDutyTrigger } from './pagerduty.js';

const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF';
const live = (): AbortSignal => new AbortController().signal;

function pagerduty(url: string, over: Record<string, unknown> = {}) {
  return createPagerDutyNotifier('oncall', PagerDutyNotifierSchema.parse({ type: 'pagerduty', routing_key: ROUTING_KEY, url, timeout: '500ms', retries: 2, backoff: '10ms', ...over }));
}

/** Events API v2 rules for a trigger (https://developer.pagerduty.com/api-reference/368ae3d938c9e-send-an-event-to-pager-duty). */
function checkTrigger(e: PagerDutyTrigger): void {
  assert.equal(e.event_action, 'trigger');
  assert.equal(typeof e.dedup_key, 'string');
  assert.ok(e.dedup_key.length > 0 && e.dedup_key.length <= 255, 'dedup_key 1-255 characters');
  const p = e.payload;
  assert.ok(p && typeof p === 'object', 'trigger has a payload');
  assert.equal(typeof p.summary, 'string');
  assert.ok(p.summary.length > 0 && p.summary.length <= 1024, `summary 1-1024 characters (${p.summary.length})`);
  assert.equal(typeof p.source, 'string');
  assert.ok(p.source.trim().length > 0, 'source is non-empty');
  assert.ok((PAGERDUTY_SEVERITIES as readonly string[]).includes(p.severity), `severity ${p.severity}`);
  assert.ok(!Number.isNaN(Date.parse(p.timestamp)), 'timestamp is ISO 8601');
  for (const k of ['component', 'group', 'class'] as const) if (p[k] !== undefined) assert.equal(typeof p[k], 'string');
  assert.ok(p.custom_details && typeof p.custom_details === 'object');
  if (e.links) for (const l of e.links) assert.ok(/^https?:\/\//.test(l.href) && typeof l.text === 'string');
}

function checkPagerDutyWire(r: ReceivedRequest, n: Notification): void {
  assert.equal(r.method, 'POST');
  assert.equal(r.url, '/v2/enqueue');
  assert.equal(r.headers['content-type'], 'application/json');
  const e = JSON.parse(r.body.toString('utf8')) as PagerDutyEvent;
  assert.equal(e.routing_key, ROUTING_KEY);
  assert.equal(e.dedup_key, n.alert.dedup_key);
  if (n.kind === 'firing') {
    assert.equal(e.event_action, 'trigger');
    checkTrigger(e);
    const p = e.payload;
    assert.equal(p.source, n.node);
    assert.equal(p.severity, 'error', 'high → error');
    assert.equal(p.timestamp, n.alert.started_at);
    assert.equal(p.group, n.alert.rule_id);
    assert.equal(p.class, 'count');
    assert.equal(p.component, 'client_ip=203.0.113.9');
    assert.match(p.summary, /^FIRING high: failed-login-surge client_ip=203\.0\.113\.9 — /);
    assert.deepEqual(p.custom_details.evidence, n.alert.evidence);
    assert.deepEqual(p.custom_details.group, n.alert.group);
    assert.deepEqual(p.custom_details.labels, n.alert.labels);
    assert.equal(e.client_url, n.link);
  } else {
    assert.deepEqual(e, { routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: n.alert.dedup_key });
  }
}

let rx: HttpReceiver;
notifierConformance<ReceivedRequest>('pagerduty', async () => {
  rx = await new HttpReceiver({
    ok: { status: 202, body: JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: 'x' }), headers: { 'content-type': 'application/json' } },
    retryable: { status: 503, body: '' },
    fatal: { status: 400, body: JSON.stringify({ status: 'invalid event', message: 'Event object is invalid', errors: ["'payload.severity' is invalid"] }), headers: { 'content-type': 'application/json' } },
  }).start();
  return {
    notifier: pagerduty(`${rx.url}/v2/enqueue`),
    script: (...b) => rx.next(...b),
    received: async () => [...rx.requests],
    clear: () => rx.clear(),
    checkWire: checkPagerDutyWire,
    close: () => rx.stop(),
  };
});

describe('pagerduty events', () => {
  test('trigger and resolve of one alert carry the same dedup_key, over the wire', async () => {
    const r = await new HttpReceiver({ ok: { status: 202, body: '{"status":"success"}' } }).start();
    try {
      const n = pagerduty(`${r.url}/v2/enqueue`);
      const firing = firingNotification();
      const resolved = resolvedNotification();
      await n.send(firing, live());
      await n.send(resolved, live());
      const [t, res] = r.requests.map((q) => JSON.parse(q.body.toString('utf8')) as PagerDutyEvent);
      assert.equal(t.event_action, 'trigger');
      assert.equal(res.event_action, 'resolve');
      assert.equal(t.dedup_key, res.dedup_key);
      assert.equal(t.dedup_key, firing.alert.dedup_key);
      await n.close();
    } finally {
      await r.stop();
    }
  });

  test('severity maps into the Events API enum', () => {
    assert.deepEqual(
      SEVERITIES.map((s) => [s, pagerDutySeverity(s)]),
      [
        ['info', 'info'],
        ['low', 'info'],
        ['medium', 'warning'],
        ['high', 'error'],
        ['critical', 'critical'],
      ],
    );
    for (const s of SEVERITIES) checkTrigger(pagerDutyEvent(firingNotification({ severity: s }), ROUTING_KEY) as PagerDutyTrigger);
  });

  test('long summaries are cut to 1024 characters; long dedup keys hashed alike for trigger and resolve', () => {
    const long = 'y'.repeat(3000);
    const t = pagerDutyEvent(firingNotification({ summary: long, dedup_key: long }), ROUTING_KEY) as PagerDutyTrigger;
    checkTrigger(t);
    assert.equal(t.payload.summary.length, 1024);
    const r = pagerDutyEvent(resolvedNotification({ dedup_key: long }), ROUTING_KEY);
    assert.equal(r.dedup_key, t.dedup_key);
    assert.match(t.dedup_key, /^sha256:[0-9a-f]{64}$/);
    assert.equal(pagerDutyDedupKey('short'), 'short');
  });

  test('an empty node name still gives a non-empty source; no group, no component', () => {
    const n = { ...firingNotification({ group: {} }), node: '  ', link: null };
    const t = pagerDutyEvent(n, ROUTING_KEY) as PagerDutyTrigger;
    checkTrigger(t);
    assert.equal(t.payload.source, 'tollgate');
    assert.equal(t.payload.component, undefined);
    assert.equal(t.client_url, undefined);
  });

  test('429 is retried, other 4xx are final; errors never show the routing key', async () => {
    const r = await new HttpReceiver({ retryable: { status: 429, body: '{"status":"throttle event"}', headers: { 'retry-after': '2' } }, fatal: { status: 403, body: 'forbidden' } }).start();
    try {
      const n = pagerduty(`${r.url}/v2/enqueue`);
      r.next('retryable', 'fatal');
      await assert.rejects(n.send(firingNotification(), live()), (e: unknown) => e instanceof NotifyError && e.retryable && /429/.test(e.message) && !e.message.includes(ROUTING_KEY));
      await assert.rejects(n.send(firingNotification(), live()), (e: unknown) => e instanceof NotifyError && !e.retryable && /403/.test(e.message) && !e.message.includes(ROUTING_KEY));
      await n.close();
    } finally {
      await r.stop();
    }
  });

  test('routing_key_file; the default endpoint; exactly one key source', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-pd-'));
    try {
      writeFileSync(join(dir, 'key'), `${ROUTING_KEY}\n`);
      const cfg = PagerDutyNotifierSchema.parse({ type: 'pagerduty', routing_key_file: join(dir, 'key') });
      assert.equal(cfg.url, 'https://events.pagerduty.com/v2/enqueue');
      const n = createPagerDutyNotifier('pd', cfg);
      void n.close();
      assert.equal(PagerDutyNotifierSchema.safeParse({ type: 'pagerduty' }).success, false);
      assert.equal(PagerDutyNotifierSchema.safeParse({ type: 'pagerduty', routing_key: 'a', routing_key_file: 'b' }).success, false);
      assert.equal(PagerDutyNotifierSchema.safeParse({ type: 'pagerduty', routing_key: 'a', url: 'file:///etc/passwd' }).success, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
