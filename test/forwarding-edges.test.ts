/**
 * Forwarding at its edges, as a user found them: Expect: 100-continue,
 * bodiless statuses with a Content-Length, the total timeout while still
 * connecting, a stalled upload, and WebSocket retries. Real sockets, a real
 * node; each test checks what the client got and the request's one event.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { WebSocketServer, WebSocket } from 'ws';
import { startBackend, startTollgate, get, freePort, waitFor, sleep, merge, adminFetch, oneEventFor, tempDir, type Backend, type TestNode } from './helpers.js';
import type { AuditEvent } from '../src/core/event.js';

let backend: Backend;
let wsServer: http.Server;
let lateTls: net.Server;
let lateHttps: https.Server;
let lateRequests = 0;
const lateSockets = new Set<net.Socket>();
let closingWs: net.Server;
let certDir: string;
let tg: TestNode;

/** The servers' outstanding request counts in the pools whose names start with `prefix`. */
async function outstanding(prefix: string): Promise<number[]> {
  const b = JSON.parse(await (await adminFetch(`${tg.admin}/api/v1/backends`)).text()) as { backends: { pools: { name: string; servers: { outstanding: number }[] }[] }[] };
  return b.backends[0].pools.filter((p) => p.name.startsWith(prefix)).flatMap((p) => p.servers.map((x) => x.outstanding));
}

/** A pool's server states. */
async function states(pool: string): Promise<string[]> {
  const b = JSON.parse(await (await adminFetch(`${tg.admin}/api/v1/backends`)).text()) as { backends: { pools: { name: string; servers: { state: string }[] }[] }[] };
  return b.backends[0].pools.find((p) => p.name === pool)!.servers.map((x) => x.state);
}

function eventFor(requestId: string): Promise<AuditEvent> {
  return oneEventFor(tg, requestId);
}

/** A raw request over its own connection; resolves with everything the proxy sent until it closed (or `waitMs`). */
function exchange(port: number, parts: { data: string; afterMs?: number }[], waitMs = 4000): Promise<{ text: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => s.destroy(), waitMs);
    s.on('connect', async () => {
      for (const p of parts) {
        if (p.afterMs) await sleep(p.afterMs);
        if (!s.destroyed) s.write(p.data);
      }
    });
    s.on('data', (c: Buffer) => (text += c.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, ms: performance.now() - t0 });
    });
  });
}

before(async () => {
  backend = await startBackend((req, res) => {
    if (req.url?.startsWith('/not-modified')) {
      // RFC 9110 §8.6: a 304 may carry the Content-Length the 200 would have had.
      res.writeHead(304, { 'content-length': '233', etag: '"v1"' });
      res.end();
      return;
    }
    if (req.url?.startsWith('/no-content')) {
      // Not allowed for a 204 (RFC 9110 §8.6), yet sent by some backends.
      res.writeHead(204, { 'content-length': '17' });
      res.end();
      return;
    }
    // Never reads the request body nor answers: a backend stalled on an upload.
    if (req.url?.includes('/no-read')) return;
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(JSON.stringify({ got: n, expect: req.headers.expect ?? null })));
  });
  wsServer = http.createServer();
  new WebSocketServer({ server: wsServer }).on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${String(m)}`)));
  await new Promise<void>((r) => wsServer.listen(0, '127.0.0.1', r));
  // An HTTPS backend whose connections are established late: the TLS handshake starts 1.2 s after the TCP connect.
  // (Its self-signed certificate fails the proxy's verification then; until then the attempt is still connecting.)
  certDir = await tempDir('tg-late-tls-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'late.key', '-out', 'late.crt', '-days', '2', '-subj', '/CN=late.test'], { stdio: 'ignore', cwd: certDir });
  lateHttps = https.createServer({ cert: readFileSync(path.join(certDir, 'late.crt')), key: readFileSync(path.join(certDir, 'late.key')) }, (_req, res) => {
    lateRequests++;
    res.end('late');
  });
  lateTls = net.createServer((s) => {
    lateSockets.add(s);
    s.on('close', () => lateSockets.delete(s));
    s.pause();
    setTimeout(() => lateHttps.emit('connection', s), 1200).unref();
  });
  await new Promise<void>((r) => lateTls.listen(0, '127.0.0.1', r));
  // Accepts a WebSocket handshake's connection and closes it without answering.
  closingWs = net.createServer((s) => s.once('data', () => s.destroy()));
  await new Promise<void>((r) => closingWs.listen(0, '127.0.0.1', r));
  const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const wsPort = (wsServer.address() as net.AddressInfo).port;
  const silentPort = (lateTls.address() as net.AddressInfo).port;
  const closingPort = (closingWs.address() as net.AddressInfo).port;
  tg = await startTollgate({ app: [backend.address], wsflaky: [dead[0], `127.0.0.1:${wsPort}`], wsdead: dead, wsclosing: [`127.0.0.1:${closingPort}`], silent: [`127.0.0.1:${silentPort}`], idle: [backend.address] }, (c) =>
    merge(c, {
      routes: [
        { id: 'wsflaky', path_prefix: '/wsflaky', backend: 'wsflaky' },
        { id: 'wsdead', path_prefix: '/wsdead', backend: 'wsdead' },
        { id: 'wsclosing', path_prefix: '/wsclosing', backend: 'wsclosing' },
        { id: 'silent', path_prefix: '/silent', backend: 'silent' },
        { id: 'idle', path_prefix: '/idle', backend: 'idle' },
        { id: 'app', backend: 'app' },
      ],
      backends: {
        app: { outlier: { consecutive_failures: 1, base_ejection: '30s' } },
        wsflaky: { algorithm: 'round_robin', retries: 1 },
        wsdead: { retries: 1 },
        silent: { servers: [{ address: `127.0.0.1:${silentPort}`, tls: true }], retries: 0, timeouts: { connect: '5s', total: '600ms' } },
        // One counted failure would eject the server: a stalled client must not count.
        idle: { timeouts: { idle: '500ms' }, outlier: { consecutive_failures: 1, base_ejection: '30s' } },
      },
    }),
  );
});

after(async () => {
  await tg.stop();
  await backend.close();
  await new Promise((r) => wsServer.close(r));
  for (const s of lateSockets) s.destroy();
  await new Promise((r) => lateTls.close(r));
  lateHttps.close();
  await new Promise((r) => closingWs.close(r));
  await rm(certDir, { recursive: true, force: true });
});

test('Expect: 100-continue: the client gets 100 Continue from the proxy, the backend the body without the expectation; nothing counts against the backend', async () => {
  for (let i = 0; i < 3; i++) {
    const { text } = await exchange(tg.proxyPort, [
      { data: `PUT /up HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: expect-${i}\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n` },
      { data: 'hello', afterMs: 50 },
    ]);
    assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /, text.slice(0, 200));
    assert.match(text, /\{"got":5,"expect":null\}/);
    const e = await eventFor(`expect-${i}`);
    assert.deepEqual([e.status, e.termination, e.bytes_in], [200, 'ok', 5]);
  }
  // One counted failure would have ejected it (consecutive_failures: 1).
  const backends = JSON.parse(await (await adminFetch(`${tg.admin}/api/v1/backends`)).text()) as { backends: { pools: { name: string; servers: { address: string; state: string }[] }[] }[] };
  const app = backends.backends[0].pools.find((p) => p.name === 'app')!;
  assert.equal(app.servers[0].state, 'healthy', 'the server is not ejected');
});

test('a 304 (or 204) with a Content-Length reaches the client complete, and its event says ok', async () => {
  const r = await get(`${tg.proxy}/not-modified`, { headers: { 'x-request-id': 'nm-1', 'if-none-match': '"v1"' } });
  assert.equal(r.status, 304);
  const e = await eventFor('nm-1');
  assert.deepEqual([e.status, e.termination, e.bytes_out], [304, 'ok', 0]);
  // And the connection is usable afterwards.
  assert.equal((await get(`${tg.proxy}/after-304`)).status, 200);
  const nc = await get(`${tg.proxy}/no-content`, { headers: { 'x-request-id': 'nc-1' } });
  assert.equal(nc.status, 204);
  assert.deepEqual([(await eventFor('nc-1')).termination, (await eventFor('nc-1')).status], ['ok', 204]);
  // Several on one kept-alive connection: each complete, none taken for the next one's start.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (const [i, p] of ['/not-modified', '/no-content', '/plain', '/not-modified'].entries()) {
      const status = await new Promise<number>((resolve, reject) => {
        http
          .get(`${tg.proxy}${p}`, { agent, headers: { 'x-request-id': `keep-${i}` } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          })
          .on('error', reject);
      });
      assert.equal(status, [304, 204, 200, 304][i], p);
      assert.equal((await eventFor(`keep-${i}`)).termination, 'ok', p);
    }
  } finally {
    agent.destroy();
  }
});

test('timeouts.total also bounds connecting: a backend whose connection never completes gets 504 at the total, not at the connect timeout', async () => {
  const t0 = performance.now();
  const r = await get(`${tg.proxy}/silent/x`, { headers: { 'x-request-id': 'total-connect' } });
  const ms = performance.now() - t0;
  assert.equal(r.status, 504);
  assert.ok(ms < 3000, `answered after ${Math.round(ms)} ms; the connect timeout is 5 s`);
  const e = await eventFor('total-connect');
  assert.equal(e.termination, 'upstream_timeout');
  assert.match(e.reason ?? '', /total timeout of 600 ms while connecting/);
  await sleep(200);
  assert.equal((await tg.events({ request_id: 'total-connect' })).length, 1, 'still one event');
  // The handshake starts after the 504 (at 1.2 s) and fails (the test certificate is not one the proxy trusts):
  // nothing else is recorded, nothing reaches the backend, and the server's count is released.
  await waitFor(async () => ((await outstanding('silent')).every((n) => n === 0) ? true : null), 'the late attempt to be released', 5000);
  await sleep(1200);
  assert.equal(lateRequests, 0, 'the request answered 504 never reaches the backend');
  assert.equal((await tg.events({ request_id: 'total-connect' })).length, 1, 'one event after the late connection too');
});

test('timeouts.idle: a client that stops sending its request body gets 408 request_timeout; the backend is not blamed', async () => {
  const { text, ms } = await exchange(
    tg.proxyPort,
    [
      { data: 'POST /idle/up HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: idle-up\r\nContent-Length: 100\r\n\r\n0123456789' },
      { data: 'x'.repeat(90), afterMs: 2500 },
    ],
    5000,
  );
  assert.match(text, /^HTTP\/1\.1 408 /, text.slice(0, 200));
  assert.ok(ms < 2500, `answered after ${Math.round(ms)} ms`);
  const e = await eventFor('idle-up');
  assert.deepEqual([e.status, e.termination, e.bytes_in], [408, 'request_timeout', 10]);
  assert.match(e.reason ?? '', /client sent no request body for 500 ms/);
  assert.deepEqual(await states('idle'), ['healthy'], 'the stalled client did not count against the server (one failure ejects it)');
  // A body that keeps coming, each piece within the idle time though the whole takes longer: answered.
  const trickle = await exchange(
    tg.proxyPort,
    [
      { data: 'POST /idle/trickle HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: idle-trickle\r\nContent-Length: 30\r\nConnection: close\r\n\r\n0123456789' },
      { data: 'abcdefghij', afterMs: 300 },
      { data: 'ABCDEFGHIJ', afterMs: 300 },
    ],
    5000,
  );
  assert.match(trickle.text, /^HTTP\/1\.1 200 /, trickle.text.slice(0, 200));
  assert.match(trickle.text, /"got":30/);
});

test('timeouts.idle: a backend that stops reading the request body gives 504 upstream_timeout', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${tg.proxy}/idle/no-read`, { method: 'POST', agent: false, headers: { host: 'app.test', 'x-request-id': 'idle-backend', 'content-length': String(8 << 20) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(Buffer.alloc(8 << 20, 0x61));
  });
  assert.equal(status, 504);
  const e = await eventFor('idle-backend');
  assert.deepEqual([e.status, e.termination], [504, 'upstream_timeout']);
  assert.match(e.reason ?? '', /backend read no request body for 500 ms/);
});

test('WebSocket: a failed connect is retried on another server and the tunnel works; both servers dead gives 502 upstream_error; no outstanding count leaks', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${tg.proxyPort}/wsflaky/chat`, { headers: { 'x-request-id': 'ws-retry' } });
  const echoed = await new Promise<string>((resolve, reject) => {
    ws.on('open', () => ws.send('hi'));
    ws.on('message', (m) => resolve(String(m)));
    ws.on('error', reject);
  });
  assert.equal(echoed, 'echo:hi');
  ws.close();
  const e = await eventFor('ws-retry');
  assert.deepEqual([e.kind, e.status, e.termination, e.attempts], ['websocket', 101, 'ok', 2]);
  const { text } = await exchange(tg.proxyPort, [{ data: 'GET /wsdead/chat HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: ws-dead\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' }]);
  assert.match(text, /^HTTP\/1\.1 502 /, text.slice(0, 200));
  const dead = await eventFor('ws-dead');
  assert.deepEqual([dead.status, dead.termination, dead.attempts], [502, 'upstream_error', 2]);
  // A backend that takes the connection and closes it without answering the handshake: 502 too.
  const closing = await exchange(tg.proxyPort, [{ data: 'GET /wsclosing/chat HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: ws-closing\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' }]);
  assert.match(closing.text, /^HTTP\/1\.1 502 /, closing.text.slice(0, 200));
  assert.match(closing.text, /\r\nx-request-id: ws-closing\r\n/i, 'the answer carries the request id');
  const closed = await eventFor('ws-closing');
  assert.deepEqual([closed.status, closed.termination], [502, 'upstream_error']);
  assert.match(closed.reason ?? '', /closed the connection before answering the upgrade/);
  const left = await waitFor(async () => {
    const all = await outstanding('ws');
    return all.every((n) => n === 0) ? all : null;
  }, 'no outstanding requests left on the WebSocket pools');
  assert.ok(left.length > 0);
});
