/** Loopback helpers: free ports, one-shot HTTP GETs, polling until ready. */
import { request } from 'node:http';
import { createServer } from 'node:net';

const handedOut = new Set<number>();

/** A port that was free on 127.0.0.1 a moment ago (bound to 0, then released). Never the same twice in one run. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('could not find a free port on 127.0.0.1');
}

export interface GetResult {
  status: number;
  body: string;
}

/** GET over a fresh connection; rejects on connection errors or after `timeoutMs`. */
export function httpGet(url: string, timeoutMs = 2000, headers: Record<string, string> = {}): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', agent: false, headers: { ...headers, connection: 'close' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `check` until it returns true. Fails after `timeoutMs`, or as soon as
 * `dead()` returns a reason (the process we wait for has exited).
 */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, dead: () => string | null = () => null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const reason = dead();
    if (reason) throw new Error(`${what}: ${reason}`);
    try {
      if (await check()) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) throw new Error(`${what}: not ready after ${timeoutMs / 1000} s${last ? ` (last error: ${last})` : ''}`);
    await sleep(100);
  }
}
