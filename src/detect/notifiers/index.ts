/**
 * Builds the configured notifiers, by name. Construction is synchronous and
 * fails fast on configuration mistakes (an unreadable or empty `*_file`, an
 * invalid Slack URL read from a file), closing whatever was already built, so
 * a bad reload is refused before anything is swapped in. Receivers are only
 * contacted when something is sent.
 */
import type { Notifier } from '../types.js';
import type { ConfiguredNotifier, NotifierBuildContext } from './common.js';
import type { NotifierConfig, NotifiersConfig } from './schema.js';
import { createAlertmanagerNotifier } from './alertmanager/alertmanager.js';
import { createEmailNotifier } from './email/email.js';
import { createPagerDutyNotifier } from './pagerduty/pagerduty.js';
import { createSlackNotifier } from './slack/slack.js';
import { createWebhookNotifier } from './webhook/webhook.js';

export { NotifierDispatcher, backoffDelay, type DispatcherOptions, type NotifierStats } from './dispatcher.js';
export { verifyWebhookSignature, signWebhook } from './webhook/webhook.js';
export { DEFAULT_DELIVERY, DeliveryError, type ConfiguredNotifier, type DeliveryPolicy, type NotifierBuildContext } from './common.js';
export * from './schema.js';

export function buildNotifier(name: string, cfg: NotifierConfig, ctx: NotifierBuildContext = {}): ConfiguredNotifier {
  switch (cfg.type) {
    case 'webhook':
      return createWebhookNotifier(name, cfg, ctx);
    case 'slack':
      return createSlackNotifier(name, cfg, ctx);
    case 'pagerduty':
      return createPagerDutyNotifier(name, cfg, ctx);
    case 'alertmanager':
      return createAlertmanagerNotifier(name, cfg);
    case 'email':
      return createEmailNotifier(name, cfg, ctx);
    default: {
      const never: never = cfg;
      throw new Error(`unknown notifier type ${JSON.stringify((never as { type: unknown }).type)}`);
    }
  }
}

/**
 * Every configured notifier by name. Throws (after closing those already
 * built) when one cannot be built; the message names the notifier.
 * Relative `*_file` paths are resolved against `ctx.baseDir` (default: the
 * working directory).
 */
export function buildNotifiers(config: NotifiersConfig, ctx: NotifierBuildContext = {}): Map<string, ConfiguredNotifier> {
  const built = new Map<string, ConfiguredNotifier>();
  try {
    for (const [name, cfg] of Object.entries(config)) {
      try {
        built.set(name, buildNotifier(name, cfg, ctx));
      } catch (err) {
        throw new Error(`notifier "${name}" (${cfg.type}): ${(err as Error).message}`, { cause: err });
      }
    }
  } catch (err) {
    void closeNotifiers(built);
    throw err;
  }
  return built;
}

/** Closes every notifier (their connection pools); never rejects. */
export async function closeNotifiers(notifiers: ReadonlyMap<string, Notifier>): Promise<void> {
  await Promise.all(
    [...notifiers.values()].map(async (n) => {
      try {
        await n.close?.();
      } catch {
        // Closing is best effort: a notifier's connections die with it anyway.
      }
    }),
  );
}
