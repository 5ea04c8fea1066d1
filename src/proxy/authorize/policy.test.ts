import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteAccessSchema, type RouteAccessConfig } from '../../config/access-schema.js';
import { compilePolicy, type PolicySubject } from './policy.js';
import type { Identity } from './identity/types.js';

const access = (v: unknown): RouteAccessConfig => RouteAccessSchema.parse(v);
const alice: Identity = { userId: 'alice', userName: 'Alice', groups: ['admin', 'dev'], claims: { realm_access: { roles: ['ops'] }, tier: 'gold' } };
const bob: Identity = { userId: 'bob', userName: null, groups: ['dev'], claims: { tier: 'free' } };
const subject = (over: Partial<PolicySubject> = {}): PolicySubject => ({ identity: null, method: 'GET', matchPath: '/x', clientIp: '198.51.100.7', nowMs: Date.UTC(2026, 10, 24, 12, 0), ...over });

test('an open route with no rules allows everything, without a rule id', () => {
  const d = compilePolicy(access({}), false)(subject());
  assert.deepEqual([d.allow, d.ruleId], [true, null]);
});

test('a restricted route denies what no rule allows', () => {
  const p = compilePolicy(access({ restricted: true, rules: [{ id: 'admins', action: 'allow', groups: ['admin'] }] }), false);
  assert.deepEqual([p(subject({ identity: alice })).allow, p(subject({ identity: alice })).ruleId], [true, 'admins']);
  const d = p(subject({ identity: bob }));
  assert.equal(d.allow, false);
  assert.equal(d.ruleId, null);
  assert.match(d.reason, /restricted route/);
  assert.equal(p(subject()).allow, false, 'anonymous');
});

test('the first matching rule decides; every predicate of a rule must match', () => {
  const p = compilePolicy(
    access({
      rules: [
        { id: 'no-delete', action: 'deny', methods: ['DELETE'], paths: ['/admin/**'] },
        { id: 'ops-claim', action: 'allow', claims: { 'realm_access.roles': 'ops', tier: ['gold', 'platinum'] } },
        { id: 'devs-off-net', action: 'deny', groups: ['dev'], source: ['198.51.100.0/24', '2001:db8::/32'] },
      ],
    }),
    false,
  );
  assert.equal(p(subject({ identity: alice, method: 'DELETE', matchPath: '/admin/users/1' })).ruleId, 'no-delete');
  assert.equal(p(subject({ identity: alice, method: 'DELETE', matchPath: '/adminx' })).ruleId, 'ops-claim', 'path patterns are segment-aware');
  assert.equal(p(subject({ identity: alice })).ruleId, 'ops-claim', 'nested claim and list of values');
  const d = p(subject({ identity: bob }));
  assert.deepEqual([d.allow, d.ruleId], [false, 'devs-off-net']);
  assert.equal(p(subject({ identity: bob, clientIp: '2001:db8::5' })).ruleId, 'devs-off-net', 'IPv6 CIDR');
  assert.equal(p(subject({ identity: bob, clientIp: '203.0.113.1' })).allow, true, 'outside the CIDRs');
});

test('users and authenticated predicates', () => {
  const p = compilePolicy(access({ restricted: true, rules: [{ id: 'bob', action: 'allow', users: ['bob'] }, { id: 'anon-read', action: 'allow', authenticated: false, methods: ['GET'] }] }), false);
  assert.equal(p(subject({ identity: bob })).ruleId, 'bob');
  assert.equal(p(subject({ identity: alice })).allow, false, 'authenticated: false does not match an identified caller');
  assert.equal(p(subject()).ruleId, 'anon-read');
  assert.equal(p(subject({ method: 'POST' })).allow, false);
});

test('paths match case-insensitively unless configured otherwise (the subject path is already lower-cased)', () => {
  const rules = [{ id: 'deny-admin', action: 'deny', paths: ['/Admin/*'] }];
  assert.equal(compilePolicy(access({ rules }), false)(subject({ matchPath: '/admin/x' })).allow, false);
  assert.equal(compilePolicy(access({ rules }), true)(subject({ matchPath: '/admin/x' })).allow, true);
  assert.equal(compilePolicy(access({ rules }), true)(subject({ matchPath: '/Admin/x' })).allow, false);
});

test('time windows: inside and outside (not_time)', () => {
  const noon = Date.UTC(2026, 10, 24, 12, 0); // Tuesday 13:00 in Berlin
  const night = Date.UTC(2026, 10, 24, 23, 0); // Wednesday 00:00 in Berlin
  const p = compilePolicy(
    access({ restricted: true, rules: [{ id: 'office', action: 'allow', time: { days: ['mon-fri'], hours: '08:00-18:00', tz: 'Europe/Berlin' } }] }),
    false,
  );
  assert.equal(p(subject({ nowMs: noon })).allow, true);
  assert.equal(p(subject({ nowMs: night })).allow, false);
  const q = compilePolicy(access({ rules: [{ id: 'after-hours', action: 'deny', not_time: { days: ['mon-fri'], hours: '08:00-18:00', tz: 'Europe/Berlin' } }] }), false);
  assert.equal(q(subject({ nowMs: noon })).allow, true);
  assert.equal(q(subject({ nowMs: night })).ruleId, 'after-hours');
});

test('a shadow rule is recorded but not enforced; an enforced rule after it still decides', () => {
  const p = compilePolicy(access({ rules: [{ id: 'try-deny', action: 'deny', shadow: true, groups: ['dev'] }, { id: 'real', action: 'deny', users: ['bob'] }] }), false);
  const a = p(subject({ identity: alice }));
  assert.equal(a.allow, true);
  assert.equal(a.ruleId, 'try-deny');
  assert.match(a.reason, /^shadow: rule try-deny would deny/);
  assert.equal(a.shadow, true);
  const b = p(subject({ identity: bob }));
  assert.deepEqual([b.allow, b.ruleId], [false, 'real']);
  const anon = p(subject());
  assert.equal(anon.shadow, false, 'no shadow note when the shadow rule does not match');
});

test('a shadow route evaluates the whole policy and always allows', () => {
  const p = compilePolicy(access({ shadow: true, restricted: true, rules: [{ id: 'admins', action: 'allow', groups: ['admin'] }] }), false);
  const denied = p(subject({ identity: bob }));
  assert.equal(denied.allow, true);
  assert.match(denied.reason, /^shadow: would deny \(restricted route/);
  const allowed = p(subject({ identity: alice }));
  assert.equal(allowed.ruleId, 'admins');
  assert.match(allowed.reason, /^shadow: would allow/);
});

test('a rule on GET covers HEAD (backends run their GET handlers for it)', () => {
  const p = compilePolicy(access({ rules: [{ id: 'no-export', action: 'deny', methods: ['GET'], paths: ['/export/**'] }] }), false);
  assert.equal(p(subject({ method: 'HEAD', matchPath: '/export/all' })).allow, false);
  assert.equal(p(subject({ method: 'POST', matchPath: '/export/all' })).allow, true);
});
