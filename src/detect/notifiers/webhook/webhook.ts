/**
 * Generic webhook: POST of `{ version: 1, kind, alert, node, link }` as JSON.
 *
 * Headers on every request:
 *   content-type: application/json
 *   x-tollgate-event: alert.firing | alert.resolved
 *   x-tollgate-delivery: <uuid>    one per delivery, the same on its retries
 *   x-tollgate-timestamp: <unix seconds of this attempt>
 *   x-tollgate-signature: sha256=<hex>   only with a `secret`
 *
 * The signature is HMAC-SHA256(secret, "<timestamp>.<raw body>"). Signing the
 * timestamp with the body lets a receiver refuse replays: a captured request
 * re-sent later carries an old timestamp, and changing it breaks the
 * signature. Receivers should check the signature over the raw bytes (before
 * parsing the JSON), refuse timestamps more than a few minutes from their
 * clock, and may use x-tollgate-delivery to drop duplicates of a retried
 * delivery. verifyWebhookSignature() does the first two.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Notification } from '../../types.js';
import { deliveryPolicy, readSecret, type ConfiguredNotifier, type DeliveryPolicy, type NotifierBuildContext } from '../common.js';
import { checkAnswer, HttpPoster, redact } from '../http.js';
import type { WebhookNotifierConfig } from '../schema.js';

export const WEBHOOK_BODY_VERSION = 1;

export interface WebhookBody {
  version: 1;
  kind: Notification['kind'];
  alert: Notification['alert'];
  node: string;
  link: string | null;
}

export function webhookBody(n: Notification): string {
  const body: WebhookBody = { version: WEBHOOK_BODY_VERSION, kind: n.kind, alert: n.alert, node: n.node, link: n.link };
  return JSON.stringify(body);
}

/** "sha256=<hex HMAC-SHA256 of `<timestamp>.<body>`>". */
export function signWebhook(secret: string | Buffer, timestamp: string | number, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

export interface VerifyOptions {
  /** Largest accepted distance between the timestamp and `now`, in seconds. Default 300; Infinity disables the check. */
  toleranceSeconds?: number;
  /** The receiver's clock, in unix seconds. Default: now. */
  now?: number;
}

/**
 * Whether `header` (the x-tollgate-signature value) is the signature of
 * `body` (the raw request body, exactly as received) at `timestamp` (the
 * x-tollgate-timestamp value) under `secret`, and the timestamp is within
 * `toleranceSeconds` of now. Compares in constant time; never throws.
 */
export function verifyWebhookSignature(
  secret: string | Buffer,
  timestamp: string | number | undefined,
  body: string | Buffer,
  header: string | string[] | undefined,
  opts: VerifyOptions = {},
): boolean {
  if (typeof header !== 'string' || timestamp === undefined) return false;
  const ts = String(timestamp);
  if (!/^\d{1,12}$/.test(ts)) return false;
  const tolerance = opts.toleranceSeconds ?? 300;
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(ts)) > tolerance) return false;
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!m) return false;
  const given = Buffer.from(m[1], 'hex');
  const expected = createHmac('sha256', secret).update(`${ts}.`).update(body).digest();
  return timingSafeEqual(given, expected);
}

export class WebhookNotifier implements ConfiguredNotifier {
  readonly type = 'webhook';
  readonly delivery: DeliveryPolicy;
  private readonly http: HttpPoster;
  private readonly secret: string | undefined;
  /** Delivery ids by notification object: retries send the same object again and keep its id. */
  private readonly deliveries = new WeakMap<Notification, string>();

  constructor(
    readonly name: string,
    private readonly cfg: WebhookNotifierConfig,
    ctx: NotifierBuildContext = {},
  ) {
    this.delivery = deliveryPolicy(cfg);
    this.secret = readSecret(cfg.secret, cfg.secret_file, 'secret', ctx);
    this.http = new HttpPoster(cfg.timeout);
  }

  /** The x-tollgate-delivery id of `n`, created on its first attempt. */
  deliveryId(n: Notification): string {
    let id = this.deliveries.get(n);
    if (id === undefined) {
      id = randomUUID();
      this.deliveries.set(n, id);
    }
    return id;
  }

  async send(n: Notification, signal: AbortSignal): Promise<void> {
    const body = webhookBody(n);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      ...this.cfg.headers,
      'content-type': 'application/json',
      'x-tollgate-event': `alert.${n.kind}`,
      'x-tollgate-delivery': this.deliveryId(n),
      'x-tollgate-timestamp': timestamp,
    };
    if (this.secret !== undefined) headers['x-tollgate-signature'] = signWebhook(this.secret, timestamp, body);
    const answer = await this.http.post(this.cfg.url, body, headers, signal);
    checkAnswer(`webhook ${redact(this.cfg.url)}`, answer);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

export function createWebhookNotifier(name: string, cfg: WebhookNotifierConfig, ctx?: NotifierBuildContext): WebhookNotifier {
  return new WebhookNotifier(name, cfg, ctx);
}
