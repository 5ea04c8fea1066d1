/**
 * Forwarding at its edges, as a user found them: Expect: 100-continue,
 * bodiless statuses with a Content-Length, the total timeout while still
 * connecting, a stalled upload, and WebSocket retries. Real sockets, a real
 * node; each test checks what the client got and the request's one event.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { startBackend, startTollgate, get, freePort, waitFor, sleep, merge, adminFetch, oneEventFor, type Backend, type TestNode } from './helpers.js';
import type { AuditEvent } from '../src/core/event.js';

let backend: Backend;
let wsServer: http.Server;
let silentTls: net.Server;
const silentSockets = new Set<net.Socket>();
let tg: TestNode;

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
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(JSON.stringify({ got: n, expect: req.headers.expect ?? null })));
  });
  wsServer = http.createServer();
  new WebSocketServer({ server: wsServer }).on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${String(m)}`)));
  await new Promise<void>((r) => wsServer.listen(0, '127.0.0.1', r));
  // Accepts connections and never speaks TLS: a backend whose connection is never established.
  silentTls = net.createServer((s) => {
    silentSockets.add(s);
    s.on('close', () => silentSockets.delete(s));
  });
  await new Promise<void>((r) => silentTls.listen(0, '127.0.0.1', r));
  const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const wsPort = (wsServer.address() as net.AddressInfo).port;
  const silentPort = (silentTls.address() as net.AddressInfo).port;
  tg = await startTollgate({ app: [backend.address], wsflaky: [dead[0], `127.0.0.1:${wsPort}`], wsdead: dead, silent: [`127.0.0.1:${silentPort}`], idle: [backend.address] }, (c) =>
    merge(c, {
      routes: [
        { id: 'wsflaky', path_prefix: '/wsflaky', backend: 'wsflaky' },
        { id: 'wsdead', path_prefix: '/wsdead', backend: 'wsdead' },
        { id: 'silent', path_prefix: '/silent', backend: 'silent' },
        { id: 'idle', path_prefix: '/idle', backend: 'idle' },
        { id: 'app', backend: 'app' },
      ],
      backends: {
        app: { outlier: { consecutive_failures: 1, base_ejection: '30s' } },
        wsflaky: { algorithm: 'round_robin', retries: 1 },
        wsdead: { retries: 1 },
        silent: { servers: [{ address: `127.0.0.1:${silentPort}`, tls: true }], retries: 0, timeouts: { connect: '5s', total: '600ms' } },
        idle: { timeouts: { idle: '500ms' } },
      },
    }),
  );
});

after(async () => {
  await tg.stop();
  await backend.close();
  await new Promise((r) => wsServer.close(r));
  for (const s of silentSockets) s.destroy();
  await new Promise((r) => silentTls.close(r));
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
  const outstanding = await waitFor(async () => {
    const b = JSON.parse(await (await adminFetch(`${tg.admin}/api/v1/backends`)).text()) as { backends: { pools: { name: string; servers: { outstanding: number }[] }[] }[] };
    const all = b.backends[0].pools.filter((p) => p.name.startsWith('ws')).flatMap((p) => p.servers.map((s) => s.outstanding));
    return all.every((n) => n === 0) ? all : null;
  }, 'no outstanding requests left on the WebSocket pools');
  assert.ok(outstanding.length > 0);
});
