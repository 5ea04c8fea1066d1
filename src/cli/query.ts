import type { Command } from 'commander';
import type { AuditEvent } from '../core/event.js';
import { addCommonOptions, adminConnection, adminFetch, errorText, filterParams, tableHeader, tableRow, timeArg } from './admin-client.js';

interface QueryOpts {
  admin?: string;
  tokenFile?: string;
  config?: string;
  from?: string;
  to?: string;
  limit: string;
  json?: boolean;
  csv?: boolean;
  ndjson?: boolean;
  asc?: boolean;
  [k: string]: unknown;
}

export function registerQuery(program: Command): void {
  const cmd = program
    .command('query')
    .description('Search audit events through the admin API (newest first).')
    .option('--from <time>', 'from this time: ISO 8601, epoch ms, or a duration ago like 1h')
    .option('--to <time>', 'until this time (exclusive)')
    .option('-n, --limit <n>', 'most events to show', '50')
    .option('--asc', 'oldest first')
    .option('--json', 'JSON (one object with events and next_cursor)')
    .option('--ndjson', 'one JSON event per line (all matching events, up to --limit)')
    .option('--csv', 'CSV with a header row (all matching events, up to --limit)');
  addCommonOptions(cmd);
  cmd.action(async (opts: QueryOpts) => {
    const { base, headers } = await adminConnection(opts);
    const p = filterParams(opts);
    if (opts.from) p.set('from', timeArg(opts.from));
    if (opts.to) p.set('to', timeArg(opts.to));
    p.set('limit', opts.limit);
    if (opts.asc) p.set('order', 'asc');
    const format = opts.csv ? 'csv' : opts.ndjson ? 'ndjson' : null;
    if (format) p.set('format', format);
    const res = await adminFetch(`${base}/api/v1/events?${p.toString()}`, { headers });
    if (!res.ok) throw new Error(`query failed (${res.status}): ${await errorText(res)}`);
    if (format || opts.json) {
      process.stdout.write(await res.text());
      if (opts.json) process.stdout.write('\n');
      return;
    }
    const page = (await res.json()) as { events: AuditEvent[]; next_cursor: string | null };
    if (!page.events.length) {
      process.stderr.write('no matching events\n');
      return;
    }
    process.stdout.write(tableHeader() + '\n');
    for (const e of page.events) process.stdout.write(tableRow(e) + '\n');
    if (page.next_cursor) process.stderr.write(`(more: raise --limit, or use --ndjson/--csv to export all)\n`);
  });
}
