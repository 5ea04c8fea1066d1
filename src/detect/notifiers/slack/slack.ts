/**
 * Slack incoming webhook: a message with a plain `text` (what notifications
 * and old clients show) and Block Kit `blocks`: a header with the state, the
 * rule's summary, the facts as fields (rule, severity, status, group, value
 * against threshold, window), a context line (node, times, link) and the
 * actions the rule took. Slack answers 200 "ok"; 4xx (invalid_payload,
 * no_service, channel_is_archived…) are not retried, 429 and 5xx are.
 *
 * Limits respected: header text ≤ 150 characters, section text ≤ 3000,
 * field text ≤ 2000, at most 10 fields, context text ≤ 2000.
 */
import type { Notification } from '../../types.js';
import { deliveryPolicy, evidenceText, groupText, headline, num, readSecret, truncate, windowText, type ConfiguredNotifier, type DeliveryPolicy, type NotifierBuildContext } from '../common.js';
import { checkAnswer, HttpPoster } from '../http.js';
import type { SlackNotifierConfig } from '../schema.js';

/** Slack mrkdwn needs only these three escaped (https://api.slack.com/reference/surfaces/formatting#escaping). */
export function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

type Text = { type: 'plain_text'; text: string; emoji?: boolean } | { type: 'mrkdwn'; text: string };
export type SlackBlock =
  | { type: 'header'; text: Text }
  | { type: 'section'; text?: Text; fields?: Text[] }
  | { type: 'context'; elements: Text[] }
  | { type: 'divider' };

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

const md = (text: string, max = 2000): Text => ({ type: 'mrkdwn', text: truncate(text, max) });
const field = (label: string, value: string): Text => md(`*${label}*\n${slackEscape(value)}`);

export function slackMessage(n: Notification): SlackMessage {
  const a = n.alert;
  const firing = n.kind === 'firing';
  const e = a.evidence;
  const group = groupText(a.group) || '(none)';
  const fields: Text[] = [
    field('Rule', a.rule_id),
    field('Severity', a.severity),
    field('Status', firing ? 'firing' : 'resolved'),
    field('Group', group),
    field('Value', `${num(e.value)} ${e.op} ${num(e.threshold)} (${e.condition})`),
    field('Window', `${windowText(e.window_seconds)}, ${e.count} matching events`),
  ];
  const context = [`node ${slackEscape(n.node)}`, `started ${slackEscape(a.started_at)}`];
  if (!firing && a.resolved_at) context.push(`resolved ${slackEscape(a.resolved_at)}`);
  if (n.link) context.push(`<${n.link.replace(/[<>|]/g, encodeURIComponent)}|open in Tollgate>`);
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(`${firing ? ':rotating_light:' : ':white_check_mark:'} ${headline(n)}`, 150), emoji: true } },
    { type: 'section', text: md(`${firing ? '' : '*Resolved:* '}${slackEscape(a.summary)}`, 3000) },
    { type: 'section', fields },
    { type: 'context', elements: [md(context.join(' · '))] },
  ];
  if (a.actions.length) blocks.push({ type: 'section', text: md(`*Actions taken*\n${a.actions.map((x) => `• ${slackEscape(x)}`).join('\n')}`, 3000) });
  const text = `${firing ? 'FIRING' : 'RESOLVED'} ${a.severity}: ${a.rule_id}${groupText(a.group) ? ` ${groupText(a.group)}` : ''} — ${a.summary} (${evidenceText(e)})`;
  return { text: truncate(slackEscape(text), 3000), blocks };
}

export class SlackNotifier implements ConfiguredNotifier {
  readonly type = 'slack';
  readonly delivery: DeliveryPolicy;
  private readonly url: string;
  private readonly http: HttpPoster;

  constructor(
    readonly name: string,
    cfg: SlackNotifierConfig,
    ctx: NotifierBuildContext = {},
  ) {
    this.delivery = deliveryPolicy(cfg);
    const url = readSecret(cfg.webhook_url, cfg.webhook_url_file, 'webhook_url', ctx);
    if (url === undefined) throw new Error('`webhook_url` (or `webhook_url_file`) is required');
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error('webhook_url is not a valid URL');
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error('webhook_url must be an http:// or https:// URL');
    this.url = url;
    this.http = new HttpPoster(cfg.timeout);
  }

  async send(n: Notification, signal: AbortSignal): Promise<void> {
    // The webhook URL is the secret itself: it never appears in an error message.
    const what = `Slack webhook of notifier "${this.name}"`;
    const answer = await this.http.post(this.url, JSON.stringify(slackMessage(n)), { 'content-type': 'application/json; charset=utf-8' }, signal, what);
    checkAnswer(what, answer);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

export function createSlackNotifier(name: string, cfg: SlackNotifierConfig, ctx?: NotifierBuildContext): SlackNotifier {
  return new SlackNotifier(name, cfg, ctx);
}
