/**
 * Detection rules as configured (YAML, inline in the config or in rules
 * files): what to match, how to group, over which window, which condition
 * fires, when the rule is active, and what it does. Validated with zod so
 * every error comes back with its path; compiled once by rules/compile.ts.
 */
import { z } from 'zod';
import { duration } from '../../config/primitives.js';
import { TimeWindowSchema } from '../../config/access-schema.js';
import { SEVERITIES } from '../types.js';
import { FIELD_NAMES } from '../../core/event.js';

/** A field of the event: a catalog name, or `labels.<k>`, `headers.<k>`, `extra.<k>` inside the JSON maps. */
const FieldName = z
  .string()
  .regex(/^[a-z_]+(\.[A-Za-z0-9_.:-]+)?$/, 'a field is an event field name (e.g. "status") or "labels.<key>", "headers.<key>", "extra.<key>"')
  .refine((f) => {
    const dot = f.indexOf('.');
    return dot === -1 ? (FIELD_NAMES as readonly string[]).includes(f) : ['labels', 'headers', 'extra'].includes(f.slice(0, dot));
  }, 'not an event field (see docs/event-fields.md); keys exist only inside labels, headers and extra')
  .describe('Event field (catalog name), or `labels.<key>`, `headers.<key>` (e.g. `headers.req.user-agent`), `extra.<key>`.');

const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One test on one field. Exactly one operator besides `field`. */
export const FieldTestSchema = z
  .object({
    field: FieldName,
    equals: Scalar.optional().describe('Equal to this value (numbers compare numerically, strings exactly; null = absent).'),
    in: z.array(Scalar).min(1).optional().describe('Equal to one of these values.'),
    prefix: z.string().optional().describe('Starts with this text.'),
    glob: z
      .union([z.string(), z.array(z.string()).min(1)])
      .optional()
      .describe('Matches a glob (`*` any run of characters, `?` one character), or any of a list; case-sensitive.'),
    regex: z.string().optional().describe('Matches this regular expression (JavaScript syntax, unanchored; anchor with ^ and $).'),
    cidr: z.union([z.string(), z.array(z.string()).min(1)]).optional().describe('An IP address inside one of these CIDRs (IPv4 or IPv6).'),
    gt: z.number().optional().describe('Numerically greater than.'),
    gte: z.number().optional().describe('Numerically greater than or equal.'),
    lt: z.number().optional().describe('Numerically less than.'),
    lte: z.number().optional().describe('Numerically less than or equal.'),
    class: z
      .union([z.string(), z.array(z.string()).min(1)])
      .optional()
      .describe('Status class(es): "2xx", "4xx", "5xx", … ("none" = no status).'),
    exists: z.boolean().optional().describe('true: the field has a value; false: it is null.'),
  })
  .strict()
  .superRefine((t, ctx) => {
    const ops = Object.keys(t).filter((k) => k !== 'field' && (t as Record<string, unknown>)[k] !== undefined);
    if (ops.length !== 1) ctx.addIssue({ code: 'custom', message: `a field test takes exactly one operator (equals, in, prefix, glob, regex, cidr, gt, gte, lt, lte, class, exists); got ${ops.length ? ops.join(', ') : 'none'}` });
    if (t.regex !== undefined) {
      try {
        new RegExp(t.regex);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['regex'], message: `invalid regular expression: ${(err as Error).message}` });
      }
    }
    const classes = t.class === undefined ? [] : Array.isArray(t.class) ? t.class : [t.class];
    for (const c of classes) if (!/^([1-5]xx|none)$/.test(c)) ctx.addIssue({ code: 'custom', path: ['class'], message: `"${c}" is not a status class ("1xx".."5xx" or "none")` });
  });

export type FieldTest = z.output<typeof FieldTestSchema>;
export type Predicate = FieldTest | { all: Predicate[] } | { any: Predicate[] } | { not: Predicate };

// One union object that refers to itself (through z.lazy), so walkers such as the docs generator see a cycle, not an endless tree.
export const PredicateSchema: z.ZodType<Predicate> = z.lazy(() => predicateUnion).meta({ id: 'predicate' });
const predicateUnion: z.ZodType<Predicate> = z.union([
  z.object({ all: z.array(PredicateSchema).min(1).describe('Every one matches.') }).strict(),
  z.object({ any: z.array(PredicateSchema).min(1).describe('At least one matches.') }).strict(),
  z.object({ not: PredicateSchema.describe('Does not match.') }).strict(),
  FieldTestSchema,
]).meta({ id: 'predicate_node', description: 'A field test, or all/any/not of predicates (docs/detection.md).' });

const Threshold = z.number().min(0).describe('The value at or above which the condition is met.');
const Op = z.enum(['>=', '>']).default('>=').describe('How the value compares with the threshold.');
const Where = PredicateSchema.optional().describe('Counts only the matched events that also match this (the rest still keep the group alive).');
const MinCount = z.number().int().min(0).default(0).describe('Fewest matched events in the window before the condition is evaluated (guards against small samples).');

export const ConditionSchema = z.discriminatedUnion('type', [
  z
    .object({ type: z.literal('count').describe('Number of matching events in the window.'), threshold: Threshold, op: Op, where: Where })
    .strict(),
  z
    .object({ type: z.literal('rate').describe('Matching events per second, averaged over the window.'), threshold: Threshold, op: Op, where: Where })
    .strict(),
  z
    .object({
      type: z.literal('distinct').describe('Number of distinct values of `field` among matching events in the window.'),
      field: FieldName,
      threshold: Threshold,
      op: Op,
      where: Where,
      max_values: z.number().int().min(1).default(10_000).describe('Distinct values tracked per group at most; beyond it the oldest are forgotten (counted).'),
    })
    .strict(),
  z
    .object({
      type: z.literal('ratio').describe('Share (0..1) of the matched events that also match `of`, e.g. the 5xx share of an upstream.'),
      of: PredicateSchema.describe('The numerator: matched events that also match this.'),
      threshold: z.number().min(0).max(1).describe('The share at or above which the condition is met.'),
      op: Op,
      min_count: MinCount,
    })
    .strict(),
  z
    .object({
      type: z.literal('percentile').describe('A latency percentile of a numeric field over the window (log-scale histogram, ~5% relative error).'),
      field: FieldName.default('duration_ms'),
      percentile: z.number().gt(0).lt(100).default(95).describe('Which percentile, e.g. 95 or 99.9.'),
      threshold: Threshold,
      op: Op,
      min_count: MinCount,
    })
    .strict(),
  z
    .object({
      type: z.literal('baseline').describe('The count in the window against the count learned for the same hour of the week (EWMA over past weeks).'),
      factor: z.number().gt(0).default(3).describe('Fires when the count reaches `factor` × the learned count for the window.'),
      min_count: MinCount.describe('Fewest events in the window before it can fire, so a quiet hour going from 1 to 4 does not.'),
      min_weeks: z.number().int().min(1).default(1).describe('Weeks of history needed for an hour-of-week slot before it is trusted.'),
      tz: z.string().default('UTC').describe('Time zone in which hours of the week are counted.'),
    })
    .strict(),
]);

export type ConditionConfig = z.output<typeof ConditionSchema>;

export const ActionSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('alert').describe('Records the alert and sends it to notifiers.'),
      notifiers: z.array(z.string()).optional().describe('Names from `detect.notifiers`; absent = `detect.default_notifiers`.'),
    })
    .strict(),
  z
    .object({
      type: z.literal('block').describe('Blocks the offender (403, decision block) through the dynamic blocks.'),
      target: z.enum(['client_ip', 'user_id']).default('client_ip').describe('What to block: the group\'s client IP or user.'),
      duration: duration('How long the block lasts.').prefault('10m'),
    })
    .strict(),
  z
    .object({
      type: z.literal('tag').describe('Adds a label to the group\'s subsequent events, e.g. to find everything a prober did next.'),
      label: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a label name is 1-64 characters of A-Z a-z 0-9 _ . -').describe('Label name.'),
      value: z.string().max(256).optional().describe('Label value; absent = the rule id.'),
      duration: duration('How long the label is added.').prefault('1h'),
    })
    .strict(),
]);
export type ActionConfig = z.output<typeof ActionSchema>;

export const ScheduleSchema = z
  .object({
    inside: TimeWindowSchema.optional().describe('Active only inside this window (event time).'),
    outside: TimeWindowSchema.optional().describe('Active only outside this window (event time).'),
  })
  .strict()
  .refine((s) => (s.inside === undefined) !== (s.outside === undefined), 'give exactly one of `inside` or `outside`');

export const RuleSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'a rule id is 1-64 characters of a-z 0-9 _ . - (starting with a letter or digit)').describe('Stable id; alerts, shadow counts and `rule:<id>` blocks refer to it.'),
    description: z.string().default('').describe('One line for humans; becomes the alert summary.'),
    enabled: z.boolean().default(true).describe('false: the rule is loaded and validated but not evaluated.'),
    severity: z.enum(SEVERITIES as [string, ...string[]]).default('medium').describe('info, low, medium, high or critical.'),
    labels: z.record(z.string(), z.string()).default({}).describe('Copied onto the alert (and to notifiers, e.g. Alertmanager labels).'),
    match: PredicateSchema.optional().describe('Which events the rule sees; absent = all (admin API events are never evaluated).'),
    group_by: z.array(FieldName).default([]).describe('Fields whose values make a group; each group has its own window. Events with a null group field are skipped.'),
    window: duration('Sliding window length (seconds to hours).').prefault('1m'),
    condition: ConditionSchema.describe('When the rule fires: count, rate, distinct, ratio, percentile or baseline (docs/detection.md).'),
    history: z
      .object({
        window: duration('How far back the history reaches.').prefault('7d'),
        where: PredicateSchema.describe('The events that count as history, e.g. successful requests.'),
        min_count: z.number().int().min(1).describe('Fewest history events the group needs before the rule may fire.'),
      })
      .strict()
      .optional()
      .describe('Fires only for groups with a history, e.g. "a user who normally succeeds".'),
    schedule: ScheduleSchema.optional().describe('Active only inside or outside a window of days and hours in a time zone.'),
    dedup_key: z
      .string()
      .optional()
      .describe('Template of the key that makes alerts "the same": `{rule_id}` and `{<group field>}` are replaced. Default: the rule id and the group values.'),
    cooldown: duration('After an alert resolves, the same dedup key does not fire again for this long.').prefault('5m'),
    resolve_after: duration('The condition must stay clear this long before the alert resolves.').prefault('0s'),
    shadow: z.boolean().default(false).describe('Dry run: evaluated and recorded (alerts marked shadow, hit counts), no actions.'),
    actions: z.array(ActionSchema).default([{ type: 'alert' }]).describe('What the rule does when it fires.'),
    max_groups: z.number().int().min(1).optional().describe('Most groups tracked at once (least recently seen evicted and counted); default `detect.max_groups`.'),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.window < 1000) ctx.addIssue({ code: 'custom', path: ['window'], message: 'a window is at least 1s' });
    if (r.window > 7 * 86_400_000) ctx.addIssue({ code: 'custom', path: ['window'], message: 'a window is at most 7d' });
    if (r.dedup_key) {
      for (const m of r.dedup_key.matchAll(/\{([^}]*)\}/g)) {
        if (m[1] !== 'rule_id' && !r.group_by.includes(m[1])) ctx.addIssue({ code: 'custom', path: ['dedup_key'], message: `{${m[1]}} is neither {rule_id} nor a group_by field` });
      }
    }
    for (const [i, a] of r.actions.entries()) {
      if (a.type === 'block' && !r.group_by.includes(a.target)) ctx.addIssue({ code: 'custom', path: ['actions', i, 'target'], message: `block target ${a.target} must be one of the rule's group_by fields` });
    }
    if (r.actions.some((a) => a.type === 'tag') && !r.group_by.length) ctx.addIssue({ code: 'custom', path: ['actions'], message: 'a tag action needs group_by (it labels the group\'s events)' });
  });

export type RuleConfig = z.output<typeof RuleSchema>;

export const RulesFileSchema = z
  .object({ rules: z.array(RuleSchema).default([]).describe('Detection rules.') })
  .strict();

/** Per built-in rule: off, or overrides merged into its definition (e.g. a threshold, shadow, actions). */
const BuiltinOverride = z.union([z.literal(false), z.record(z.string(), z.unknown())]);

export const BuiltinSchema = z
  .object({
    enabled: z.boolean().default(true).describe('The built-in rule pack (docs/detection.md) is on by default.'),
    login_paths: z
      .array(z.string())
      .default(['/login', '/login/*', '/signin', '/signin/*', '/auth/*', '/oauth/token', '/api/*/login', '/api/*/auth/*', '/session', '/sessions'])
      .describe('Path globs of login endpoints, for the failed-login and credential-stuffing rules.'),
    business_hours: TimeWindowSchema.prefault({ days: ['mon-fri'], hours: '08:00-18:00' }).describe('Business hours for the off-hours spike rule.'),
    rules: z
      .record(z.string(), BuiltinOverride)
      .default({})
      .describe('Per built-in rule id: `false` to turn it off, or fields to override (threshold via `condition`, `shadow`, `actions`, …).'),
  })
  .strict();
