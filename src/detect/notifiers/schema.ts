/**
 * Configuration of the alert notifiers: named destinations that detection
 * rules send their alerts to. Every notifier has the same delivery settings
 * (timeout, retries, backoff); each type adds where and how to deliver.
 *
 * Secrets (`secret`, `routing_key`, `password`, Slack's `webhook_url`) can be
 * given inline or as `<field>_file`: a file read when the notifiers are built,
 * its content trimmed, so that the secret itself stays out of the config file.
 * Exactly one of the two may be set.
 */
import { z } from 'zod';
import { duration } from '../../config/primitives.js';

export const NOTIFIER_NAME_RE = /^[a-z0-9_-]+$/i;

const httpUrl = () => z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });

/** An e-mail address, bare ("ops@example.com") or with a display name ("Ops <ops@example.com>"). */
const ADDRESS_RE = /^(?:[^<>\r\n]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/;
const address = (description: string) => z.string().regex(ADDRESS_RE, 'expected an e-mail address, e.g. "ops@example.com" or "Ops <ops@example.com>"').describe(description);

/** Header names set by the webhook notifier itself, which configured headers may not replace. */
export const WEBHOOK_RESERVED_HEADERS = ['content-type', 'content-length', 'host', 'transfer-encoding', 'connection'];
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Delivery settings shared by every notifier type. */
const common = {
  timeout: duration('Time allowed for one delivery attempt (connect, send, answer). An attempt that takes longer is abandoned and counts as a retryable failure.').prefault('10s'),
  retries: z
    .number()
    .int()
    .min(0)
    .max(100)
    .default(5)
    .describe('Attempts after the first when a delivery fails in a way that can be retried (network errors, timeouts, 408, 429, 5xx, SMTP 4xx). Refusals (other 4xx, SMTP 5xx) are never retried.'),
  backoff: duration('Wait before the first retry; it doubles for each further retry (with a little random jitter).').prefault('1s'),
  max_backoff: duration('Upper bound of the wait between two attempts (also caps a `Retry-After` asked for by the receiver).').prefault('60s'),
};

/** `field` inline or `field_file`: at most one of them (`required`: exactly one). */
function secretPair<T extends Record<string, unknown>>(v: T, ctx: z.RefinementCtx, field: string, required: boolean): void {
  const inline = v[field];
  const file = v[`${field}_file`];
  if (inline !== undefined && file !== undefined) ctx.addIssue({ code: 'custom', path: [`${field}_file`], message: `set either \`${field}\` or \`${field}_file\`, not both` });
  else if (required && inline === undefined && file === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `\`${field}\` (or \`${field}_file\`) is required` });
}

const secretFile = (field: string) =>
  z.string().min(1).optional().describe(`File holding \`${field}\` (read when the notifiers are built, surrounding whitespace trimmed). Alternative to \`${field}\`.`);

export const WebhookNotifierSchema = z
  .object({
    type: z.literal('webhook').describe('POST of a JSON document `{version, kind, alert, node, link}` to `url`, optionally signed with HMAC-SHA256.'),
    url: httpUrl().describe('Receiver URL (http or https). Redirects are not followed.'),
    headers: z
      .record(z.string().regex(HEADER_NAME_RE, 'invalid header name'), z.string())
      .default({})
      .describe('Extra request headers (e.g. an `authorization` header for the receiver). They cannot replace `content-type` or the `x-tollgate-*` headers.'),
    secret: z.string().min(1).optional().describe('HMAC key: when set, each request carries `x-tollgate-signature: sha256=<hex HMAC-SHA256 of "<x-tollgate-timestamp>.<raw body>">`.'),
    secret_file: secretFile('secret'),
    ...common,
  })
  .strict()
  .superRefine((v, ctx) => {
    secretPair(v, ctx, 'secret', false);
    for (const name of Object.keys(v.headers)) {
      const lower = name.toLowerCase();
      if (WEBHOOK_RESERVED_HEADERS.includes(lower) || lower.startsWith('x-tollgate-')) {
        ctx.addIssue({ code: 'custom', path: ['headers', name], message: `header "${name}" is set by the webhook notifier and cannot be configured` });
      }
    }
  });

export const SlackNotifierSchema = z
  .object({
    type: z.literal('slack').describe('A Slack incoming-webhook message (`text` plus Block Kit `blocks`).'),
    webhook_url: httpUrl().optional().describe('The incoming webhook URL Slack gave (https://hooks.slack.com/services/…). It is a secret: prefer `webhook_url_file` or `${ENV}`.'),
    webhook_url_file: secretFile('webhook_url'),
    ...common,
  })
  .strict()
  .superRefine((v, ctx) => secretPair(v, ctx, 'webhook_url', true));

export const PagerDutyNotifierSchema = z
  .object({
    type: z.literal('pagerduty').describe('PagerDuty Events API v2: firing alerts trigger an incident, resolved ones resolve it (same `dedup_key`).'),
    routing_key: z.string().min(1).optional().describe('Integration (routing) key of the PagerDuty service.'),
    routing_key_file: secretFile('routing_key'),
    url: httpUrl().default('https://events.pagerduty.com/v2/enqueue').describe('Events API endpoint (overridable for tests or a proxy).'),
    ...common,
  })
  .strict()
  .superRefine((v, ctx) => secretPair(v, ctx, 'routing_key', true));

export const AlertmanagerNotifierSchema = z
  .object({
    type: z.literal('alertmanager').describe('Posts alerts to a Prometheus Alertmanager (`POST <url>/api/v2/alerts`), which then groups, silences and routes them.'),
    url: httpUrl().describe('Base URL of the Alertmanager, e.g. "http://127.0.0.1:9093" (include its `--web.route-prefix`, if any).'),
    ends_after: duration(
      'When non-zero, a firing alert is sent with `endsAt` = now + this, so that Alertmanager resolves it by itself if the resolution is never delivered. 0 sends no `endsAt`: Alertmanager then applies its own `resolve_timeout` (5m by default); Tollgate re-sends firing alerts every minute, so that only ends an alert when Tollgate stops sending.',
    ).prefault('0'),
    ...common,
  })
  .strict();

export const EmailNotifierSchema = z
  .object({
    type: z.literal('email').describe('A plain-text e-mail through an SMTP server.'),
    host: z.string().min(1).describe('SMTP server host name or address.'),
    port: z.number().int().min(1).max(65535).default(25).describe('SMTP server port (25, 587 for submission with STARTTLS, 465 with `secure: true`).'),
    secure: z.boolean().default(false).describe('Implicit TLS from the first byte (SMTPS, usually port 465). When false, `starttls` decides about upgrading.'),
    starttls: z
      .enum(['auto', 'require', 'never'])
      .default('auto')
      .describe('STARTTLS on a plain connection: `auto` upgrades when the server offers it, `require` fails when it does not, `never` stays in plain text. Ignored with `secure: true`.'),
    username: z.string().min(1).optional().describe('SMTP AUTH user name (AUTH is only used when set).'),
    password: z.string().min(1).optional().describe('SMTP AUTH password.'),
    password_file: secretFile('password'),
    from: address('Sender address (`From:` and the envelope sender).'),
    to: z.array(address('A recipient address.')).min(1).describe('Recipient addresses (at least one).'),
    subject_prefix: z.string().default('[tollgate]').describe('Put in front of every subject, e.g. "[tollgate] FIRING high: failed-login-surge client_ip=203.0.113.9".'),
    ...common,
  })
  .strict()
  .superRefine((v, ctx) => {
    secretPair(v, ctx, 'password', false);
    const hasPassword = v.password !== undefined || v.password_file !== undefined;
    if (hasPassword && v.username === undefined) ctx.addIssue({ code: 'custom', path: ['username'], message: '`password` needs a `username`' });
    if (!hasPassword && v.username !== undefined) ctx.addIssue({ code: 'custom', path: ['password'], message: '`username` needs a `password` (or `password_file`)' });
  });

export const NotifierSchema = z
  .discriminatedUnion('type', [WebhookNotifierSchema, SlackNotifierSchema, PagerDutyNotifierSchema, AlertmanagerNotifierSchema, EmailNotifierSchema])
  .describe('One alert destination; `type` selects the kind.');

export const NotifiersSchema = z
  .record(z.string().regex(NOTIFIER_NAME_RE, 'notifier names are letters, digits, "_" and "-"'), NotifierSchema)
  .default({})
  .describe('Alert destinations by name; detection rules refer to them by this name.');

export type WebhookNotifierConfig = z.output<typeof WebhookNotifierSchema>;
export type SlackNotifierConfig = z.output<typeof SlackNotifierSchema>;
export type PagerDutyNotifierConfig = z.output<typeof PagerDutyNotifierSchema>;
export type AlertmanagerNotifierConfig = z.output<typeof AlertmanagerNotifierSchema>;
export type EmailNotifierConfig = z.output<typeof EmailNotifierSchema>;
export type NotifierConfig = z.output<typeof NotifierSchema>;
export type NotifierType = NotifierConfig['type'];
export type NotifiersConfig = z.output<typeof NotifiersSchema>;

export const NOTIFIER_TYPES: readonly NotifierType[] = ['webhook', 'slack', 'pagerduty', 'alertmanager', 'email'];
