/**
 * The bypass corpus (test/fixtures/bypass-corpus.txt, format described at its
 * top) against a restricted /admin route. Real sockets: each attempt is sent
 * raw on its own connection. The backend records every request it receives;
 * none of them may be /admin by a deliberately liberal reading (the most
 * forgiving way any backend might interpret the target), every attempt must be
 * refused with a 4xx or served by the public route, and every attempt must
 * leave exactly one audit event. On failure the whole table is printed so the
 * failing lines can be read in context.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ROOT, startBackend, startTollgate, rawExchange, get, merge, waitFor, sleep, type Backend, type TestNode } from './helpers.js';
import type { AuditEvent } from '../src/core/event.js';

const CORPUS = path.join(ROOT, 'test', 'fixtures', 'bypass-corpus.txt');
const API_KEY = 'admin-secret';

// ---------------------------------------------------------------- corpus

interface Attempt {
  line: number;
  text: string;
  requestId: string;
  bytes: Buffer;
}

const TOKEN = /<TAB>|<SP>|<CR>|<LF>|<NUL>|<0x([0-9A-Fa-f]{2})>/g;
const TOKEN_BYTES: Record<string, number> = { '<TAB>': 0x09, '<SP>': 0x20, '<CR>': 0x0d, '<LF>': 0x0a, '<NUL>': 0x00 };

/** The corpus text with tokens replaced by their bytes. */
function expand(s: string): Buffer {
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of s.matchAll(TOKEN)) {
    parts.push(Buffer.from(s.slice(last, m.index), 'utf8'));
    parts.push(Buffer.from([m[1] !== undefined ? parseInt(m[1], 16) : TOKEN_BYTES[m[0]]]));
    last = m.index + m[0].length;
  }
  parts.push(Buffer.from(s.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

function parseCorpus(text: string): Attempt[] {
  const out: Attempt[] = [];
  text.split('\n').forEach((rawLine, i) => {
    const line = rawLine.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) return;
    const [requestLine, ...headerLines] = line.split(' || ');
    const lineNo = i + 1;
    const requestId = `bypass-L${lineNo}`;
    const names = new Set(headerLines.map((h) => h.split(':')[0].trim().toLowerCase()));
    const parts: Buffer[] = [expand(requestLine), Buffer.from('\r\n')];
    for (const h of headerLines) if (h !== '-Host') parts.push(expand(h), Buffer.from('\r\n'));
    const http10 = requestLine.endsWith('HTTP/1.0');
    if (!names.has('host') && !names.has('-host') && !http10) parts.push(Buffer.from('Host: localhost\r\n'));
    if (!names.has('connection')) parts.push(Buffer.from('Connection: close\r\n'));
    if (!names.has('x-request-id')) parts.push(Buffer.from(`X-Request-Id: ${requestId}\r\n`));
    parts.push(Buffer.from('\r\n'));
    out.push({ line: lineNo, text: line, requestId, bytes: Buffer.concat(parts) });
  });
  return out;
}

// ---------------------------------------------------------------- reference decoder

/**
 * UTF-8 as a careless decoder reads it: overlong forms and encoded surrogates
 * are decoded to the character they spell ("%c0%af" is "/"), a byte that
 * starts no valid sequence is taken as the Latin-1 character of its value.
 */
function lenientUtf8(bytes: number[]): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const need = b >= 0xc0 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf8 ? 3 : 0;
    let cp = need === 1 ? b & 0x1f : need === 2 ? b & 0x0f : b & 0x07;
    let ok = need > 0 && i + need < bytes.length;
    for (let k = 1; ok && k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (c & 0x3f);
    }
    if (!ok) {
      out += String.fromCharCode(b);
      i++;
      continue;
    }
    out += cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
    i += need + 1;
  }
  return out;
}

/** One round of decoding "%XX" (as UTF-8 bytes, leniently) and IIS-style "%uXXXX". */
function decodeOnce(s: string): string {
  const bytes: number[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const u = /^%u([0-9A-Fa-f]{4})/.exec(s.slice(i, i + 6));
      if (u) {
        bytes.push(...Buffer.from(String.fromCharCode(parseInt(u[1], 16)), 'utf8'));
        i += 6;
        continue;
      }
      const x = /^%([0-9A-Fa-f]{2})/.exec(s.slice(i, i + 3));
      if (x) {
        bytes.push(parseInt(x[1], 16));
        i += 3;
        continue;
      }
    }
    const cp = s.codePointAt(i)!;
    const ch = String.fromCodePoint(cp);
    // Latin-1 range characters stand for their byte (they came from a byte a
    // previous round could not read as UTF-8, or from Node's Latin-1 reading
    // of the request line).
    if (cp < 0x100) bytes.push(cp);
    else bytes.push(...Buffer.from(ch, 'utf8'));
    i += ch.length;
  }
  return lenientUtf8(bytes);
}

/**
 * The path a liberal backend could see in a request target: scheme and
 * authority dropped, cut at a raw "?" or "#", percent-decoded until stable,
 * "\" read as "/", cut at a NUL (C string handling), ";" parameters stripped
 * per segment, repeated slashes merged, dot-segments resolved, lower-cased.
 */
function liberalPath(target: string): string {
  let t = target;
  const abs = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(t);
  if (abs) t = t.slice(abs[0].length);
  t = t.split(/[?#]/)[0];
  for (let round = 0; round < 8; round++) {
    const next = decodeOnce(t);
    if (next === t) break;
    t = next;
  }
  t = t.replace(/\\/g, '/');
  const nul = t.indexOf('\0');
  if (nul !== -1) t = t.slice(0, nul);
  const out: string[] = [];
  const segs = t.split('/');
  for (let k = 0; k < segs.length; k++) {
    const name = segs[k].split(';')[0];
    const lastSeg = k === segs.length - 1;
    if (name === '..') out.pop();
    if (name === '.' || name === '..') {
      if (lastSeg) out.push('');
      continue;
    }
    if (name === '' && !lastSeg) continue;
    out.push(name);
  }
  return ('/' + out.join('/')).toLowerCase();
}

function isAdmin(target: string): boolean {
  const p = liberalPath(target);
  return p === '/admin' || p.startsWith('/admin/');
}

/** Headers some backends take the path from instead of the request line. */
const PATH_OVERRIDE_HEADERS = ['x-original-url', 'x-rewrite-url', 'x-override-url'];
/** Reported in the table when they reach the backend, but not counted as a bypass. */
const NOTED_HEADERS = ['x-original-uri', 'x-forwarded-uri', 'x-forwarded-path', 'x-envoy-original-path', 'x-forwarded-prefix', 'x-http-method-override', 'x-http-method', 'x-method-override'];

// ---------------------------------------------------------------- fixture

let backend: Backend;
let tg: TestNode;
/** WebSocket handshakes that reached the backend (the helper records only 'request'). */
const upgrades: http.IncomingMessage[] = [];

before(async () => {
  backend = await startBackend();
  backend.server.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
    upgrades.push(req);
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  const sha256 = createHash('sha256').update(API_KEY).digest('hex');
  tg = await startTollgate({ app: [backend.address] }, (c) =>
    merge(c, {
      access: {
        identities: [{ id: 'keys', type: 'api_key', header: 'x-api-key', keys: [{ id: 'admin-key', sha256, user: 'alice', groups: ['admin'] }] }],
      },
      routes: [
        {
          id: 'admin',
          path_prefix: '/admin',
          backend: 'app',
          access: { identities: ['keys'], restricted: true, rules: [{ id: 'admins', action: 'allow', groups: ['admin'] }] },
        },
        { id: 'public', path_prefix: '/', backend: 'app' },
      ],
    }),
  );
});

after(async () => {
  await tg?.stop();
  await backend?.close();
});

// ---------------------------------------------------------------- tests

test('the reference decoder reads liberally', () => {
  const admin = [
    '/admin', '/ADMIN/', '/%61dmin', '/%2561dmin', '/%252e%252e/admin', '/public/..%2fadmin', '/public/%2e%2e/admin', '/public\\..\\admin',
    '/%c0%ae%c0%ae/admin', '/public/..%c0%afadmin', '/%e0%80%afadmin', '/%c1%9cadmin', '/%u0061dmin', '/;x/admin;y=1', '/admin..;/..;/admin',
    '//admin//x', '/admin%00.html', '/admin#x', '/admin?x', 'http://evil/ADMIN', '/x/../../admin/.',
  ];
  for (const t of admin) assert.ok(isAdmin(t), `${t} -> ${liberalPath(t)}`);
  const other = ['/', '/public/x', '/admin.json', '/administrator', '/%EF%BD%81dmin', '/admin%20', '/admin%23', '/admin/..', '//localhost/admin', '/public#/../admin'];
  for (const t of other) assert.ok(!isAdmin(t), `${t} -> ${liberalPath(t)}`);
});

test('positive controls: the key opens /admin, /public is open, no key is 401', async () => {
  const n = backend.requests.length;
  const withKey = await get(`${tg.proxy}/admin`, { headers: { 'x-api-key': API_KEY, 'x-request-id': 'control-admin-key' } });
  assert.equal(withKey.status, 200, withKey.body);
  assert.equal(backend.requests.length, n + 1, 'the request with the key reached the backend');
  assert.equal(backend.requests.at(-1)!.url, '/admin');
  const pub = await get(`${tg.proxy}/public/x`, { headers: { 'x-request-id': 'control-public' } });
  assert.equal(pub.status, 200, pub.body);
  assert.equal(backend.requests.at(-1)!.url, '/public/x');
  const noKey = await get(`${tg.proxy}/admin`, { headers: { 'x-request-id': 'control-admin-nokey' } });
  assert.equal(noKey.status, 401, noKey.body);
  assert.equal(backend.requests.length, n + 2, 'the request without a key did not reach the backend');
  for (const id of ['control-admin-key', 'control-public', 'control-admin-nokey']) {
    const ev = await waitFor(async () => {
      const e = await tg.events({ request_id: id });
      return e.length ? e : null;
    }, `event ${id}`);
    assert.equal(ev.length, 1, `one event for ${id}`);
  }
});

interface Outcome {
  attempt: Attempt;
  status: number | null;
  events: AuditEvent[];
  received: string[];
  bypasses: string[];
  noted: string[];
  problems: string[];
}

function statusOf(raw: string): number | null {
  const m = /^HTTP\/\d\.\d (\d{3})/.exec(raw);
  return m ? Number(m[1]) : null;
}

function clip(s: string, n: number): string {
  const v = JSON.stringify(s).slice(1, -1);
  return v.length > n ? v.slice(0, n - 1) + '…' : v;
}

function table(outcomes: Outcome[]): string {
  const rows = outcomes.map((o) => {
    const e = o.events.length === 1 ? o.events[0] : null;
    return [
      o.problems.length ? 'FAIL' : 'ok',
      String(o.attempt.line),
      clip(o.attempt.text, 70),
      o.status === null ? '-' : String(o.status),
      String(o.events.length),
      e ? `${e.route ?? '-'}/${e.termination ?? '-'}` : '-',
      e?.reason ? clip(e.reason, 60) : '',
      o.received.map((r) => clip(r, 40)).join(' ') || '-',
      [...o.problems, ...o.noted].join('; '),
    ];
  });
  const head = ['', 'line', 'attempt', 'status', 'events', 'route/termination', 'reason', 'backend received', 'problems / notes'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join(' | ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(fmt)].join('\n');
}

test('bypass corpus: no attempt reaches /admin, each is refused or served publicly, each leaves one event', async (t) => {
  const attempts = parseCorpus(readFileSync(CORPUS, 'utf8'));
  assert.ok(attempts.length >= 120, `corpus has ${attempts.length} attempts`);
  const seen = new Set((await tg.events()).map((e) => e.id));
  const outcomes: Outcome[] = [];

  for (const a of attempts) {
    const reqBefore = backend.requests.length;
    const upBefore = upgrades.length;
    const raw = await rawExchange(tg.proxyPort, a.bytes, 3000);
    const status = statusOf(raw);

    // Admin API calls (these queries included) are audited too, as kind "admin".
    const fresh = async () => (await tg.events()).filter((e) => !seen.has(e.id) && e.kind !== 'admin');
    let events: AuditEvent[] = [];
    try {
      events = await waitFor(async () => {
        const f = await fresh();
        return f.length ? f : null;
      }, `an event for line ${a.line}`, 3000);
      // A second event for the same request would be written right after the first.
      await sleep(30);
      events = await fresh();
    } catch {
      events = [];
    }
    for (const e of events) seen.add(e.id);

    const reached = [...backend.requests.slice(reqBefore), ...upgrades.slice(upBefore)];
    const o: Outcome = { attempt: a, status, events, received: reached.map((r) => `${r.method} ${r.url}`), bypasses: [], noted: [], problems: [] };
    for (const r of reached) {
      if (isAdmin(r.url ?? '')) o.bypasses.push(`BYPASS: backend got ${JSON.stringify(r.url)} (= ${liberalPath(r.url ?? '')})`);
      for (const h of PATH_OVERRIDE_HEADERS) {
        const v = r.headers[h];
        if (typeof v === 'string' && isAdmin(v)) o.bypasses.push(`BYPASS: backend got ${h}: ${v}`);
      }
      for (const h of NOTED_HEADERS) if (r.headers[h] !== undefined) o.noted.push(`note: backend got ${h}`);
    }
    o.problems.push(...o.bypasses);
    const event = events.length === 1 ? events[0] : null;
    if (status === null) o.problems.push('no response');
    else if (status >= 200 && status < 300) {
      if (event && event.route !== 'public') o.problems.push(`${status} from route ${event.route ?? 'none'}, not public`);
    } else if (status < 400 || status > 499) o.problems.push(`status ${status}`);
    if (events.length !== 1) o.problems.push(`${events.length} audit events`);
    if (event?.request_id && event.request_id !== a.requestId && /^bypass-L\d+$/.test(event.request_id)) o.problems.push(`event belongs to ${event.request_id}`);
    outcomes.push(o);
  }

  const failed = outcomes.filter((o) => o.problems.length);
  const bypasses = outcomes.filter((o) => o.bypasses.length);
  const byStatus = new Map<string, number>();
  for (const o of outcomes) byStatus.set(String(o.status ?? 'none'), (byStatus.get(String(o.status ?? 'none')) ?? 0) + 1);
  t.diagnostic(`${outcomes.length} attempts; statuses ${[...byStatus].map(([s, n]) => `${s}×${n}`).join(', ')}; ${bypasses.length} bypasses; ${failed.length} failing lines`);
  if (process.env.TG_BYPASS_TABLE) console.log(table(outcomes));
  assert.equal(failed.length, 0, `${failed.length} of ${outcomes.length} attempts failed (${bypasses.length} bypasses):\n${table(outcomes)}\n\nFailing lines only:\n${table(failed)}`);
});
