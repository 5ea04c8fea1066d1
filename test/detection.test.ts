/**
 * Detection end to end, through a running Tollgate with real sockets:
 * a scripted burst of failed logins from one client raises the alert within
 * its window, reaches a local webhook receiver with a valid signature, and
 * blocks the client (403) for the block's duration, after which it is
 * allowed again; a scan of restricted and missing paths raises the probing
 * alert; a spike at 03:00 in the configured zone raises the off-hours alert
 * while the same rate at 11:00 does not; a backtest over the stored history
 * gives the alerts the live run raised; and a bad rules file refuses a
 * reload with its file, path and line.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { startBackend, startTollgate, merge, get, sleep, adminFetch, waitFor, CLI, TEST_ADMIN_TOKEN, type Backend, type TestNode, type ConfigObject } from './helpers.js';
import { verifyWebhookSignature } from '../src/detect/notifiers/index.js';
import type { Alert } from '../src/detect/types.js';
import type { RuleState } from '../src/detect/engine.js';

const run = promisify(execFile);
const SECRET = 'webhook-secret-for-tests';

interface Delivery {
  headers: http.IncomingHttpHeaders;
  body: string;
}

let backend: Backend;
let hook: http.Server;
let hookUrl: string;
const deliveries: Delivery[] = [];

before(async () => {
  // The application: POST /login always fails (wrong password), /admin* is forbidden, the rest is fine.
  backend = await startBackend((req, res) => {
    if (req.url?.startsWith('/login')) res.writeHead(401, { 'content-type': 'text/plain' }).end('wrong password');
    else if (req.url?.startsWith('/admin')) res.writeHead(403).end('forbidden');
    else if (req.url?.startsWith('/missing')) res.writeHead(404).end('not found');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  hook = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/alerts`;
});

after(async () => {
  await backend.close();
  await new Promise<void>((r) => hook.close(() => r()));
});

function detectConfig(extra: ConfigObject = {}): (c: ConfigObject) => ConfigObject {
  return (c) =>
    merge(c, {
      proxy: { trusted_proxies: ['127.0.0.1/32'] },
      detect: merge(
        {
          poll_interval: '20ms',
          notifiers: { sec: { type: 'webhook', url: hookUrl, secret: SECRET, retries: 2, backoff: '50ms' } },
          default_notifiers: ['sec'],
        },
        extra,
      ),
    });
}

/** A request as if from `ip` (Tollgate trusts 127.0.0.1 as a proxy). */
function from(ip: string, url: string, method = 'GET') {
  return get(url, { method, headers: { 'x-forwarded-for': ip } });
}

async function alerts(tg: TestNode, q: Record<string, string> = {}): Promise<Alert[]> {
  const res = await adminFetch(`${tg.admin}/api/v1/alerts?${new URLSearchParams(q).toString()}`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { alerts: Alert[] }).alerts;
}

test('failed-login burst: alert within the window, signed webhook, block for its duration, then allowed again; probing alert; backtest agrees', async () => {
  const tg = await startTollgate(
    { app: [backend.address] },
    detectConfig({
      builtin: {
        rules: {
          'failed-login-surge': { window: '30s', condition: { threshold: 5 }, actions: [{ type: 'alert' }, { type: 'block', target: 'client_ip', duration: '3s' }, { type: 'tag', label: 'suspect', duration: '1m' }] },
        },
      },
    }),
  );
  try {
    const attacker = '203.0.113.66';
    const bystander = '198.51.100.20';
    const started = Date.now();
    // Ordinary traffic first: a bystander's typo and normal pages.
    assert.equal((await from(bystander, `${tg.proxy}/login`, 'POST')).status, 401);
    for (let i = 0; i < 3; i++) assert.equal((await from(bystander, `${tg.proxy}/shop/${i}`)).status, 200);
    // Four failures: below the threshold.
    for (let i = 0; i < 4; i++) assert.equal((await from(attacker, `${tg.proxy}/login`, 'POST')).status, 401);
    await sleep(300);
    assert.equal((await alerts(tg, { rule_id: 'failed-login-surge' })).length, 0, 'four failures raise nothing');
    // The fifth.
    assert.equal((await from(attacker, `${tg.proxy}/login`, 'POST')).status, 401);
    const [alert] = await waitFor(async () => {
      const a = await alerts(tg, { rule_id: 'failed-login-surge' });
      return a.length ? a : null;
    }, 'the failed-login alert');
    assert.equal(alert.status, 'firing');
    assert.deepEqual(alert.group, { client_ip: attacker });
    assert.equal(alert.evidence.value, 5);
    assert.equal(alert.evidence.sample_event_ids.length, 5);
    assert.ok(Date.parse(alert.started_at) - started < 30_000, 'within the window');
    assert.deepEqual(alert.actions.slice(0, 1), [`block ip ${attacker} for 3s`]);

    // The webhook got it, signed.
    const d = await waitFor(() => deliveries.find((x) => x.headers['x-tollgate-event'] === 'alert.firing' && x.body.includes(alert.id)), 'the webhook delivery');
    const ts = d.headers['x-tollgate-timestamp'] as string;
    assert.equal(verifyWebhookSignature(SECRET, ts, d.body, d.headers['x-tollgate-signature'] as string), true, 'valid signature');
    assert.equal(verifyWebhookSignature('wrong-secret', ts, d.body, d.headers['x-tollgate-signature'] as string), false);
    const payload = JSON.parse(d.body) as { kind: string; alert: Alert };
    assert.equal(payload.kind, 'firing');
    assert.equal(payload.alert.rule_id, 'failed-login-surge');
    await waitFor(async () => (await alerts(tg, { rule_id: 'failed-login-surge' }))[0]?.notifications.some((n) => n.notifier === 'sec' && n.state === 'sent'), 'the delivery recorded on the alert');

    // Blocked: 403 even for pages that are fine; the bystander is not.
    const blocked = await waitFor(async () => {
      const r = await from(attacker, `${tg.proxy}/shop/1`);
      return r.status === 403 ? r : null;
    }, 'the block');
    assert.equal(blocked.status, 403);
    assert.equal((await from(bystander, `${tg.proxy}/shop/1`)).status, 200);
    const blocks = (await (await adminFetch(`${tg.admin}/api/v1/blocks`)).json()) as { blocks: { value: string; created_by: string }[] };
    assert.deepEqual(blocks.blocks.map((b) => [b.value, b.created_by]), [[attacker, 'rule:failed-login-surge']]);
    // …until the block lifts.
    await waitFor(async () => (await from(attacker, `${tg.proxy}/shop/2`)).status === 200, 'the block to lift', 8000, 200);

    // The tag: the attacker's later events carry the label, the bystander's do not.
    await from(attacker, `${tg.proxy}/shop/tagged`);
    await from(bystander, `${tg.proxy}/shop/untagged`);
    const ev = await tg.events();
    assert.equal(ev.find((e) => e.path === '/shop/tagged')?.labels?.suspect, 'failed-login-surge');
    assert.equal(ev.find((e) => e.path === '/shop/untagged')?.labels?.suspect, undefined);
    const blockedEvents = ev.filter((e) => e.client_ip === attacker && e.decision === 'block');
    assert.ok(blockedEvents.length >= 1, 'blocked requests are in the trail');

    // A scan of restricted and missing paths from another client: the built-in probing rule (20 distinct paths).
    const scanner = '192.0.2.77';
    for (let i = 0; i < 12; i++) await from(scanner, `${tg.proxy}/admin/page${i}`);
    for (let i = 0; i < 8; i++) await from(scanner, `${tg.proxy}/missing-${i}`);
    const probe = await waitFor(async () => (await alerts(tg, { rule_id: 'endpoint-probing' }))[0], 'the probing alert');
    assert.deepEqual(probe.group, { client_ip: scanner });
    assert.equal(probe.evidence.value, 20);

    // The rules API: state, match counts and firing alerts.
    const rules = (await (await adminFetch(`${tg.admin}/api/v1/rules`)).json()) as { rules: RuleState[] };
    const fl = rules.rules.find((r) => r.id === 'failed-login-surge')!;
    assert.equal(fl.builtin, true);
    assert.ok(fl.matched >= 6);
    assert.equal(fl.fired, 1);
    assert.equal(rules.rules.length, 8);

    // Acknowledge (operator role), recorded on the alert.
    const ack = await adminFetch(`${tg.admin}/api/v1/alerts/${alert.id}/ack`, { method: 'POST' });
    assert.equal(ack.status, 200);
    assert.equal(((await ack.json()) as Alert).acknowledged_by, 'test');
    assert.equal((await alerts(tg, { acknowledged: 'true' })).length, 1);
    assert.equal((await adminFetch(`${tg.admin}/api/v1/alerts?status=bogus`)).status, 400);

    // Backtest over the stored history: the same alerts, at the same event times.
    await tg.flush();
    const to = new Date(Date.now() + 1000).toISOString();
    const { stdout } = await run(process.execPath, [CLI, 'rules', 'test', '-c', path.join(tg.dir, 'tollgate.yaml'), '--from', new Date(started - 60_000).toISOString(), '--to', to, '--json'], {
      env: { ...process.env, TOLLGATE_ADMIN_TOKEN: TEST_ADMIN_TOKEN },
    });
    const bt = JSON.parse(stdout) as { events: number; transitions: { kind: string; alert: Alert; would: string[] }[] };
    const live = (await alerts(tg)).filter((a) => !a.shadow);
    const key = (a: Alert) => `${a.rule_id} ${JSON.stringify(a.group)} ${a.started_at}`;
    assert.deepEqual(bt.transitions.filter((t) => t.kind === 'firing').map((t) => key(t.alert)).sort(), live.map(key).sort());
    assert.ok(bt.events >= 30);
    assert.ok(bt.transitions.find((t) => t.alert.rule_id === 'failed-login-surge')?.would.includes(`block ip ${attacker} for 3s`));
  } finally {
    await tg.stop();
  }
});

/** The fixed-offset zone whose local hour is `hour` right now (Etc/GMT-X is UTC+X). */
function zoneWhereItIs(hour: number): string {
  let offset = (hour - new Date().getUTCHours() + 24) % 24;
  if (offset > 12) offset -= 24;
  return offset === 0 ? 'Etc/GMT' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
}

test('off-hours spike: the same rate raises the alert at 03:00 in the configured zone and not at 11:00; rules reload with the config', async () => {
  const offHours = (tz: string) => ({
    builtin: {
      business_hours: { days: ['mon-sun'], hours: '08:00-18:00', tz },
      rules: { 'off-hours-spike': { window: '5s', condition: { threshold: 4 } }, 'hot-resource': false },
    },
  });
  const tg = await startTollgate({ app: [backend.address] }, detectConfig(offHours(zoneWhereItIs(11))));
  const file = path.join(tg.dir, 'tollgate.yaml');
  const spike = async () => {
    const until = Date.now() + 2500;
    let i = 0;
    while (Date.now() < until) {
      await from(`203.0.113.${i % 50}`, `${tg.proxy}/spike/${i}`);
      i++;
    }
    return i;
  };
  try {
    const n = await spike();
    assert.ok(n > 40, `the spike sent ${n} requests (> 4/s × 5 s)`);
    await sleep(500);
    const state = async () => ((await (await adminFetch(`${tg.admin}/api/v1/rules/off-hours-spike`)).json()) as RuleState);
    assert.equal((await state()).matched, 0, 'inside business hours the rule does not count');
    assert.equal((await alerts(tg, { rule_id: 'off-hours-spike' })).length, 0, '11:00: no alert');

    // Same config, but the zone where it is 03:00 now.
    const cfg = parse(await readFile(file, 'utf8')) as ConfigObject;
    await writeFile(file, stringify(merge(cfg, { detect: offHours(zoneWhereItIs(3)) })));
    const reload = await adminFetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' });
    assert.equal(reload.status, 200, await reload.clone().text());
    await spike();
    const a = await waitFor(async () => (await alerts(tg, { rule_id: 'off-hours-spike' }))[0], 'the off-hours alert');
    assert.deepEqual(a.group, { host: '127.0.0.1' });
    assert.ok(a.evidence.value >= 4);

    // A broken rules file refuses the reload with file, path and line; the running rules stay.
    const rulesFile = path.join(tg.dir, 'rules.yaml');
    await writeFile(rulesFile, 'rules:\n  - id: ok\n    condition: { type: count, threshold: 3 }\n  - id: bad\n    window: 1m\n    condition: { type: distinct, threshold: 3 }\n');
    const withFile = merge(parse(await readFile(file, 'utf8')) as ConfigObject, { detect: { rules_files: [rulesFile] } });
    await writeFile(file, stringify(withFile));
    const refused = await adminFetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' });
    assert.equal(refused.status, 422);
    const body = (await refused.json()) as { error: { errors: { path: string; message: string }[] } };
    const err = body.error.errors.find((e) => e.path.includes('rules_files'));
    assert.ok(err, JSON.stringify(body.error));
    assert.match(err.path, /detect\.rules_files\[0\] rules\[1\]\.condition\.field \(.*rules\.yaml:6\)/);
    assert.equal(((await (await adminFetch(`${tg.admin}/api/v1/rules`)).json()) as { rules: RuleState[] }).rules.some((r) => r.id === 'ok'), false);
  } finally {
    await tg.stop();
  }
});
