import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText, substituteEnv, type ConfigError } from './load.js';
import { parseDuration, parseAddress } from './schema.js';

const minimal = `
listeners: [{ address: "127.0.0.1:8080" }]
routes: [{ id: web, backend: web }]
backends: { web: { servers: [{ address: "127.0.0.1:3000" }] } }
`;

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigError[] {
  const r = loadConfigText(text, 'test.yaml', env);
  assert.equal(r.ok, false, 'expected the config to be invalid');
  return r.ok ? [] : r.errors;
}

test('a minimal config gets every default, frozen', () => {
  const r = loadConfigText(minimal, 'test.yaml', {});
  assert.ok(r.ok);
  const c = r.config;
  assert.equal(c.admin.address, '127.0.0.1:9191');
  assert.equal(c.backends.web.algorithm, 'round_robin');
  assert.equal(c.backends.web.timeouts.connect, 5000);
  assert.equal(c.backends.web.outlier.base_ejection, 10_000);
  assert.equal(c.audit.on_audit_failure, 'reject');
  assert.equal(c.audit.spool.fsync, 'interval');
  assert.equal(c.workers, 1);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.backends.web.servers[0]));
});

test('every error is reported at once, with its path and line', () => {
  const errors = errorsOf(`listeners:
  - address: "nowhere"
routes:
  - id: api
    backend: apii
  - id: api
    backend: pool
backends:
  pool:
    algorithm: fastest
    servers: []
    timeouts: { connect: 5 parsecs }
proxy:
  trusted_proxies: [10.0.0.0/8, "10.0.0.0/99"]
  unknown_key: 1
`);
  const byPath = new Map(errors.map((e) => [e.path, e]));
  for (const p of ['listeners[0].address', 'routes[0].backend', 'routes[1].id', 'backends.pool.algorithm', 'backends.pool.servers', 'backends.pool.timeouts.connect', 'proxy.trusted_proxies[1]', 'proxy']) {
    assert.ok(byPath.has(p), `missing error for ${p}: ${JSON.stringify(errors)}`);
  }
  assert.equal(byPath.get('listeners[0].address')!.line, 2);
  assert.equal(byPath.get('routes[0].backend')!.line, 5);
  assert.match(byPath.get('routes[0].backend')!.message, /unknown backend pool "apii" \(known: pool\)/);
  assert.match(byPath.get('routes[1].id')!.message, /duplicate route id "api"/);
  assert.match(byPath.get('proxy')!.message, /unknown_key/);
  assert.deepEqual(
    errors.map((e) => e.line ?? 0),
    [...errors.map((e) => e.line ?? 0)].sort((a, b) => a - b),
    'sorted by line',
  );
});

test('YAML syntax errors are reported with their line', () => {
  const errors = errorsOf('listeners:\n  - address: "127.0.0.1:1"\n bad: [\n');
  assert.equal(errors[0].path, '(yaml)');
  assert.ok(errors[0].line);
});

test('${ENV} and ${ENV:-default} substitution; a missing variable is an error; comments are left alone', () => {
  const text = `${minimal}
node: { name: "\${NODE_NAME}", region: "\${REGION:-eu-1}" }
# \${NOT_SET_BUT_COMMENTED}
`;
  const r = loadConfigText(text, 'test.yaml', { NODE_NAME: 'edge-7' });
  assert.ok(r.ok);
  assert.equal(r.config.node.name, 'edge-7');
  assert.equal(r.config.node.region, 'eu-1');
  const errors = errorsOf(text, {});
  assert.match(errors[0].message, /NODE_NAME is not set/);
  const out: ConfigError[] = [];
  assert.equal(substituteEnv('a ${X} b', { X: 's3cr3t' }, out), 'a s3cr3t b');
});

test('cross-section checks: addresses used twice, hash_on misuse, timeouts', () => {
  const errors = errorsOf(`
listeners: [{ address: "127.0.0.1:9191" }]
routes: [{ id: r, backend: p }]
backends:
  p:
    hash_on: { by: header }
    servers: [{ address: "127.0.0.1:1" }, { address: "127.0.0.1:1" }]
    health_check: { interval: 1s, timeout: 2s }
    outlier: { base_ejection: 1m, max_ejection: 10s }
`);
  const msgs = errors.map((e) => `${e.path}: ${e.message}`).join('\n');
  assert.match(msgs, /admin\.address: address 127\.0\.0\.1:9191 is already used by listeners\[0\]\.address/);
  assert.match(msgs, /backends\.p\.hash_on: hash_on only applies to algorithm consistent_hash/);
  assert.match(msgs, /backends\.p\.hash_on\.name: hash_on\.by header needs a name/);
  assert.match(msgs, /backends\.p\.servers\[1\]\.address: duplicate server/);
  assert.match(msgs, /health_check\.timeout: timeout must not exceed interval/);
  assert.match(msgs, /outlier\.max_ejection: max_ejection must be at least base_ejection/);
  // An interval shorter than the default timeout alone is fine: the timeout follows it.
  const short = loadConfigText(
    `
listeners: [{ address: "127.0.0.1:8080" }]
routes: [{ id: r, backend: p }]
backends:
  p:
    servers: [{ address: "127.0.0.1:1" }]
    health_check: { interval: 1s }
`,
    'test.yaml',
    {},
  );
  assert.equal(short.ok, true, JSON.stringify(!short.ok && short.errors));
});

test('health_check.expect_status: a range that runs backwards or leaves 100-599, and an empty list, are errors (the checker could not be built)', () => {
  const errors = errorsOf(`
listeners: [{ address: "127.0.0.1:8080" }]
routes: [{ id: r, backend: p }]
backends:
  p:
    servers: [{ address: "127.0.0.1:1" }]
    health_check: { expect_status: ["300-200", "000-999", "200-299", 204, "2xx", "050-200", "200-700"] }
  q:
    servers: [{ address: "127.0.0.1:2" }]
    health_check: { expect_status: [] }
`);
  const msgs = errors.map((e) => `${e.path}: ${e.message}`).join('\n');
  assert.match(msgs, /backends\.p\.health_check\.expect_status\[0\]: a range runs from its lower to its higher status/);
  assert.match(msgs, /backends\.p\.health_check\.expect_status\[1\]: a range runs/);
  assert.doesNotMatch(msgs, /expect_status\[[234]\]/);
  // Each bound on its own.
  assert.match(msgs, /backends\.p\.health_check\.expect_status\[5\]: a range runs/);
  assert.match(msgs, /backends\.p\.health_check\.expect_status\[6\]: a range runs/);
  assert.match(msgs, /backends\.q\.health_check\.expect_status: /);
});

test('durations and addresses', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('1500'), 1500);
  assert.equal(parseDuration(0), 0);
  assert.equal(parseDuration('5 parsecs'), null);
  assert.equal(parseDuration(-1), null);
  assert.deepEqual(parseAddress('[::1]:8080'), { host: '::1', port: 8080 });
  assert.deepEqual(parseAddress('example.com:443'), { host: 'example.com', port: 443 });
  assert.equal(parseAddress('127.0.0.1:70000'), null);
  assert.equal(parseAddress('127.0.0.1'), null);
});

test('access control: every cross-section error at once (identity references, CIDRs, secrets, paths, files)', () => {
  const errors = errorsOf(`
listeners: [{ address: "127.0.0.1:8080" }]
backends: { web: { servers: [{ address: "127.0.0.1:3000" }] } }
access:
  ip_deny: [10.0.0.0/33]
  identities:
    - { id: sso, type: jwt, algorithms: [HS256], secret: short }
    - { id: sso, type: api_key, keys_file: /nonexistent/keys.yaml }
    - { id: certs, type: mtls }
routes:
  - id: web
    backend: web
    path_prefix: /a//b
    access:
      identities: [sso, nope]
      rules:
        - { id: r1, action: allow, source: [not-an-ip], paths: ["/x/%2e%2e/y"] }
        - { id: r1, action: deny, groups: [g] }
      rate_limits: [{ id: per-user, by: user, rate: 1 }]
  - id: open
    backend: web
    access:
      rules: [{ id: admins, action: allow, groups: [admin] }]
      rate_limits: [{ id: k, by: api_key, rate: 1 }]
`);
  const text = errors.map((e) => `${e.path}: ${e.message}`).join('\n');
  for (const expected of [
    /access\.ip_deny\[0\]: invalid IP address or CIDR "10\.0\.0\.0\/33"/,
    /access\.identities\[0\]\.secret: an HS\* secret must be at least 32 bytes/,
    /access\.identities\[1\]\.id: duplicate identity id "sso"/,
    /access\.identities\[1\]\.keys_file: cannot read \/nonexistent\/keys\.yaml/,
    /access\.identities\[2\]: an mtls identity needs a listener with `tls\.client_ca`/,
    /routes\[0\]\.path_prefix: write the path "\/a\/\/b" in its normalized form "\/a\/b"/,
    /routes\[0\]\.access\.identities\[1\]: unknown identity "nope" \(known: sso, certs\)/,
    /routes\[0\]\.access\.rules\[0\]\.source\[0\]: invalid IP address or CIDR "not-an-ip"/,
    /routes\[0\]\.access\.rules\[0\]\.paths\[0\]: write the path/,
    /routes\[0\]\.access\.rules\[1\]\.id: duplicate rule id "r1"/,
    /routes\[1\]\.access\.rules\[0\]: this rule matches identities but the route has no `identities`/,
    /routes\[1\]\.access\.rate_limits\[0\]\.by: a limit by api_key needs identities on the route/,
  ]) {
    assert.match(text, expected);
  }
  assert.ok(errors.every((e) => e.line !== undefined && e.line > 0), 'each with its line');
});

test('detection: rules files, built-in overrides and notifier errors are all listed, also when the detect section itself has errors', async (t) => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = mkdtempSync(path.join(tmpdir(), 'tg-load-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rules = path.join(dir, 'rules.yaml');
  writeFileSync(rules, 'rules:\n  - id: scan\n    match: { field: pathh, prefix: /admin }\n    condition: { type: count, threshold: 5 }\n');
  const base = `listeners: [{ address: 127.0.0.1:18080 }]\ndetect:\n  rules_files: [${rules}]\n  builtin:\n    rules:\n      failed-login-surge: { condition: { threshold: -1 } }\n`;
  for (const extra of ['  notifiers:\n    hook: { type: webhook, url: "ftp://x" }\n', '  default_notifiers: [nope]\n']) {
    const r = loadConfigText(base + extra, 't.yaml', {});
    assert.equal(r.ok, false);
    const text = r.ok ? '' : r.errors.map((e) => `${e.path}: ${e.message}`).join('\n');
    assert.match(text, /detect\.rules_files\[0\] rules\[0\]\.match\.field \(.*rules\.yaml:3\): not an event field/);
    assert.match(text, /detect\.builtin\.rules\.failed-login-surge\.condition\.threshold/);
    if (extra.includes('ftp')) assert.match(text, /detect\.notifiers\.hook\.url/);
    else assert.match(text, /detect\.default_notifiers\[0\]: unknown notifier "nope"/);
  }
});
