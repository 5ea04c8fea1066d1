import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyEvent, type AuditEvent } from '../../core/event.js';
import { uuidv7 } from '../../core/ids.js';
import { Engine, type Transition } from '../engine.js';
import { BuiltinSchema } from './schema.js';
import { builtinRules } from './builtin.js';

// Wednesday 2026-03-04 11:00 UTC: inside the default business hours (Mon-Fri 08:00-18:00 UTC).
const NOON = Date.parse('2026-03-04T11:00:00Z');

function ev(ms: number, fields: Partial<AuditEvent> = {}): AuditEvent {
  const e = emptyEvent(uuidv7(), new Date(ms).toISOString(), 'http', 'tollgate');
  return Object.assign(e, { client_ip: '198.51.100.7', method: 'GET', host: 'shop.example', path: '/', status: 200, route: 'web', decision: 'allow', termination: 'ok', duration_ms: 20, upstream: '127.0.0.1:8080' }, fields);
}

function pack(overrides: Record<string, unknown> = {}) {
  const { rules, errors } = builtinRules(BuiltinSchema.parse(overrides));
  assert.deepEqual(errors, []);
  const fired: Transition[] = [];
  const engine = new Engine({ rules, defaultNotifiers: [], maxGroups: 10_000, onTransition: (t) => t.kind === 'firing' && fired.push(t) });
  return { engine, fired: () => fired.map((t) => t.alert.rule_id) };
}

/** An hour of ordinary traffic: 5 clients browsing, a few typos at login, a few 404s, fast answers. */
function ordinaryTraffic(engine: Engine, start: number): void {
  for (let s = 0; s < 3600; s += 2) {
    const client = `192.0.2.${s % 5}`;
    engine.process(ev(start + s * 1000, { client_ip: client, path: `/product/${s % 40}`, user_id: `user${s % 5}` }));
    if (s % 600 === 0) engine.process(ev(start + s * 1000 + 1, { client_ip: client, path: '/login', method: 'POST', status: 401 }));
    if (s % 300 === 0) engine.process(ev(start + s * 1000 + 2, { client_ip: client, path: `/old-page-${s}`, status: 404 }));
  }
}

describe('built-in rule pack', () => {
  test('an hour of ordinary traffic raises nothing', () => {
    const p = pack();
    ordinaryTraffic(p.engine, NOON);
    p.engine.tick(NOON + 3_700_000);
    assert.deepEqual(p.fired(), []);
  });

  test('failed-login-surge: 10 failed logins in a minute from one client', () => {
    const p = pack();
    for (let i = 0; i < 9; i++) p.engine.process(ev(NOON + i * 5000, { path: '/login', method: 'POST', status: 401 }));
    assert.deepEqual(p.fired(), []);
    p.engine.process(ev(NOON + 50_000, { path: '/api/v1/login', method: 'POST', status: 403 }));
    assert.deepEqual(p.fired(), ['failed-login-surge']);
  });

  test('failed-login-surge also counts credentials Tollgate itself refused, on any path', () => {
    const p = pack();
    for (let i = 0; i < 10; i++) p.engine.process(ev(NOON + i, { path: '/api/orders', status: 401, auth_method: 'api_key', auth_error: 'unknown_key' }));
    assert.deepEqual(p.fired(), ['failed-login-surge']);
  });

  test('credential-stuffing: 8 different user names tried from one client', () => {
    const p = pack({ rules: { 'failed-login-surge': false } });
    for (let i = 0; i < 7; i++) p.engine.process(ev(NOON + i * 30_000, { path: '/login', status: 401, auth_method: 'basic', auth_error: 'bad_credentials', user_name: `victim${i}` }));
    for (let i = 0; i < 5; i++) p.engine.process(ev(NOON + 250_000 + i, { path: '/login', status: 401, auth_method: 'basic', auth_error: 'bad_credentials', user_name: 'victim0' }));
    assert.deepEqual(p.fired(), [], 'repeats of one name are not stuffing');
    p.engine.process(ev(NOON + 300_000, { path: '/login', status: 401, auth_method: 'basic', auth_error: 'unknown_user', user_name: 'victim7' }));
    assert.deepEqual(p.fired(), ['credential-stuffing']);
  });

  test('endpoint-probing: 20 distinct missing or forbidden paths in 5 minutes', () => {
    const p = pack();
    const probes = ['/.env', '/.git/config', '/wp-login.php', '/phpmyadmin', '/admin', '/server-status', '/actuator/env', '/config.json', '/backup.zip', '/.aws/credentials', '/debug', '/console', '/solr/admin', '/manager/html', '/cgi-bin/test', '/xmlrpc.php', '/api/swagger.json', '/.DS_Store', '/etc/passwd', '/owa'];
    probes.forEach((path, i) => p.engine.process(ev(NOON + i * 10_000, { path, status: i % 3 === 0 ? 403 : 404, decision: i % 3 === 0 ? 'deny' : 'allow' })));
    assert.deepEqual(p.fired(), ['endpoint-probing']);
  });

  test('off-hours-spike: 20 requests/s for 5 minutes at 03:00 fires; the same at 11:00 does not', () => {
    const spike = (start: number) => {
      const p = pack({ rules: { 'hot-resource': false }, business_hours: { days: ['mon-sun'], hours: '08:00-18:00', tz: 'Europe/Berlin' } });
      for (let i = 0; i < 20 * 300; i++) p.engine.process(ev(start + i * 50, { client_ip: `203.0.113.${i % 200}`, path: `/p/${i % 500}` }));
      return p.fired();
    };
    assert.deepEqual(spike(Date.parse('2026-03-04T02:00:00Z')), ['off-hours-spike'], '03:00 in Berlin');
    assert.deepEqual(spike(Date.parse('2026-03-04T10:00:00Z')), [], '11:00 in Berlin');
  });

  test('hot-resource: 100 requests/s to one path for a minute', () => {
    const p = pack();
    for (let i = 0; i < 6000; i++) p.engine.process(ev(NOON + i * 10, { client_ip: `203.0.113.${i % 250}`, path: '/api/search' }));
    assert.deepEqual(p.fired(), ['hot-resource']);
  });

  test('upstream-5xx-surge: a fifth of an upstream\'s answers are 5xx', () => {
    const p = pack();
    for (let i = 0; i < 100; i++) p.engine.process(ev(NOON + i * 1000, { client_ip: `192.0.2.${i % 50}`, upstream: '10.0.0.5:80', status: i % 5 === 0 ? 502 : 200 }));
    assert.deepEqual(p.fired(), ['upstream-5xx-surge']);
  });

  test('route-latency-surge: p95 over 2 s on a route', () => {
    const p = pack();
    for (let i = 0; i < 200; i++) p.engine.process(ev(NOON + i * 1000, { client_ip: `192.0.2.${i % 50}`, route: 'checkout', duration_ms: i % 10 === 0 ? 50 : 2500 }));
    assert.deepEqual(p.fired(), ['route-latency-surge']);
  });

  test('denied-regular-user: a user with a history of successes is suddenly denied', () => {
    const p = pack();
    for (let i = 0; i < 30; i++) p.engine.process(ev(NOON - 86_400_000 + i * 60_000, { user_id: 'carol', path: '/reports' }));
    for (let i = 0; i < 5; i++) p.engine.process(ev(NOON + i * 1000, { user_id: 'mallory', path: '/admin', status: 403, decision: 'deny' }));
    assert.deepEqual(p.fired(), [], 'a user without history is not "regular"');
    for (let i = 0; i < 5; i++) p.engine.process(ev(NOON + 10_000 + i * 1000, { user_id: 'carol', path: '/admin', status: 403, decision: 'deny' }));
    assert.deepEqual(p.fired(), ['denied-regular-user']);
  });
});
