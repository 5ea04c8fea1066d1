/**
 * One event per request, for every way a request can end. Real sockets, a
 * real backend, the real spool and DuckDB store; each test checks the fields
 * of the event its request produced.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { WebSocketServer, WebSocket } from 'ws';
import { startBackend, startTollgate, get, rawExchange, freePort, waitFor, sleep, merge, type Backend, type TestNode, adminFetch, oneEventFor } from './helpers.js';
import type { AuditEvent } from '../src/core/event.js';

let backend: Backend;
let slow: Backend;
let tg: TestNode;
let deadPort: number;
let deadPort2: number;

/** The one event of a request (on the shared node unless another is named). */
function eventFor(requestId: string, node: TestNode = tg): Promise<AuditEvent> {
  return oneEventFor(node, requestId);
}

before(async () => {
  backend = await startBackend();
  slow = await startBackend((req, res) => {
    if (req.url?.includes('/stream')) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk\n');
      setTimeout(() => res.end('late\n'), 3000);
      return;
    }
    setTimeout(() => {
      if (!res.destroyed) res.end('slow');
    }, 3000);
  });
  deadPort = await freePort();
  deadPort2 = await freePort();
  tg = await startTollgate({ app: [backend.address], slow: [slow.address], dead: [`127.0.0.1:${deadPort}`, `127.0.0.1:${deadPort2}`] }, (c) =>
    merge(c, {
      proxy: { trusted_proxies: ['10.0.0.0/8'], max_body_size: 1024, max_header_size: 2048 },
      routes: [
        { id: 'slow', path_prefix: '/slow', backend: 'slow', service: 'slow-svc' },
        { id: 'dead', path_prefix: '/dead', backend: 'dead' },
        { id: 'app', hosts: ['app.test', '*.apps.test'], backend: 'app', labels: { tier: 'web' } },
      ],
      backends: { slow: { timeouts: { response_headers: '500ms' } }, dead: { retries: 1 } },
      audit: { record_headers: { request: ['authorization', 'cookie', 'accept'], response: ['set-cookie', 'content-type'] } },
    }),
  );
});

after(async () => {
  await tg.stop();
  await backend.close();
  await slow.close();
});

describe('every outcome yields exactly one event with the right fields', () => {
  test('success: request facts, routing, correlation, redaction', async () => {
    const r = await get(`${tg.proxy}/orders/7?page=2&access_token=s3cr3t`, {
      headers: {
        host: 'App.Test:8080',
        authorization: 'Bearer eyJhbGciOi.secret.token',
        cookie: 'sid=abc123; theme=dark',
        accept: 'application/json',
        'user-agent': 'it-test/1.0',
        referer: 'https://ref.test/cb?code=oauth-code&state=1',
        'x-request-id': 'req-success-1',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        'x-forwarded-for': '6.6.6.6',
        // Spoofed forwarding facts and a hop-by-hop header named in Connection:
        'x-forwarded-host': 'evil.test',
        'x-forwarded-proto': 'https',
        forwarded: 'for=6.6.6.6;proto=https',
        connection: 'keep-alive, x-hop',
        'x-hop': 'for the proxy only',
        'proxy-authorization': 'Basic c2VjcmV0',
      },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-request-id'], 'req-success-1', 'the request id is returned to the client');
    const seen = backend.requests.at(-1)!;
    assert.equal(seen.headers['x-request-id'], 'req-success-1', 'and passed to the backend');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'XFF from an untrusted peer is replaced, not trusted');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-host'], 'App.Test:8080');
    assert.equal(seen.headers.forwarded, 'for=127.0.0.1;proto=http;host="App.Test:8080"', 'a host with a port is a quoted-string (RFC 7239 §4)');
    assert.equal(seen.headers.traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    assert.equal(seen.headers.connection, 'keep-alive', 'hop-by-hop headers are the proxy’s own');
    assert.equal(seen.headers['x-hop'], undefined, 'headers named in Connection do not cross the proxy');
    assert.equal(seen.headers['proxy-authorization'], undefined);
    const e = await eventFor('req-success-1');
    assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    assert.equal(e.kind, 'http');
    assert.equal(e.source, 'tollgate');
    assert.equal(e.node, 'test-node');
    assert.equal(e.environment, 'test');
    assert.equal(e.client_ip, '127.0.0.1', 'the untrusted XFF did not become the client');
    assert.equal(e.peer_ip, '127.0.0.1');
    assert.equal(e.forwarded_for, '6.6.6.6', 'but the chain received is recorded');
    assert.equal(e.method, 'GET');
    assert.equal(e.host, 'app.test');
    assert.equal(e.path, '/orders/7');
    assert.equal(e.query, 'page=2&access_token=REDACTED');
    assert.equal(e.http_version, '1.1');
    assert.equal(e.route, 'app');
    assert.equal(e.service, 'app');
    assert.equal(e.upstream, backend.address);
    assert.equal(e.upstream_status, 200);
    assert.equal(e.attempts, 1);
    assert.equal(e.status, 200);
    assert.equal(e.bytes_in, 0);
    assert.equal(e.bytes_out, Buffer.byteLength(r.body));
    assert.equal(e.decision, 'allow');
    assert.equal(e.termination, 'ok');
    assert.equal(e.user_agent, 'it-test/1.0');
    assert.equal(e.referer, 'https://ref.test/cb?code=REDACTED&state=1', 'a secret in the Referer\'s query is redacted too');
    assert.equal(e.trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.deepEqual(e.labels, { tier: 'web' });
    assert.ok(e.duration_ms !== null && e.duration_ms > 0 && e.upstream_ms !== null && e.upstream_ms <= e.duration_ms);
    assert.equal(e.headers?.['req.authorization'], 'Bearer REDACTED');
    assert.equal(e.headers?.['req.cookie'], 'sid=REDACTED; theme=REDACTED');
    assert.equal(e.headers?.['req.accept'], 'application/json');
    assert.equal(e.headers?.['res.set-cookie'], 'sid=REDACTED');
    assert.ok(!JSON.stringify(e).includes('s3cr3t') && !JSON.stringify(e).includes('abc123') && !JSON.stringify(e).includes('secret.token'), 'no secret reaches the trail');
  });

  test('a generated request id when the client sent none; wildcard host; POST body bytes', async () => {
    const r = await get(`${tg.proxy}/submit`, { method: 'POST', headers: { host: 'x.apps.test', 'content-type': 'text/plain' }, body: 'a'.repeat(300) });
    assert.equal(r.status, 200);
    const rid = r.headers['x-request-id'] as string;
    assert.match(rid, /^[0-9a-f]{32}$/);
    const e = await eventFor(rid);
    assert.equal(e.route, 'app');
    assert.equal(e.bytes_in, 300);
    assert.equal(e.method, 'POST');
  });

  test('no route: 404 with termination no_route', async () => {
    const r = await get(`${tg.proxy}/anything`, { headers: { host: 'unknown.test', 'x-request-id': 'req-noroute' } });
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.body).error.request_id, 'req-noroute', 'error bodies carry the request id');
    const e = await eventFor('req-noroute');
    assert.equal(e.status, 404);
    assert.equal(e.termination, 'no_route');
    assert.equal(e.decision, 'error');
    assert.equal(e.route, null);
    assert.equal(e.upstream, null);
    assert.equal(e.attempts, 0, 'no backend was tried');
    assert.match(e.reason ?? '', /no route/);
  });

  test('backend down: 502 after retrying, termination upstream_error', async () => {
    const r = await get(`${tg.proxy}/dead/x`, { headers: { host: 'any.test', 'x-request-id': 'req-dead' } });
    assert.equal(r.status, 502);
    const e = await eventFor('req-dead');
    assert.equal(e.status, 502);
    assert.equal(e.termination, 'upstream_error');
    assert.equal(e.route, 'dead');
    assert.ok([`127.0.0.1:${deadPort}`, `127.0.0.1:${deadPort2}`].includes(e.upstream ?? ''));
    assert.ok((e.attempts ?? 0) >= 1);
    assert.equal(e.attempts, 2, 'the other server was tried (retries: 1)');
    assert.match(e.reason ?? '', /ECONNREFUSED/);
    assert.match(e.reason ?? '', /after 2 attempt\(s\)/);
    assert.equal(e.upstream_status, null);
  });

  test('no healthy backend: 503 with termination upstream_unavailable', async () => {
    const port = await freePort();
    const hc = await startTollgate({ gone: [`127.0.0.1:${port}`] }, (c) =>
      merge(c, { backends: { gone: { health_check: { path: '/healthz', interval: '100ms', timeout: '80ms', unhealthy_threshold: 1 } } } }),
    );
    try {
      await waitFor(async () => {
        const b = (await (await adminFetch(`${hc.admin}/api/v1/backends`)).json()) as { backends: { pools: { servers: { state: string }[] }[] }[] };
        return b.backends[0].pools[0].servers[0].state === 'unhealthy';
      }, 'the server to be marked unhealthy');
      const r = await get(`${hc.proxy}/x`, { headers: { 'x-request-id': 'req-unavailable' } });
      assert.equal(r.status, 503);
      assert.equal(JSON.parse(r.body).error.code, 'TG_NO_HEALTHY_BACKEND');
      const e = await waitFor(async () => (await hc.events({ request_id: 'req-unavailable' }))[0], 'event');
      assert.equal(e.status, 503);
      assert.equal(e.termination, 'upstream_unavailable');
      assert.equal(e.attempts, 0, 'no backend was tried');
      assert.equal(e.upstream, null);
      assert.match(e.reason ?? '', /no available server in pool gone \(0\/1 available\)/);
    } finally {
      await hc.stop();
    }
  });

  test('timeout: 504 when the backend sends no headers in time', async () => {
    const r = await get(`${tg.proxy}/slow/x`, { headers: { 'x-request-id': 'req-timeout' } });
    assert.equal(r.status, 504);
    const e = await eventFor('req-timeout');
    assert.equal(e.status, 504);
    assert.equal(e.termination, 'upstream_timeout');
    assert.equal(e.service, 'slow-svc');
    assert.match(e.reason ?? '', /HEADERS_TIMEOUT/);
    assert.ok((e.duration_ms ?? 0) >= 450);
  });

  test('client abort before the response', async () => {
    await new Promise<void>((resolve) => {
      const req = http.get(`${tg.proxy}/slow/abort`, { agent: false, headers: { 'x-request-id': 'req-abort-before' } });
      req.on('error', () => resolve());
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 150);
    });
    const e = await eventFor('req-abort-before');
    assert.equal(e.termination, 'client_abort');
    assert.equal(e.status, null, 'the client got no response');
    assert.match(e.reason ?? '', /before the response/);
  });

  test('client abort during the response', async () => {
    await new Promise<void>((resolve) => {
      const req = http.get(`${tg.proxy}/slow/stream`, { agent: false, headers: { 'x-request-id': 'req-abort-during' } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => resolve());
    });
    const e = await eventFor('req-abort-during');
    assert.equal(e.termination, 'client_abort', JSON.stringify(e));
    assert.equal(e.status, 200, 'the client had the status line');
    assert.equal(e.upstream_status, 200);
    assert.match(e.reason ?? '', /during the response/);
  });

  test('malformed request: 400 from the HTTP parser, with an event whose request id and bytes are the answer\'s', async () => {
    const out = await rawExchange(tg.proxyPort, 'GET /bad path with spaces HTTP/1.1\r\nHost: app.test\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 400 /);
    const id = /\r\nx-request-id: (\S+)\r\n/i.exec(out)?.[1];
    assert.ok(id, 'the answer carries a request id');
    const body = out.slice(out.indexOf('\r\n\r\n') + 4);
    assert.equal(JSON.parse(body).error.request_id, id);
    const e = await eventFor(id);
    assert.equal(e.termination, 'bad_request');
    assert.match(e.reason ?? '', /^HPE_/);
    assert.equal(e.decision, 'error');
    assert.equal(e.peer_ip, '127.0.0.1');
    assert.equal(e.bytes_out, Buffer.byteLength(body));
  });

  test('request timeout: the 408 comes about when configured, and the request has one event (not a second one when the client then hangs up)', async () => {
    const quick = await startTollgate({ app: [backend.address] }, (c) => merge(c, { proxy: { headers_timeout: '1s' } }));
    try {
      const started = Date.now();
      const out = await new Promise<{ text: string; ms: number }>((resolve) => {
        const sock = net.connect(quick.proxyPort, '127.0.0.1', () => sock.write('GET /slow-head HTTP/1.1\r\nHost: app.test\r\n'));
        let text = '';
        sock.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          // Answered: the client hangs up, as clients do.
          sock.destroy();
          resolve({ text, ms: Date.now() - started });
        });
        sock.on('error', () => {});
        setTimeout(() => {
          sock.destroy();
          resolve({ text, ms: Date.now() - started });
        }, 8000);
      });
      assert.match(out.text, /^HTTP\/1\.1 408 /);
      assert.ok(out.ms >= 1000 && out.ms < 3000, `the 408 came after ${out.ms} ms (headers_timeout 1s)`);
      const id = /\r\nx-request-id: (\S+)\r\n/i.exec(out.text)![1];
      const e = await eventFor(id, quick);
      assert.equal(e.termination, 'request_timeout');
      assert.ok(e.duration_ms! >= 1000, `duration ${e.duration_ms} ms counts the wait`);
      await sleep(300);
      await quick.flush();
      const all = await quick.events({});
      assert.equal(all.length, 1, `one event in all: ${JSON.stringify(all.map((x) => [x.status, x.termination, x.reason]))}`);
    } finally {
      await quick.stop();
    }
  });

  test('request timeout on a slow body: the request\'s own event records the 408, which the client gets; no second event', async () => {
    const node = await startTollgate({ app: [backend.address] }, (c) => merge(c, { proxy: { request_timeout: '1s', headers_timeout: '1s' } }));
    try {
      const started = Date.now();
      const out = await new Promise<string>((resolve) => {
        let text = '';
        const sock = net.connect(node.proxyPort, '127.0.0.1', () =>
          sock.write('POST /upload HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: req-slow-body\r\nContent-Length: 1000\r\n\r\nabc'),
        );
        const drip = setInterval(() => (sock.destroyed ? clearInterval(drip) : sock.write('x')), 200);
        sock.on('data', (c: Buffer) => (text += c.toString('latin1')));
        sock.on('error', () => {});
        sock.on('close', () => {
          clearInterval(drip);
          resolve(text);
        });
        setTimeout(() => sock.destroy(), 8000);
      });
      assert.match(out, /^HTTP\/1\.1 408 /, `the client gets the 408 (after ${Date.now() - started} ms)`);
      const e = await eventFor('req-slow-body', node);
      assert.deepEqual([e.status, e.termination], [408, 'request_timeout']);
      await sleep(300);
      await node.flush();
      assert.equal((await node.events({})).length, 1, 'one event for the request');
    } finally {
      await node.stop();
    }
  });

  test('a request answered before its body arrived, whose body then times out, keeps its one event', async () => {
    const early = await startBackend((_req, res) => res.end('answered early'));
    const node = await startTollgate({ app: [early.address] }, (c) => merge(c, { proxy: { request_timeout: '1s', headers_timeout: '1s' } }));
    try {
      const sentAt = performance.now();
      const out = await new Promise<string>((resolve) => {
        let text = '';
        const sock = net.connect(node.proxyPort, '127.0.0.1', () =>
          sock.write('POST /upload HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: req-early-answer\r\nContent-Length: 1000\r\n\r\nabc'),
        );
        sock.on('data', (c: Buffer) => (text += c.toString('latin1')));
        sock.on('error', () => {});
        sock.on('close', () => resolve(text));
        setTimeout(() => sock.destroy(), 6000);
      });
      const closedAfter = performance.now() - sentAt;
      assert.match(out, /^HTTP\/1\.1 200 /);
      assert.equal([...out.matchAll(/^HTTP\/1\.1 /gm)].length, 1, 'no second answer');
      assert.ok(closedAfter < 4000, `the proxy closed the connection (after ${Math.round(closedAfter)} ms), not the client's 6 s timer`);
      const e = await eventFor('req-early-answer', node);
      assert.equal(e.status, 200);
      await sleep(300);
      await node.flush();
      assert.equal((await node.events({})).length, 1, 'one event in all');
    } finally {
      await node.stop();
      await early.close();
    }
  });

  test('an oversized head arriving in several pieces is answered 431 once, not cut off while its event is written', async () => {
    // A long group commit holds the answer while more of the head arrives (as it does over a real network).
    const node = await startTollgate({ app: [backend.address] }, (c) => merge(c, { proxy: { max_header_size: 2048 }, audit: { spool: { group_commit: '200ms' } } }));
    try {
      const out = await new Promise<string>((resolve) => {
        let text = '';
        const sock = net.connect(node.proxyPort, '127.0.0.1', async () => {
          sock.write(`GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: ${'z'.repeat(3000)}`);
          await sleep(50);
          sock.write(`${'z'.repeat(3000)}\r\nX-More: ${'y'.repeat(3000)}\r\n\r\n`);
        });
        sock.on('data', (c: Buffer) => (text += c.toString('latin1')));
        sock.on('error', () => {});
        sock.on('close', () => resolve(text));
        setTimeout(() => sock.destroy(), 3000);
      });
      assert.match(out, /^HTTP\/1\.1 431 /);
      assert.equal([...out.matchAll(/^HTTP\/1\.1 /gm)].length, 1, 'one answer');
      await sleep(300);
      await node.flush();
      assert.equal((await node.events({})).length, 1, 'one event for the one refused request');
    } finally {
      await node.stop();
    }
  });

  test('pipelined: a malformed request after two good ones (the second slow) is answered after both responses', async () => {
    const out = await rawExchange(
      tg.proxyPort,
      'GET /p2a HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: req-p2a\r\n\r\nGET /slow/p2b HTTP/1.1\r\nHost: any.test\r\nX-Request-Id: req-p2b\r\n\r\nGARBAGE\r\n\r\n',
      5000,
    );
    const statuses = [...out.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '504', '400'], out.slice(0, 400));
    assert.equal((await eventFor('req-p2b')).termination, 'upstream_timeout', 'the slow one is answered, not cut off');
  });

  test('pipelined: a malformed request after a good one is answered after the good one\'s response; each has its own event', async () => {
    const out = await rawExchange(tg.proxyPort, 'GET /pipe1 HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: req-pipe1\r\n\r\nGARBAGE\r\n\r\n');
    const statuses = [...out.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '400'], out);
    const good = await eventFor('req-pipe1');
    assert.deepEqual([good.status, good.termination, good.path], [200, 'ok', '/pipe1']);
    const id = [...out.matchAll(/\r\nx-request-id: (\S+)\r\n/gi)].map((m) => m[1])[1];
    const bad = await eventFor(id);
    assert.deepEqual([bad.status, bad.termination, bad.method, bad.path], [400, 'bad_request', null, null], 'the 400 is not recorded as the request before it');
  });

  test('pipelined: a malformed request after requests with bodies (Content-Length, chunked) is recorded with its own first line, not their bodies', async () => {
    // Bodies that hold CRLF CRLF, and one that ends without it right before the malformed request.
    const chunk = 'x\r\n\r\nPUT /in-a-chunk HTTP/1.1';
    const body = 'GET /in-the-body HTTP/1.1\r\n\r\nA=1';
    const out = await rawExchange(
      tg.proxyPort,
      `POST /pb2 HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: req-pb2\r\nTransfer-Encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n` +
        `POST /pb1 HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: req-pb1\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
        'GET /after-bodies HTTP/1.1\r\nHost: app.test\r\nNo colon here\r\n\r\n',
    );
    const statuses = [...out.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => m[1]);
    assert.deepEqual(statuses, ['200', '200', '400'], out.slice(0, 600));
    const id = [...out.matchAll(/\r\nx-request-id: (\S+)\r\n/gi)].map((m) => m[1])[2];
    const bad = await eventFor(id);
    assert.deepEqual([bad.status, bad.termination, bad.method, bad.path], [400, 'bad_request', 'GET', '/after-bodies']);
  });

  test('HTTP/1.1 without Host: 400 and an event', async () => {
    const out = await rawExchange(tg.proxyPort, 'GET /nohost HTTP/1.1\r\nX-Request-Id: req-nohost\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 400 /);
    const e = await eventFor('req-nohost');
    assert.equal(e.host, null);
    assert.equal(e.status, 400);
    assert.equal(e.termination, 'bad_request');
    assert.match(e.reason ?? '', /without a Host header/);
  });

  test('request too large: 413 by Content-Length and by streamed size', async () => {
    const r = await get(`${tg.proxy}/upload`, { method: 'POST', headers: { host: 'app.test', 'x-request-id': 'req-big-cl' }, body: 'x'.repeat(5000) });
    assert.equal(r.status, 413);
    const e = await eventFor('req-big-cl');
    assert.equal(e.termination, 'request_too_large');
    assert.equal(e.status, 413);
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${tg.proxy}/upload`, { method: 'POST', agent: false, headers: { host: 'app.test', 'x-request-id': 'req-big-chunked', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('y'.repeat(500));
      req.end();
    }).catch((err: Error) => err.message);
    const e2 = await eventFor('req-big-chunked');
    assert.equal(e2.termination, 'request_too_large');
    assert.equal(e2.status, 413);
    assert.equal(chunked, 413, 'the client gets the 413, not a reset');
  });

  test('request head too large: 431 with an event', async () => {
    const out = await rawExchange(tg.proxyPort, `GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: ${'z'.repeat(4000)}\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 431 /);
    const events = await tg.events({ status: '431' });
    assert.ok(events.some((x) => x.reason?.startsWith('HPE_HEADER_OVERFLOW')));
  });

  test('trusted proxy: the client is the right-most untrusted hop, and the chain is extended', async () => {
    const trusted = await startTollgate({ app: [backend.address] }, (c) => merge(c, { proxy: { trusted_proxies: ['127.0.0.0/8', '10.0.0.0/8'] } }));
    try {
      const r = await get(`${trusted.proxy}/x`, { headers: { 'x-forwarded-for': '6.6.6.6, 198.51.100.7, 10.1.2.3', 'x-request-id': 'req-xff' } });
      assert.equal(r.status, 200);
      const seen = backend.requests.at(-1)!;
      assert.equal(seen.headers['x-forwarded-for'], '6.6.6.6, 198.51.100.7, 10.1.2.3, 127.0.0.1');
      const e = await waitFor(async () => (await trusted.events({ request_id: 'req-xff' }))[0], 'xff event');
      assert.equal(e.client_ip, '198.51.100.7', 'spoofed left-most entry ignored, trusted hops skipped');
      assert.equal(e.client_port, null, 'the port is the proxy’s, not the client’s');
      assert.equal(e.peer_ip, '127.0.0.1');
    } finally {
      await trusted.stop();
    }
  });

  test('WebSocket: one event for the connection with its duration and bytes', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => ws.on('message', (m: Buffer) => ws.send(`echo:${m.toString()}`)));
    const wsPort = (wss.address() as net.AddressInfo).port;
    const ws2 = await startTollgate({ ws: [`127.0.0.1:${wsPort}`] });
    try {
      const client = new WebSocket(`ws://127.0.0.1:${ws2.proxyPort}/chat`, { headers: { 'x-request-id': 'req-ws' } });
      await new Promise((r, j) => {
        client.once('open', r);
        client.once('error', j);
      });
      const got: string[] = [];
      client.on('message', (m: Buffer) => got.push(m.toString()));
      client.send('hello');
      client.send('world');
      await waitFor(() => got.length === 2, 'echoes');
      await sleep(100);
      client.close();
      await new Promise((r) => client.once('close', r));
      const e = await waitFor(async () => (await ws2.events({ request_id: 'req-ws' }))[0], 'websocket event');
      assert.deepEqual(got, ['echo:hello', 'echo:world']);
      assert.equal(e.kind, 'websocket');
      assert.equal(e.status, 101);
      assert.equal(e.route, 'ws');
      assert.equal(e.termination, 'ok');
      assert.ok((e.bytes_in ?? 0) > 0 && (e.bytes_out ?? 0) > 0);
      assert.ok((e.duration_ms ?? 0) >= 100, 'the event covers the connection’s life');
      assert.equal((await ws2.events()).length, 1, 'exactly one event for the connection');
    } finally {
      await ws2.stop();
      wss.close();
    }
  });
});

describe('WebSocket tunnels end, and are recorded, even when a side goes quiet', () => {
  test('a silent tunnel is closed after timeouts.tunnel; a client half-close is recorded though the backend never closes', async () => {
    // A backend that switches protocols, then never says or closes anything (not even after the client's FIN).
    const sockets: net.Socket[] = [];
    const silent = net.createServer({ allowHalfOpen: true }, (s) => {
      sockets.push(s);
      s.on('error', () => {});
      s.once('data', () => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentAt = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const node = await startTollgate({ ws: [silentAt] }, (c) => merge(c, { backends: { ws: { timeouts: { tunnel: '1s' } } } }));
    // The default tunnel timeout (1 h): only the half-close ends the second tunnel.
    const patient = await startTollgate({ ws: [silentAt] });
    const open = (id: string, at = node) =>
      new Promise<net.Socket>((resolve) => {
        const c = net.connect(at.proxyPort, '127.0.0.1', () =>
          c.write(`GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Request-Id: ${id}\r\n\r\n`),
        );
        c.on('error', () => {});
        c.once('data', () => resolve(c));
      });
    try {
      const idle = await open('req-ws-idle');
      const started = Date.now();
      await new Promise((r) => idle.once('close', r));
      const idleMs = Date.now() - started;
      assert.ok(idleMs >= 900 && idleMs < 4000, `closed after ${idleMs} ms of silence (tunnel: 1s)`);
      const e1 = await eventFor('req-ws-idle', node);
      assert.deepEqual([e1.kind, e1.status, e1.termination], ['websocket', 101, 'upstream_timeout']);
      assert.match(e1.reason ?? '', /idle/);

      const halfClosed = await open('req-ws-fin', patient);
      halfClosed.end();
      const e2 = await waitFor(async () => (await patient.events({ request_id: 'req-ws-fin' }))[0], 'the half-closed tunnel\'s event', 10_000, 100);
      assert.equal(e2.termination, 'ok');
      assert.match(e2.reason ?? '', /client closed its side/);
    } finally {
      await node.stop();
      await patient.stop();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

describe('the response waits for its event', () => {
  test('a client sees the end of a response only once its event is in the spool', async () => {
    // A long group commit widens the window: a response released before its
    // event is written would reach the client while the event is still in memory.
    const node = await startTollgate({ app: [backend.address] }, (c) => merge(c, { audit: { spool: { group_commit: '300ms' } } }));
    try {
      const spoolText = () =>
        readdirSync(path.join(node.dir, 'spool', 'w0'))
          .filter((f) => f.endsWith('.ndjson'))
          .map((f) => readFileSync(path.join(node.dir, 'spool', 'w0', f), 'utf8'))
          .join('');
      for (const [i, body] of [['held-cl', undefined], ['held-post', 'x'.repeat(200)]] as const) {
        const t0 = performance.now();
        const r = await get(`${node.proxy}/x/${i}`, { method: body ? 'POST' : 'GET', headers: { 'x-request-id': i }, body });
        const inSpool = spoolText().includes(`"request_id":"${i}"`);
        assert.equal(r.status, 200);
        assert.ok(inSpool, `${i}: the event is on disk when the client has the whole response`);
        assert.ok(performance.now() - t0 >= 250, `${i}: the response waited for the group commit`);
      }
    } finally {
      await node.stop();
    }
  });
});

describe('exactly one event per request', () => {
  test('N mixed requests → N events, unique ids', async () => {
    const node = await startTollgate({ app: [backend.address] }, (c) => merge(c, { routes: [{ id: 'app', path_prefix: '/ok', backend: 'app' }] }));
    try {
      const N = 60;
      const results = await Promise.all(Array.from({ length: N }, (_, i) => get(`${node.proxy}/${i % 3 === 0 ? 'missing' : 'ok'}/${i}`, { headers: { 'x-request-id': `n-${i}` } })));
      assert.equal(results.filter((r) => r.status === 404).length, 20);
      const events = await node.events();
      assert.equal(events.length, N);
      assert.equal(new Set(events.map((e) => e.id)).size, N);
      assert.deepEqual(new Set(events.map((e) => e.request_id)), new Set(Array.from({ length: N }, (_, i) => `n-${i}`)));
    } finally {
      await node.stop();
    }
  });
});
