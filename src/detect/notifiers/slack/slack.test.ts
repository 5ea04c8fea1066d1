/**
 * Slack is tested against a local receiver (no Slack workspace here) that
 * checks the documented incoming-webhook wire format: a JSON POST with a
 * non-empty `text` and Block Kit `blocks` within Slack's published limits,
 * answered like Slack does (200 "ok", 400 "invalid_payload", 429, 5xx).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotifyError, type Notification } from '../../types.js';
import { notifierConformance } from '../conformance.js';
import { SlackNotifierSchema } from '../schema.js';
import { firingNotification, HttpReceiver, resolvedNotification, type ReceivedRequest } from '../testing.js';
import { createSlackNotifier, slackMessage, type SlackBlock, type SlackMessage } from './slack.js';

const HOOK_PATH = '/services/T0000/B0000/XXXXSECRETXXXX';
const live = (): AbortSignal => new AbortController().signal;

function slack(url: string, over: Record<string, unknown> = {}) {
  return createSlackNotifier('team-slack', SlackNotifierSchema.parse({ type: 'slack', webhook_url: url, timeout: '500ms', retries: 2, backoff: '10ms', ...over }));
}

type Text = { type: string; text: string; emoji?: boolean };

/** All the text of a message, for "does it mention X" checks. */
function allText(m: SlackMessage): string {
  const parts: string[] = [m.text];
  for (const b of m.blocks) {
    if (b.type === 'header') parts.push(b.text.text);
    if (b.type === 'section') parts.push(b.text?.text ?? '', ...(b.fields ?? []).map((f) => f.text));
    if (b.type === 'context') parts.push(...b.elements.map((e) => e.text));
  }
  return parts.join('\n');
}

/** Block Kit structure and limits (https://api.slack.com/reference/block-kit/blocks). */
function checkBlocks(blocks: SlackBlock[]): void {
  assert.ok(Array.isArray(blocks) && blocks.length > 0 && blocks.length <= 50, 'blocks: 1-50');
  for (const b of blocks as { type: string; text?: Text; fields?: Text[]; elements?: Text[] }[]) {
    assert.ok(['header', 'section', 'context', 'divider'].includes(b.type), `block type ${b.type}`);
    if (b.type === 'header') {
      assert.equal(b.text?.type, 'plain_text', 'header text is plain_text');
      assert.ok(b.text.text.length > 0 && b.text.text.length <= 150, 'header text ≤ 150');
    }
    if (b.type === 'section') {
      assert.ok(b.text !== undefined || (b.fields?.length ?? 0) > 0, 'section has text or fields');
      if (b.text) {
        assert.ok(['mrkdwn', 'plain_text'].includes(b.text.type));
        assert.ok(b.text.text.length > 0 && b.text.text.length <= 3000, 'section text ≤ 3000');
      }
      if (b.fields) {
        assert.ok(b.fields.length <= 10, 'at most 10 fields');
        for (const f of b.fields) assert.ok(['mrkdwn', 'plain_text'].includes(f.type) && f.text.length > 0 && f.text.length <= 2000, 'field text ≤ 2000');
      }
    }
    if (b.type === 'context') {
      assert.ok(b.elements && b.elements.length > 0 && b.elements.length <= 10);
      for (const e of b.elements) assert.ok(e.text.length > 0 && e.text.length <= 2000);
    }
  }
}

function checkSlackWire(r: ReceivedRequest, n: Notification): void {
  assert.equal(r.method, 'POST');
  assert.equal(r.url, HOOK_PATH);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const m = JSON.parse(r.body.toString('utf8')) as SlackMessage;
  assert.equal(typeof m.text, 'string');
  assert.ok(m.text.length > 0, 'text is the fallback for notifications');
  checkBlocks(m.blocks);
  const a = n.alert;
  const text = allText(m);
  for (const want of [a.rule_id, a.severity, 'client_ip=203.0.113.9', '57', '&gt;= 50', '5m', n.node]) assert.ok(text.includes(want), `message mentions ${want}`);
  if (n.kind === 'firing') {
    assert.match(m.text, /^FIRING high: failed-login-surge/);
    assert.ok(!/resolved/i.test(text), 'a firing message does not say resolved');
  } else {
    assert.match(m.text, /^RESOLVED high: failed-login-surge/);
    assert.match(m.blocks[0].type === 'header' ? m.blocks[0].text.text : '', /RESOLVED/);
    assert.ok(text.includes('*Status*\nresolved'), 'status field says resolved');
  }
}

let rx: HttpReceiver;
notifierConformance<ReceivedRequest>('slack', async () => {
  rx = await new HttpReceiver({ ok: { status: 200, body: 'ok' }, retryable: { status: 500, body: 'internal_error' }, fatal: { status: 400, body: 'invalid_payload' } }).start();
  return {
    notifier: slack(`${rx.url}${HOOK_PATH}`),
    script: (...b) => rx.next(...b),
    received: async () => [...rx.requests],
    clear: () => rx.clear(),
    checkWire: checkSlackWire,
    close: () => rx.stop(),
  };
});

describe('slack message', () => {
  test('escapes &, < and > in alert text (no injected links or mentions)', () => {
    const m = slackMessage(firingNotification({ summary: 'x <!channel> & <https://evil.example|click>', group: { user: '<@U123>' } }));
    // The header is plain_text, which Slack shows literally; everything parsed as mrkdwn (and `text`) must be escaped.
    const text = allText({ text: m.text, blocks: m.blocks.filter((b) => b.type !== 'header') });
    assert.equal(m.blocks[0].type === 'header' && m.blocks[0].text.type, 'plain_text');
    assert.ok(!text.includes('<!channel>') && !text.includes('<@U123>') && !text.includes('<https://evil.example'));
    assert.ok(text.includes('&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;'));
    checkBlocks(m.blocks);
  });

  test('very long values stay within the block limits', () => {
    const long = 'x'.repeat(5000);
    const m = slackMessage(firingNotification({ summary: long, rule_id: `rule-${long}`, group: { k: long }, actions: [long, long] }));
    checkBlocks(m.blocks);
    assert.ok(m.text.length <= 3000);
  });

  test('an alert without group or link still makes a valid message', () => {
    const n = { ...firingNotification({ group: {}, actions: [] }), link: null };
    const m = slackMessage(n);
    checkBlocks(m.blocks);
    assert.ok(allText(m).includes('(none)'));
  });
});

describe('slack delivery', () => {
  test('the webhook URL (a secret) never appears in errors; 404 no_service is final', async () => {
    const r = await new HttpReceiver({ fatal: { status: 404, body: 'no_service' } }).start();
    try {
      const n = slack(`${r.url}${HOOK_PATH}`);
      r.next('fatal');
      await assert.rejects(n.send(firingNotification(), live()), (e: unknown) => e instanceof NotifyError && !e.retryable && /404: no_service/.test(e.message) && !e.message.includes('XXXXSECRETXXXX'));
      await n.close();
      const gone = r.url;
      await r.stop();
      const n2 = slack(`${gone}${HOOK_PATH}`);
      await assert.rejects(n2.send(firingNotification(), live()), (e: unknown) => e instanceof NotifyError && e.retryable && !e.message.includes('XXXXSECRETXXXX'));
      await n2.close();
    } finally {
      await r.stop();
    }
  });

  test('webhook_url_file is read at build time and validated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-slack-'));
    const r = await new HttpReceiver().start();
    try {
      writeFileSync(join(dir, 'url'), `${r.url}${HOOK_PATH}\n`);
      const n = createSlackNotifier('filed', SlackNotifierSchema.parse({ type: 'slack', webhook_url_file: join(dir, 'url') }), {});
      await n.send(resolvedNotification(), live());
      assert.equal(r.requests[0].url, HOOK_PATH);
      await n.close();
      writeFileSync(join(dir, 'bad'), 'ftp://hooks.example/x\n');
      assert.throws(() => createSlackNotifier('filed', SlackNotifierSchema.parse({ type: 'slack', webhook_url_file: join(dir, 'bad') })), /http:\/\/ or https:\/\//);
      // Relative paths resolve against the build context's directory.
      const n3 = createSlackNotifier('rel', SlackNotifierSchema.parse({ type: 'slack', webhook_url_file: 'url' }), { baseDir: dir });
      await n3.close();
    } finally {
      await r.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('config needs exactly one of webhook_url and webhook_url_file', () => {
    assert.equal(SlackNotifierSchema.safeParse({ type: 'slack' }).success, false);
    assert.equal(SlackNotifierSchema.safeParse({ type: 'slack', webhook_url: 'https://hooks.slack.com/services/a', webhook_url_file: '/x' }).success, false);
    assert.equal(SlackNotifierSchema.safeParse({ type: 'slack', webhook_url: 'javascript:alert(1)' }).success, false);
    assert.equal(SlackNotifierSchema.safeParse({ type: 'slack', webhook_url: 'https://hooks.slack.com/services/a' }).success, true);
  });
});
