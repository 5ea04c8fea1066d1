import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, normalizeHost, pathHasPrefix, splitTarget, backendTarget } from './router.js';
import { RouteSchema } from '../../config/schema.js';

const routes = [
  { id: 'admin', hosts: ['api.example.com'], path_prefix: '/admin', backend: 'adm', methods: ['GET'] },
  { id: 'api', hosts: ['api.example.com'], path_prefix: '/api/', backend: 'api', strip_prefix: true },
  { id: 'tenants', hosts: ['*.example.com'], backend: 'tenants', service: 'tenant-web' },
  { id: 'default', backend: 'web' },
].map((r) => RouteSchema.parse(r));

const router = new Router(routes, (name) => name);

test('exact host and path prefix on segment boundaries', () => {
  assert.equal(router.match('api.example.com', '/api/users', 'GET')?.id, 'api');
  assert.equal(router.match('api.example.com', '/api', 'GET')?.id, 'api');
  assert.equal(router.match('api.example.com', '/apix', 'GET')?.id, 'tenants', '/apix is not under /api');
  assert.equal(router.match('api.example.com', '/admin/x', 'GET')?.id, 'admin');
  assert.equal(router.match('api.example.com', '/admin/x', 'POST')?.id, 'tenants', 'method restriction');
});

test('wildcard hosts match one or more labels, not the bare domain', () => {
  assert.equal(router.match('a.example.com', '/', 'GET')?.id, 'tenants');
  assert.equal(router.match('a.b.example.com', '/', 'GET')?.id, 'tenants');
  assert.equal(router.match('example.com', '/', 'GET')?.id, 'default');
  assert.equal(router.match('evilexample.com', '/', 'GET')?.id, 'default');
  assert.equal(router.match('a.example.com', '/', 'GET')?.service, 'tenant-web');
  assert.equal(router.match('zzz', '/', 'GET')?.service, 'web', 'service defaults to the pool');
});

test('no match without a catch-all', () => {
  const r = new Router([RouteSchema.parse({ id: 'x', hosts: ['a.test'], backend: 'p' })], (n) => n);
  assert.equal(r.match('b.test', '/', 'GET'), null);
});

test('host normalization', () => {
  assert.equal(normalizeHost('API.Example.com:8443'), 'api.example.com');
  assert.equal(normalizeHost('example.com.'), 'example.com');
  assert.equal(normalizeHost('[::1]:8080'), '[::1]');
  assert.equal(normalizeHost(undefined), '');
  assert.ok(pathHasPrefix('/a/b', '/a'));
  assert.ok(!pathHasPrefix('/ab', '/a'));
  assert.ok(pathHasPrefix('/anything', '/'));
});

test('strip_prefix is compiled without a trailing slash', () => {
  assert.equal(router.match('api.example.com', '/api/users', 'GET')?.strip, '/api');
});

test('request targets: path and query split; strip_prefix for the backend', () => {
  assert.deepEqual(splitTarget('/a/b?x=1&y'), { path: '/a/b', query: 'x=1&y' });
  assert.deepEqual(splitTarget('/a?'), { path: '/a', query: null });
  assert.deepEqual(splitTarget('/a'), { path: '/a', query: null });
  assert.equal(backendTarget({ strip: '/api' }, '/api/users?id=1'), '/users?id=1');
  assert.equal(backendTarget({ strip: '/api' }, '/api?id=1'), '/?id=1');
  assert.equal(backendTarget({ strip: '/api' }, '/api'), '/');
  assert.equal(backendTarget({ strip: null }, '/api/x'), '/api/x');
});
