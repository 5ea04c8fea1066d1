/**
 * A syslog receiver, so that load balancers that log over syslog (HAProxy,
 * NGINX's `access_log syslog:`) reach the same parsers as log files.
 *
 * Message formats (both accepted on every transport, told apart per message):
 * - RFC 5424: `<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP
 *   MSGID SP STRUCTURED-DATA [SP MSG]`, `-` being the nil value; structured
 *   data is one or more `[id name="value" ...]` elements in which `\"`, `\\`
 *   and `\]` are escaped; MSG may start with a UTF-8 BOM, which is removed.
 * - RFC 3164 (BSD): `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG`, TAG often being
 *   `name[pid]`. In practice the HOSTNAME is often missing (HAProxy omits it
 *   unless `log-send-hostname` is set), so a first word that has the shape of
 *   a tag (`name:` or `name[pid]:`) is taken as the tag. A message without a
 *   recognisable timestamp is, as RFC 3164 §4.3.3 says, all MSG. The
 *   timestamp is returned as sent (it has no year and no zone).
 *
 * Transports:
 * - UDP: one message per datagram (RFC 5426); a trailing LF/CRLF/NUL is dropped.
 * - TCP (RFC 6587): octet counting (`MSG-LEN SP SYSLOG-MSG`, §3.4.1) or
 *   non-transparent framing (messages ended by LF, §3.4.2). Which one is
 *   decided per connection by its first byte: a digit means octet counting,
 *   anything else (normally `<`) LF framing.
 *
 * Robustness: a frame that cannot be parsed is counted (`stats().malformed`)
 * and dropped; the receiver never throws because of input. Messages larger
 * than `maxMessageBytes` (64 KiB) are counted as `oversize` and skipped
 * without being buffered; a garbled octet count cannot be resynchronised, so
 * that connection is closed. Connections beyond `maxConnections` are refused
 * by the server (counted as `connectionsRejected`).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { LineBatch } from '../types.js';
import { DEFAULT_BATCH_LINES } from './lines.js';

export interface SyslogMessage {
  facility: number;
  severity: number;
  /** RFC 5424: the RFC 3339 timestamp as sent; RFC 3164: `Mmm dd hh:mm:ss` as sent; null when absent. */
  timestamp: string | null;
  hostname: string | null;
  /** APP-NAME (5424) or the TAG's name (3164). */
  app: string | null;
  /** PROCID (5424) or the `[pid]` of the TAG (3164). */
  procid: string | null;
  /** MSGID (RFC 5424 only). */
  msgid: string | null;
  /** The STRUCTURED-DATA elements as sent (RFC 5424 only), null for `-`. */
  structuredData: string | null;
  /** The free-form message: for access logs, the log line. */
  message: string;
  /** The whole frame, decoded. */
  raw: string;
  format: 'rfc5424' | 'rfc3164';
  transport: 'udp' | 'tcp';
  /** `address:port` of the sender. */
  peer: string;
}

export interface SyslogStats {
  /** Messages delivered to onMessage. */
  received: number;
  /** Frames that could not be parsed (no valid PRI, a broken RFC 5424 header, a bad octet count). */
  malformed: number;
  /** Frames larger than maxMessageBytes, skipped. */
  oversize: number;
  /** onMessage threw (the message is counted here, the receiver goes on). */
  handlerErrors: number;
  connections: number;
  connectionsTotal: number;
  connectionsRejected: number;
}

export interface SyslogReceiverOptions {
  /** `host:port` for UDP (`[::1]:514`, `0.0.0.0:5514`, `:5514`). Port 0 picks a free one. */
  udp?: string;
  /** `host:port` for TCP. */
  tcp?: string;
  onMessage(msg: SyslogMessage): void;
  /** Default 65,536. */
  maxMessageBytes?: number;
  /** Simultaneous TCP connections. Default 256. */
  maxConnections?: number;
  /** Close a TCP connection idle this long (ms). Default 0: never (senders keep connections for days). */
  idleTimeoutMs?: number;
  /** A frame that was dropped (counted in stats too), with the start of its text, for the operator's report. */
  onRejected?(reason: 'syslog_malformed' | 'syslog_oversize', detail: string, peer: string): void;
}

export interface SyslogReceiver {
  ports: { udp?: number; tcp?: number };
  stats(): SyslogStats;
  close(): Promise<void>;
}

const MONTHS = new Set(['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']);

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** `Mmm dd hh:mm:ss` (day space- or zero-padded) at `i`? */
function isBsdTimestamp(s: string, i: number): boolean {
  if (s.length < i + 15 || !MONTHS.has(s.slice(i, i + 3)) || s[i + 3] !== ' ') return false;
  const d1 = s.charCodeAt(i + 4);
  if (!(d1 === 32 || isDigit(d1)) || !isDigit(s.charCodeAt(i + 5)) || s[i + 6] !== ' ') return false;
  for (const k of [7, 8, 10, 11, 13, 14]) if (!isDigit(s.charCodeAt(i + k))) return false;
  return s[i + 9] === ':' && s[i + 12] === ':';
}

/** An RFC 3339-like token (`2025-11-24T10:00:00Z`) at `i`, as some senders put in BSD-style messages. */
function isIsoTimestamp(s: string, i: number): boolean {
  return s.length >= i + 19 && isDigit(s.charCodeAt(i)) && isDigit(s.charCodeAt(i + 3)) && s[i + 4] === '-' && s[i + 7] === '-' && s[i + 10] === 'T';
}

/** A TAG (`name:` or `name[pid]:`) at `i`: its parts and where the message starts, or null. */
function parseTag(s: string, i: number): { app: string; procid: string | null; next: number } | null {
  let j = i;
  while (j < s.length && j - i <= 48) {
    const c = s.charCodeAt(j);
    if (c === 32 || c === 0x5b /* [ */ || c === 0x3a /* : */ || c < 33 || c > 126) break;
    j++;
  }
  if (j === i || j - i > 48) return null;
  const app = s.slice(i, j);
  let procid: string | null = null;
  if (s[j] === '[') {
    const close = s.indexOf(']', j + 1);
    if (close === -1 || close - j - 1 > 128 || s.slice(j + 1, close).includes(' ')) return null;
    procid = s.slice(j + 1, close) || null;
    j = close + 1;
  }
  if (s[j] !== ':') return null;
  j++;
  if (j < s.length && s[j] !== ' ') return null;
  return { app, procid, next: j < s.length ? j + 1 : j };
}

/** Index of the next space at or after `i` (or the end). */
function word(s: string, i: number): number {
  const sp = s.indexOf(' ', i);
  return sp === -1 ? s.length : sp;
}

/** End (exclusive) of RFC 5424 STRUCTURED-DATA starting with `[` at `i`, or -1 if unterminated. */
function sdEnd(s: string, i: number): number {
  let j = i;
  while (s[j] === '[') {
    let inQuote = false;
    j++;
    for (;;) {
      if (j >= s.length) return -1;
      const c = s[j];
      if (inQuote) {
        if (c === '\\') j++;
        else if (c === '"') inQuote = false;
      } else if (c === '"') {
        inQuote = true;
      } else if (c === ']') {
        break;
      }
      j++;
    }
    j++;
  }
  return j;
}

const nil = (v: string): string | null => (v === '-' ? null : v);

/**
 * Parses one syslog message (a frame's text, without framing). Returns null
 * when it is not a syslog message (no valid `<PRI>`, broken RFC 5424 header).
 */
export function parseSyslog(raw: string, transport: 'udp' | 'tcp', peer: string): SyslogMessage | null {
  const s = raw;
  if (s.charCodeAt(0) !== 0x3c /* < */) return null;
  let i = 1;
  let pri = 0;
  while (i < s.length && i <= 3 && isDigit(s.charCodeAt(i))) pri = pri * 10 + s.charCodeAt(i++) - 48;
  if (i === 1 || s[i] !== '>' || pri > 191) return null;
  i++;
  const base = { facility: pri >> 3, severity: pri & 7, raw, transport, peer };

  // RFC 5424: VERSION (1-3 digits, no leading zero) then SP.
  let v = i;
  while (v < s.length && v - i < 3 && isDigit(s.charCodeAt(v))) v++;
  if (v > i && s[i] !== '0' && s[v] === ' ') {
    const fields: string[] = [];
    let p = v + 1;
    for (let f = 0; f < 5; f++) {
      const e = word(s, p);
      if (e === p || e >= s.length) return null;
      fields.push(s.slice(p, e));
      p = e + 1;
    }
    let structuredData: string | null = null;
    if (s[p] === '-') {
      p++;
    } else if (s[p] === '[') {
      const e = sdEnd(s, p);
      if (e === -1) return null;
      structuredData = s.slice(p, e);
      p = e;
    } else {
      return null;
    }
    let message = '';
    if (p < s.length) {
      if (s[p] !== ' ') return null;
      message = s.slice(p + 1);
    }
    if (message.charCodeAt(0) === 0xfeff) message = message.slice(1);
    const [timestamp, hostname, app, procid, msgid] = fields;
    return {
      ...base,
      timestamp: nil(timestamp),
      hostname: nil(hostname),
      app: nil(app),
      procid: nil(procid),
      msgid: nil(msgid),
      structuredData,
      message,
      format: 'rfc5424',
    };
  }

  // RFC 3164.
  let timestamp: string | null = null;
  let p = i;
  if (isBsdTimestamp(s, p)) {
    timestamp = s.slice(p, p + 15);
    p += 15;
  } else if (isIsoTimestamp(s, p)) {
    const e = word(s, p);
    timestamp = s.slice(p, e);
    p = e;
  }
  const msg3164 = (fields: { hostname: string | null; app: string | null; procid: string | null; message: string }): SyslogMessage => ({
    ...base,
    ...fields,
    timestamp,
    msgid: null,
    structuredData: null,
    format: 'rfc3164',
  });
  if (timestamp === null) return msg3164({ hostname: null, app: null, procid: null, message: s.slice(p) });
  if (s[p] === ' ') p++;
  // A first word shaped like a tag means the sender left the hostname out.
  const e1 = word(s, p);
  const tag0 = parseTag(s, p);
  if (tag0 && tag0.next >= e1) return msg3164({ hostname: null, app: tag0.app, procid: tag0.procid, message: s.slice(tag0.next) });
  const hostname = e1 > p ? s.slice(p, e1) : null;
  const q = e1 < s.length ? e1 + 1 : e1;
  const tag = parseTag(s, q);
  if (tag) return msg3164({ hostname, app: tag.app, procid: tag.procid, message: s.slice(tag.next) });
  return msg3164({ hostname, app: null, procid: null, message: s.slice(q) });
}

function parseAddress(spec: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(spec) ?? /^()()(\d+)$/.exec(spec);
  if (!m) throw new Error(`syslog listen address ${JSON.stringify(spec)}: expected host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`syslog listen address ${JSON.stringify(spec)}: bad port`);
  return { host: m[1] || m[2] || '0.0.0.0', port };
}

const peerOf = (address: string | undefined, port: number | undefined): string =>
  address === undefined ? 'unknown' : address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

/** Frame text: a trailing LF, CRLF or NUL is not part of the message. */
function frameText(buf: Buffer): string {
  let end = buf.length;
  while (end > 0 && (buf[end - 1] === 0x0a || buf[end - 1] === 0x0d || buf[end - 1] === 0)) end--;
  return buf.toString('utf8', 0, end);
}

/** Splits one TCP connection's bytes into frames (RFC 6587). */
class TcpFramer {
  private mode: 'unknown' | 'octet' | 'lf' = 'unknown';
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes still to skip of an oversize frame (octet counting). */
  private skip = 0;
  /** Discarding up to the next LF (an oversize non-transparent frame). */
  private discarding = false;

  constructor(
    private readonly max: number,
    private readonly onFrame: (frame: Buffer) => void,
    private readonly onOversize: () => void,
  ) {}

  /** Returns false if the stream is garbled beyond recovery (the connection should be closed). */
  push(chunk: Buffer): boolean {
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return true;
    }
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.mode === 'unknown') {
      if (this.pending.length === 0) return true;
      this.mode = isDigit(this.pending[0]) ? 'octet' : 'lf';
    }
    return this.mode === 'octet' ? this.octets() : this.lines();
  }

  private octets(): boolean {
    let p = this.pending;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, p.length);
        this.skip -= n;
        p = p.subarray(n);
      }
      if (p.length === 0) break;
      // Tolerate a stray LF between frames (some senders add one).
      if (p[0] === 0x0a || p[0] === 0x0d) {
        p = p.subarray(1);
        continue;
      }
      let j = 0;
      let len = 0;
      while (j < p.length && j < 10 && isDigit(p[j])) len = len * 10 + p[j++] - 48;
      if (j === p.length) break; // the count continues in the next chunk
      if (j === 0 || j >= 10 || p[j] !== 0x20 || p[0] === 0x30) {
        this.pending = Buffer.alloc(0);
        return false;
      }
      if (len > this.max) {
        this.onOversize();
        this.skip = len;
        p = p.subarray(j + 1);
        continue;
      }
      if (p.length < j + 1 + len) break;
      this.onFrame(p.subarray(j + 1, j + 1 + len));
      p = p.subarray(j + 1 + len);
    }
    // Copy what is kept so one small leftover does not pin a large chunk.
    this.pending = p.length ? Buffer.from(p) : Buffer.alloc(0);
    return true;
  }

  private lines(): boolean {
    let p = this.pending;
    let nl: number;
    while ((nl = p.indexOf(0x0a)) !== -1) {
      if (this.discarding) this.discarding = false;
      else if (nl > this.max) this.onOversize();
      else if (nl > 0) this.onFrame(p.subarray(0, nl));
      p = p.subarray(nl + 1);
    }
    if (p.length > this.max) {
      // Too long already: drop it and everything up to its end.
      if (!this.discarding) this.onOversize();
      this.discarding = true;
      p = Buffer.alloc(0);
    }
    this.pending = p.length ? Buffer.from(p) : Buffer.alloc(0);
    return true;
  }

  /** The connection ended: an LF-framed message may lack its trailer. Returns whether bytes of an incomplete octet-counted frame were lost. */
  end(): boolean {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    if (this.mode === 'lf' && rest.length && !this.discarding) {
      this.onFrame(rest);
      return false;
    }
    return this.mode === 'octet' && (rest.length > 0 || this.skip > 0);
  }
}

/** Starts listening on the configured transports; resolves once bound. */
export async function startSyslogReceiver(opts: SyslogReceiverOptions): Promise<SyslogReceiver> {
  if (!opts.udp && !opts.tcp) throw new Error('syslog receiver: give a udp and/or tcp listen address');
  const max = opts.maxMessageBytes ?? 65536;
  const stats: SyslogStats = { received: 0, malformed: 0, oversize: 0, handlerErrors: 0, connections: 0, connectionsTotal: 0, connectionsRejected: 0 };
  const ports: { udp?: number; tcp?: number } = {};

  const deliver = (buf: Buffer, transport: 'udp' | 'tcp', peer: string): void => {
    const text = frameText(buf);
    if (text.length === 0) return; // keep-alive newlines, empty datagrams
    const msg = parseSyslog(text, transport, peer);
    if (!msg) {
      stats.malformed++;
      opts.onRejected?.('syslog_malformed', `not a syslog message (RFC 3164 or 5424): ${JSON.stringify(text.slice(0, 80))}`, peer);
      return;
    }
    stats.received++;
    try {
      opts.onMessage(msg);
    } catch {
      stats.handlerErrors++;
    }
  };

  let udp: dgram.Socket | null = null;
  let tcp: net.Server | null = null;
  const sockets = new Set<net.Socket>();

  try {
    if (opts.udp) {
      const { host, port } = parseAddress(opts.udp);
      const sock = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
      udp = sock;
      sock.on('message', (buf, rinfo) => {
        if (buf.length > max) {
          stats.oversize++;
          opts.onRejected?.('syslog_oversize', `a ${buf.length}-byte datagram, over the ${max}-byte limit`, peerOf(rinfo.address, rinfo.port));
          return;
        }
        deliver(buf, 'udp', peerOf(rinfo.address, rinfo.port));
      });
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(port, host, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      // After binding, socket errors (e.g. ICMP-induced) must not crash the process.
      sock.on('error', () => {});
      ports.udp = sock.address().port;
    }

    if (opts.tcp) {
      const { host, port } = parseAddress(opts.tcp);
      const server = net.createServer((socket) => {
        sockets.add(socket);
        stats.connections++;
        stats.connectionsTotal++;
        const peer = peerOf(socket.remoteAddress, socket.remotePort);
        const framer = new TcpFramer(
          max,
          (frame) => deliver(frame, 'tcp', peer),
          () => {
            stats.oversize++;
            opts.onRejected?.('syslog_oversize', `a frame over the ${max}-byte limit`, peer);
          },
        );
        if (opts.idleTimeoutMs) socket.setTimeout(opts.idleTimeoutMs, () => socket.destroy());
        socket.on('data', (chunk: Buffer) => {
          if (!framer.push(chunk)) {
            stats.malformed++;
            opts.onRejected?.('syslog_malformed', 'broken framing (neither an octet count nor a message ended by LF); the connection was closed', peer);
            socket.destroy();
          }
        });
        socket.on('error', () => {});
        socket.on('close', () => {
          if (framer.end()) {
            stats.malformed++;
            opts.onRejected?.('syslog_malformed', 'the connection closed inside an octet-counted frame', peer);
          }
          sockets.delete(socket);
          stats.connections--;
        });
      });
      tcp = server;
      server.maxConnections = opts.maxConnections ?? 256;
      server.on('drop', () => stats.connectionsRejected++);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', () => {});
      const addr = server.address();
      ports.tcp = typeof addr === 'object' && addr ? addr.port : port;
    }
  } catch (err) {
    udp?.close();
    tcp?.close();
    throw err;
  }

  let closing: Promise<void> | null = null;
  return {
    ports,
    stats: () => ({ ...stats }),
    close(): Promise<void> {
      closing ??= (async () => {
        const waits: Promise<void>[] = [];
        if (udp) {
          const u = udp;
          waits.push(new Promise<void>((resolve) => u.close(() => resolve())));
        }
        if (tcp) {
          const t = tcp;
          waits.push(new Promise<void>((resolve) => t.close(() => resolve())));
          for (const s of sockets) s.destroy();
        }
        await Promise.all(waits);
      })();
      return closing;
    },
  };
}

export interface SyslogLineQueueOptions {
  /** Lines per batch at most. Default 2,000. */
  batchLines?: number;
  /** Lines held while the consumer is busy; beyond, new lines are dropped and counted. Default 100,000. */
  maxQueuedLines?: number;
  /** Which messages are log lines (e.g. `m => m.app === 'haproxy'`). Default: all. */
  filter?(msg: SyslogMessage): boolean;
}

/**
 * Turns syslog messages into LineBatches (origin `syslog`): each message's
 * body — the text after the tag, e.g. after `haproxy[123]: ` or `nginx: ` —
 * is a line, so the access-log parsers see exactly what the load balancer
 * would have written to a file. A body holding several lines gives several.
 * `endOffset` counts the bytes of the lines delivered (progress only: a
 * socket cannot be resumed). Batches are handed over as soon as the consumer
 * asks, so latency stays low; UDP cannot push back, hence the bounded queue.
 */
export class SyslogLineQueue implements AsyncIterable<LineBatch> {
  private queue: string[] = [];
  /** The sending host of each queued line (the message's HOSTNAME), in step with `queue`. */
  private senders: (string | null)[] = [];
  private pids: (string | null)[] = [];
  private head = 0;
  private ended = false;
  private waiter: (() => void) | null = null;
  private nextLine = 1;
  private offset = 0;
  private readonly batchLines: number;
  private readonly maxQueued: number;
  private readonly filter?: (msg: SyslogMessage) => boolean;
  dropped = 0;

  constructor(opts: SyslogLineQueueOptions = {}) {
    this.batchLines = Math.max(1, opts.batchLines ?? DEFAULT_BATCH_LINES);
    this.maxQueued = Math.max(1, opts.maxQueuedLines ?? 100_000);
    this.filter = opts.filter;
  }

  /** Pass as `onMessage` (bound). */
  readonly push = (msg: SyslogMessage): void => {
    if (this.ended || (this.filter && !this.filter(msg))) return;
    let body = msg.message;
    if (body.includes('\n')) {
      for (const l of body.split('\n')) this.enqueue(l.endsWith('\r') ? l.slice(0, -1) : l, msg.hostname, msg.procid);
    } else {
      if (body.endsWith('\r')) body = body.slice(0, -1);
      this.enqueue(body, msg.hostname, msg.procid);
    }
  };

  private enqueue(line: string, sender: string | null, pid: string | null): void {
    if (line === '') return;
    if (this.queue.length - this.head >= this.maxQueued) {
      this.dropped++;
      return;
    }
    this.queue.push(line);
    this.senders.push(sender);
    this.pids.push(pid);
    this.wake();
  }

  /** No more messages: the iterator finishes after the queued lines. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Lines waiting for the consumer. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LineBatch> {
    for (;;) {
      if (this.queue.length > this.head) {
        const end = Math.min(this.queue.length, this.head + this.batchLines);
        const lines = this.queue.slice(this.head, end);
        const senders = this.senders.slice(this.head, end);
        const pids = this.pids.slice(this.head, end);
        this.head = end;
        if (this.head === this.queue.length || this.head > 65536) {
          this.queue = this.queue.slice(this.head);
          this.senders = this.senders.slice(this.head);
          this.pids = this.pids.slice(this.head);
          this.head = 0;
        }
        for (const l of lines) this.offset += Buffer.byteLength(l) + 1;
        const batch: LineBatch = { origin: 'syslog', firstLine: this.nextLine, lines, endOffset: this.offset, senders, pids };
        this.nextLine += lines.length;
        yield batch;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }
}

/**
 * Starts a receiver whose messages feed a SyslogLineQueue: iterate
 * `batches`, and `close()` (or abort `signal`) to stop both.
 */
export async function syslogBatches(
  opts: Omit<SyslogReceiverOptions, 'onMessage'> & SyslogLineQueueOptions & { signal?: AbortSignal },
): Promise<{ receiver: SyslogReceiver; batches: SyslogLineQueue; close(): Promise<void> }> {
  const batches = new SyslogLineQueue(opts);
  const receiver = await startSyslogReceiver({ ...opts, onMessage: batches.push });
  const close = async (): Promise<void> => {
    await receiver.close();
    batches.end();
  };
  if (opts.signal) {
    if (opts.signal.aborted) await close();
    else opts.signal.addEventListener('abort', () => void close(), { once: true });
  }
  return { receiver, batches, close };
}
