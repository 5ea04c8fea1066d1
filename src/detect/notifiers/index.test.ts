import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { buildNotifiers, closeNotifiers, NotifiersSchema, NotifierSchema, NOTIFIER_TYPES } from './index.js';

const YAML = `
ops-webhook:
  type: webhook
  url: https://hooks.example.com/tollgate
  headers: { authorization: "Bearer abc" }
  secret_file: webhook.secret
team_slack:
  type: slack
  webhook_url: https://hooks.slack.com/services/T000/B000/XXXX
  retries: 3
oncall:
  type: pagerduty
  routing_key_file: pd.key
  timeout: 5s
am:
  type: alertmanager
  url: http://127.0.0.1:9093
  max_backoff: 30s
mail:
  type: email
  host: smtp.example.com
  port: 587
  starttls: require
  username: tollgate
  password_file: smtp.password
  from: Tollgate <tollgate@example.com>
  to: [secops@example.com]
`;

test('a YAML config parses, builds one notifier per name with its delivery settings', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-notifiers-'));
  try {
    writeFileSync(join(dir, 'webhook.secret'), 'whsec\n');
    writeFileSync(join(dir, 'pd.key'), 'R0UTINGKEY\n');
    writeFileSync(join(dir, 'smtp.password'), 'pw\n');
    const cfg = NotifiersSchema.parse(parseYaml(YAML));
    const built = buildNotifiers(cfg, { baseDir: dir });
    assert.deepEqual(
      [...built].map(([name, n]) => [name, n.name, n.type]),
      [
        ['ops-webhook', 'ops-webhook', 'webhook'],
        ['team_slack', 'team_slack', 'slack'],
        ['oncall', 'oncall', 'pagerduty'],
        ['am', 'am', 'alertmanager'],
        ['mail', 'mail', 'email'],
      ],
    );
    assert.deepEqual(built.get('ops-webhook')!.delivery, { timeoutMs: 10_000, retries: 5, backoffMs: 1000, maxBackoffMs: 60_000 });
    assert.equal(built.get('team_slack')!.delivery.retries, 3);
    assert.equal(built.get('oncall')!.delivery.timeoutMs, 5000);
    assert.equal(built.get('am')!.delivery.maxBackoffMs, 30_000);
    await closeNotifiers(built);
    await closeNotifiers(built);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a notifier that cannot be built fails the whole build, naming it', () => {
  const cfg = NotifiersSchema.parse({
    good: { type: 'alertmanager', url: 'http://127.0.0.1:9093' },
    bad: { type: 'pagerduty', routing_key_file: '/nonexistent/tollgate/pd.key' },
  });
  assert.throws(() => buildNotifiers(cfg), /notifier "bad" \(pagerduty\): routing_key_file: cannot read \/nonexistent\/tollgate\/pd\.key: ENOENT/);
});

test('names and types are validated', () => {
  assert.equal(NotifiersSchema.safeParse({ 'has space': { type: 'alertmanager', url: 'http://a.example' } }).success, false);
  assert.equal(NotifiersSchema.safeParse({ 'é': { type: 'alertmanager', url: 'http://a.example' } }).success, false);
  assert.equal(NotifiersSchema.safeParse({ ok_Name_1: { type: 'sms', url: 'http://a.example' } }).success, false);
  assert.deepEqual(NotifiersSchema.parse(undefined), {});
  const r = NotifiersSchema.safeParse({ x: { type: 'alertmanager', url: 'gopher://a.example' } });
  assert.equal(r.success, false);
  assert.match(JSON.stringify(r.error?.issues), /http:\/\/ or https:\/\//);
});

test('every field of every notifier type has a description (the docs are generated from them)', () => {
  const json = z.toJSONSchema(NotifierSchema, { io: 'input', unrepresentable: 'any', reused: 'inline' }) as { anyOf?: { properties: Record<string, { description?: string }> }[]; oneOf?: { properties: Record<string, { description?: string }> }[] };
  const variants = json.oneOf ?? json.anyOf ?? [];
  assert.equal(variants.length, NOTIFIER_TYPES.length);
  for (const v of variants) {
    for (const [k, p] of Object.entries(v.properties)) assert.ok(p.description && p.description.length > 10, `${JSON.stringify(v.properties.type)}.${k} has no description`);
  }
});
