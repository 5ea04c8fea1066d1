import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotifyError, type Notification } from '../../types.js';
import { DeliveryError } from '../common.js';
import { dispatchOnce, notifierConformance } from '../conformance.js';
import { WebhookNotifierSchema } from '../schema.js';
import { firingNotification, HttpReceiver, resolvedNotification, type ReceivedRequest } from '../testing.js';
import { createWebhookNotifier, signWebhook, verifyWebhookSignature, type WebhookBody } from './webhook.js';

const SECRET = 'whsec-test-5b7e2f0c9a4d18e3';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const live = (): AbortSignal => new AbortController().signal;

function webhook(url: string, over: Record<string, unknown> = {}) {
  return createWebhookNotifier('ops-hook', WebhookNotifierSchema.parse({ type: 'webhook', url, timeout: '500ms', retries: 2, backoff: '10ms', ...over }));
}

/** The documented wire format: method, headers, signature, body. */
function checkWebhookWire(r: ReceivedRequest, n: Notification, secret: string | null = SECRET): void {
  assert.equal(r.method, 'POST');
  assert.equal(r.url, '/hooks/tollgate?source=conformance');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['x-tollgate-event'], `alert.${n.kind}`);
  assert.match(String(r.headers['x-tollgate-delivery']), UUID_RE);
  const ts = String(r.headers['x-tollgate-timestamp']);
  assert.match(ts, /^\d+$/);
  assert.ok(Math.abs(Number(ts) - Date.now() / 1000) < 60, `timestamp ${ts} is not now`);
  assert.equal(r.headers.authorization, 'Bearer receiver-token', 'configured headers are sent');
  if (secret === null) assert.equal(r.headers['x-tollgate-signature'], undefined);
  else {
    assert.match(String(r.headers['x-tollgate-signature']), /^sha256=[0-9a-f]{64}$/);
    assert.ok(verifyWebhookSignature(secret, ts, r.body, r.headers['x-tollgate-signature']), 'signature verifies over the raw body');
  }
  const body = JSON.parse(r.body.toString('utf8')) as WebhookBody;
  assert.deepEqual(body, { version: 1, kind: n.kind, alert: n.alert, node: n.node, link: n.link });
}

let rx: HttpReceiver;
notifierConformance<ReceivedRequest>('webhook', async () => {
  rx = await new HttpReceiver().start();
  const notifier = webhook(`${rx.url}/hooks/tollgate?source=conformance`, { secret: SECRET, headers: { authorization: 'Bearer receiver-token' } });
  return {
    notifier,
    script: (...b) => rx.next(...b),
    received: async () => [...rx.requests],
    clear: () => rx.clear(),
    checkWire: (r, n) => checkWebhookWire(r, n),
    close: () => rx.stop(),
  };
});

describe('webhook signature', () => {
  const body = Buffer.from(JSON.stringify({ version: 1, kind: 'firing', alert: { id: 'x' } }));
  const now = 1_740_830_400;
  const sig = signWebhook(SECRET, now, body);

  test('verifies with the right secret, timestamp and raw body', () => {
    assert.match(sig, /^sha256=[0-9a-f]{64}$/);
    assert.equal(verifyWebhookSignature(SECRET, String(now), body, sig, { now }), true);
    assert.equal(verifyWebhookSignature(Buffer.from(SECRET), now, body.toString('utf8'), sig, { now: now + 299 }), true);
  });

  test('fails with a wrong secret, body or timestamp', () => {
    assert.equal(verifyWebhookSignature('not-the-secret', now, body, sig, { now }), false);
    assert.equal(verifyWebhookSignature(SECRET, now, Buffer.concat([body, Buffer.from(' ')]), sig, { now }), false);
    // Re-stamping a captured request breaks the signature: the timestamp is signed.
    assert.equal(verifyWebhookSignature(SECRET, now + 60, body, sig, { now: now + 60 }), false);
  });

  test('refuses a replay outside the tolerance, unless the check is disabled', () => {
    assert.equal(verifyWebhookSignature(SECRET, now, body, sig, { now: now + 301 }), false);
    assert.equal(verifyWebhookSignature(SECRET, now, body, sig, { now: now - 301 }), false);
    assert.equal(verifyWebhookSignature(SECRET, now, body, sig, { now: now + 86_400, toleranceSeconds: Infinity }), true);
  });

  test('refuses malformed or missing headers without throwing', () => {
    for (const h of [undefined, '', 'sha256=', 'sha1=abc', sig.slice(0, -2), `${sig}00`, sig.replace('sha256=', 'sha512='), ['a', 'b']]) {
      assert.equal(verifyWebhookSignature(SECRET, now, body, h, { now }), false, `header ${JSON.stringify(h)}`);
    }
    assert.equal(verifyWebhookSignature(SECRET, undefined, body, sig, { now }), false);
    assert.equal(verifyWebhookSignature(SECRET, 'abc', body, sig, { now }), false);
    // Upper-case hex is the same signature.
    assert.equal(verifyWebhookSignature(SECRET, now, body, `sha256=${sig.slice(7).toUpperCase()}`, { now }), true);
  });
});

describe('webhook delivery', () => {
  let r: HttpReceiver;
  let dir: string;
  before(async () => {
    r = await new HttpReceiver().start();
    dir = mkdtempSync(join(tmpdir(), 'tg-webhook-'));
  });
  after(async () => {
    await r.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a signature made with the wrong secret does not verify at the receiver', async () => {
    r.clear();
    const n = webhook(`${r.url}/x`, { secret: 'another-secret-value' });
    await n.send(firingNotification(), live());
    const got = r.requests[0];
    assert.equal(verifyWebhookSignature(SECRET, String(got.headers['x-tollgate-timestamp']), got.body, got.headers['x-tollgate-signature']), false);
    assert.equal(verifyWebhookSignature('another-secret-value', String(got.headers['x-tollgate-timestamp']), got.body, got.headers['x-tollgate-signature']), true);
    await n.close();
  });

  test('without a secret there is no signature header', async () => {
    r.clear();
    const n = webhook(`${r.url}/hooks/tollgate?source=conformance`, { headers: { authorization: 'Bearer receiver-token' } });
    const note = resolvedNotification();
    await n.send(note, live());
    checkWebhookWire(r.requests[0], note, null);
    await n.close();
  });

  test('retries of one delivery keep its x-tollgate-delivery id; another delivery gets a new one', async () => {
    r.clear();
    const n = webhook(`${r.url}/x`, { secret: SECRET });
    r.next('retryable', 'retryable', 'ok');
    const out = await dispatchOnce(n, firingNotification());
    assert.equal(out.record.state, 'sent');
    assert.equal(out.record.attempts, 3);
    const ids = r.requests.map((q) => q.headers['x-tollgate-delivery']);
    assert.equal(ids.length, 3);
    assert.equal(new Set(ids).size, 1, `ids ${ids.join(', ')}`);
    await n.send(resolvedNotification(), live());
    assert.notEqual(r.requests[3].headers['x-tollgate-delivery'], ids[0]);
    await n.close();
  });

  test('secret_file is read and trimmed; a missing file fails the build without showing a secret', () => {
    const f = join(dir, 'secret');
    writeFileSync(f, `  ${SECRET}\n`);
    const cfg = WebhookNotifierSchema.parse({ type: 'webhook', url: `${r.url}/x`, secret_file: f });
    const n = createWebhookNotifier('filed', cfg);
    void n.close();
    assert.throws(() => createWebhookNotifier('filed', WebhookNotifierSchema.parse({ type: 'webhook', url: `${r.url}/x`, secret_file: join(dir, 'nope') })), /secret_file: cannot read .*nope: ENOENT/);
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    assert.throws(() => createWebhookNotifier('filed', WebhookNotifierSchema.parse({ type: 'webhook', url: `${r.url}/x`, secret_file: empty })), /is empty/);
  });

  test('secret_file signs like the inline secret', async () => {
    r.clear();
    const f = join(dir, 'secret2');
    writeFileSync(f, `${SECRET}\n`);
    const n = createWebhookNotifier('filed', WebhookNotifierSchema.parse({ type: 'webhook', url: `${r.url}/x`, secret_file: f }));
    await n.send(firingNotification(), live());
    const got = r.requests[0];
    assert.ok(verifyWebhookSignature(SECRET, String(got.headers['x-tollgate-timestamp']), got.body, got.headers['x-tollgate-signature']));
    await n.close();
  });

  test('429 with Retry-After is retryable and passes the wait on; redirects are not followed', async () => {
    const limited = await new HttpReceiver({ retryable: { status: 429, body: 'slow down', headers: { 'retry-after': '7' } }, fatal: { status: 302, headers: { location: 'http://127.0.0.1:9/elsewhere' } } }).start();
    try {
      const n = webhook(`${limited.url}/x`);
      limited.next('retryable');
      await assert.rejects(n.send(firingNotification(), live()), (e: unknown) => e instanceof DeliveryError && e.retryable && e.retryAfterMs === 7000 && /429: slow down/.test(e.message));
      limited.next('fatal');
      await assert.rejects(n.send(firingNotification(), live()), (e: unknown) => e instanceof NotifyError && !e.retryable && /302.*redirects are not followed/.test(e.message));
      assert.equal(limited.requests.length, 2, 'the redirect was not followed');
      await n.close();
    } finally {
      await limited.stop();
    }
  });

  test('a refused connection is retryable and the error does not show the query string', async () => {
    const gone = await new HttpReceiver().start();
    const url = `${gone.url}/x?token=query-secret-123`;
    await gone.stop();
    const n = webhook(url);
    await assert.rejects(n.send(firingNotification(), live()), (e: unknown) => e instanceof NotifyError && e.retryable && !e.message.includes('query-secret-123') && /ECONNREFUSED/.test(e.message));
    await n.close();
  });
});

describe('webhook config', () => {
  test('defaults and validation', () => {
    const c = WebhookNotifierSchema.parse({ type: 'webhook', url: 'https://hooks.example/tollgate' });
    assert.deepEqual({ timeout: c.timeout, retries: c.retries, backoff: c.backoff, max_backoff: c.max_backoff, headers: c.headers }, { timeout: 10_000, retries: 5, backoff: 1000, max_backoff: 60_000, headers: {} });
    for (const bad of [
      { type: 'webhook', url: 'ftp://hooks.example/x' },
      { type: 'webhook', url: 'not a url' },
      { type: 'webhook', url: 'https://h.example', headers: { 'X-Tollgate-Signature': 'forged' } },
      { type: 'webhook', url: 'https://h.example', headers: { 'content-type': 'text/plain' } },
      { type: 'webhook', url: 'https://h.example', secret: 'a', secret_file: '/x' },
      { type: 'webhook', url: 'https://h.example', retries: -1 },
      { type: 'webhook', url: 'https://h.example', timeout: 'soon' },
      { type: 'webhook', url: 'https://h.example', extra: true },
    ]) {
      assert.equal(WebhookNotifierSchema.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });
});
