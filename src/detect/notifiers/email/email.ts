/**
 * E-mail through an SMTP server (nodemailer): a plain-text message per
 * transition, subject "<prefix> FIRING high: <rule> <group>" (RESOLVED for a
 * resolution), the alert's facts in the body. Each alert's messages thread:
 * the firing message has Message-ID <tollgate.<alert id>.firing@<from domain>>
 * and the resolved one refers to it (In-Reply-To, References). A retry sends
 * the same Message-ID, so a server that received the message before the
 * connection broke can drop the duplicate.
 *
 * SMTP 4xx replies, connection failures and timeouts are retryable; 5xx
 * replies (except 503), authentication and TLS failures are not.
 */
import { createTransport } from 'nodemailer';
import type { Notification } from '../../types.js';
import { NotifyError } from '../../types.js';
import { abortedError, attemptSignal, deliveryPolicy, factLines, groupText, headline, readSecret, type ConfiguredNotifier, type DeliveryPolicy, type NotifierBuildContext } from '../common.js';
import type { EmailNotifierConfig } from '../schema.js';

/** Strips what cannot be in a header line. */
function oneLine(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').trim();
}

export function emailSubject(n: Notification, prefix: string): string {
  return oneLine(`${prefix} ${headline(n)}`);
}

export function emailText(n: Notification): string {
  const a = n.alert;
  const rows: [string, string][] = [
    ['Rule', a.rule_id],
    ['Severity', a.severity],
    ['Status', n.kind],
    ['Group', groupText(a.group) || '(none)'],
    ...factLines(a),
    ['Started', a.started_at],
  ];
  if (n.kind === 'resolved') rows.push(['Resolved', a.resolved_at ?? '(unknown)']);
  if (a.actions.length) rows.push(['Actions', a.actions.join('; ')]);
  const labels = Object.entries(a.labels).map(([k, v]) => `${k}=${v}`);
  if (labels.length) rows.push(['Labels', labels.join(' ')]);
  rows.push(['Node', n.node], ['Alert id', a.id], ['Dedup key', a.dedup_key]);
  if (n.link) rows.push(['Link', n.link]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = [headline(n), '', n.kind === 'resolved' ? `Resolved: ${a.summary}` : a.summary, ''];
  for (const [k, v] of rows) lines.push(`${`${k}:`.padEnd(width)}${v}`);
  lines.push('', '-- ', `Sent by Tollgate (notifier on ${n.node}).`);
  return `${lines.join('\n')}\n`;
}

/** The domain of "Name <user@domain>" or "user@domain". */
function domainOf(address: string): string {
  const m = /@([^\s<>@]+?)>?\s*$/.exec(address);
  return m ? m[1] : 'tollgate.invalid';
}

/** Message-ID of one transition of one alert. */
export function emailMessageId(alertId: string, kind: Notification['kind'], from: string): string {
  const id = alertId.replace(/[^A-Za-z0-9._-]/g, '_');
  return `<tollgate.${id}.${kind}@${domainOf(from)}>`;
}

interface SmtpError {
  name?: string;
  timeoutType?: string;
  code?: string;
  message?: string;
  responseCode?: number;
  response?: string;
  permanent?: boolean;
}

const NOT_RETRYABLE_CODES = new Set(['EAUTH', 'ENOAUTH', 'ECONFIG', 'EENVELOPE', 'EMESSAGE', 'ETLS', 'EREQUIRETLS', 'EFILEACCESS', 'EURLACCESS']);

/** The NotifyError for a nodemailer failure (`timeoutMs`: the attempt's timeout, for messages). */
export function smtpError(err: unknown, timeoutMs: number): NotifyError {
  const e = err as SmtpError;
  if (e.code === 'ETIMEDOUT') return new NotifyError(`SMTP timed out after ${timeoutMs} ms${e.timeoutType ? ` (${e.timeoutType})` : ''}`, true);
  const what = e.response ? oneLine(e.response) : (e.message ?? String(err));
  if (typeof e.responseCode === 'number') {
    const permanent = e.permanent ?? (e.responseCode >= 500 && e.responseCode !== 503);
    return new NotifyError(`SMTP server answered ${e.responseCode}: ${what}`, !permanent);
  }
  return new NotifyError(`SMTP ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`, !NOT_RETRYABLE_CODES.has(e.code ?? ''));
}

/** One non-pooled SMTP transport: a connection per message (alerts are rare; no idle connection to keep alive). */
function smtpTransport(cfg: EmailNotifierConfig, password: string | undefined) {
  return createTransport({
    host: cfg.host,
    port: cfg.port,
    secure: cfg.secure,
    requireTLS: !cfg.secure && cfg.starttls === 'require',
    ignoreTLS: !cfg.secure && cfg.starttls === 'never',
    auth: cfg.username !== undefined ? { user: cfg.username, pass: password ?? '' } : undefined,
    connectionTimeout: cfg.timeout,
    greetingTimeout: cfg.timeout,
    socketTimeout: cfg.timeout,
    dnsTimeout: cfg.timeout,
  });
}

export class EmailNotifier implements ConfiguredNotifier {
  readonly type = 'email';
  readonly delivery: DeliveryPolicy;
  private readonly transport: ReturnType<typeof smtpTransport>;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly cfg: EmailNotifierConfig,
    ctx: NotifierBuildContext = {},
  ) {
    this.delivery = deliveryPolicy(cfg);
    const password = readSecret(cfg.password, cfg.password_file, 'password', ctx);
    this.transport = smtpTransport(cfg, password);
  }

  async send(n: Notification, signal: AbortSignal): Promise<void> {
    if (this.closed) throw new NotifyError('notifier is closed', false);
    const attempt = attemptSignal(signal, this.cfg.timeout);
    const firingId = emailMessageId(n.alert.id, 'firing', this.cfg.from);
    try {
      await this.transport.sendMail({
        from: this.cfg.from,
        to: this.cfg.to,
        subject: emailSubject(n, this.cfg.subject_prefix),
        text: emailText(n),
        messageId: emailMessageId(n.alert.id, n.kind, this.cfg.from),
        ...(n.kind === 'resolved' ? { inReplyTo: firingId, references: [firingId] } : {}),
        headers: {
          'X-Tollgate-Event': `alert.${n.kind}`,
          'X-Tollgate-Alert-Id': n.alert.id,
          'X-Tollgate-Rule': n.alert.rule_id,
          'X-Tollgate-Severity': n.alert.severity,
        },
        signal: attempt.signal,
      });
    } catch (err) {
      if (attempt.signal.aborted) throw abortedError(attempt.timedOut(), this.cfg.timeout);
      throw smtpError(err, this.cfg.timeout);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.transport.close();
  }
}

export function createEmailNotifier(name: string, cfg: EmailNotifierConfig, ctx?: NotifierBuildContext): EmailNotifier {
  return new EmailNotifier(name, cfg, ctx);
}
