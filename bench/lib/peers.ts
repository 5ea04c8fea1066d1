/**
 * The benchmark's servers: the NGINX backend and the configurations under
 * test, each configured as in the reference set-up of docs/testing.md
 * ("Benchmarks, not timed tests"). Every server runs in the foreground from a
 * private temporary directory, on loopback ports picked for this run, so it
 * works as any user and never touches the system's NGINX or HAProxy.
 */
import { createHash } from 'node:crypto';
import { accessSync, chmodSync, constants, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { stringify } from 'yaml';
import { httpGet, freePort, waitFor } from './net.js';
import { startProcess, stopProcess, type Managed } from './procs.js';

/** The backend's response body: exactly 100 bytes of plain ASCII (safe inside an NGINX quoted string). */
export const BODY = 'tollgate benchmark backend: a plain text body of exactly one hundred bytes '.padEnd(100, '.');
if (Buffer.byteLength(BODY) !== 100) throw new Error(`BODY must be 100 bytes, is ${Buffer.byteLength(BODY)}`);

export const CONFIG_IDS = ['direct', 'nginx-log', 'nginx-log-unbuffered', 'nginx-nolog', 'haproxy', 'caddy-log', 'node-bare', 'node-http-proxy', 'tollgate', 'tollgate-noaudit', 'tollgate-norules', 'tollgate-apikey', 'tollgate-jwt'] as const;

/** Credentials every request of the load carries (all configurations get the same headers). */
export const BENCH_API_KEY = 'bench-api-key-5d1f0c8e7a6b4d2f';
/** HS256 secret of the bench's JWT identity; the token is signed at start (see run.ts). */
export const BENCH_JWT_SECRET = 'bench-jwt-secret-0123456789abcdef0123456789abcdef';
export const BENCH_JWT_ISSUER = 'https://bench.invalid';

/** Headers sent by the readiness probe through the proxy (set by run.ts to the load's headers). */
let probeHeaders: Record<string, string> = {};
export function setProbeHeaders(h: Record<string, string>): void {
  probeHeaders = h;
}

export type TollgatePolicy = 'none' | 'api_key' | 'jwt';
export type ConfigId = (typeof CONFIG_IDS)[number];

export interface Binaries {
  nginx: string | null;
  haproxy: string | null;
  caddy: string | null;
  wrk: string | null;
  /** dist/src/cli/index.js when it exists. */
  tollgateCli: string | null;
}

export interface PeerContext {
  /** Scratch directory of the whole run; each started server gets a subdirectory. */
  tmp: string;
  bins: Binaries;
  backendPort: number;
  /** Path (with query) that readiness checks and wrk request. */
  path: string;
  tollgateWorkers: 'auto' | number;
}

export interface Running {
  id: ConfigId | 'backend';
  /** Base URL that wrk loads (no path). */
  url: string;
  /** Root processes whose trees are this server (empty for `direct`). */
  procs: Managed[];
  /** The generated configuration, saved with the results. */
  configText: string;
  /** Why the server is not usable any more (a process exited), or null. */
  dead(): string | null;
  stop(): Promise<void>;
}

export interface PeerDef {
  id: ConfigId;
  label: string;
  description: string;
  /** Null when it can run here; otherwise why not and how to fix that. */
  unavailable(bins: Binaries): string | null;
  start(ctx: PeerContext): Promise<Running>;
}

const INSTALL_HINT = 'install it with: bash scripts/install-bench-deps.sh';

/** Last lines of the given log files, for error messages. */
export function tail(files: readonly string[], lines = 25): string {
  const out: string[] = [];
  for (const f of files) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8').trimEnd();
    if (!text) continue;
    const last = text.split('\n').slice(-lines);
    out.push(`--- ${f} (last ${last.length} lines)\n${last.join('\n')}`);
  }
  return out.join('\n') || '(no output in the logs)';
}

let dirCounter = 0;
function serverDir(ctx: PeerContext, id: string): string {
  const dir = mkdtempSync(join(ctx.tmp, `${id}-${++dirCounter}-`));
  // NGINX started as root runs its workers as "nobody": let them reach their temp dirs.
  chmodSync(dir, 0o755);
  return dir;
}

function deadReason(procs: readonly Managed[], logs: readonly string[]): string | null {
  for (const p of procs) {
    if (p.exit) {
      const how = p.exit.error ?? (p.exit.signal ? `killed by ${p.exit.signal}` : `exited with code ${p.exit.code}`);
      return `${p.name} ${how}\n${tail(logs)}`;
    }
  }
  return null;
}

/** GET the benchmark path through `url` and insist on the backend's 200 and body. */
async function expectBackendAnswer(url: string, path: string): Promise<boolean> {
  const r = await httpGet(url + path, 2000, probeHeaders);
  if (r.status !== 200) throw new Error(`GET ${path} answered ${r.status}: ${r.body.slice(0, 200)}`);
  if (r.body !== BODY) throw new Error(`GET ${path} answered 200 with an unexpected body: ${JSON.stringify(r.body.slice(0, 120))}`);
  return true;
}

function nginxTempPaths(dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${dir}/${t}_temp;`).join('\n');
}

export function nginxBackendConf(dir: string, port: number): string {
  return `# Tollgate bench: backend (reference set-up, docs/testing.md)
daemon off;
master_process on;
worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    default_type text/plain;
${nginxTempPaths(dir)}
    server {
        listen 127.0.0.1:${port};
        location / { return 200 "${BODY}"; }
    }
}
`;
}

/**
 * NGINX's access log: `buffered` (64k, flushed every second: the reference
 * peer, as production set-ups write it), `unbuffered` (a write per request,
 * as Debian's default nginx.conf has it), or off.
 */
export type NginxAccessLog = 'buffered' | 'unbuffered' | false;

const ACCESS_LOG_DIRECTIVE = { buffered: 'combined buffer=64k flush=1s', unbuffered: 'combined' } as const;

export function nginxProxyConf(dir: string, port: number, backendPort: number, accessLog: NginxAccessLog): string {
  return `# Tollgate bench: NGINX as the proxy, access log ${accessLog || 'off'} (reference set-up, docs/testing.md)
daemon off;
master_process on;
worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
    ${accessLog ? `access_log ${dir}/access.log ${ACCESS_LOG_DIRECTIVE[accessLog]};` : 'access_log off;'}
${nginxTempPaths(dir)}
    upstream be {
        server 127.0.0.1:${backendPort};
        keepalive 128;
    }
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`;
}

export function haproxyConf(port: number, backendPort: number): string {
  return `# Tollgate bench: HAProxy with httplog to stdout (reference set-up, docs/testing.md)
global
    nbthread 2
    maxconn 4096
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend fe
    bind 127.0.0.1:${port}
    default_backend be

backend be
    server backend 127.0.0.1:${backendPort}
`;
}

/**
 * Caddy as its documentation sets up a reverse proxy, with the access log on
 * (Caddy's own JSON lines, to a file; it has no buffered mode). The upstream
 * keep-alive pool is raised from Caddy's 32 idle connections per host to
 * NGINX's 128, so no run pays for reconnecting. No admin endpoint, no
 * automatic HTTPS: nothing listens but the one port. Its state goes where
 * the caller points HOME and the XDG directories.
 */
export function caddyfile(dir: string, port: number, backendPort: number): string {
  return `# Tollgate bench: Caddy as the proxy, access log on (reference set-up, docs/testing.md)
{
\tadmin off
\tauto_https off
}
http://127.0.0.1:${port} {
\tlog {
\t\toutput file ${dir}/access.log
\t}
\treverse_proxy 127.0.0.1:${backendPort} {
\t\ttransport http {
\t\t\tkeepalive_idle_conns 256
\t\t\tkeepalive_idle_conns_per_host 128
\t\t}
\t}
}
`;
}

export function tollgateConfig(dir: string, port: number, adminPort: number, backendPort: number, audit: boolean, workers: 'auto' | number, policy: TollgatePolicy = 'none', rules = true): string {
  // The same restricted route either way: who may call it is decided by a group rule.
  const access =
    policy === 'none'
      ? undefined
      : { identities: [policy === 'api_key' ? 'keys' : 'sso'], restricted: true, rules: [{ id: 'bench-users', action: 'allow', groups: ['bench'] }] };
  const cfg = {
    workers,
    listeners: [{ name: 'bench', address: `127.0.0.1:${port}` }],
    routes: [{ id: 'bench', backend: 'be', ...(access ? { access } : {}) }],
    backends: { be: { servers: [{ address: `127.0.0.1:${backendPort}` }] } },
    admin: { address: `127.0.0.1:${adminPort}`, token_file: join(dir, 'admin.token'), public: ['/readyz'] },
    access: {
      blocks_file: join(dir, 'blocks.json'),
      identities:
        policy === 'none'
          ? []
          : [
              { id: 'keys', type: 'api_key', header: 'x-api-key', keys: [{ id: 'bench', sha256: createHash('sha256').update(BENCH_API_KEY).digest('hex'), user: 'bench-client', groups: ['bench'] }] },
              { id: 'sso', type: 'jwt', algorithms: ['HS256'], secret: BENCH_JWT_SECRET, issuer: BENCH_JWT_ISSUER, claims: { groups: 'groups' } },
            ],
    },
    audit: audit ? { spool: { dir: join(dir, 'spool') } } : { enabled: false, spool: { dir: join(dir, 'spool') } },
    store: { path: join(dir, 'tollgate.duckdb') },
    // The built-in detection pack is on by default; tollgate-norules measures the proxy without it.
    detect: rules ? { state_file: join(dir, 'detect-state.json'), alerts_file: join(dir, 'alerts.ndjson') } : { enabled: false },
    log: { level: 'warn' },
  };
  return `# Tollgate bench: audit ${audit ? 'on' : 'off'}, policy ${policy}, detection rules ${rules ? 'on (built-in pack)' : 'off'}\n${stringify(cfg)}`;
}

/** Starts a server and waits until GET <path> through it returns the backend's answer. */
async function launch(
  id: Running['id'],
  dir: string,
  cmd: string,
  args: string[],
  configText: string,
  url: string,
  path: string,
  extraLogs: string[],
  ready?: (dead: () => string | null) => Promise<void>,
  env?: NodeJS.ProcessEnv,
): Promise<Running> {
  const stdout = join(dir, 'stdout.log');
  const stderr = join(dir, 'stderr.log');
  const logs = [stderr, stdout, ...extraLogs];
  const proc = startProcess(id, cmd, args, { cwd: dir, stdoutFile: stdout, stderrFile: stderr, env });
  const procs = [proc];
  const dead = () => deadReason(procs, logs);
  const running: Running = { id, url, procs, configText, dead, stop: () => stopProcess(proc) };
  try {
    if (ready) await ready(dead);
    await waitFor(`${id} on ${url}`, () => expectBackendAnswer(url, path), 10_000, dead);
  } catch (err) {
    const alive = procs.every((p) => !p.exit);
    await running.stop();
    const msg = `${(err as Error).message}${alive ? ` (the ${id} process was still running, without ever becoming ready)` : ''}`;
    throw new Error(msg.includes('--- ') ? msg : `${msg}\n${tail(logs)}`);
  }
  return running;
}

export async function startBackend(ctx: Omit<PeerContext, 'backendPort'>, port: number): Promise<Running> {
  const dir = serverDir(ctx as PeerContext, 'backend');
  const conf = nginxBackendConf(dir, port);
  writeFileSync(join(dir, 'nginx.conf'), conf);
  return launch('backend', dir, ctx.bins.nginx!, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], conf, `http://127.0.0.1:${port}`, ctx.path, [join(dir, 'error.log')]);
}

const needNginx = (b: Binaries) => (b.nginx ? null : `nginx is not installed; ${INSTALL_HINT}`);

function nginxPeer(id: ConfigId, accessLog: NginxAccessLog): PeerDef {
  return {
    id,
    label: accessLog === 'buffered' ? 'NGINX, access log' : accessLog === 'unbuffered' ? 'NGINX, access log unbuffered' : 'NGINX, no access log',
    description: `NGINX 2 workers proxying to the backend over a keep-alive upstream pool, access log ${accessLog ? `\`${ACCESS_LOG_DIRECTIVE[accessLog]}\` to a file` : 'off'}`,
    unavailable: needNginx,
    async start(ctx) {
      const dir = serverDir(ctx, id);
      const port = await freePort();
      const conf = nginxProxyConf(dir, port, ctx.backendPort, accessLog);
      writeFileSync(join(dir, 'nginx.conf'), conf);
      return launch(id, dir, ctx.bins.nginx!, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], conf, `http://127.0.0.1:${port}`, ctx.path, [join(dir, 'error.log')]);
    },
  };
}

function tollgatePeer(id: ConfigId, audit: boolean, policy: TollgatePolicy = 'none', rules = true): PeerDef {
  const withPolicy = (policy === 'none' ? '' : `, ${policy === 'api_key' ? 'API-key' : 'JWT'} policy on the route`) + (audit && !rules ? ', detection rules off' : '');
  return {
    id,
    label: (audit ? 'Tollgate, auditing on' : 'Tollgate, auditing off') + withPolicy,
    description: (audit ? 'tollgate start: full audit trail (spool + embedded store)' : 'tollgate start with audit.enabled: false (the proxy alone)') + withPolicy,
    unavailable: (b) => (b.tollgateCli ? null : 'dist/src/cli/index.js not found: build first (npm run build), or the CLI does not exist yet'),
    async start(ctx) {
      const dir = serverDir(ctx, id);
      const port = await freePort();
      const adminPort = await freePort();
      const conf = tollgateConfig(dir, port, adminPort, ctx.backendPort, audit, ctx.tollgateWorkers, policy, rules);
      const file = join(dir, 'tollgate.yaml');
      writeFileSync(file, conf);
      const readyz = `http://127.0.0.1:${adminPort}/readyz`;
      return launch(id, dir, process.execPath, [ctx.bins.tollgateCli!, 'start', '-c', file], conf, `http://127.0.0.1:${port}`, ctx.path, [], (dead) =>
        waitFor(`tollgate readiness (GET ${readyz})`, async () => (await httpGet(readyz, 1000)).status === 200, 20_000, dead),
      );
    },
  };
}

/** A Node.js proxy of bench/ (`<script> <port> <backend port> <workers>`), in as many workers as Tollgate. */
function nodeScriptPeer(id: ConfigId, label: string, description: string, script: string, unavailable: PeerDef['unavailable']): PeerDef {
  return {
    id,
    label,
    description,
    unavailable,
    async start(ctx) {
      const dir = serverDir(ctx, id);
      const port = await freePort();
      const file = fileURLToPath(new URL(`../${script}`, import.meta.url));
      const workers = ctx.tollgateWorkers === 'auto' ? availableParallelism() : ctx.tollgateWorkers;
      return launch(id, dir, process.execPath, [file, String(port), String(ctx.backendPort), String(workers)], `${script} ${workers} worker(s)`, `http://127.0.0.1:${port}`, ctx.path, []);
    },
  };
}

export const PEERS: readonly PeerDef[] = [
  {
    id: 'direct',
    label: 'direct to backend',
    description: 'wrk straight to the NGINX backend: the ceiling of this machine',
    unavailable: needNginx,
    async start(ctx) {
      const url = `http://127.0.0.1:${ctx.backendPort}`;
      return { id: 'direct', url, procs: [], configText: '(the backend itself)', dead: () => null, stop: async () => {} };
    },
  },
  nginxPeer('nginx-log', 'buffered'),
  nginxPeer('nginx-log-unbuffered', 'unbuffered'),
  nginxPeer('nginx-nolog', false),
  {
    id: 'haproxy',
    label: 'HAProxy, httplog',
    description: 'HAProxy 2 threads, keep-alive with http-reuse always, httplog to stdout redirected to a file',
    unavailable: (b) => (b.haproxy ? null : `haproxy is not installed; ${INSTALL_HINT}`),
    async start(ctx) {
      const dir = serverDir(ctx, 'haproxy');
      const port = await freePort();
      const conf = haproxyConf(port, ctx.backendPort);
      const file = join(dir, 'haproxy.cfg');
      writeFileSync(file, conf);
      // -db: foreground; the httplog lines go to stdout.log.
      return launch('haproxy', dir, ctx.bins.haproxy!, ['-db', '-f', file], conf, `http://127.0.0.1:${port}`, ctx.path, []);
    },
  },
  {
    id: 'caddy-log',
    label: 'Caddy, access log',
    description: 'Caddy reverse_proxy (GOMAXPROCS = cores), keep-alive upstream pool of 128, JSON access log to a file',
    unavailable: (b) => (b.caddy ? null : `caddy is not installed; ${INSTALL_HINT}`),
    async start(ctx) {
      const dir = serverDir(ctx, 'caddy-log');
      const port = await freePort();
      const conf = caddyfile(dir, port, ctx.backendPort);
      const file = join(dir, 'Caddyfile');
      writeFileSync(file, conf);
      // Caddy keeps state under HOME/XDG directories: give it the server's own.
      const env = { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') };
      return launch('caddy-log', dir, ctx.bins.caddy!, ['run', '--config', file, '--adapter', 'caddyfile'], conf, `http://127.0.0.1:${port}`, ctx.path, [], undefined, env);
    },
  },
  nodeScriptPeer(
    'node-bare',
    'bare Node.js proxy',
    'a minimal undici proxy in as many cluster workers as Tollgate: the ceiling of a Node.js proxy on this machine',
    'bare-proxy.js',
    () => null,
  ),
  nodeScriptPeer(
    'node-http-proxy',
    'node-http-proxy',
    'the http-proxy package with a keep-alive agent, in as many cluster workers as Tollgate; no access log',
    'node-http-proxy.js',
    () => (resolvable('http-proxy') ? null : 'the http-proxy package is not installed (a dev dependency): run npm install without --omit=dev'),
  ),
  tollgatePeer('tollgate', true),
  tollgatePeer('tollgate-noaudit', false),
  tollgatePeer('tollgate-norules', true, 'none', false),
  tollgatePeer('tollgate-apikey', true, 'api_key'),
  tollgatePeer('tollgate-jwt', true, 'jwt'),
];

function resolvable(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** Finds an executable in PATH or the sbin directories (not in every user's PATH). */
export function findBinary(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'].filter(Boolean);
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}
