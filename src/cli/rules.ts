/**
 * `tollgate rules test`: backtests detection rules over stored events, read
 * through the admin API oldest first (or straight from a DuckDB file when no
 * node has it open), and prints what would have fired and resolved, and when.
 * `tollgate rules list`: each rule's live state from a running node.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import type { AuditEvent } from '../core/event.js';
import type { BacktestResult } from '../detect/backtest.js';
import { addConnectionOptions, adminConnection, adminFetch, errorText, timeArg } from './admin-client.js';
import type { RuleState } from '../detect/engine.js';

interface TestOpts {
  from: string;
  to?: string;
  rules?: string;
  only?: string;
  store?: string;
  json?: boolean;
  admin?: string;
  config?: string;
  tokenFile?: string;
}

const PAGE = 10_000;

async function* viaAdmin(opts: TestOpts, from: string, to: string): AsyncGenerator<AuditEvent[]> {
  const { base, headers } = await adminConnection(opts);
  let cursor: string | null = null;
  do {
    const p = new URLSearchParams({ from, to, order: 'asc', limit: String(PAGE) });
    if (cursor) p.set('cursor', cursor);
    const res = await adminFetch(`${base}/api/v1/events?${p.toString()}`, { headers });
    if (!res.ok) throw new Error(`reading events failed (${res.status}): ${await errorText(res)}`);
    const page = (await res.json()) as { events: AuditEvent[]; next_cursor: string | null };
    yield page.events;
    cursor = page.next_cursor;
  } while (cursor);
}

async function* viaStore(file: string, from: string, to: string): AsyncGenerator<AuditEvent[]> {
  if (!existsSync(file)) throw new Error(`no store at ${file}`);
  const { DuckDbStore } = await import('../store/duckdb/duckdb-store.js');
  const store = new DuckDbStore({ path: file });
  await store.init();
  try {
    let cursor: string | undefined;
    do {
      const page = await store.search({ from, to, order: 'asc', limit: PAGE, cursor });
      yield page.events;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  } finally {
    await store.close();
  }
}

function print(r: BacktestResult, from: string, to: string): void {
  const out = process.stdout;
  out.write(`replayed ${r.events} events from ${from} to ${to}\n`);
  if (!r.transitions.length) {
    out.write('no rule would have fired\n');
    return;
  }
  for (const t of r.transitions) {
    const a = t.alert;
    const group = Object.entries(a.group).map(([k, v]) => `${k}=${v}`).join(' ');
    const what = t.kind === 'firing' ? `FIRING   ${a.severity.padEnd(8)} ${a.rule_id}${a.shadow ? ' (shadow)' : ''} ${group} — ${a.evidence.condition} ${a.evidence.value} ${a.evidence.op} ${a.evidence.threshold} in ${a.evidence.window_seconds}s` : `resolved          ${a.rule_id} ${group}`;
    out.write(`${t.at}  ${what}${t.would.length ? `  [would: ${t.would.join('; ')}]` : ''}\n`);
  }
  const fired = r.transitions.filter((t) => t.kind === 'firing').length;
  out.write(`${fired} alert(s) would have fired\n`);
}

export function registerRules(program: Command): void {
  const rules = program.command('rules').description('Detection rules: backtest them over stored events, or show their live state.');
  const test = rules
    .command('test')
    .description('Replay stored events (live or ingested) through the rules in event-time order and print what would have fired and when; nothing is sent.')
    .requiredOption('--from <time>', 'from this time: ISO 8601, epoch ms, or a duration ago like 24h')
    .option('--to <time>', 'until this time (exclusive; default now)')
    .option('--rules <file>', 'test the rules in this YAML file (`rules: [...]`) instead of the configured ones')
    .option('--no-builtin', 'leave the built-in pack out (with --rules, it is left out unless --builtin is given)')
    .option('--builtin', 'include the built-in pack')
    .option('--only <ids>', 'only these rule ids (comma-separated)')
    .option('--store <file>', 'read events from this DuckDB file instead of the admin API (the node must not have it open)')
    .option('--json', 'print the result as JSON');
  addConnectionOptions(test, 'an admin token', 'the configuration whose rules, notifiers and admin address (and token file) to use');
  test.action(async (opts: TestOpts) => {
    const [{ loadConfigFile }, { DetectSchema }, { loadRulesFile, resolveRules }, { backtest }] = await Promise.all([
      import('../config/load.js'),
      import('../config/detect-schema.js'),
      import('../detect/rules/load.js'),
      import('../detect/backtest.js'),
    ]);
    const from = timeArg(opts.from);
    const to = opts.to ? timeArg(opts.to) : new Date().toISOString();
    let detect = DetectSchema.parse({});
    if (opts.config) {
      const r = loadConfigFile(opts.config);
      if (!r.ok) throw new Error(`${opts.config} is invalid; run tollgate check -c ${opts.config}`);
      detect = r.config.detect;
    }
    const builtin = process.argv.includes('--builtin') ? true : process.argv.includes('--no-builtin') ? false : !opts.rules;
    const base = { ...detect, builtin: { ...detect.builtin, enabled: builtin && detect.builtin.enabled }, rules: opts.rules ? [] : detect.rules, rules_files: opts.rules ? [] : detect.rules_files };
    const set = resolveRules(base);
    if (opts.rules) {
      const f = loadRulesFile(opts.rules);
      for (const e of f.errors) set.errors.push({ ...e, path: `${opts.rules} ${e.path}` });
      set.rules.push(...f.rules);
    }
    if (set.errors.length) {
      for (const e of set.errors) process.stderr.write(`${e.path}${e.line ? ` (line ${e.line})` : ''}: ${e.message}\n`);
      throw new Error(`${set.errors.length} error(s) in the rules`);
    }
    let selected = set.rules;
    if (opts.only) {
      const ids = new Set(opts.only.split(',').map((s) => s.trim()));
      for (const id of ids) if (!selected.some((r) => r.id === id)) throw new Error(`no rule "${id}" (rules: ${selected.map((r) => r.id).join(', ')})`);
      selected = selected.filter((r) => ids.has(r.id));
    }
    const pages = opts.store ? viaStore(opts.store, from, to) : viaAdmin(opts, from, to);
    const result = await backtest(pages, { rules: selected, builtinIds: set.builtinIds, maxGroups: detect.max_groups, to });
    if (opts.json) process.stdout.write(JSON.stringify({ from, to, ...result }, null, 2) + '\n');
    else print(result, from, to);
  });

  const list = rules.command('list').description('Each rule of a running node: state, matched events, firing alerts, shadow hits.').option('--json', 'JSON');
  addConnectionOptions(list);
  list.action(async (opts: { json?: boolean; admin?: string; config?: string; tokenFile?: string }) => {
    const { base, headers } = await adminConnection(opts);
    const res = await adminFetch(`${base}/api/v1/rules`, { headers });
    if (!res.ok) throw new Error(`listing rules failed (${res.status}): ${await errorText(res)}`);
    const body = (await res.json()) as { rules: RuleState[] };
    if (opts.json) {
      process.stdout.write(JSON.stringify(body, null, 2) + '\n');
      return;
    }
    process.stdout.write(['RULE'.padEnd(24), 'SEVERITY'.padEnd(9), 'CONDITION'.padEnd(11), 'WINDOW'.padStart(7), 'MATCHED'.padStart(9), 'GROUPS'.padStart(7), 'FIRING'.padStart(7), 'FIRED'.padStart(6), 'SHADOW'.padStart(7)].join(' ') + '\n');
    for (const r of body.rules) {
      const name = `${r.id}${r.enabled ? '' : ' (off)'}${r.shadow ? ' (shadow)' : ''}`;
      process.stdout.write([name.padEnd(24), r.severity.padEnd(9), r.condition.padEnd(11), `${r.window_seconds}s`.padStart(7), String(r.matched).padStart(9), String(r.groups).padStart(7), String(r.firing).padStart(7), String(r.fired).padStart(6), String(r.shadow_hits).padStart(7)].join(' ') + '\n');
    }
  });
}
