import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyEvent, type AuditEvent } from '../core/event.js';
import { uuidv7 } from '../core/ids.js';
import { Engine, type Transition } from './engine.js';
import { RuleSchema, type RuleConfig } from './rules/schema.js';

const T0 = Date.parse('2026-03-02T10:00:00.000Z'); // a Monday

function ev(ms: number, fields: Partial<AuditEvent> = {}): AuditEvent {
  const e = emptyEvent(uuidv7(), new Date(ms).toISOString(), 'http', 'tollgate');
  e.client_ip = '203.0.113.9';
  e.method = 'GET';
  e.path = '/';
  e.status = 200;
  e.route = 'api';
  e.decision = 'allow';
  e.termination = 'ok';
  e.duration_ms = 10;
  return Object.assign(e, fields);
}

function rule(def: Record<string, unknown>): RuleConfig {
  return RuleSchema.parse({ id: 'r', ...def });
}

function harness(rules: RuleConfig[], opts: { defaultNotifiers?: string[]; maxGroups?: number } = {}) {
  const transitions: Transition[] = [];
  const engine = new Engine({ rules, defaultNotifiers: opts.defaultNotifiers ?? [], maxGroups: opts.maxGroups ?? 1000, onTransition: (t) => transitions.push(structuredClone(t)) });
  return { engine, transitions, resolved: () => transitions.filter((t) => t.kind === 'resolved') };
}

describe('conditions', () => {
  test('count: fires on the event that reaches the threshold, with evidence and sample ids', () => {
    const h = harness([rule({ match: { field: 'status', equals: 401 }, group_by: ['client_ip'], window: '1m', condition: { type: 'count', threshold: 5 } })]);
    const events: AuditEvent[] = [];
    for (let i = 0; i < 4; i++) h.engine.process(ev(T0 + i * 1000, { status: 401 }));
    h.engine.process(ev(T0 + 4500, { status: 200 })); // does not match
    assert.equal(h.transitions.length, 0, 'four failures: quiet');
    const fifth = ev(T0 + 5000, { status: 401 });
    events.push(fifth);
    h.engine.process(fifth);
    assert.equal(h.transitions.length, 1);
    const a = h.transitions[0].alert;
    assert.equal(a.status, 'firing');
    assert.equal(a.rule_id, 'r');
    assert.deepEqual(a.group, { client_ip: '203.0.113.9' });
    assert.equal(a.dedup_key, 'r:203.0.113.9');
    assert.equal(a.evidence.value, 5);
    assert.equal(a.evidence.threshold, 5);
    assert.equal(a.evidence.window_seconds, 60);
    assert.equal(a.evidence.sample_event_ids.length, 5);
    assert.equal(a.evidence.sample_event_ids.at(-1), fifth.id);
    assert.equal(a.started_at, fifth.ts);
    // More events while firing: the same alert, no new transition.
    for (let i = 0; i < 10; i++) h.engine.process(ev(T0 + 6000 + i, { status: 401 }));
    assert.equal(h.transitions.length, 1);
  });

  test('count: events spread wider than the window never fire; groups are independent', () => {
    const h = harness([rule({ group_by: ['client_ip'], window: '10s', condition: { type: 'count', threshold: 3 } })]);
    for (let i = 0; i < 20; i++) h.engine.process(ev(T0 + i * 6000));
    assert.equal(h.transitions.length, 0, 'one event per 6 s never reaches 3 in 10 s');
    h.engine.process(ev(T0 + 200_000, { client_ip: '198.51.100.1' }));
    h.engine.process(ev(T0 + 200_001, { client_ip: '198.51.100.2' }));
    h.engine.process(ev(T0 + 200_002, { client_ip: '198.51.100.1' }));
    assert.equal(h.transitions.length, 0);
    h.engine.process(ev(T0 + 200_003, { client_ip: '198.51.100.1' }));
    assert.equal(h.transitions.length, 1);
    assert.deepEqual(h.transitions[0].alert.group, { client_ip: '198.51.100.1' });
  });

  test('count with `where`, and op ">" is strict', () => {
    const h = harness([rule({ group_by: ['user_id'], match: { field: 'user_id', exists: true }, condition: { type: 'count', threshold: 2, op: '>', where: { field: 'decision', equals: 'deny' } } })]);
    h.engine.process(ev(T0, { user_id: 'u', decision: 'deny' }));
    h.engine.process(ev(T0 + 1, { user_id: 'u', decision: 'allow' }));
    h.engine.process(ev(T0 + 2, { user_id: 'u', decision: 'deny' }));
    assert.equal(h.transitions.length, 0, '2 is not > 2');
    h.engine.process(ev(T0 + 3, { user_id: 'u', decision: 'deny' }));
    assert.equal(h.transitions.length, 1);
    assert.equal(h.transitions[0].alert.evidence.op, '>');
  });

  test('rate: events per second over the window', () => {
    const h = harness([rule({ window: '10s', condition: { type: 'rate', threshold: 2 } })]);
    for (let i = 0; i < 19; i++) h.engine.process(ev(T0 + i * 100));
    assert.equal(h.transitions.length, 0, '19 in 10 s = 1.9/s');
    h.engine.process(ev(T0 + 1900));
    assert.equal(h.transitions.length, 1);
    assert.equal(h.transitions[0].alert.evidence.value, 2);
    assert.equal(h.transitions[0].alert.dedup_key, 'r', 'no group_by: one group, keyed by the rule');
  });

  test('distinct: distinct paths per client; repeats of one path do not count', () => {
    const h = harness([rule({ group_by: ['client_ip'], window: '5m', match: { field: 'status', in: [403, 404] }, condition: { type: 'distinct', field: 'path', threshold: 5 } })]);
    for (let i = 0; i < 50; i++) h.engine.process(ev(T0 + i, { status: 404, path: '/same' }));
    for (let i = 0; i < 3; i++) h.engine.process(ev(T0 + 100 + i, { status: 404, path: `/p${i}` }));
    assert.equal(h.transitions.length, 0, '4 distinct paths');
    h.engine.process(ev(T0 + 200, { status: 403, path: '/admin' }));
    assert.equal(h.transitions.length, 1);
    assert.equal(h.transitions[0].alert.evidence.value, 5);
    assert.equal(h.transitions[0].alert.evidence.count, 54, 'count = matched events in the window');
  });

  test('ratio: 5xx share with a minimum count', () => {
    const h = harness([rule({ group_by: ['upstream'], match: { field: 'upstream', exists: true }, window: '1m', condition: { type: 'ratio', of: { field: 'status', class: '5xx' }, threshold: 0.5, min_count: 10 } })]);
    for (let i = 0; i < 6; i++) h.engine.process(ev(T0 + i, { upstream: 'a:1', status: 502 }));
    assert.equal(h.transitions.length, 0, '6/6 but below min_count');
    for (let i = 0; i < 6; i++) h.engine.process(ev(T0 + 10 + i, { upstream: 'a:1', status: 200 }));
    assert.equal(h.transitions.length, 1, '6/10 at the 10th event');
    const a = h.transitions[0].alert;
    assert.equal(a.evidence.value, 0.6);
    assert.equal(a.evidence.detail?.numerator, 6);
    assert.deepEqual(a.group, { upstream: 'a:1' });
  });

  test('percentile: p95 latency over the window, evaluated at most once per second of event time and on tick', () => {
    const h = harness([rule({ group_by: ['route'], window: '1m', condition: { type: 'percentile', percentile: 95, threshold: 1000, min_count: 20 } })]);
    for (let i = 0; i < 100; i++) h.engine.process(ev(T0 + i * 10, { duration_ms: 50 }));
    assert.equal(h.transitions.length, 0);
    for (let i = 0; i < 10; i++) h.engine.process(ev(T0 + 1000 + i, { duration_ms: 3000 }));
    // 10 of 110 slow: p95 is slow now, but the last evaluation was within the second.
    h.engine.tick(T0 + 1500);
    assert.equal(h.transitions.length, 1);
    const a = h.transitions[0].alert;
    assert.ok(a.evidence.value > 2800 && a.evidence.value < 3200, `p95 ≈ 3000 (${a.evidence.value})`);
    assert.equal(a.evidence.detail?.percentile, 95);
  });

  test('baseline: learns the count per hour of the week and fires on a spike against it', () => {
    const WEEK = 7 * 86_400_000;
    const h = harness([rule({ window: '1h', condition: { type: 'baseline', factor: 3, min_count: 50, min_weeks: 1, tz: 'Europe/Berlin' } })]);
    // Two weeks of 20 events per hour, every hour.
    for (let hour = 0; hour < 2 * 168; hour++) for (let i = 0; i < 20; i++) h.engine.process(ev(T0 - 2 * WEEK + hour * 3_600_000 + i * 60_000));
    assert.equal(h.transitions.length, 0, 'steady traffic does not fire');
    // This hour: 59 events (< 3 × 20 = 60) then the 60th.
    const start = T0 + 5000;
    for (let i = 0; i < 59; i++) h.engine.process(ev(start + i * 20_000));
    h.engine.tick(start + 59 * 20_000 + 1);
    assert.equal(h.transitions.length, 0, '59 < 60');
    h.engine.process(ev(start + 59 * 20_000 + 2000));
    h.engine.tick(start + 59 * 20_000 + 3000);
    assert.equal(h.transitions.length, 1);
    const a = h.transitions[0].alert;
    assert.equal(a.evidence.condition, 'baseline');
    assert.equal(a.evidence.threshold, 60);
    assert.equal(a.evidence.detail?.expected, 20);
  });

  test('baseline: without a learned slot it never fires', () => {
    const h = harness([rule({ window: '1h', condition: { type: 'baseline', factor: 2, min_count: 1 } })]);
    for (let i = 0; i < 1000; i++) h.engine.process(ev(T0 + i * 1000));
    h.engine.tick(T0 + 1_000_000);
    assert.equal(h.transitions.length, 0);
  });

  test('history: fires only for groups that have one (a user who normally succeeds)', () => {
    const def = {
      group_by: ['user_id'],
      match: { field: 'user_id', exists: true },
      window: '10m',
      condition: { type: 'count', threshold: 3, where: { field: 'decision', equals: 'deny' } },
      history: { window: '7d', where: { field: 'decision', equals: 'allow' }, min_count: 10 },
    };
    const h = harness([rule(def)]);
    for (let i = 0; i < 10; i++) h.engine.process(ev(T0 - 86_400_000 + i * 60_000, { user_id: 'regular', decision: 'allow' }));
    for (let i = 0; i < 3; i++) h.engine.process(ev(T0 + i, { user_id: 'newcomer', decision: 'deny' }));
    assert.equal(h.transitions.length, 0, 'no history: no alert');
    for (let i = 0; i < 3; i++) h.engine.process(ev(T0 + 10 + i, { user_id: 'regular', decision: 'deny' }));
    assert.equal(h.transitions.length, 1);
    assert.deepEqual(h.transitions[0].alert.group, { user_id: 'regular' });
  });
});

describe('lifecycle', () => {
  const failing = (extra: Record<string, unknown> = {}) =>
    rule({ group_by: ['client_ip'], match: { field: 'status', equals: 401 }, window: '10s', condition: { type: 'count', threshold: 3 }, cooldown: '1m', ...extra });

  test('resolves when the condition clears (after resolve_after), then cooldown holds back a refire', () => {
    const h = harness([failing({ resolve_after: '5s' })]);
    for (let i = 0; i < 3; i++) h.engine.process(ev(T0 + i, { status: 401 }));
    assert.equal(h.transitions.length, 1);
    h.engine.tick(T0 + 9000);
    assert.equal(h.resolved().length, 0, 'still inside the window: still met');
    h.engine.tick(T0 + 11_000);
    assert.equal(h.resolved().length, 0, 'clear for 0 s of the 5 s needed');
    h.engine.tick(T0 + 16_500);
    assert.equal(h.resolved().length, 1);
    const r = h.resolved()[0].alert;
    assert.equal(r.status, 'resolved');
    assert.equal(r.resolved_at, new Date(T0 + 16_500).toISOString());
    // A new burst inside the cooldown (1 min after the resolution) is suppressed…
    for (let i = 0; i < 5; i++) h.engine.process(ev(T0 + 30_000 + i, { status: 401 }));
    assert.equal(h.transitions.length, 2);
    assert.equal(h.engine.state()[0].suppressed > 0, true);
    // …and one after it fires a new alert.
    for (let i = 0; i < 3; i++) h.engine.process(ev(T0 + 90_000 + i, { status: 401 }));
    assert.equal(h.transitions.length, 3);
    assert.notEqual(h.transitions[2].alert.id, h.transitions[0].alert.id);
  });

  test('a condition that is met again before resolve_after keeps the alert firing', () => {
    const h = harness([failing({ resolve_after: '10s' })]);
    for (let i = 0; i < 3; i++) h.engine.process(ev(T0 + i, { status: 401 }));
    h.engine.tick(T0 + 12_000); // clear since 12 s
    for (let i = 0; i < 3; i++) h.engine.process(ev(T0 + 15_000 + i, { status: 401 }));
    h.engine.tick(T0 + 16_000); // met again
    h.engine.tick(T0 + 24_000); // the new burst is still inside the window
    h.engine.tick(T0 + 30_000); // clear since 30 s
    assert.equal(h.resolved().length, 0);
    h.engine.tick(T0 + 39_000);
    assert.equal(h.resolved().length, 0, '9 s clear < 10 s');
    h.engine.tick(T0 + 40_000);
    assert.equal(h.resolved().length, 1);
    assert.equal(h.transitions.filter((t) => t.kind === 'firing').length, 1, 'one alert throughout');
  });

  test('dedup_key: groups that share a key share one alert; it resolves when all are clear', () => {
    const h = harness([failing({ dedup_key: '{rule_id}', actions: [{ type: 'alert' }, { type: 'block', target: 'client_ip', duration: '1m' }] })]);
    for (let i = 0; i < 3; i++) h.engine.process(ev(T0 + i, { status: 401, client_ip: '192.0.2.1' }));
    for (let i = 0; i < 3; i++) h.engine.process(ev(T0 + 5000 + i, { status: 401, client_ip: '192.0.2.2' }));
    const firings = h.transitions.filter((t) => t.kind === 'firing');
    assert.equal(new Set(firings.map((t) => t.alert.id)).size, 1, 'one alert');
    assert.deepEqual(
      firings.flatMap((t) => t.actions.map((a) => (a.type === 'block' ? a.value : ''))),
      ['192.0.2.1', '192.0.2.2'],
      'but each offender is blocked',
    );
    assert.equal(firings[0].notifiers.length, 0, 'no default notifiers configured');
    h.engine.tick(T0 + 11_000); // first IP clear, second still met
    assert.equal(h.resolved().length, 0);
    h.engine.tick(T0 + 16_000);
    assert.equal(h.resolved().length, 1);
  });

  test('shadow: recorded and counted, no notifiers and no actions', () => {
    const h = harness([failing({ shadow: true, actions: [{ type: 'alert', notifiers: ['pager'] }, { type: 'block', target: 'client_ip' }] })], { defaultNotifiers: ['hook'] });
    for (let i = 0; i < 3; i++) h.engine.process(ev(T0 + i, { status: 401 }));
    const t = h.transitions[0];
    assert.equal(t.alert.shadow, true);
    assert.deepEqual(t.notifiers, []);
    assert.deepEqual(t.actions, []);
    assert.deepEqual(t.alert.actions, []);
    assert.equal(h.engine.state()[0].shadow_hits, 1);
  });

  test('actions: notifiers (named or default), block and tag carry the group', () => {
    const h = harness(
      [
        failing({
          actions: [
            { type: 'alert' },
            { type: 'alert', notifiers: ['pager'] },
            { type: 'block', target: 'client_ip', duration: '2m' },
            { type: 'tag', label: 'suspect', duration: '1h' },
          ],
        }),
      ],
      { defaultNotifiers: ['hook'] },
    );
    for (let i = 0; i < 3; i++) h.engine.process(ev(T0 + i, { status: 401 }));
    const t = h.transitions[0];
    assert.deepEqual(t.notifiers.sort(), ['hook', 'pager']);
    assert.deepEqual(t.actions[0], { type: 'block', kind: 'ip', value: '203.0.113.9', duration_ms: 120_000, rule_id: 'r', reason: 'detection rule r: r' });
    assert.deepEqual(t.actions[1], { type: 'tag', fields: ['client_ip'], values: ['203.0.113.9'], label: 'suspect', value: 'r', expires_ms: T0 + 2 + 3_600_000, rule_id: 'r' });
    assert.deepEqual(t.alert.actions, ['block ip 203.0.113.9 for 2m', `tag suspect=r on client_ip=203.0.113.9 until ${new Date(T0 + 2 + 3_600_000).toISOString()}`]);
    h.engine.tick(T0 + 20_000);
    assert.deepEqual(h.resolved()[0].notifiers.sort(), ['hook', 'pager'], 'resolution goes to the same notifiers');
    assert.deepEqual(h.resolved()[0].actions, []);
  });

  test('max_groups: the least recently seen group is evicted and counted; firing groups are kept', () => {
    const h = harness([rule({ group_by: ['client_ip'], window: '1m', condition: { type: 'count', threshold: 2 }, max_groups: 3 })]);
    h.engine.process(ev(T0, { client_ip: '10.0.0.1' }));
    h.engine.process(ev(T0 + 1, { client_ip: '10.0.0.1' })); // fires: kept
    for (let i = 2; i <= 5; i++) h.engine.process(ev(T0 + i, { client_ip: `10.0.0.${i}` }));
    const s = h.engine.state()[0];
    assert.equal(s.groups, 3);
    assert.equal(s.groups_evicted, 2, '10.0.0.2 and .3 went');
    // The evicted .2 starts from scratch: one more event does not fire.
    h.engine.process(ev(T0 + 10, { client_ip: '10.0.0.2' }));
    assert.equal(h.transitions.length, 1);
  });

  test('recycled groups start empty: an evicted group\'s windows, samples and distinct values do not leak into the next', () => {
    // distinct paths per IP, max 2 groups: every new IP evicts (and reuses) an old group.
    const h = harness([rule({ group_by: ['client_ip'], window: '1m', condition: { type: 'distinct', field: 'path', threshold: 3 }, max_groups: 2 })]);
    h.engine.process(ev(T0, { client_ip: '10.0.0.1', path: '/a' }));
    h.engine.process(ev(T0 + 1, { client_ip: '10.0.0.1', path: '/b' }));
    h.engine.process(ev(T0 + 2, { client_ip: '10.0.0.2', path: '/a' }));
    h.engine.process(ev(T0 + 3, { client_ip: '10.0.0.2', path: '/b' }));
    for (let i = 0; i < 20; i++) h.engine.process(ev(T0 + 10 + i, { client_ip: `10.0.1.${i}`, path: '/c' }));
    assert.equal(h.engine.state()[0].groups_evicted, 20);
    // A fresh IP with one new path: 1 distinct value, nothing fires (a leaked /a and /b would make it 3).
    const last = ev(T0 + 100, { client_ip: '10.0.2.1', path: '/z' });
    h.engine.process(last);
    assert.equal(h.transitions.length, 0);
    h.engine.process(ev(T0 + 101, { client_ip: '10.0.2.1', path: '/y' }));
    h.engine.process(ev(T0 + 102, { client_ip: '10.0.2.1', path: '/x' }));
    assert.equal(h.transitions.length, 1);
    const a = h.transitions[0].alert;
    assert.equal(a.evidence.value, 3);
    assert.equal(a.evidence.count, 3, 'the recycled group\'s count starts at zero');
    assert.equal(a.evidence.sample_event_ids[0], last.id, 'no sample ids from the group it replaced');
  });

  test('idle groups are dropped on tick once their window has passed', () => {
    const h = harness([rule({ group_by: ['client_ip'], window: '10s', condition: { type: 'count', threshold: 100 } })]);
    for (let i = 0; i < 50; i++) h.engine.process(ev(T0 + i, { client_ip: `10.1.0.${i}` }));
    assert.equal(h.engine.state()[0].groups, 50);
    h.engine.tick(T0 + 11_000);
    assert.equal(h.engine.state()[0].groups, 0);
    assert.equal(h.engine.state()[0].groups_evicted, 0, 'expiry is not eviction');
  });

  test('late events: inside the window they count, older ones are ignored', () => {
    const h = harness([rule({ window: '10s', condition: { type: 'count', threshold: 3 } })]);
    h.engine.process(ev(T0 + 20_000));
    h.engine.process(ev(T0 + 5_000)); // 15 s late: outside
    h.engine.process(ev(T0 + 15_000)); // 5 s late: inside
    assert.equal(h.transitions.length, 0);
    h.engine.process(ev(T0 + 19_000));
    assert.equal(h.transitions.length, 1);
    assert.equal(h.transitions[0].alert.evidence.value, 3);
  });

  test('admin events are never evaluated; events with a null group field are skipped', () => {
    const h = harness([rule({ group_by: ['user_id'], window: '10s', condition: { type: 'count', threshold: 1 } })]);
    h.engine.process(ev(T0, { kind: 'admin', user_id: 'root' }));
    h.engine.process(ev(T0, { user_id: null }));
    assert.equal(h.transitions.length, 0);
    assert.equal(h.engine.processed, 1);
  });

  test('setRules keeps the state of unchanged rules and resolves alerts of changed or removed ones', () => {
    const a = failing();
    const b = rule({ id: 'other', window: '1m', condition: { type: 'count', threshold: 2 } });
    const h = harness([a, b]);
    h.engine.process(ev(T0, { status: 401 }));
    h.engine.process(ev(T0 + 1, { status: 401 }));
    assert.equal(h.transitions.length, 1, '"other" fired (2 events)');
    h.engine.setRules([a]);
    assert.equal(h.resolved().length, 1, '"other" removed: its alert resolved');
    h.engine.process(ev(T0 + 2, { status: 401 }));
    assert.equal(h.transitions.filter((t) => t.kind === 'firing' && t.alert.rule_id === 'r').length, 1, 'r kept its two earlier events');
    h.engine.setRules([{ ...a, condition: { ...a.condition, threshold: 100 } as RuleConfig['condition'] }]);
    assert.equal(h.resolved().filter((t) => t.alert.rule_id === 'r').length, 1, 'changed rule: its alert resolved, state reset');
  });

  test('adopted alerts (firing before a restart) resolve after one window unless the condition is met again', () => {
    const h1 = harness([failing()]);
    for (let i = 0; i < 3; i++) h1.engine.process(ev(T0 + i, { status: 401 }));
    const before = h1.transitions[0].alert;
    const h2 = harness([failing()]);
    h2.engine.tick(T0 + 1000);
    h2.engine.adopt([before]);
    h2.engine.tick(T0 + 5000);
    assert.equal(h2.transitions.length, 0);
    for (let i = 0; i < 3; i++) h2.engine.process(ev(T0 + 6000 + i, { status: 401 }));
    assert.equal(h2.transitions.filter((t) => t.kind === 'firing' && t.alert.id !== before.id).length, 0, 'the burst joins the adopted alert');
    h2.engine.tick(T0 + 30_000);
    assert.equal(h2.resolved().length, 1);
    assert.equal(h2.resolved()[0].alert.id, before.id);
  });
});

describe('schedules', () => {
  const offHours = (tz: string) =>
    rule({ window: '1m', condition: { type: 'count', threshold: 3 }, schedule: { outside: { days: ['mon-fri'], hours: '08:00-18:00', tz } } });

  function burst(h: ReturnType<typeof harness>, iso: string) {
    const t = Date.parse(iso);
    for (let i = 0; i < 3; i++) h.engine.process(ev(t + i * 1000));
  }

  test('outside business hours in a time zone: 03:00 local fires, 11:00 local does not', () => {
    const h = harness([offHours('Asia/Tokyo')]);
    burst(h, '2026-03-04T02:00:00Z'); // 11:00 in Tokyo, a Wednesday
    assert.equal(h.transitions.length, 0);
    burst(h, '2026-03-04T18:00:00Z'); // 03:00 Thursday in Tokyo
    assert.equal(h.transitions.length, 1);
  });

  test('weekends are outside business hours all day', () => {
    const h = harness([offHours('UTC')]);
    burst(h, '2026-03-07T11:00:00Z'); // Saturday
    assert.equal(h.transitions.length, 1);
  });

  test('across daylight-saving changes in Europe/Berlin the local hour decides', () => {
    // Summer time starts 2026-03-29 (Sunday); winter time 2026-10-25. Business hours every day here.
    const everyDay = (tz: string) => rule({ window: '1m', condition: { type: 'count', threshold: 3 }, schedule: { inside: { days: ['mon-sun'], hours: '08:00-18:00', tz } } });
    const check = (iso: string, expect: boolean) => {
      const h = harness([everyDay('Europe/Berlin')]);
      burst(h, iso);
      assert.equal(h.transitions.length === 1, expect, iso);
    };
    check('2026-03-28T07:30:00Z', true); // CET: 08:30 local
    check('2026-03-30T06:30:00Z', true); // CEST: 08:30 local
    check('2026-03-30T16:30:00Z', false); // CEST: 18:30 local
    check('2026-03-28T16:30:00Z', true); // CET: 17:30 local
    check('2026-10-26T07:30:00Z', true); // CET again: 08:30
    check('2026-10-24T06:30:00Z', true); // CEST: 08:30
    check('2026-10-24T05:30:00Z', false); // CEST: 07:30
  });

  test('events outside the schedule are not counted toward a later in-schedule window', () => {
    const h = harness([rule({ window: '1h', condition: { type: 'count', threshold: 3 }, schedule: { inside: { days: ['mon-sun'], hours: '09:00-10:00', tz: 'UTC' } } })]);
    const t = Date.parse('2026-03-04T08:59:00Z');
    h.engine.process(ev(t));
    h.engine.process(ev(t + 1000));
    h.engine.process(ev(t + 61_000)); // 09:00:01
    assert.equal(h.transitions.length, 0);
  });
});

test('events too late for a rule that matches them are counted', () => {
  const engine = new Engine({ rules: [RuleSchema.parse({ id: 'r', window: '10s', condition: { type: 'count', threshold: 100 } })], defaultNotifiers: [], maxGroups: 10, onTransition: () => {} });
  engine.process(ev(T0 + 60_000));
  engine.process(ev(T0 + 55_000));
  assert.equal(engine.late, 0);
  engine.process(ev(T0));
  assert.equal(engine.late, 1);
  assert.equal(engine.processed, 3);
});
