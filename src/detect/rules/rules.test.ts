import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { emptyEvent, type AuditEvent } from '../../core/event.js';
import { compilePredicate } from './predicate.js';
import { PredicateSchema, RuleSchema, BuiltinSchema } from './schema.js';
import { resolveRules } from './load.js';
import { BUILTIN_IDS } from './builtin.js';

function ev(fields: Partial<AuditEvent>): AuditEvent {
  return Object.assign(emptyEvent('0', '2026-01-01T00:00:00.000Z', 'http', 'tollgate'), fields);
}
const p = (def: unknown) => compilePredicate(PredicateSchema.parse(def));

describe('predicates', () => {
  test('equals compares numbers numerically and strings exactly; null means absent', () => {
    assert.equal(p({ field: 'status', equals: 401 })(ev({ status: 401 })), true);
    assert.equal(p({ field: 'status', equals: '401' })(ev({ status: 401 })), true);
    assert.equal(p({ field: 'status', equals: 401 })(ev({ status: 403 })), false);
    assert.equal(p({ field: 'user_id', equals: null })(ev({})), true);
    assert.equal(p({ field: 'user_id', equals: 'a' })(ev({ user_id: 'A' })), false);
  });
  test('in, prefix, glob, regex', () => {
    assert.equal(p({ field: 'method', in: ['POST', 'PUT'] })(ev({ method: 'PUT' })), true);
    assert.equal(p({ field: 'status', in: [401, 403] })(ev({ status: 403 })), true);
    assert.equal(p({ field: 'path', prefix: '/admin' })(ev({ path: '/admin/users' })), true);
    assert.equal(p({ field: 'path', glob: '/api/*/login' })(ev({ path: '/api/v2/login' })), true);
    assert.equal(p({ field: 'path', glob: '/api/*/login' })(ev({ path: '/api/v2/login/x' })), false);
    assert.equal(p({ field: 'path', glob: ['/a?c', '/x'] })(ev({ path: '/abc' })), true);
    assert.equal(p({ field: 'path', glob: '/a.c' })(ev({ path: '/abc' })), false, 'dots are literal in globs');
    assert.equal(p({ field: 'user_agent', regex: '(?i)sqlmap'.replace('(?i)', '') })(ev({ user_agent: 'sqlmap/1.7' })), true);
    assert.equal(p({ field: 'path', regex: '^/wp-' })(ev({ path: '/x/wp-login' })), false);
  });
  test('cidr (IPv4 and IPv6), numeric comparisons, status classes, exists', () => {
    assert.equal(p({ field: 'client_ip', cidr: ['10.0.0.0/8', '2001:db8::/32'] })(ev({ client_ip: '10.1.2.3' })), true);
    assert.equal(p({ field: 'client_ip', cidr: ['10.0.0.0/8', '2001:db8::/32'] })(ev({ client_ip: '2001:db8::1' })), true);
    assert.equal(p({ field: 'client_ip', cidr: '10.0.0.0/8' })(ev({ client_ip: '11.0.0.1' })), false);
    assert.equal(p({ field: 'client_ip', cidr: '10.0.0.0/8' })(ev({ client_ip: 'not-an-ip' })), false);
    assert.equal(p({ field: 'duration_ms', gte: 1000 })(ev({ duration_ms: 1000 })), true);
    assert.equal(p({ field: 'duration_ms', gt: 1000 })(ev({ duration_ms: 1000 })), false);
    assert.equal(p({ field: 'duration_ms', lt: 5 })(ev({ duration_ms: null })), false, 'null is not a number');
    assert.equal(p({ field: 'bytes_out', lte: 0 })(ev({ bytes_out: 0 })), true);
    assert.equal(p({ field: 'status', class: ['4xx', '5xx'] })(ev({ status: 502 })), true);
    assert.equal(p({ field: 'status', class: 'none' })(ev({ status: null })), true);
    assert.equal(p({ field: 'status', class: '2xx' })(ev({ status: null })), false);
    assert.equal(p({ field: 'user_id', exists: true })(ev({ user_id: 'u' })), true);
    assert.equal(p({ field: 'user_id', exists: false })(ev({ user_id: '' })), true, 'empty counts as absent');
  });
  test('fields inside labels, headers and extra', () => {
    assert.equal(p({ field: 'labels.team', equals: 'red' })(ev({ labels: { team: 'red' } })), true);
    assert.equal(p({ field: 'headers.req.user-agent', prefix: 'curl' })(ev({ headers: { 'req.user-agent': 'curl/8' } })), true);
    assert.equal(p({ field: 'extra.elb_status_code', equals: 502 })(ev({ extra: { elb_status_code: '502' } })), true);
    assert.equal(p({ field: 'extra.missing', exists: false })(ev({})), true);
  });
  test('in: numbers match their text and numeric strings match numbers; a glob list is one alternation', () => {
    assert.equal(p({ field: 'status', in: ['401', 403] })(ev({ status: 401 })), true);
    assert.equal(p({ field: 'status', in: [401] })(ev({ status: 4010 })), false);
    assert.equal(p({ field: 'extra.code', in: [502] })(ev({ extra: { code: '502' } })), true);
    assert.equal(p({ field: 'extra.code', in: ['0502'] })(ev({ extra: { code: '0502' } })), true);
    assert.equal(p({ field: 'status', in: ['0502'] })(ev({ status: 502 })), false, '502 is written "502", not "0502"');
    assert.equal(p({ field: 'user_id', in: [null, 'a'] })(ev({})), true);
    const g = p({ field: 'path', glob: ['/login', '/api/*/login', '/a|b'] });
    assert.equal(g(ev({ path: '/login' })), true);
    assert.equal(g(ev({ path: '/api/v1/login' })), true);
    assert.equal(g(ev({ path: '/a|b' })), true, 'a | in a pattern is literal, not an alternation');
    assert.equal(g(ev({ path: '/a' })), false);
    assert.equal(g(ev({ path: '/login/x' })), false, 'every alternative stays anchored');
  });
  test('all / any evaluate cheap tests first, with the same answers in any order', () => {
    const parts = [{ field: 'path', regex: '^/x' }, { field: 'status', equals: 404 }, { field: 'client_ip', cidr: '10.0.0.0/8' }, { field: 'method', in: ['GET'] }];
    const events = [ev({ path: '/x', status: 404, client_ip: '10.0.0.1', method: 'GET' }), ev({ path: '/y', status: 404, client_ip: '10.0.0.1', method: 'GET' }), ev({ path: '/x', status: 200, client_ip: '11.0.0.1', method: 'POST' }), ev({})];
    for (let rot = 0; rot < parts.length; rot++) {
      const order = [...parts.slice(rot), ...parts.slice(0, rot)];
      assert.deepEqual(events.map(p({ all: order })), [true, false, false, false]);
      assert.deepEqual(events.map(p({ any: order })), [true, true, true, false]);
    }
    // The regex over the path is written first but runs last: a failed status check means it never runs.
    let pathReads = 0;
    const counting = ev({ status: 200 });
    Object.defineProperty(counting, 'path', { get: () => (pathReads++, '/x') });
    assert.equal(p({ all: [{ field: 'path', regex: '^/x' }, { field: 'status', equals: 404 }] })(counting), false);
    assert.equal(pathReads, 0, 'the cheap status test decided without reading the path');
    assert.equal(p({ any: [{ field: 'path', regex: '^/x' }, { field: 'status', equals: 200 }] })(counting), true);
    assert.equal(pathReads, 0);
  });
  test('all / any / not combine', () => {
    const f = p({ all: [{ field: 'status', class: '4xx' }, { not: { field: 'path', prefix: '/public' } }, { any: [{ field: 'method', equals: 'POST' }, { field: 'user_id', exists: false }] }] });
    assert.equal(f(ev({ status: 404, path: '/x', method: 'GET' })), true);
    assert.equal(f(ev({ status: 404, path: '/public/x', method: 'POST' })), false);
    assert.equal(f(ev({ status: 404, path: '/x', method: 'GET', user_id: 'u' })), false);
    assert.equal(f(ev({ status: 200, path: '/x', method: 'POST' })), false);
  });
});

describe('rule validation', () => {
  const issues = (def: unknown) => {
    const r = RuleSchema.safeParse(def);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  test('every error comes back with its path', () => {
    const errs = issues({
      id: 'Bad Id',
      match: { field: 'stauts', equals: 1 },
      group_by: ['client_ip'],
      window: '500ms',
      condition: { type: 'count', threshold: -1 },
      actions: [{ type: 'block', target: 'user_id' }, { type: 'tag', label: 'has space' }],
      dedup_key: '{rule_id}:{nope}',
    });
    const text = errs.join('\n');
    for (const want of ['id:', 'match', 'window: a window is at least 1s', 'condition.threshold', 'actions.0.target', 'actions.1.label', 'dedup_key: {nope}']) assert.ok(text.includes(want), `missing "${want}" in:\n${text}`);
  });
  test('a field test takes exactly one operator; regexes and status classes are checked', () => {
    assert.match(issues({ id: 'a', condition: { type: 'count', threshold: 1 }, match: { field: 'status', equals: 1, in: [2] } }).join(), /exactly one operator/);
    assert.match(issues({ id: 'a', condition: { type: 'count', threshold: 1 }, match: { field: 'path', regex: '(' } }).join(), /invalid regular expression/);
    assert.match(issues({ id: 'a', condition: { type: 'count', threshold: 1 }, match: { field: 'status', class: '6xx' } }).join(), /not a status class/);
    assert.match(issues({ id: 'a', condition: { type: 'count', threshold: 1 }, schedule: { inside: { hours: '08:00-18:00' }, outside: { hours: '1:00-2:00' } } }).join(), /exactly one of/);
  });
});

describe('rule sets', () => {
  const base = { rules: [], rules_files: [], builtin: BuiltinSchema.parse({}), notifiers: {}, default_notifiers: [] };

  test('the built-in pack is on by default and can be turned off rule by rule or overridden', () => {
    const all = resolveRules(base);
    assert.deepEqual(all.errors, []);
    assert.deepEqual(all.rules.map((r) => r.id).sort(), [...BUILTIN_IDS].sort());
    assert.equal(BUILTIN_IDS.size, 8);
    const tuned = resolveRules({ ...base, builtin: BuiltinSchema.parse({ rules: { 'hot-resource': false, 'failed-login-surge': { condition: { threshold: 3 }, shadow: true } } }) });
    assert.deepEqual(tuned.errors, []);
    assert.equal(tuned.rules.some((r) => r.id === 'hot-resource'), false);
    const fl = tuned.rules.find((r) => r.id === 'failed-login-surge')!;
    assert.equal(fl.condition.type === 'count' && fl.condition.threshold, 3);
    assert.equal(fl.shadow, true);
    assert.equal(fl.window, 60_000, 'the rest of the definition stays');
    assert.equal(resolveRules({ ...base, builtin: BuiltinSchema.parse({ enabled: false }) }).rules.length, 0);
  });

  test('bad overrides, unknown built-in ids, duplicate ids and unknown notifiers are all reported', () => {
    const rule = { id: 'failed-login-surge', condition: { type: 'count', threshold: 1 }, actions: [{ type: 'alert', notifiers: ['nope'] }] };
    const r = resolveRules({
      ...base,
      builtin: BuiltinSchema.parse({ rules: { 'no-such-rule': false, 'endpoint-probing': { window: 'soon' } } }),
      rules: [RuleSchema.parse(rule), RuleSchema.parse({ ...rule, id: 'x' })],
      default_notifiers: ['ghost'],
    });
    const text = r.errors.map((e) => `${e.path}: ${e.message}`).join('\n');
    assert.match(text, /detect\.builtin\.rules\.no-such-rule: no built-in rule/);
    assert.match(text, /detect\.builtin\.rules\.endpoint-probing\.window: invalid duration/);
    assert.match(text, /duplicate rule id "failed-login-surge".*override it under detect\.builtin\.rules/);
    assert.match(text, /detect\.rules\[1\]\.actions\[0\]\.notifiers: unknown notifier "nope"/);
    assert.match(text, /detect\.default_notifiers\[0\]: unknown notifier "ghost"/);
  });

  test('rules files: loaded, and their errors name the file, the path and the line', (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-rules-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, 'good.yaml'), 'rules:\n  - id: admin-scan\n    match: { field: path, prefix: /admin }\n    window: 1m\n    condition: { type: count, threshold: 5 }\n');
    writeFileSync(path.join(dir, 'bad.yaml'), 'rules:\n  - id: ok-one\n    condition: { type: count, threshold: 5 }\n  - id: broken\n    condition:\n      type: percentile\n      percentile: 120\n      threshold: 10\n');
    const good = resolveRules({ ...base, builtin: BuiltinSchema.parse({ enabled: false }), rules_files: ['good.yaml'] }, dir);
    assert.deepEqual(good.errors, []);
    assert.equal(good.rules[0].id, 'admin-scan');
    const bad = resolveRules({ ...base, builtin: BuiltinSchema.parse({ enabled: false }), rules_files: ['good.yaml', 'bad.yaml', 'missing.yaml'] }, dir);
    assert.equal(bad.errors.length, 2);
    const [e1, e2] = bad.errors;
    assert.equal(e1.file, path.join(dir, 'bad.yaml'));
    assert.equal(e1.path, 'detect.rules_files[1] rules[1].condition.percentile');
    assert.equal(e1.line, 7);
    assert.match(e2.message, /cannot read rules file/);
  });
});

describe('fields used', () => {
  test('every field a rule reads is listed (maps by their map name), so partial records are enough', async () => {
    const { fieldsUsed } = await import('./compile.js');
    const r = RuleSchema.parse({
      id: 'x',
      match: { all: [{ field: 'path', prefix: '/a' }, { not: { field: 'labels.team', equals: 'red' } }] },
      group_by: ['client_ip', 'headers.req.user-agent'],
      condition: { type: 'ratio', of: { field: 'status', class: '5xx' }, threshold: 0.5 },
      history: { window: '1d', where: { field: 'decision', equals: 'allow' }, min_count: 1 },
    });
    const d = RuleSchema.parse({ id: 'y', condition: { type: 'distinct', field: 'user_name', threshold: 2, where: { field: 'auth_error', exists: true } } });
    assert.deepEqual([...fieldsUsed([r, d])].sort(), ['auth_error', 'client_ip', 'decision', 'headers', 'id', 'kind', 'labels', 'path', 'status', 'ts', 'user_name']);
  });
});
