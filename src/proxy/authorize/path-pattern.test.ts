import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePathPatterns } from './path-pattern.js';

test('exact, one segment, anything below, and * inside a segment', () => {
  const m = compilePathPatterns(['/health', '/users/*', '/admin/**', '/v*/items'], true);
  const yes = ['/health', '/users/42', '/admin', '/admin/', '/admin/a/b', '/v1/items', '/v22/items'];
  const no = ['/health/x', '/users', '/users/42/x', '/administrator', '/adminx/y', '/v1/x/items', '/x/admin'];
  for (const p of yes) assert.equal(m(p), true, p);
  for (const p of no) assert.equal(m(p), false, p);
});

test('regex metacharacters in patterns are literal', () => {
  const m = compilePathPatterns(['/a.b/(x)+', '/c$'], true);
  assert.equal(m('/a.b/(x)+'), true);
  assert.equal(m('/axb/xx'), false);
  assert.equal(m('/c$'), true);
});

test('case-insensitive patterns are compiled lower-cased', () => {
  const m = compilePathPatterns(['/Admin/**'], false);
  assert.equal(m('/admin/x'), true);
  assert.equal(m('/Admin/x'), false, 'the subject path is lower-cased by the caller');
});

test('a long path against many patterns stays linear (no catastrophic backtracking)', () => {
  const m = compilePathPatterns(['/**/x/**/y/**/z', '/a*a*a*a*a*b'], true);
  const start = process.hrtime.bigint();
  assert.equal(m('/' + 'a'.repeat(5000)), false);
  assert.equal(m('/' + 'x/'.repeat(2000) + 'q'), false);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.ok(ms < 2000, `took ${ms} ms`);
});

test('one trailing slash is ignored on both sides: /admin/ is /admin to most backends', () => {
  const m = compilePathPatterns(['/admin', '/reports/*', '/api/'], true);
  for (const p of ['/admin', '/admin/', '/reports/q3', '/reports/q3/', '/api', '/api/']) assert.equal(m(p), true, p);
  assert.equal(m('/'), false);
  assert.equal(compilePathPatterns(['/'], true)('/'), true);
});
