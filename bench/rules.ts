/**
 * Rule engine throughput: events per second through the built-in pack plus
 * ten custom rules (every condition type), on one core, in the engine alone
 * (what the detection worker thread does per event besides reading the spool).
 * The event stream is generated: 20,000 client IPs, 5,000 users, 2,000 paths
 * on 10 routes and 8 upstreams, 2 % 404s, 1 % 401s on /login, 0.5 % 5xx, a
 * few probing clients — about 1,000 events per second of event time, so
 * windows fill and slide as in production.
 *
 *   node dist/bench/rules.js [--events N] [--repeat N]
 *
 * Target (product brief): ≥ 200,000 events/s. Prints the median of the runs.
 */
import { parseArgs } from 'node:util';
import { emptyEvent, type AuditEvent } from '../src/core/event.js';
import { Engine } from '../src/detect/engine.js';
import { BuiltinSchema, RuleSchema, type RuleConfig } from '../src/detect/rules/schema.js';
import { builtinRules } from '../src/detect/rules/builtin.js';
import { prng } from '../src/core/prng.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '1000000' }, repeat: { type: 'string', default: '5' } } });
const N = Number(values.events);
const REPEAT = Number(values.repeat);

function generate(n: number): AuditEvent[] {
  const rnd = prng(42);
  const start = Date.parse('2026-11-24T09:00:00Z');
  const out: AuditEvent[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const e = emptyEvent(`0193${i.toString(16).padStart(28, '0')}`, new Date(start + i).toISOString(), 'http', 'tollgate');
    const r = rnd();
    const prober = i % 997 === 0;
    e.client_ip = prober ? `198.51.100.${i % 7}` : `10.${(i * 7) % 80}.${Math.floor(rnd() * 250)}.${Math.floor(rnd() * 250)}`;
    e.method = r < 0.8 ? 'GET' : 'POST';
    e.host = 'shop.example';
    e.route = `r${Math.floor(rnd() * 10)}`;
    e.upstream = `10.1.0.${Math.floor(rnd() * 8)}:8080`;
    e.user_id = rnd() < 0.6 ? `user${Math.floor(rnd() * 5000)}` : null;
    e.user_agent = 'Mozilla/5.0';
    e.duration_ms = Math.round(rnd() * rnd() * 400 * 1000) / 1000;
    e.termination = 'ok';
    e.decision = 'allow';
    if (prober) {
      e.path = `/probe/${i}`;
      e.status = 404;
    } else if (r < 0.01) {
      e.path = '/login';
      e.status = 401;
      e.auth_error = 'bad_credentials';
      e.user_name = `name${Math.floor(rnd() * 100)}`;
    } else if (r < 0.03) {
      e.path = `/missing/${Math.floor(rnd() * 500)}`;
      e.status = 404;
    } else {
      e.path = `/p/${Math.floor(rnd() * 2000)}`;
      e.status = r < 0.035 ? 503 : r < 0.04 ? 403 : 200;
      if (e.status === 403) e.decision = 'deny';
    }
    out[i] = e;
  }
  return out;
}

const CUSTOM: unknown[] = [
  { id: 'c-admin-count', match: { field: 'path', prefix: '/admin' }, group_by: ['client_ip'], window: '1m', condition: { type: 'count', threshold: 50 } },
  { id: 'c-post-rate', match: { field: 'method', equals: 'POST' }, group_by: ['user_id'], window: '1m', condition: { type: 'rate', threshold: 5 } },
  { id: 'c-ua-regex', match: { field: 'user_agent', regex: '(sqlmap|nikto|nmap)' }, group_by: ['client_ip'], window: '5m', condition: { type: 'count', threshold: 1 } },
  { id: 'c-internal-cidr', match: { all: [{ field: 'client_ip', cidr: ['172.16.0.0/12', '192.168.0.0/16'] }, { field: 'status', class: '4xx' }] }, group_by: ['client_ip'], window: '1m', condition: { type: 'count', threshold: 20 } },
  { id: 'c-user-paths', match: { field: 'user_id', exists: true }, group_by: ['user_id'], window: '10m', condition: { type: 'distinct', field: 'path', threshold: 300, max_values: 1000 } },
  { id: 'c-route-errors', match: { field: 'route', exists: true }, group_by: ['route'], window: '5m', condition: { type: 'ratio', of: { field: 'status', class: ['4xx', '5xx'] }, threshold: 0.5, min_count: 100 } },
  { id: 'c-upstream-p99', match: { field: 'upstream', exists: true }, group_by: ['upstream'], window: '5m', condition: { type: 'percentile', percentile: 99, threshold: 5000, min_count: 100 } },
  { id: 'c-host-baseline', group_by: ['host'], window: '10m', condition: { type: 'baseline', factor: 4, min_count: 1000 } },
  { id: 'c-big-responses', match: { field: 'bytes_out', gte: 10_000_000 }, group_by: ['client_ip'], window: '1h', condition: { type: 'count', threshold: 10 } },
  { id: 'c-login-glob', match: { all: [{ field: 'path', glob: ['/login*', '/api/*/login'] }, { field: 'method', equals: 'POST' }] }, group_by: ['client_ip', 'host'], window: '1m', condition: { type: 'count', threshold: 30 } },
];

function rules(): RuleConfig[] {
  const pack = builtinRules(BuiltinSchema.parse({}));
  if (pack.errors.length) throw new Error(JSON.stringify(pack.errors));
  return [...pack.rules, ...CUSTOM.map((r) => RuleSchema.parse(r))];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function measure(label: string, set: RuleConfig[], events: AuditEvent[]): number {
  const rates: number[] = [];
  let fired = 0;
  for (let round = 0; round < REPEAT; round++) {
    let transitions = 0;
    const engine = new Engine({ rules: set, defaultNotifiers: [], maxGroups: 10_000, onTransition: () => transitions++ });
    const t0 = performance.now();
    let nextTick = t0 + 250;
    for (let i = 0; i < events.length; i++) {
      engine.process(events[i]);
      // As in the detection worker: the clock ticks on wall time (at most every 250 ms), not per event.
      if ((i & 1023) === 1023 && performance.now() >= nextTick) {
        engine.tick(Date.parse(events[i].ts));
        nextTick = performance.now() + 250;
      }
    }
    engine.tick(Date.parse(events[events.length - 1].ts));
    const s = (performance.now() - t0) / 1000;
    rates.push(events.length / s);
    fired = transitions;
    console.log(`${label} run ${round + 1}: ${Math.round(events.length / s).toLocaleString('en-US')} events/s (${transitions} transitions)`);
  }
  const med = median(rates);
  console.log(`  ${label}: ${set.length} rules, median ${Math.round(med).toLocaleString('en-US')} events/s over ${REPEAT} runs; ${fired} alert transitions per run\n`);
  return med;
}

const events = generate(N);
const all = rules();
const packOnly = all.filter((r) => !r.id.startsWith('c-'));
const packRate = measure('built-in pack', packOnly, events);
const allRate = measure('pack + 10 custom', all, events);
console.log(`Rule engine, ${N.toLocaleString('en-US')} events, one thread (medians):`);
console.log(`  built-in pack (${packOnly.length} rules):        ${Math.round(packRate).toLocaleString('en-US')} events/s`);
console.log(`  pack + 10 custom rules (${all.length} rules): ${Math.round(allRate).toLocaleString('en-US')} events/s   target >= 200,000  [${allRate >= 200_000 ? 'meets target' : 'BELOW TARGET'}] (${(allRate / 200_000).toFixed(2)}x)`);
