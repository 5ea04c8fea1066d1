/** Shared by `query` and `tail`: where the admin API is, the filter options, and table output. */
import type { Command } from 'commander';
import type { AuditEvent } from '../core/event.js';
import { readFileSync } from 'node:fs';
import { parseDuration } from '../config/durations.js';

export const FILTER_OPTIONS: [flag: string, param: string, help: string][] = [
  ['--client-ip <ip>', 'client_ip', 'client IP'],
  ['--user <user>', 'user', 'user id or name'],
  ['--method <method>', 'method', 'HTTP method'],
  ['--path-prefix <prefix>', 'path_prefix', 'path prefix'],
  ['--status <status>', 'status', 'status code (404) or class (5xx)'],
  ['--decision <decision>', 'decision', 'allow, deny, ratelimit, block, error'],
  ['--route <id>', 'route', 'route id'],
  ['--upstream <host:port>', 'upstream', 'backend server'],
  ['--request-id <id>', 'request_id', 'request id'],
  ['--host <host>', 'host', 'host'],
  ['--termination <t>', 'termination', 'ok, client_abort, upstream_timeout, ...'],
  ['--service <name>', 'service', 'service'],
  ['--source <source>', 'source', 'tollgate, or the load balancer of an ingested log (nginx, haproxy, alb, ...)'],
  ['--rule-id <id>', 'rule_id', 'the access rule that decided'],
  ['--trace-id <id>', 'trace_id', 'W3C trace id'],
  ['--kind <kind>', 'kind', 'http, websocket, tcp, admin, or all (default: all but admin, the admin API\'s own calls); "!x" excludes x'],
];

/** Where the admin API is and where its token comes from (never from the command line). */
export function addConnectionOptions(cmd: Command, tokenRole = 'an admin token', configHelp = 'read the admin address and token file from this configuration'): Command {
  return cmd
    .option('--admin <url>', 'admin API base URL (default: from -c, $TOLLGATE_ADMIN, or http://127.0.0.1:9191)')
    .option('-c, --config <file>', configHelp)
    .option('--token-file <file>', `file holding ${tokenRole} (default: $TOLLGATE_ADMIN_TOKEN, else admin.token_file of -c, else ./data/admin.token)`);
}

/** The connection options and the event filters (query, tail). */
export function addCommonOptions(cmd: Command): Command {
  addConnectionOptions(cmd);
  for (const [flag, , help] of FILTER_OPTIONS) cmd.option(flag, help);
  return cmd;
}

export interface AdminConnection {
  base: string;
  /** Authorization header for the admin API (null when no token was found). */
  headers: Record<string, string>;
}

/**
 * Where the admin API is and which token to send. The token never comes from
 * a command-line argument (it would show in `ps` and shell history).
 */
export async function adminConnection(opts: { admin?: string; config?: string; tokenFile?: string }): Promise<AdminConnection> {
  let base = (process.env.TOLLGATE_ADMIN ?? 'http://127.0.0.1:9191').replace(/\/$/, '');
  let tokenFile = opts.tokenFile ?? './data/admin.token';
  if (opts.config) {
    // Loaded only here: the schema is most of what a client command would otherwise load at start.
    const { loadConfigFile } = await import('../config/load.js');
    const r = loadConfigFile(opts.config);
    if (!r.ok) throw new Error(`${opts.config} is invalid; run tollgate check -c ${opts.config}`);
    base = `http://${r.config.admin.address}`;
    tokenFile = opts.tokenFile ?? r.config.admin.token_file;
  }
  if (opts.admin) base = opts.admin.replace(/\/$/, '');
  let token = process.env.TOLLGATE_ADMIN_TOKEN ?? null;
  if (!token || opts.tokenFile) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim() || token;
    } catch {
      // No file: the request goes without a token and the server says 401, which errorText explains.
    }
  }
  return { base, headers: token ? { authorization: `Bearer ${token}` } : {} };
}

/** "1h" or "30m" means that long ago; anything else is passed on (ISO 8601 or epoch ms). */
export function timeArg(v: string): string {
  const ms = /^\d+(\.\d+)?(ms|s|m|h|d)$/.test(v) ? parseDuration(v) : null;
  return ms !== null ? new Date(Date.now() - ms).toISOString() : v;
}

export function filterParams(opts: Record<string, unknown>): URLSearchParams {
  const p = new URLSearchParams();
  for (const [flag, param] of FILTER_OPTIONS) {
    const key = flag
      .slice(2)
      .split(' ')[0]
      .replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
    let v = opts[key];
    // The admin API records its own calls (these included): left out unless asked for.
    if (param === 'kind') v = v === undefined ? '!admin' : v === 'all' ? undefined : v;
    // Methods are case-sensitive on the wire and in the API; typed at a prompt, "get" means GET.
    if (param === 'method' && typeof v === 'string') v = v.toUpperCase();
    if (typeof v === 'string' && v) p.set(param, v);
  }
  return p;
}

export async function adminFetch(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new Error(`cannot reach the admin API at ${new URL(url).origin} (${cause?.code ?? (err as Error).message}); is tollgate running? use --admin to point elsewhere`);
  }
}

export async function errorText(res: Response): Promise<string> {
  const body = await res.text();
  try {
    const j = JSON.parse(body) as { error?: { message?: string } };
    const msg = j.error?.message ?? body;
    if (res.status === 401) return `${msg} (set $TOLLGATE_ADMIN_TOKEN, or --token-file / -c so the token file is found)`;
    return msg;
  } catch {
    return body;
  }
}

const COLUMNS: [keyof AuditEvent, string, number][] = [
  ['ts', 'TIME', 23],
  ['client_ip', 'CLIENT', 15],
  ['method', 'METHOD', 6],
  ['status', 'STATUS', 6],
  ['duration_ms', 'MS', 8],
  ['route', 'ROUTE', 10],
  ['upstream', 'UPSTREAM', 15],
  ['termination', 'END', 11],
  ['path', 'PATH', 0],
];

function cell(e: AuditEvent, k: keyof AuditEvent): string {
  const v = e[k];
  if (v === null || v === undefined) return '-';
  if (k === 'ts') return String(v).replace('T', ' ').replace('Z', '');
  if (k === 'duration_ms') return (v as number).toFixed(1);
  if (k === 'path') return String(v) + (e.query ? `?${e.query}` : '');
  return String(v);
}

export function tableHeader(): string {
  return COLUMNS.map(([, h, w]) => (w ? h.padEnd(w) : h)).join(' ');
}

export function tableRow(e: AuditEvent, width = process.stdout.columns || 160): string {
  const line = COLUMNS.map(([k, , w]) => {
    const c = cell(e, k);
    return w ? (c.length > w ? c.slice(0, w - 1) + '…' : c.padEnd(w)) : c;
  }).join(' ');
  return line.length > width ? line.slice(0, width - 1) + '…' : line;
}
