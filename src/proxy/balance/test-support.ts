/**
 * Helpers for this folder's tests: a backend on 127.0.0.1 whose answers a
 * test can switch, and a bounded wait. Kept out of the *.test.ts files so
 * the test runner does not run it as a suite.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type BackendMode = 'ok' | 'fail' | 'hang';

export interface TestBackend {
  readonly server: Server;
  readonly port: number;
  readonly address: string;
  /** What the next requests get: 200 (or `okStatus`), 500, or no answer at all. */
  mode: BackendMode;
  okStatus: number;
  /** Answers given so far, by kind. */
  passed: number;
  failed: number;
  /** Every request received, in order. */
  readonly requests: { method: string; url: string; headers: IncomingMessage['headers'] }[];
  /** Stops listening and drops open connections: later connects are refused. */
  stop(): Promise<void>;
}

export async function startBackend(): Promise<TestBackend> {
  const server = createServer();
  const b: TestBackend = {
    server,
    port: 0,
    address: '',
    mode: 'ok',
    okStatus: 200,
    passed: 0,
    failed: 0,
    requests: [],
    stop: async () => {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
  server.on('request', (req, res) => {
    b.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (b.mode === 'hang') return; // dropped by stop()
    if (b.mode === 'fail') {
      b.failed++;
      res.statusCode = 500;
    } else {
      b.passed++;
      res.statusCode = b.okStatus;
    }
    res.end(res.statusCode === 204 ? undefined : 'x');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(b, { port, address: `127.0.0.1:${port}` });
}

/** A loopback address nothing listens on (a port just released). */
export async function refusedAddress(): Promise<string> {
  const b = await startBackend();
  await b.stop();
  return b.address;
}

/** Polls `cond` every 5 ms; rejects after `ms` with `what` in the message. */
export async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
