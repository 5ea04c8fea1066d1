import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { uuidv7 } from '../../core/ids.js';
import type { Alert } from '../types.js';
import { AlertBook } from './alert-book.js';

function alert(fields: Partial<Alert> = {}): Alert {
  const now = new Date().toISOString();
  return {
    id: uuidv7(),
    rule_id: 'r',
    summary: 's',
    severity: 'high',
    status: 'firing',
    dedup_key: 'r:1',
    group: { client_ip: '192.0.2.1' },
    labels: {},
    shadow: false,
    started_at: now,
    resolved_at: null,
    updated_at: now,
    evidence: { condition: 'count', value: 1, threshold: 1, op: '>=', window_seconds: 60, window_start: now, window_end: now, count: 1, sample_event_ids: [] },
    actions: [],
    acknowledged_at: null,
    acknowledged_by: null,
    notifications: [],
    ...fields,
  };
}

test('alerts survive a restart with their changes; a torn last line is skipped', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-alerts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'alerts.ndjson');
  const book = new AlertBook({ file, retentionDays: 90 });
  book.load();
  const a = alert();
  const b = alert({ rule_id: 'other', group: { user_id: 'carol' }, shadow: true });
  book.put(a);
  book.put(b);
  book.addNotification(a.id, { notifier: 'hook', kind: 'firing', state: 'sent', attempts: 2, at: new Date().toISOString() });
  book.acknowledge(a.id, 'ops-token');
  a.status = 'resolved';
  a.resolved_at = new Date().toISOString();
  book.put(a);
  appendFileSync(file, '{"id":"torn');
  const again = new AlertBook({ file, retentionDays: 90 });
  again.load();
  assert.equal(again.badLines, 1);
  const got = again.get(a.id)!;
  assert.equal(got.status, 'resolved');
  assert.equal(got.acknowledged_by, 'ops-token');
  assert.equal(got.notifications[0].attempts, 2);
  assert.deepEqual(again.firing().map((x) => x.id), [b.id]);
  // Compacted at load: one line per alert.
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 2);
});

test('list filters and pages newest first', () => {
  const book = new AlertBook({ file: null, retentionDays: 0 });
  const made: Alert[] = [];
  for (let i = 0; i < 25; i++) {
    const a = alert({ rule_id: i % 2 ? 'odd' : 'even', severity: i % 5 === 0 ? 'critical' : 'low', shadow: i === 3, group: { client_ip: `192.0.2.${i}` } });
    made.push(a);
    book.put(a);
  }
  book.acknowledge(made[4].id, 't');
  assert.equal(book.list({ rule_id: 'odd' }).alerts.length, 12);
  assert.equal(book.list({ severity: 'critical' }).alerts.length, 5);
  assert.deepEqual(book.list({ shadow: true }).alerts.map((a) => a.id), [made[3].id]);
  assert.deepEqual(book.list({ acknowledged: true }).alerts.map((a) => a.id), [made[4].id]);
  assert.deepEqual(book.list({ group: '192.0.2.7' }).alerts.map((a) => a.id), [made[7].id]);
  const p1 = book.list({ limit: 10 });
  assert.equal(p1.alerts[0].id, made[24].id, 'newest first');
  const p2 = book.list({ limit: 10, cursor: p1.next_cursor! });
  const p3 = book.list({ limit: 10, cursor: p2.next_cursor! });
  assert.equal(p3.next_cursor, null);
  assert.deepEqual([...p1.alerts, ...p2.alerts, ...p3.alerts].map((a) => a.id), made.map((a) => a.id).reverse());
  assert.equal(book.list({ status: 'resolved' }).alerts.length, 0);
  assert.deepEqual(book.counts(), { firing: 24, total: 25 });
});

test('retention forgets old resolved alerts; the cap drops the oldest resolved first', () => {
  const book = new AlertBook({ file: null, retentionDays: 1, maxAlerts: 3 });
  const old = alert({ status: 'resolved', started_at: '2020-01-01T00:00:00Z', resolved_at: '2020-01-01T00:10:00Z' });
  const firingOld = alert({ started_at: '2020-01-01T00:00:00Z' });
  book.put(old);
  book.put(firingOld);
  const r1 = alert({ status: 'resolved', resolved_at: new Date().toISOString() });
  const r2 = alert({ status: 'resolved', resolved_at: new Date().toISOString() });
  book.put(r1);
  book.put(r2);
  assert.equal(book.get(old.id), null, 'past retention');
  assert.ok(book.get(firingOld.id), 'firing alerts are kept whatever their age');
  assert.ok(book.get(r1.id) && book.get(r2.id));
});
