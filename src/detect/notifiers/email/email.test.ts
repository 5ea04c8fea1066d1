/**
 * E-mail against a real SMTP server, aiosmtpd (test/support/smtp.ts): the
 * conformance suite uses its Mailbox handler with a reply script (451, 554,
 * no answer) for the failure cases; the plain Mailbox handler receives an
 * alert and the stored message's envelope, From, To, Subject and body are
 * checked, as parsed by Python's email package. Without aiosmtpd these are
 * skipped on a developer machine and fail under CI=true.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NEEDS_AIOSMTPD, smtpServerAvailable, startSmtp, type StoredMessage, type TestSmtp } from '../../../../test/support/smtp.js';
import { skipUnlessCI } from '../../../../test/support/skip.js';
import type { Notification } from '../../types.js';
import { notifierConformance } from '../conformance.js';
import { EmailNotifierSchema } from '../schema.js';
import { firingNotification, resolvedNotification } from '../testing.js';
import { createEmailNotifier, emailMessageId, emailSubject, emailText, smtpError } from './email.js';

const FROM = 'Tollgate <tollgate@alerts.example>';
const TO = ['secops@example.com', 'Oncall <oncall@example.org>'];
const live = (): AbortSignal => new AbortController().signal;
const skip = skipUnlessCI(smtpServerAvailable(), NEEDS_AIOSMTPD);

function email(port: number, over: Record<string, unknown> = {}) {
  return createEmailNotifier(
    'mail',
    EmailNotifierSchema.parse({ type: 'email', host: '127.0.0.1', port, starttls: 'never', from: FROM, to: TO, timeout: '800ms', retries: 2, backoff: '10ms', ...over }),
  );
}

function checkEmailWire(m: StoredMessage, n: Notification): void {
  assert.equal(m.mail_from, 'tollgate@alerts.example', 'envelope sender');
  assert.deepEqual(m.rcpt_to, ['secops@example.com', 'oncall@example.org'], 'envelope recipients');
  assert.equal(m.from, FROM);
  assert.equal(m.to, 'secops@example.com, Oncall <oncall@example.org>');
  const state = n.kind === 'firing' ? 'FIRING' : 'RESOLVED';
  assert.equal(m.subject, `[tollgate] ${state} high: failed-login-surge client_ip=203.0.113.9`);
  assert.equal(m.message_id, emailMessageId(n.alert.id, n.kind, FROM));
  assert.equal(m.headers['x-tollgate-event'], `alert.${n.kind}`);
  assert.equal(m.headers['x-tollgate-alert-id'], n.alert.id);
  assert.match(m.headers['content-type'], /^text\/plain/);
  if (n.kind === 'resolved') assert.equal(m.in_reply_to, emailMessageId(n.alert.id, 'firing', FROM), 'threads under the firing message');
  const body = m.body;
  assert.ok(body.startsWith(`${state} high: failed-login-surge client_ip=203.0.113.9\n`), body);
  for (const line of [
    n.alert.summary,
    'Rule:            failed-login-surge',
    'Severity:        high',
    `Status:          ${n.kind}`,
    'Group:           client_ip=203.0.113.9',
    'Value:           57 (count, threshold >= 50)',
    'Window:          5m (2025-03-01T11:55:00.000Z to 2025-03-01T12:00:00.000Z)',
    'Matching events: 57',
    'Sample events:   ev_01, ev_02, ev_03',
    'Started:         2025-03-01T12:00:00.000Z',
    'Actions:         block ip 203.0.113.9 for 600s',
    'Labels:          team=security',
    'Node:            edge-1',
    `Alert id:        ${n.alert.id}`,
    `Link:            ${n.link}`,
  ]) {
    assert.ok(body.includes(line), `body has ${JSON.stringify(line)}:\n${body}`);
  }
  if (n.kind === 'resolved') assert.ok(body.includes('Resolved:        2025-03-01T12:10:00.000Z'));
  else assert.ok(!body.includes('Resolved:'));
}

let smtp: TestSmtp;
notifierConformance<StoredMessage>(
  'email (aiosmtpd, scripted replies)',
  async () => {
    smtp = await startSmtp({ handler: 'scripted' });
    return {
      notifier: email(smtp.port),
      script: (...b) => smtp.script(...b),
      received: () => smtp.messages(),
      clear: () => smtp.clear(),
      checkWire: checkEmailWire,
      close: () => smtp.stop(),
    };
  },
  { skip },
);

describe('email (aiosmtpd Mailbox)', { skip }, () => {
  let box: TestSmtp;
  before(async () => {
    box = await startSmtp({ handler: 'mailbox' });
  });
  after(async () => {
    await box?.stop();
  });

  test('an alert e-mail arrives with its envelope, From, To, Subject and body', async () => {
    const n = email(box.port, { subject_prefix: '[tollgate]' });
    const firing = firingNotification();
    await n.send(firing, live());
    const resolved = resolvedNotification();
    await n.send(resolved, live());
    const msgs = await box.messages();
    assert.equal(msgs.length, 2);
    checkEmailWire(msgs[0], firing);
    checkEmailWire(msgs[1], resolved);
    await n.close();
  });

  test('a non-ASCII summary and a custom prefix survive the trip', async () => {
    await box.clear();
    const n = email(box.port, { subject_prefix: '[edge ⚠]', to: ['ops@example.com'] });
    const note = firingNotification({ summary: 'Échecs de connexion répétés — 東京', group: { 'user.name': 'zoë' } });
    await n.send(note, live());
    const [m] = await box.messages();
    assert.equal(m.subject, '[edge ⚠] FIRING high: failed-login-surge user.name=zoë');
    assert.ok(m.body.includes('Échecs de connexion répétés — 東京'));
    assert.deepEqual(m.rcpt_to, ['ops@example.com']);
    await n.close();
  });
});

describe('email format and errors', () => {
  test('subjects are one line even when alert data has line breaks', () => {
    const s = emailSubject(firingNotification({ rule_id: 'evil\r\nBcc: victim@example.com' }), '[tollgate]');
    assert.ok(!/[\r\n]/.test(s), s);
    assert.equal(emailSubject(resolvedNotification(), ''), 'RESOLVED high: failed-login-surge client_ip=203.0.113.9');
  });

  test('the body lists the facts, including evidence detail', () => {
    const t = emailText(firingNotification({ evidence: { ...firingNotification().alert.evidence, detail: { expected_rate: 1.23456789, percentile: 'p99', missing: null } } }));
    assert.ok(t.includes('Detail expected_rate: 1.2346'));
    assert.ok(t.includes('Detail percentile:    p99'));
    assert.ok(t.includes('Detail missing:       (none)'));
  });

  test('SMTP failures: 4xx and connection trouble are retryable, 5xx and auth/TLS failures are not', () => {
    assert.equal(smtpError({ responseCode: 451, response: '451 4.3.0 try later' }, 1000).retryable, true);
    assert.equal(smtpError({ responseCode: 421, response: '421 closing' }, 1000).retryable, true);
    assert.equal(smtpError({ responseCode: 554, response: '554 5.7.1 rejected' }, 1000).retryable, false);
    assert.equal(smtpError({ responseCode: 503, response: '503 bad sequence' }, 1000).retryable, true);
    assert.equal(smtpError({ responseCode: 550, permanent: true, response: '550 no such user' }, 1000).retryable, false);
    assert.equal(smtpError({ code: 'ECONNECTION', message: 'closed' }, 1000).retryable, true);
    assert.equal(smtpError({ code: 'ESOCKET', message: 'ECONNREFUSED' }, 1000).retryable, true);
    assert.match(smtpError({ code: 'ETIMEDOUT', message: 'Timeout', timeoutType: 'SOCKET_TIMEOUT' }, 1000).message, /timed out after 1000 ms/);
    assert.equal(smtpError({ code: 'EAUTH', message: 'Invalid login' }, 1000).retryable, false);
    assert.equal(smtpError({ code: 'ETLS', message: 'STARTTLS failed' }, 1000).retryable, false);
  });

  test('config: defaults, addresses, password needs a username, one password source', () => {
    const c = EmailNotifierSchema.parse({ type: 'email', host: 'smtp.example', from: 'a@example.com', to: ['b@example.com'] });
    assert.deepEqual({ port: c.port, secure: c.secure, starttls: c.starttls, subject_prefix: c.subject_prefix, timeout: c.timeout }, { port: 25, secure: false, starttls: 'auto', subject_prefix: '[tollgate]', timeout: 10_000 });
    const base = { type: 'email', host: 'smtp.example', from: 'a@example.com', to: ['b@example.com'] };
    for (const bad of [
      { ...base, to: [] },
      { ...base, to: ['not an address'] },
      { ...base, from: 'nobody' },
      { ...base, password: 'x' },
      { ...base, username: 'u' },
      { ...base, username: 'u', password: 'x', password_file: '/y' },
      { ...base, starttls: 'maybe' },
      { ...base, port: 70000 },
    ]) {
      assert.equal(EmailNotifierSchema.safeParse(bad).success, false, JSON.stringify(bad));
    }
    assert.equal(EmailNotifierSchema.safeParse({ ...base, username: 'u', password: 'x', to: ['Ops Team <ops@example.com>'] }).success, true);
  });
});
