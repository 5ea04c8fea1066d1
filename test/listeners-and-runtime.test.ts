/**
 * HTTPS with SNI, cluster mode (workers: 2), retention and spool clean-up,
 * and the demo as a new user starts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { writeFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { stringify } from 'yaml';
import { startBackend, startTollgate, merge, freePort, tempDir, baseConfig, spawnTollgate, waitFor, allEvents, get, CLI, sleep, adminFetch } from './helpers.js';
import { emptyEvent } from '../src/core/event.js';
import { uuidv7 } from '../src/core/ids.js';
import { headerLine, segmentFileName } from '../src/audit/spool/format.js';

/** Everything a spool writer has written so far. */
async function spoolText(dir: string, writer: string): Promise<string> {
  const wdir = path.join(dir, 'spool', writer);
  const files = (await readdir(wdir)).filter((f) => f.endsWith('.ndjson'));
  return (await Promise.all(files.map((f) => readFile(path.join(wdir, f), 'utf8')))).join('');
}

function selfSigned(dir: string, name: string, cn: string, sans: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${sans}`], { stdio: 'ignore' });
  return { cert, key };
}

function httpsGet(port: number, servername: string, requestId: string): Promise<{ status: number; subject: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, servername, path: '/tls', headers: { host: servername, 'x-request-id': requestId }, rejectUnauthorized: false, agent: false }, (res) => {
      const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, subject: String(cert.subject?.CN ?? '') }));
    });
    req.on('error', reject);
  });
}

test('HTTPS listener picks the certificate by SNI (exact, wildcard, default) and records TLS facts', async () => {
  const dir = await tempDir('tg-tls-');
  const a = selfSigned(dir, 'a', 'a.example.test', 'DNS:a.example.test');
  const wild = selfSigned(dir, 'wild', 'wild.example.test', 'DNS:*.apps.example.test');
  const backend = await startBackend();
  const tlsPort = await freePort();
  const fallback = selfSigned(dir, 'fallback', 'fallback.example.test', 'DNS:fallback.example.test');
  // The default (first) certificate is neither of the ones SNI should pick.
  const tg = await startTollgate({ app: [backend.address] }, (c) => merge(c, { listeners: [{ name: 'web', address: `127.0.0.1:${tlsPort}`, tls: { certificates: [fallback, a, wild] } }] }));
  try {
    assert.deepEqual(await httpsGet(tlsPort, 'a.example.test', 'tls-a'), { status: 200, subject: 'a.example.test' });
    assert.deepEqual(await httpsGet(tlsPort, 'x.apps.example.test', 'tls-wild'), { status: 200, subject: 'wild.example.test' });
    assert.deepEqual(await httpsGet(tlsPort, 'other.test', 'tls-default'), { status: 200, subject: 'fallback.example.test' }, 'unknown names get the first certificate');
    const e = await waitFor(async () => (await tg.events({ request_id: 'tls-wild' }))[0], 'tls event');
    assert.equal(e.scheme, 'https');
    assert.equal(e.sni, 'x.apps.example.test');
    assert.match(e.tls_version ?? '', /^TLSv1\.[23]$/);
    assert.ok(e.tls_cipher);
    const seen = backend.requests.at(-1)!;
    assert.equal(seen.headers['x-forwarded-proto'], 'https');

    // Certificates renewed in place (as certbot does) are served after a reload; so are changed proxy limits.
    selfSigned(dir, 'a', 'a-renewed.example.test', 'DNS:a.example.test');
    selfSigned(dir, 'fallback', 'fallback-renewed.example.test', 'DNS:fallback.example.test');
    const file = path.join(tg.dir, 'tollgate.yaml');
    const yaml = await readFile(file, 'utf8');
    await writeFile(file, `${yaml}\nproxy:\n  max_header_size: 1024\n  headers_timeout: 1s\n`);
    const reload = async () => (await adminFetch(`${tg.admin}/api/v1/config/reload`, { method: 'POST' })).status;
    assert.equal(await reload(), 200);
    assert.deepEqual(await httpsGet(tlsPort, 'a.example.test', 'tls-a2'), { status: 200, subject: 'a-renewed.example.test' });
    assert.deepEqual(await httpsGet(tlsPort, 'other.test', 'tls-default2'), { status: 200, subject: 'fallback-renewed.example.test' });
    assert.deepEqual(await httpsGet(tlsPort, 'x.apps.example.test', 'tls-wild2'), { status: 200, subject: 'wild.example.test' });
    // A client that sends no SNI gets the default context, renewed as well.
    const noSni = await new Promise<string>((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false }, () => {
        resolve(String(sock.getPeerCertificate().subject?.CN ?? ''));
        sock.destroy();
      });
      sock.on('error', reject);
    });
    assert.equal(noSni, 'fallback-renewed.example.test');
    // The new headers timeout applies to the kept listener: a head that stops is answered 408 after about 1 s, not 10.
    const slowHead = await new Promise<{ text: string; ms: number }>((resolve, reject) => {
      const t0 = performance.now();
      let text = '';
      const sock = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'a.example.test', rejectUnauthorized: false }, () => sock.write('GET /slow-head HTTP/1.1\r\nHost: a.example.test\r\n'));
      sock.on('data', (c: Buffer) => (text += c.toString('latin1')));
      sock.on('error', reject);
      sock.on('close', () => resolve({ text, ms: performance.now() - t0 }));
      setTimeout(() => sock.destroy(), 8000);
    });
    assert.match(slowHead.text, /^HTTP\/1\.1 408 /, slowHead.text.slice(0, 100));
    assert.ok(slowHead.ms < 6000, `408 after ${Math.round(slowHead.ms)} ms`);
    const bigStatus = await new Promise<number>((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port: tlsPort, servername: 'a.example.test', path: '/big-head', headers: { host: 'a.example.test', 'x-big': 'y'.repeat(2000) }, rejectUnauthorized: false, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
    });
    assert.equal(bigStatus, 431, 'the new header limit applies to the kept listener');
    // A certificate that cannot be read refuses the reload; the certificates in force stay.
    await rm(a.key);
    assert.equal(await reload(), 422);
    assert.deepEqual(await httpsGet(tlsPort, 'a.example.test', 'tls-a3'), { status: 200, subject: 'a-renewed.example.test' });
  } finally {
    await tg.stop();
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('cluster mode: two proxy workers, one spool stream each, one store, aggregated metrics', { timeout: 60_000 }, async () => {
  const backend = await startBackend();
  const dir = await tempDir('tg-cluster-');
  const proxyPort = await freePort();
  const adminPort = await freePort();
  const file = path.join(dir, 'tollgate.yaml');
  await writeFile(file, stringify(baseConfig(dir, proxyPort, adminPort, { app: [backend.address] }, { workers: 2, log: { level: 'warn' } })));
  // Started with the usual umask 022 (earlier in-process nodes have tightened this process's own), so the
  // privacy check below is about what the node does itself.
  const umask = process.umask(0o022);
  const child = spawnTollgate(file);
  process.umask(umask);
  const admin = `http://127.0.0.1:${adminPort}`;
  try {
    await waitFor(async () => (await adminFetch(`${admin}/readyz`).catch(() => null))?.status === 200, 'cluster ready', 30_000, 100);
    const N = 200;
    for (let i = 0; i < N; i += 20) {
      const batch = Array.from({ length: 20 }, (_, j) => get(`http://127.0.0.1:${proxyPort}/c/${i + j}`, { headers: { 'x-request-id': `cl-${i + j}` } }));
      for (const r of await Promise.all(batch)) assert.equal(r.status, 200);
    }
    const events = await waitFor(
      async () => {
        const ev = await allEvents(admin);
        return ev.length >= N ? ev : null;
      },
      'all events loaded',
      30_000,
      200,
    );
    assert.equal(events.length, N);
    assert.equal(new Set(events.map((e) => e.request_id)).size, N);
    const writers = (await readdir(path.join(dir, 'spool'))).filter((n) => /^w\d+$/.test(n)).sort();
    assert.deepEqual(writers, ['w0', 'w1'], 'each worker writes its own spool stream');
    // The trail is not readable by other users: the store as the spool.
    for (const f of ['store.duckdb', 'spool/w0', 'spool/admin']) assert.equal((await stat(path.join(dir, f))).mode & 0o007, 0, `${f} is not open to others`);
    // The stream an event is in tells which worker served it: both served traffic.
    for (const w of writers) assert.ok((await spoolText(dir, w)).includes('"request_id":"cl-'), `worker ${w} served requests`);
    const backends = (await (await adminFetch(`${admin}/api/v1/backends`)).json()) as { backends: { worker: string; pools: { name: string; servers: { address: string; state: string }[] }[] }[] };
    assert.deepEqual(backends.backends.map((b) => b.worker), ['w0', 'w1']);
    for (const b of backends.backends) assert.deepEqual(b.pools.map((p) => [p.name, p.servers[0].address, p.servers[0].state]), [['app', backend.address, 'healthy']], `worker ${b.worker}`);
    const metrics = await (await adminFetch(`${admin}/metrics`)).text();
    const m = /tollgate_requests_total\{route="app",status_class="2xx"\} (\d+)/.exec(metrics);
    assert.equal(Number(m?.[1]), N, 'request counters are summed over the workers');
    // Health gauges are not: two healthy workers are 1, not 2 (an `== 0` alert must see one failing worker).
    assert.match(metrics, new RegExp(`^tollgate_backend_up\\{pool="app",server="${backend.address.replace(/\./g, '\\.')}"\\} 1$`, 'm'));
    assert.match(metrics, /^tollgate_audit_spool_healthy 1$/m);
    const reload = await adminFetch(`${admin}/api/v1/config/reload`, { method: 'POST' });
    assert.equal(reload.status, 200, 'reload reaches every worker');
    // SIGHUP reloads too: a new route appears in every worker.
    const cfg = baseConfig(dir, proxyPort, adminPort, { app: [backend.address] }, { workers: 2, log: { level: 'warn' } });
    (cfg.routes as unknown[]).unshift({ id: 'hup', path_prefix: '/hup', backend: 'app' });
    await writeFile(file, stringify(cfg));
    child.kill('SIGHUP');
    // The `hup` route exists only after the reload (before, the catch-all `app` route
    // answers /hup too): once each worker's stream holds a `hup` event, each one reloaded.
    await waitFor(
      async () => {
        const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => get(`http://127.0.0.1:${proxyPort}/hup/${i}`, { headers: { 'x-request-id': `hup-${Date.now()}-${i}` } })));
        for (const r of rs) assert.equal(r.status, 200);
        await sleep(50);
        const texts = await Promise.all(['w0', 'w1'].map((w) => spoolText(dir, w)));
        return texts.every((t) => t.includes('"route":"hup"'));
      },
      'both workers to serve the route added by SIGHUP',
      20_000,
      300,
    );
  } finally {
    child.kill('SIGTERM');
    const code = await Promise.race([new Promise<number | null>((r) => child.once('exit', (c) => r(c))), sleep(20_000).then(() => 'timeout')]);
    assert.equal(code, 0, 'graceful stop');
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('retention deletes old events; fully loaded sealed spool segments are removed', async () => {
  const dir = await tempDir('tg-retention-');
  // A spool left by an earlier run: two segments of writer "old"; the first holds an event 40 days old.
  const wdir = path.join(dir, 'spool', 'old');
  await mkdir(wdir, { recursive: true });
  const oldEvent = emptyEvent(uuidv7(Date.now() - 40 * 86_400_000), new Date(Date.now() - 40 * 86_400_000).toISOString(), 'http', 'tollgate');
  oldEvent.request_id = 'ancient';
  const newEvent = emptyEvent(uuidv7(), new Date().toISOString(), 'http', 'tollgate');
  newEvent.request_id = 'recent';
  await writeFile(path.join(wdir, segmentFileName(1)), headerLine('old', 1) + JSON.stringify(oldEvent) + '\n');
  await writeFile(path.join(wdir, segmentFileName(2)), headerLine('old', 2) + JSON.stringify(newEvent) + '\n');
  const backend = await startBackend();
  const tg = await startTollgate({ app: [backend.address] }, (c) => merge(c, { store: { retention_days: 30 } }), dir);
  try {
    const events = await waitFor(
      async () => {
        const ev = await tg.events();
        const segs = await readdir(wdir);
        return ev.some((e) => e.request_id === 'recent') && !segs.includes(segmentFileName(1)) ? ev : null;
      },
      'load and housekeeping',
    );
    assert.ok(!events.some((e) => e.request_id === 'ancient'), 'the 40-day-old event was deleted by retention');
    const segs = await readdir(wdir);
    assert.ok(!segs.includes(segmentFileName(1)), 'the loaded, sealed segment was removed');
    assert.ok(segs.includes(segmentFileName(2)), 'the last segment of a writer stays until a later one seals it');
  } finally {
    await tg.stop();
    await backend.close();
  }
});

test('the demo starts, serves traffic, records it, and stops cleanly on Ctrl-C', { timeout: 60_000 }, async () => {
  const dir = await tempDir('tg-demo-');
  const port = await freePort();
  const adminPort = await freePort();
  const child = spawn(process.execPath, [CLI, 'demo', '--port', String(port), '--admin-port', String(adminPort), '--dir', dir, '--rps', '40'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitFor(() => out.includes('Tollgate demo is running'), 'the demo banner', 30_000, 100);
    assert.match(out, new RegExp(`http://127\\.0\\.0\\.1:${adminPort}/api/v1/events`));
    assert.equal((await get(`http://127.0.0.1:${port}/products/1`)).status, 200);
    const events = await waitFor(
      async () => {
        // No tokens in the demo config: the generated one is in the demo folder.
        const token = (await readFile(path.join(dir, 'admin.token'), 'utf8')).trim();
        const ev = await allEvents(`http://127.0.0.1:${adminPort}`, {}, { authorization: `Bearer ${token}` });
        // Traffic is random: wait until each kind the assertions below look for has come by at least once.
        const seen = ev.some((e) => e.auth_error !== null) && ev.some((e) => e.route === 'me' && e.user_id !== null && e.auth_method === 'jwt') && ev.some((e) => e.status === 401 && e.auth_error !== null && e.decision === 'deny');
        return ev.length >= 30 && seen ? ev : null;
      },
      'synthetic traffic to be recorded',
      30_000,
      250,
    );
    const statuses = new Set(events.map((e) => e.status));
    assert.ok(statuses.has(200) && [...statuses].some((s) => s !== null && s >= 400), 'a mix of outcomes');
    assert.ok(new Set(events.map((e) => e.client_ip)).size > 3, 'many clients');
    assert.ok(!events.some((e) => (e.query ?? '').includes('session_token=abc')), 'demo secrets are redacted');
    assert.ok(events.some((e) => e.route === 'me' && e.user_id !== null && e.auth_method === 'jwt'), 'demo users are identified by their JWT');
    assert.ok(events.some((e) => e.status === 401 && e.auth_error !== null && e.decision === 'deny'), 'failed attempts are recorded with their reason');
    // The demo's scanner trips the built-in probing rule (threshold lowered for the demo).
    const token = (await readFile(path.join(dir, 'admin.token'), 'utf8')).trim();
    const probe = await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${adminPort}/api/v1/alerts?rule_id=endpoint-probing`, { headers: { authorization: `Bearer ${token}` } });
        return ((await res.json()) as { alerts: { group: Record<string, string> }[] }).alerts[0];
      },
      'the demo scanner to raise the probing alert',
      30_000,
      250,
    );
    assert.ok(probe.group.client_ip, 'the alert names the scanner');
    assert.match(out, /\/api\/v1\/alerts/);
    child.kill('SIGINT');
    const code = await Promise.race([new Promise<number | null>((r) => child.once('exit', (c) => r(c))), sleep(20_000).then(() => 'timeout')]);
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
