import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LineBatch } from '../types.js';
import { parseSyslog, startSyslogReceiver, syslogBatches, type SyslogMessage, type SyslogReceiver } from './syslog.js';

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const HAPROXY_LINE = '10.0.0.1:51234 [24/Nov/2025:10:00:00.123] fe be/srv1 0/0/1/2/3 200 512 - - ---- 1/1/0/0/0 0/0 "GET /a HTTP/1.1"';
const NGINX_LINE = '10.0.0.2 - - [24/Nov/2025:10:00:00 +0000] "GET /b HTTP/1.1" 200 12 "-" "curl/8.0"';

test('RFC 3164: with and without hostname, tag with and without pid, odd timestamps', () => {
  const m = parseSyslog(`<134>Nov 24 10:00:00 haproxy[4321]: ${HAPROXY_LINE}`, 'udp', '1.2.3.4:5') as SyslogMessage;
  assert.equal(m.format, 'rfc3164');
  assert.equal(m.facility, 16); // local0
  assert.equal(m.severity, 6); // info
  assert.equal(m.timestamp, 'Nov 24 10:00:00');
  assert.equal(m.hostname, null, 'HAProxy sends no hostname by default');
  assert.equal(m.app, 'haproxy');
  assert.equal(m.procid, '4321');
  assert.equal(m.message, HAPROXY_LINE);
  assert.equal(m.peer, '1.2.3.4:5');

  const n = parseSyslog(`<190>Nov  4 09:05:01 web-1 nginx: ${NGINX_LINE}`, 'tcp', 'p') as SyslogMessage;
  assert.equal(n.facility, 23);
  assert.equal(n.severity, 6);
  assert.equal(n.timestamp, 'Nov  4 09:05:01');
  assert.equal(n.hostname, 'web-1');
  assert.equal(n.app, 'nginx');
  assert.equal(n.procid, null);
  assert.equal(n.message, NGINX_LINE);

  const h = parseSyslog(`<134>Nov 24 10:00:00 lb1 haproxy[1]: ${HAPROXY_LINE}`, 'udp', 'p') as SyslogMessage;
  assert.equal(h.hostname, 'lb1');
  assert.equal(h.message, HAPROXY_LINE);

  const iso = parseSyslog('<13>2025-11-24T10:00:00.5+01:00 host app[7]: hi there', 'udp', 'p') as SyslogMessage;
  assert.equal(iso.timestamp, '2025-11-24T10:00:00.5+01:00');
  assert.deepEqual([iso.hostname, iso.app, iso.procid, iso.message], ['host', 'app', '7', 'hi there']);

  // No tag after the hostname: the rest is the message. No timestamp: all is the message (RFC 3164 §4.3.3).
  const notag = parseSyslog(`<14>Nov 24 10:00:00 host ${NGINX_LINE}`, 'udp', 'p') as SyslogMessage;
  assert.deepEqual([notag.hostname, notag.app, notag.message], ['host', null, NGINX_LINE]);
  const bare = parseSyslog(`<134>${HAPROXY_LINE}`, 'udp', 'p') as SyslogMessage;
  assert.deepEqual([bare.timestamp, bare.hostname, bare.app, bare.message], [null, null, null, HAPROXY_LINE]);
  assert.equal((parseSyslog('<0>Nov 24 10:00:00 h t:', 'udp', 'p') as SyslogMessage).message, '');
});

test('RFC 5424: header fields, nil values, structured data with escapes, BOM', () => {
  const sd = '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high" note="a \\"quoted\\" \\] bracket"]';
  const m = parseSyslog(`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 ${sd} \uFEFFAn application event`, 'udp', 'p') as SyslogMessage;
  assert.equal(m.format, 'rfc5424');
  assert.equal(m.facility, 20);
  assert.equal(m.severity, 5);
  assert.equal(m.timestamp, '2003-10-11T22:14:15.003Z');
  assert.equal(m.hostname, 'mymachine.example.com');
  assert.equal(m.app, 'evntslog');
  assert.equal(m.procid, null);
  assert.equal(m.msgid, 'ID47');
  assert.equal(m.structuredData, sd);
  assert.equal(m.message, 'An application event', 'the BOM is not part of the message');

  const nil = parseSyslog('<34>1 - - - - - -', 'tcp', 'p') as SyslogMessage;
  assert.deepEqual([nil.timestamp, nil.hostname, nil.app, nil.procid, nil.msgid, nil.structuredData, nil.message], [null, null, null, null, null, null, '']);

  const hap = parseSyslog(`<134>1 2025-11-24T10:00:00.123456+00:00 lb1 haproxy 4321 - - ${HAPROXY_LINE}`, 'udp', 'p') as SyslogMessage;
  assert.deepEqual([hap.app, hap.procid, hap.message], ['haproxy', '4321', HAPROXY_LINE]);

  // Malformed: missing fields, unterminated SD, junk after SD, bad PRI.
  for (const bad of [
    '<34>1 2003-10-11T22:14:15.003Z host app',
    '<34>1 - - - - [id a="b"',
    '<34>1 - - - - -x',
    '<34>1 - - - - x',
    'no pri at all',
    '<>x',
    '<192>Nov 24 10:00:00 h t: m',
    '<1234>x',
    '<12',
  ]) {
    assert.equal(parseSyslog(bad, 'udp', 'p'), null, bad);
  }
});

function udpSend(port: number, ...msgs: Array<string | Buffer>): Promise<void> {
  const s = dgram.createSocket('udp4');
  return new Promise<void>((resolve, reject) => {
    let left = msgs.length;
    for (const m of msgs) {
      s.send(m, port, '127.0.0.1', (err) => {
        if (err) reject(err);
        if (--left === 0) {
          s.close();
          resolve();
        }
      });
    }
  });
}

async function tcpConnect(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

/** Writes and waits long enough for the bytes to arrive as their own TCP segment. */
async function writePacket(s: net.Socket, data: string | Buffer): Promise<void> {
  await new Promise<void>((resolve) => s.write(data, () => resolve()));
  await sleep(30);
}

async function receiver(opts: Partial<Parameters<typeof startSyslogReceiver>[0]> = {}): Promise<{ rx: SyslogReceiver; msgs: SyslogMessage[] }> {
  const msgs: SyslogMessage[] = [];
  const rx = await startSyslogReceiver({ udp: '127.0.0.1:0', tcp: '127.0.0.1:0', onMessage: (m) => msgs.push(m), ...opts });
  return { rx, msgs };
}

test('UDP: one message per datagram, both formats; garbage counted, never fatal', async (t) => {
  const { rx, msgs } = await receiver();
  t.after(() => rx.close());
  assert.ok(rx.ports.udp && rx.ports.udp > 0);
  await udpSend(
    rx.ports.udp,
    `<134>Nov 24 10:00:00 haproxy[1]: ${HAPROXY_LINE}`,
    `<190>1 2025-11-24T10:00:00Z web nginx - - - ${NGINX_LINE}\n`,
    'garbage without pri',
    Buffer.from([0x3c, 0x31, 0x3e, 0xff, 0xfe]),
    '',
  );
  await waitFor(() => msgs.length === 3 && rx.stats().malformed === 1, 'three messages and one malformed');
  const byApp = Object.fromEntries(msgs.map((m) => [m.app ?? 'none', m]));
  assert.equal(byApp.haproxy.message, HAPROXY_LINE);
  assert.equal(byApp.nginx.message, NGINX_LINE, 'the trailing newline is not part of the message');
  assert.equal(byApp.none.message, '\uFFFD\uFFFD', 'invalid UTF-8 is replaced');
  assert.ok(msgs.every((m) => m.transport === 'udp' && /^127\.0\.0\.1:\d+$/.test(m.peer)));
  assert.equal(rx.stats().received, 3);
});

test('TCP octet counting: two frames in one packet, a frame split across packets (count too), oversize skipped', async (t) => {
  const { rx, msgs } = await receiver({ maxMessageBytes: 200 });
  t.after(() => rx.close());
  const s = await tcpConnect(rx.ports.tcp as number);
  const f = (m: string): string => `${Buffer.byteLength(m)} ${m}`;
  const a = `<134>Nov 24 10:00:00 haproxy[1]: ${HAPROXY_LINE}`;
  const b = `<190>1 2025-11-24T10:00:00Z web nginx - - [x@1 k="v\\]"] ${NGINX_LINE}`;
  const c = '<13>1 - host app - - - message with\nan embedded newline — and UTF-8 ✓';
  await writePacket(s, f(a) + f(b));
  await waitFor(() => msgs.length === 2, 'two frames from one packet');
  const fc = Buffer.from(f(c));
  await writePacket(s, fc.subarray(0, 1)); // inside the count
  await writePacket(s, fc.subarray(1, 10));
  await writePacket(s, fc.subarray(10, fc.length - 3)); // inside the '✓'
  await writePacket(s, fc.subarray(fc.length - 3));
  await waitFor(() => msgs.length === 3, 'the split frame');
  const big = '<13>1 - h a - - - ' + 'x'.repeat(300);
  await writePacket(s, f(big) + f(a));
  await waitFor(() => msgs.length === 4, 'the frame after the oversize one');
  assert.deepEqual(
    msgs.map((m) => m.message),
    [HAPROXY_LINE, NGINX_LINE, 'message with\nan embedded newline — and UTF-8 ✓', HAPROXY_LINE],
  );
  assert.equal(msgs[1].structuredData, '[x@1 k="v\\]"]');
  assert.equal(rx.stats().oversize, 1);
  assert.ok(msgs.every((m) => m.transport === 'tcp'));

  // A garbled count cannot be resynchronised: counted, connection closed, receiver fine.
  await writePacket(s, 'abc <13>x');
  await new Promise((r) => (s.destroyed ? r(null) : s.once('close', r)));
  await waitFor(() => rx.stats().malformed === 1, 'the malformed count');
  assert.equal(rx.stats().connections, 0);
});

test('TCP LF framing: two messages in one packet, one split across packets, CRLF, last one without LF, malformed lines', async (t) => {
  const { rx, msgs } = await receiver({ maxMessageBytes: 300 });
  t.after(() => rx.close());
  const s = await tcpConnect(rx.ports.tcp as number);
  const a = `<134>Nov 24 10:00:00 haproxy[1]: ${HAPROXY_LINE}`;
  const b = `<190>Nov 24 10:00:00 web nginx: ${NGINX_LINE}`;
  await writePacket(s, `${a}\n${b}\r\n`);
  await waitFor(() => msgs.length === 2, 'two messages in one packet');
  await writePacket(s, a.slice(0, 20));
  await writePacket(s, a.slice(20, 60));
  await writePacket(s, a.slice(60) + '\nnot syslog\n\n' + 'y'.repeat(400));
  await writePacket(s, 'y'.repeat(400) + '\n' + b + '\n');
  await writePacket(s, 'final without newline <x');
  await new Promise<void>((resolve) => s.end(resolve));
  await waitFor(() => rx.stats().malformed === 2 && msgs.length === 4, 'all frames');
  assert.deepEqual(
    msgs.map((m) => m.message),
    [HAPROXY_LINE, NGINX_LINE, HAPROXY_LINE, NGINX_LINE],
  );
  assert.equal(rx.stats().oversize, 1);
  await waitFor(() => rx.stats().connections === 0, 'the connection to close');
});

test('TCP: connection limit; close() ends open connections; bad listen addresses are refused', async (t) => {
  const { rx, msgs } = await receiver({ udp: undefined, maxConnections: 1 });
  t.after(() => rx.close());
  assert.equal(rx.ports.udp, undefined);
  const s1 = await tcpConnect(rx.ports.tcp as number);
  await waitFor(() => rx.stats().connections === 1, 'first connection');
  const s2 = net.connect(rx.ports.tcp as number, '127.0.0.1');
  s2.on('error', () => {});
  await new Promise((r) => s2.once('close', r));
  await waitFor(() => rx.stats().connectionsRejected === 1, 'the second connection refused');
  await writePacket(s1, '<13>Nov 24 10:00:00 h t: still served\n');
  await waitFor(() => msgs.length === 1, 'the first connection still served');
  const closed = new Promise((r) => s1.once('close', r));
  s1.on('error', () => {});
  await rx.close();
  await closed;

  await assert.rejects(startSyslogReceiver({ tcp: 'nonsense', onMessage: () => {} }), /host:port/);
  await assert.rejects(startSyslogReceiver({ onMessage: () => {} }), /udp and\/or tcp/);
});

test('a throwing onMessage is counted, not fatal', async (t) => {
  let n = 0;
  const rx = await startSyslogReceiver({
    udp: '127.0.0.1:0',
    onMessage: () => {
      if (++n === 1) throw new Error('boom');
    },
  });
  t.after(() => rx.close());
  await udpSend(rx.ports.udp as number, '<13>Nov 24 10:00:00 h t: 1', '<13>Nov 24 10:00:00 h t: 2');
  await waitFor(() => n === 2, 'both messages');
  assert.equal(rx.stats().handlerErrors, 1);
});

test('syslogBatches: message bodies as lines (origin syslog), numbered; a filter picks the load balancer', async (t) => {
  const ac = new AbortController();
  const { receiver: rx, batches } = await syslogBatches({ udp: '127.0.0.1:0', tcp: '127.0.0.1:0', signal: ac.signal, filter: (m) => m.app !== 'cron' });
  t.after(() => ac.abort());
  const got: LineBatch[] = [];
  const consumer = (async () => {
    for await (const b of batches) got.push(b);
  })();
  await udpSend(rx.ports.udp as number, `<134>Nov 24 10:00:00 haproxy[77]: ${HAPROXY_LINE}`, '<78>Nov 24 10:00:00 host cron[1]: ignored');
  const s = await tcpConnect(rx.ports.tcp as number);
  await writePacket(s, `<190>Nov 24 10:00:00 web nginx: ${NGINX_LINE}\n<190>Nov 24 10:00:00 web nginx: second\n`);
  s.end();
  await waitFor(() => got.reduce((n, b) => n + b.lines.length, 0) === 3, 'three lines');
  ac.abort();
  await consumer;
  const lines = got.flatMap((b) => b.lines);
  assert.deepEqual(lines.sort(), [HAPROXY_LINE, NGINX_LINE, 'second'].sort());
  let next = 1;
  for (const b of got) {
    assert.equal(b.origin, 'syslog');
    assert.equal(b.firstLine, next);
    next += b.lines.length;
  }
  assert.equal(got[got.length - 1].endOffset, lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0));
});
