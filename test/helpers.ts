/**
 * Integration test helpers: real backends on loopback, a Tollgate node
 * started in-process (or as a child process for crash tests) with temporary
 * spool and store, and small raw-socket/HTTP clients.
 */
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { pino } from 'pino';
import { loadConfigText } from '../src/config/load.js';
import { startNode, type RunningNode } from '../src/runtime/node.js';
import type { AuditEvent } from '../src/core/event.js';
import { freePort } from '../src/runtime/ports.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'index.js');

export { freePort };

export interface Backend {
  port: number;
  address: string;
  server: http.Server;
  requests: http.IncomingMessage[];
  close(): Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export const okHandler: Handler = (req, res) => {
  if (req.url === '/healthz') {
    res.end('ok');
    return;
  }
  let n = 0;
  req.on('data', (c: Buffer) => (n += c.length));
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': String((req.socket.localPort ?? 0)), 'set-cookie': 'sid=secret-session; HttpOnly' });
    res.end(`hello from ${req.socket.localPort} ${req.method} ${req.url} body=${n}\n`);
  });
};

export async function startBackend(handler: Handler = okHandler, port = 0): Promise<Backend> {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const p = (server.address() as net.AddressInfo).port;
  return {
    port: p,
    address: `127.0.0.1:${p}`,
    server,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface TestNode {
  node: RunningNode;
  dir: string;
  proxy: string;
  proxyPort: number;
  admin: string;
  /** Loads everything spooled into the store. */
  flush(): Promise<void>;
  /** All events in the store, oldest first. */
  events(query?: Record<string, string>): Promise<AuditEvent[]>;
  stop(): Promise<void>;
}

export type ConfigObject = Record<string, unknown>;

/** The admin token every test node accepts (role admin); tests send it with adminFetch/get(…, ADMIN). */
export const TEST_ADMIN_TOKEN = 'tg-test-admin-token-0123456789abcdef';
export const ADMIN_AUTH = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } as const;
export const ADMIN = { headers: ADMIN_AUTH };
const TEST_ADMIN_SHA256 = createHash('sha256').update(TEST_ADMIN_TOKEN).digest('hex');

/** fetch with the test admin token. */
export function adminFetch(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, headers: { ...ADMIN_AUTH, ...(init.headers as Record<string, string> | undefined) } });
}

export function baseConfig(dir: string, proxyPort: number, adminPort: number, backends: Record<string, string[]>, over: ConfigObject = {}): ConfigObject {
  const pools: Record<string, unknown> = {};
  for (const [name, servers] of Object.entries(backends)) pools[name] = { servers: servers.map((address) => ({ address })) };
  return {
    node: { name: 'test-node', environment: 'test' },
    listeners: [{ address: `127.0.0.1:${proxyPort}` }],
    admin: { address: `127.0.0.1:${adminPort}`, tokens: [{ id: 'test', sha256: TEST_ADMIN_SHA256, role: 'admin' }], token_file: path.join(dir, 'admin.token'), deployments_file: path.join(dir, 'deployments.json') },
    access: { blocks_file: path.join(dir, 'blocks.json') },
    routes: Object.keys(backends).map((b) => ({ id: b, backend: b })),
    backends: pools,
    audit: { spool: { dir: path.join(dir, 'spool') } },
    store: { path: path.join(dir, 'store.duckdb') },
    detect: { state_file: path.join(dir, 'detect-state.json'), alerts_file: path.join(dir, 'alerts.ndjson') },
    log: { level: 'silent' },
    ...over,
  };
}

/** Deep-merges `over` into `base` (objects only; arrays replace). */
export function merge(base: ConfigObject, over: ConfigObject): ConfigObject {
  const out: ConfigObject = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? merge(b as ConfigObject, v as ConfigObject) : v;
  }
  return out;
}

export async function tempDir(prefix = 'tg-it-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** Runs `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await tempDir(prefix);
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Starts a node in this process. `configure` gets a base config to adjust. */
export async function startTollgate(backends: Record<string, string[]>, configure: (c: ConfigObject) => ConfigObject = (c) => c, dir?: string): Promise<TestNode> {
  dir ??= await tempDir();
  const proxyPort = await freePort();
  const adminPort = await freePort();
  const cfg = configure(baseConfig(dir, proxyPort, adminPort, backends));
  const file = path.join(dir, 'tollgate.yaml');
  const text = stringify(cfg);
  await writeFile(file, text);
  const r = loadConfigText(text, file);
  if (!r.ok) throw new Error('test config invalid: ' + JSON.stringify(r.errors));
  const log = pino({ level: process.env.TG_TEST_LOG ?? 'silent' });
  const node = await startNode({ configPath: file, config: r.config, log });
  const admin = `http://127.0.0.1:${adminPort}`;
  const t: TestNode = {
    node,
    dir: dir,
    proxy: `http://127.0.0.1:${proxyPort}`,
    proxyPort,
    admin,
    flush: async () => {
      // Let the spool's group commit run, then load everything spooled so far.
      await new Promise((r) => setTimeout(r, 20));
      await node.loader.flush();
    },
    events: async (query = {}) => {
      await t.flush();
      return allEvents(admin, query);
    },
    stop: async () => {
      await node.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/**
 * Pages through /api/v1/events oldest first. The admin API's own calls are
 * events too (kind admin, including these very queries); they are left out
 * unless `query.kind` asks for them.
 */
export async function allEvents(admin: string, query: Record<string, string> = {}, auth: Record<string, string> = ADMIN_AUTH): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let cursor: string | null = null;
  for (;;) {
    const p = new URLSearchParams({ ...query, order: 'asc', limit: '1000' });
    if (cursor) p.set('cursor', cursor);
    const res = await fetch(`${admin}/api/v1/events?${p.toString()}`, { headers: auth });
    if (!res.ok) throw new Error(`events query failed: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { events: AuditEvent[]; next_cursor: string | null };
    out.push(...(query.kind ? page.events : page.events.filter((e) => e.kind !== 'admin')));
    if (!page.next_cursor) return out;
    cursor = page.next_cursor;
  }
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A plain HTTP request with a fresh connection (agent: false), so tests don't share sockets. */
export function get(url: string, opts: http.RequestOptions & { body?: string | Buffer } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: false, ...opts }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Sends raw bytes on a new TCP connection and returns what came back before the server closed (or timeout). */
export function rawExchange(port: number, data: string | Buffer, waitMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const t = setTimeout(() => s.destroy(), waitMs);
    s.on('connect', () => s.write(data));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

/** The one event of a request on `node`: waits for it, then fails if there is more than one. */
export async function oneEventFor(node: TestNode, requestId: string): Promise<AuditEvent> {
  const events = await waitFor(async () => {
    const ev = await node.events({ request_id: requestId });
    return ev.length ? ev : null;
  }, `event ${requestId}`);
  if (events.length !== 1) throw new Error(`expected exactly one event for ${requestId}, found ${events.length}`);
  return events[0];
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, what: string, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs `tollgate start -c file` as a child process (for kill -9 tests). */
export function spawnTollgate(configFile: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn(process.execPath, [CLI, 'start', '-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'], env });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
