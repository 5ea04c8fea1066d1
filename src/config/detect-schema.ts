/** The `detect` section: rules, the built-in pack, notifiers and where alerts are kept. */
import { z } from 'zod';
import { duration } from './primitives.js';
import { BuiltinSchema, RuleSchema } from '../detect/rules/schema.js';
import { NotifiersSchema } from '../detect/notifiers/schema.js';

export const DetectSchema = z
  .object({
    enabled: z.boolean().default(true).describe('Evaluate detection rules over the live event stream.'),
    builtin: BuiltinSchema.prefault({}).describe('The built-in rule pack and its settings (docs/detection.md).'),
    rules: z.array(RuleSchema).default([]).describe('Detection rules inline (see docs/detection.md for the rule language).'),
    rules_files: z
      .array(z.string())
      .default([])
      .describe('YAML files of rules (`rules: [...]`), relative to the working directory; re-read on reload, and a broken file refuses the reload.'),
    notifiers: NotifiersSchema.default({}).describe('Where alerts are sent, by name (docs/notifiers.md).'),
    default_notifiers: z.array(z.string()).default([]).describe('Notifiers of `alert` actions that name none (the built-in rules use these).'),
    max_groups: z.number().int().min(1).default(10_000).describe('Groups tracked per rule unless the rule sets `max_groups`; the least recently seen is evicted (counted in /api/v1/rules).'),
    poll_interval: duration('How often the spool is read for new events to evaluate.').prefault('100ms'),
    state_file: z.string().default('./data/detect-state.json').describe('Where the evaluation position in the spool and learned baselines are kept across restarts.'),
    alerts_file: z.string().default('./data/alerts.ndjson').describe('Where alerts (firing, resolved, acknowledged, notified) are kept.'),
    alerts_retention_days: z.number().min(0).default(90).describe('Resolved alerts older than this are forgotten (0 = keep).'),
  })
  .strict();

export type DetectConfig = z.output<typeof DetectSchema>;
