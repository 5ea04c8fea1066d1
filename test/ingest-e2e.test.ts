/**
 * Ingest end to end with the real thing: NGINX and HAProxy (Debian
 * packages, started here on loopback) proxy a known set of requests; their
 * access logs are ingested from the files they write and, at the same time,
 * through Tollgate's syslog receiver; the events in the store match the
 * requests one to one. Then the same ingest again adds nothing (registry).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startBackend, tempDir, freePort, waitFor, sleep, get, type Backend } from './helpers.js';
import { ALL_FACTORIES } from '../src/ingest/parsers/index.js';
import { openRegistry } from '../src/ingest/registry.js';
import { runIngest, type IngestSummary, type InputSpec } from '../src/ingest/run.js';
import { DuckDbSink } from '../src/ingest/sinks.js';
import { DuckDbStore } from '../src/store/duckdb/duckdb-store.js';
import type { AuditEvent } from '../src/core/event.js';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(existsSync);
const HAPROXY = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find(existsSync);

let dir: string;
let backend: Backend;
const procs: ChildProcess[] = [];

function startProc(cmd: string, args: string[], logFile?: string): ChildProcess {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  // One write at a time: unordered writeFile calls could finish older-last and leave the file short for good.
  let writing: Promise<void> = Promise.resolve();
  p.stdout.on('data', (d: Buffer) => {
    out += d.toString('latin1');
    if (logFile) writing = writing.then(() => writeFile(logFile, out)).catch(() => undefined);
  });
  p.stderr.on('data', () => {});
  procs.push(p);
  return p;
}

before(async () => {
  assert.ok(NGINX, 'nginx is installed (scripts/install-test-deps.sh)');
  assert.ok(HAPROXY, 'haproxy is installed (scripts/install-test-deps.sh)');
  dir = await tempDir('tg-ingest-e2e-');
  // The backend answers the status the path asks for: /s/404/… → 404.
  backend = await startBackend((req, res) => {
    const m = /^\/s\/(\d{3})\//.exec(req.url ?? '');
    req.resume();
    req.on('end', () => {
      res.writeHead(m ? Number(m[1]) : 200, { 'content-type': 'text/plain' });
      res.end(`ok ${req.url}\n`);
    });
  });
});

after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Sent {
  method: string;
  path: string;
  query: string | null;
  status: number;
}

/** A known mix of requests: methods, statuses, queries, an encoded path, a long URL. */
function requestsFor(tag: string): Sent[] {
  const out: Sent[] = [];
  const statuses = [200, 201, 204, 301, 404, 500];
  for (let i = 0; i < 24; i++) {
    const status = statuses[i % statuses.length];
    const method = i % 4 === 1 ? 'POST' : i % 4 === 3 ? 'DELETE' : 'GET';
    const query = i % 3 === 0 ? `i=${i}&tag=${tag}` : null;
    out.push({ method, path: `/s/${status}/${tag}/${i}${i === 7 ? '/caf%C3%A9' : ''}${i === 11 ? '/' + 'x'.repeat(900) : ''}`, query, status });
  }
  return out;
}

async function send(port: number, reqs: Sent[]): Promise<void> {
  for (const r of reqs) {
    const res = await get(`http://127.0.0.1:${port}${r.path}${r.query ? `?${r.query}` : ''}`, {
      method: r.method,
      headers: { 'user-agent': 'tollgate-e2e/1.0 "quoted"', referer: 'https://example.test/' },
      body: r.method === 'POST' ? 'payload' : undefined,
    });
    assert.equal(res.status, r.status, `${r.method} ${r.path}`);
  }
}

function key(e: { method: string | null; path: string | null; query: string | null; status: number | null }): string {
  return `${e.method} ${e.path}?${e.query ?? ''} ${e.status}`;
}

async function storedEvents(storePath: string): Promise<AuditEvent[]> {
  const s = await DuckDbStore.open({ path: storePath });
  try {
    return (await s.search({ order: 'asc', limit: 10_000 })).events;
  } finally {
    await s.close();
  }
}

async function ingest(storePath: string, input: InputSpec, format: string, signal = new AbortController().signal): Promise<IngestSummary> {
  const sink = await DuckDbSink.open(storePath);
  const registry = await openRegistry(`${storePath}.ingest.json`);
  try {
    return await runIngest({ format, parserOptions: {}, factories: ALL_FACTORIES, input, sink, registry, signal });
  } finally {
    await sink.close();
  }
}

test('NGINX and HAProxy logs, from files and over syslog, match the requests one to one', { timeout: 120_000 }, async () => {
  const nginxPort = await freePort();
  const haproxyPort = await freePort();
  const nginxSyslog = await freePort();
  const haproxySyslog = await freePort();

  // Syslog receivers first, so no line sent is lost.
  const stopSyslog = new AbortController();
  let ports: { nginx?: number; haproxy?: number } = {};
  const viaSyslog = Promise.all([
    ingest(path.join(dir, 'syslog-nginx.duckdb'), { kind: 'syslog', udp: `127.0.0.1:${nginxSyslog}`, onListening: (p) => (ports = { ...ports, nginx: p.udp }) }, 'nginx-combined', stopSyslog.signal),
    ingest(path.join(dir, 'syslog-haproxy.duckdb'), { kind: 'syslog', udp: `127.0.0.1:${haproxySyslog}`, onListening: (p) => (ports = { ...ports, haproxy: p.udp }) }, 'haproxy-http', stopSyslog.signal),
  ]);
  await waitFor(() => ports.nginx && ports.haproxy, 'the syslog receivers');

  await writeFile(
    path.join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 64; }
http {
    client_body_temp_path ${dir}/cb; proxy_temp_path ${dir}/pt; fastcgi_temp_path ${dir}/ft; uwsgi_temp_path ${dir}/ut; scgi_temp_path ${dir}/st;
    access_log ${dir}/nginx-access.log combined;
    access_log syslog:server=127.0.0.1:${nginxSyslog},tag=nginx combined;
    server {
        listen 127.0.0.1:${nginxPort};
        location / { proxy_pass http://${backend.address}; }
    }
}
`,
  );
  startProc(NGINX!, ['-c', path.join(dir, 'nginx.conf'), '-p', dir]);
  await writeFile(
    path.join(dir, 'haproxy.cfg'),
    `global
    # Lines longer than the default 1024 bytes would be cut (a long URL): as operators do, allow more.
    log stdout len 8192 format raw local0
    log 127.0.0.1:${haproxySyslog} len 8192 local0
    # The syslog header then names this load balancer, which becomes the events' node.
    log-send-hostname lb-e2e
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:${haproxyPort}
    default_backend be
backend be
    server app ${backend.address}
`,
  );
  const haproxyLog = path.join(dir, 'haproxy-stdout.log');
  startProc(HAPROXY!, ['-db', '-f', path.join(dir, 'haproxy.cfg')], haproxyLog);

  await waitFor(async () => (await get(`http://127.0.0.1:${nginxPort}/warmup`).catch(() => null))?.status === 200, 'nginx', 15_000, 100);
  await waitFor(async () => (await get(`http://127.0.0.1:${haproxyPort}/warmup`).catch(() => null))?.status === 200, 'haproxy', 15_000, 100);
  const warmup: Sent = { method: 'GET', path: '/warmup', query: null, status: 200 };
  const nginxReqs = requestsFor('ngx');
  const haproxyReqs = requestsFor('hap');
  await send(nginxPort, nginxReqs);
  await send(haproxyPort, haproxyReqs);
  const expectNginx = [warmup, ...nginxReqs].map(key).sort();
  const expectHaproxy = [warmup, ...haproxyReqs].map(key).sort();

  // Files: wait until every request is logged, then ingest with the format detected.
  await waitFor(async () => (await readFile(path.join(dir, 'nginx-access.log'), 'utf8')).split('\n').filter(Boolean).length >= expectNginx.length, 'the nginx log');
  await waitFor(async () => (await readFile(haproxyLog, 'utf8').catch(() => '')).split('\n').filter(Boolean).length >= expectHaproxy.length, 'the haproxy log');
  const fileStore = path.join(dir, 'files.duckdb');
  const n1 = await ingest(fileStore, { kind: 'paths', args: [path.join(dir, 'nginx-access.log')] }, 'auto');
  assert.equal(n1.format, 'nginx-combined');
  assert.ok(n1.formatDetected);
  assert.equal(n1.rejected, 0, JSON.stringify(n1.samples));
  const h1 = await ingest(fileStore, { kind: 'paths', args: [haproxyLog] }, 'auto');
  assert.equal(h1.format, 'haproxy-http');
  assert.equal(h1.rejected, 0, JSON.stringify(h1.samples));
  const stored = await storedEvents(fileStore);
  assert.deepEqual(stored.filter((e) => e.source === 'nginx').map(key).sort(), expectNginx, 'nginx file events = requests');
  assert.deepEqual(stored.filter((e) => e.source === 'haproxy').map(key).sort(), expectHaproxy, 'haproxy file events = requests');
  const sample = stored.find((e) => e.source === 'nginx' && e.path === '/s/404/ngx/4')!;
  assert.equal(sample.client_ip, '127.0.0.1');
  assert.equal(sample.user_agent, 'tollgate-e2e/1.0 "quoted"');
  assert.equal(sample.referer, 'https://example.test/');
  const hap = stored.find((e) => e.source === 'haproxy' && e.path === '/s/500/hap/5')!;
  assert.equal(hap.upstream !== null || hap.route !== null, true, 'the backend/server is recorded');
  assert.deepEqual([hap.route, hap.upstream, hap.status], ['be', 'app', 500], 'HAProxy backend → route, server → upstream');

  // The same ingest again reads nothing new.
  const again = await ingest(fileStore, { kind: 'paths', args: [path.join(dir, 'nginx-access.log'), haproxyLog] }, 'auto');
  assert.equal(again.events, 0);
  assert.equal(again.alreadyRead, 2);
  assert.equal((await storedEvents(fileStore)).length, stored.length);

  // Syslog: every request arrived as one message.
  await sleep(500);
  stopSyslog.abort();
  const [ns, hs] = await viaSyslog;
  assert.equal(ns.rejected, 0, JSON.stringify(ns.samples));
  assert.equal(hs.rejected, 0, JSON.stringify(hs.samples));
  assert.deepEqual((await storedEvents(path.join(dir, 'syslog-nginx.duckdb'))).map(key).sort(), expectNginx, 'nginx syslog events = requests');
  const viaHaproxy = await storedEvents(path.join(dir, 'syslog-haproxy.duckdb'));
  assert.deepEqual(viaHaproxy.map(key).sort(), expectHaproxy, 'haproxy syslog events = requests');
  // The sender's HOSTNAME names the load balancer, as the syslog header does in a file.
  assert.deepEqual([...new Set(viaHaproxy.map((e) => e.node))], ['lb-e2e']);
  // And its process id (the TAG's haproxy[pid]), as the same header read from a file gives it.
  assert.ok(viaHaproxy.every((e) => /^[1-9]\d*$/.test(String(e.extra?.pid))), JSON.stringify(viaHaproxy.map((e) => e.extra)));
  assert.deepEqual([...new Set((await storedEvents(path.join(dir, 'syslog-nginx.duckdb'))).map((e) => e.node))], [os.hostname()], 'NGINX sends its host name');
});
