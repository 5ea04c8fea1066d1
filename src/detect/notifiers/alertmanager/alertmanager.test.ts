/**
 * Alertmanager: the conformance suite runs against a local receiver that
 * checks the API v2 wire format and can fail on demand; then a real
 * Prometheus Alertmanager (test/support/alertmanager.ts) receives a firing
 * alert, lists it with its labels, receives the resolution and stops listing
 * it as active. Without the binary the real-server tests are skipped on a
 * developer machine and fail under CI=true.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { alertmanagerAvailable, NEEDS_ALERTMANAGER, startAlertmanager, type GettableAlert, type TestAlertmanager } from '../../../../test/support/alertmanager.js';
import { skipUnlessCI } from '../../../../test/support/skip.js';
import type { Notification } from '../../types.js';
import { notifierConformance } from '../conformance.js';
import { AlertmanagerNotifierSchema } from '../schema.js';
import { firingNotification, HttpReceiver, resolvedNotification, type ReceivedRequest } from '../testing.js';
import { alertmanagerAlert, alertmanagerLabels, alertsEndpoint, createAlertmanagerNotifier, labelName, type AlertmanagerAlert } from './alertmanager.js';

const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const live = (): AbortSignal => new AbortController().signal;

function alertmanager(url: string, over: Record<string, unknown> = {}) {
  return createAlertmanagerNotifier('am', AlertmanagerNotifierSchema.parse({ type: 'alertmanager', url, timeout: '500ms', retries: 2, backoff: '10ms', ...over }));
}

function checkAlertmanagerWire(r: ReceivedRequest, n: Notification): void {
  assert.equal(r.method, 'POST');
  assert.equal(r.url, '/am/api/v2/alerts');
  assert.equal(r.headers['content-type'], 'application/json');
  const body = JSON.parse(r.body.toString('utf8')) as AlertmanagerAlert[];
  assert.ok(Array.isArray(body) && body.length === 1, 'an array with one alert');
  const a = body[0];
  for (const [k, v] of Object.entries(a.labels)) {
    assert.match(k, LABEL_NAME_RE, `label name ${k}`);
    assert.ok(typeof v === 'string' && v.length > 0, `label ${k} has a non-empty value`);
  }
  assert.deepEqual(a.labels, { alertname: 'failed-login-surge', severity: 'high', dedup_key: n.alert.dedup_key, client_ip: '203.0.113.9', team: 'security' });
  assert.equal(a.annotations.summary, n.alert.summary);
  assert.match(a.annotations.description, /^count 57 >= 50 over 5m/);
  for (const v of Object.values(a.annotations)) assert.equal(typeof v, 'string');
  assert.equal(a.startsAt, n.alert.started_at);
  assert.equal(a.generatorURL, n.link);
  if (n.kind === 'firing') assert.equal(a.endsAt, undefined, 'no endsAt while firing');
  else assert.equal(a.endsAt, n.alert.resolved_at, 'endsAt = resolved_at');
}

let rx: HttpReceiver;
notifierConformance<ReceivedRequest>('alertmanager (local receiver)', async () => {
  rx = await new HttpReceiver({ ok: { status: 200, body: '' }, retryable: { status: 503, body: 'not ready' }, fatal: { status: 400, body: '{"code":400,"message":"start time must be before end time"}' } }).start();
  return {
    notifier: alertmanager(`${rx.url}/am/`),
    script: (...b) => rx.next(...b),
    received: async () => [...rx.requests],
    clear: () => rx.clear(),
    checkWire: checkAlertmanagerWire,
    close: () => rx.stop(),
  };
});

describe('alertmanager format', () => {
  test('label names are sanitized to [a-zA-Z_][a-zA-Z0-9_]*; null and empty values dropped', () => {
    assert.equal(labelName('client.ip'), 'client_ip');
    assert.equal(labelName('app.kubernetes.io/name'), 'app_kubernetes_io_name');
    assert.equal(labelName('9lives'), '_9lives');
    assert.equal(labelName('héllo-wörld'), 'h_llo_w_rld');
    const labels = alertmanagerLabels(
      firingNotification({ rule_id: 'r1', group: { 'user.name': null, 'http.host': 'a.example', route: '' }, labels: { 'x-team': 'sec', alertname: 'spoofed', severity: 'page' } }).alert,
    );
    for (const k of Object.keys(labels)) assert.match(k, LABEL_NAME_RE);
    assert.deepEqual(labels, { severity: 'page', dedup_key: 'failed-login-surge|client_ip=203.0.113.9', http_host: 'a.example', x_team: 'sec', alertname: 'r1' });
  });

  test('endsAt: resolution time (never in the future), or now + ends_after while firing when configured', () => {
    const now = new Date('2025-03-01T12:30:00.000Z');
    assert.equal(alertmanagerAlert(resolvedNotification(), now).endsAt, '2025-03-01T12:10:00.000Z');
    assert.equal(alertmanagerAlert(resolvedNotification({ resolved_at: '2025-03-01T13:00:00.000Z' }), now).endsAt, now.toISOString());
    assert.equal(alertmanagerAlert(firingNotification(), now).endsAt, undefined);
    assert.equal(alertmanagerAlert(firingNotification(), now, 3_600_000).endsAt, '2025-03-01T13:30:00.000Z');
    assert.equal(alertmanagerAlert({ ...firingNotification(), link: null }, now).generatorURL, undefined);
  });

  test('the endpoint joins the base URL and /api/v2/alerts', () => {
    assert.equal(alertsEndpoint('http://127.0.0.1:9093'), 'http://127.0.0.1:9093/api/v2/alerts');
    assert.equal(alertsEndpoint('http://am.example/prefix/'), 'http://am.example/prefix/api/v2/alerts');
  });
});

const skipReal = skipUnlessCI(alertmanagerAvailable(), NEEDS_ALERTMANAGER);

describe('alertmanager (real Prometheus Alertmanager)', { skip: skipReal }, () => {
  let am: TestAlertmanager;
  before(async () => {
    am = await startAlertmanager();
  });
  after(async () => {
    await am?.stop();
  });

  const find = (alerts: GettableAlert[], rule: string) => alerts.find((a) => a.labels.alertname === rule);

  async function waitFor<T>(what: string, f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await f();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  test('a firing alert is listed with its labels and annotations; its resolution ends it', async () => {
    const n = alertmanager(am.url, { timeout: '5s' });
    const rule = 'failed-login-surge-real';
    const startedAt = new Date(Date.now() - 60_000).toISOString();
    const over = {
      rule_id: rule,
      dedup_key: `${rule}|client_ip=203.0.113.9`,
      started_at: startedAt,
      group: { client_ip: '203.0.113.9', 'user.name': null },
      labels: { team: 'security', 'app.kubernetes.io/name': 'edge' },
    };
    await n.send(firingNotification(over), live());

    const listed = await waitFor('the alert to be listed', async () => find(await am.alerts(), rule));
    assert.deepEqual(listed.labels, {
      alertname: rule,
      severity: 'high',
      dedup_key: `${rule}|client_ip=203.0.113.9`,
      client_ip: '203.0.113.9',
      team: 'security',
      app_kubernetes_io_name: 'edge',
    });
    assert.equal(listed.annotations.summary, 'Many failed logins from one client address');
    assert.match(listed.annotations.description, /^count 57 >= 50 over 5m/);
    assert.equal(listed.annotations.node, 'edge-1');
    assert.equal(Date.parse(listed.startsAt), Date.parse(startedAt));
    assert.ok(Date.parse(listed.endsAt) > Date.now(), 'Alertmanager gives it an end in the future (its resolve_timeout)');
    assert.equal(listed.generatorURL, firingNotification().link);
    assert.notEqual(listed.status.state, 'unprocessed');
    assert.ok(find(await am.alerts({ active: 'true' }), rule), 'listed as active');

    const resolvedAt = new Date(Date.now() - 1000).toISOString();
    await n.send(resolvedNotification({ ...over, resolved_at: resolvedAt }), live());
    await waitFor('the alert to stop being active', async () => (find(await am.alerts({ active: 'true' }), rule) === undefined ? true : undefined));
    // Not active any more: either no longer listed at all, or listed with an end in the past.
    const still = find(await am.alerts({ active: 'true', silenced: 'true', inhibited: 'true', unprocessed: 'true' }), rule);
    if (still) assert.ok(Date.parse(still.endsAt) <= Date.now(), `endsAt ${still.endsAt} is in the past`);
    await n.close();
  });

  test('Alertmanager refuses an invalid alert with 400, which is not retried', async () => {
    const n = alertmanager(am.url, { timeout: '5s' });
    // startsAt after endsAt: Alertmanager's validation refuses it.
    await assert.rejects(
      n.send(resolvedNotification({ rule_id: 'invalid-real', started_at: new Date(Date.now() + 3_600_000).toISOString(), resolved_at: new Date(Date.now() - 3_600_000).toISOString() }), live()),
      (e: unknown) => (e as { retryable?: boolean }).retryable === false && /answered 400/.test((e as Error).message),
    );
    await n.close();
  });
});
