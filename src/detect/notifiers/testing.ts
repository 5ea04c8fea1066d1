/**
 * Test helpers for the notifiers (used by the *.test.ts files and the
 * conformance suite, never by the product): sample alerts and notifications,
 * and a local HTTP receiver on 127.0.0.1 whose answers follow a script.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Alert, Notification } from '../types.js';

export function sampleAlert(over: Partial<Alert> = {}): Alert {
  return {
    id: 'al_01JNQ4Z7KX3B9M2V5R8T1W6Y0C',
    rule_id: 'failed-login-surge',
    summary: 'Many failed logins from one client address',
    severity: 'high',
    status: 'firing',
    dedup_key: 'failed-login-surge|client_ip=203.0.113.9',
    group: { client_ip: '203.0.113.9' },
    labels: { team: 'security' },
    shadow: false,
    started_at: '2025-03-01T12:00:00.000Z',
    resolved_at: null,
    updated_at: '2025-03-01T12:00:05.000Z',
    evidence: {
      condition: 'count',
      value: 57,
      threshold: 50,
      op: '>=',
      window_seconds: 300,
      window_start: '2025-03-01T11:55:00.000Z',
      window_end: '2025-03-01T12:00:00.000Z',
      count: 57,
      sample_event_ids: ['ev_01', 'ev_02', 'ev_03'],
    },
    actions: ['block ip 203.0.113.9 for 600s'],
    acknowledged_at: null,
    acknowledged_by: null,
    notifications: [],
    ...over,
  };
}

export const SAMPLE_NODE = 'edge-1';
export const SAMPLE_LINK = 'https://tollgate.example/admin/alerts/al_01JNQ4Z7KX3B9M2V5R8T1W6Y0C';

export function firingNotification(over: Partial<Alert> = {}): Notification {
  return { kind: 'firing', alert: sampleAlert(over), node: SAMPLE_NODE, link: SAMPLE_LINK };
}

export function resolvedNotification(over: Partial<Alert> = {}): Notification {
  return {
    kind: 'resolved',
    alert: sampleAlert({ status: 'resolved', resolved_at: '2025-03-01T12:10:00.000Z', updated_at: '2025-03-01T12:10:02.000Z', ...over }),
    node: SAMPLE_NODE,
    link: SAMPLE_LINK,
  };
}

/**
 * How a receiver answers one delivery: accept, refuse in a way worth retrying
 * (e.g. 503, SMTP 451), refuse for good (e.g. 400, SMTP 554), or never answer.
 */
export type Behaviour = 'ok' | 'retryable' | 'fatal' | 'hang';

export interface ReceivedRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as received. */
  body: Buffer;
}

export interface Answer {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

export interface HttpReceiverOptions {
  /** The answers, by behaviour. Defaults: 200 "ok", 503, 400. */
  ok?: Answer;
  retryable?: Answer;
  fatal?: Answer;
}

/**
 * A local HTTP server that records every request and answers each as the
 * next behaviour of its script says (`ok` when the script is empty).
 */
export class HttpReceiver {
  readonly requests: ReceivedRequest[] = [];
  url = '';
  private server: Server | null = null;
  private script: Behaviour[] = [];
  private readonly hung = new Set<ServerResponse>();

  constructor(private readonly opts: HttpReceiverOptions = {}) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
        const b = this.script.shift() ?? 'ok';
        if (b === 'hang') {
          this.hung.add(res);
          res.on('close', () => this.hung.delete(res));
          return;
        }
        const a = b === 'ok' ? (this.opts.ok ?? { status: 200, body: 'ok' }) : b === 'retryable' ? (this.opts.retryable ?? { status: 503, body: 'try later' }) : (this.opts.fatal ?? { status: 400, body: 'bad request' });
        res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers });
        res.end(a.body ?? '');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Appends behaviours for the next requests. */
  next(...b: Behaviour[]): void {
    this.script.push(...b);
  }

  /** Forgets recorded requests and the rest of the script. */
  clear(): void {
    this.requests.length = 0;
    this.script = [];
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    const s = this.server;
    this.server = null;
    for (const r of this.hung) r.destroy();
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
