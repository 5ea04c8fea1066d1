/**
 * Killing one of two backends under load: idempotent requests in flight are
 * retried on the other server, so clients see no error; the dead server is
 * reported unhealthy, and comes back when restarted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startBackend, startTollgate, merge, waitFor, sleep, type Backend, adminFetch } from './helpers.js';

interface ServerView {
  address: string;
  state: string;
}

async function serverStates(admin: string): Promise<Record<string, string>> {
  const r = (await (await adminFetch(`${admin}/api/v1/backends`)).json()) as { backends: { worker: string; pools: { name: string; servers: ServerView[] }[] }[] };
  const out: Record<string, string> = {};
  for (const w of r.backends) for (const p of w.pools) for (const s of p.servers) out[s.address] = s.state;
  return out;
}

test('one of two backends killed under load: no client error, reported unhealthy, back after restart', { timeout: 90_000 }, async () => {
  const handler = (_req: http.IncomingMessage, res: http.ServerResponse) => setTimeout(() => res.end('ok'), 2);
  const a = await startBackend(handler);
  let b: Backend = await startBackend(handler);
  const bPort = b.port;
  const tg = await startTollgate({ app: [a.address, b.address] }, (c) =>
    merge(c, { backends: { app: { health_check: { path: '/healthz', interval: '200ms', timeout: '150ms', unhealthy_threshold: 2, healthy_threshold: 2 }, retries: 2 } } }),
  );
  try {
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const loop = async () => {
      while (!stop) {
        await new Promise<void>((resolve) => {
          const req = http.get(`${tg.proxy}/work`, { agent }, (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 200) ok++;
              else failures.push(String(res.statusCode));
              resolve();
            });
          });
          req.on('error', (e) => {
            failures.push(e.message);
            resolve();
          });
        });
      }
    };
    const loops = Array.from({ length: 8 }, loop);
    await waitFor(() => ok > 300, 'load');
    // Kill b hard: every open connection reset, new ones refused.
    await b.close();
    const okAtKill = ok;
    await waitFor(async () => (await serverStates(tg.admin))[`127.0.0.1:${bPort}`] === 'unhealthy', 'b to be reported unhealthy');
    await waitFor(() => ok > okAtKill + 300, 'traffic to continue on a');
    b = await startBackend(handler, bPort);
    await waitFor(async () => (await serverStates(tg.admin))[`127.0.0.1:${bPort}`] === 'healthy', 'b to come back');
    const servedByB = b.requests.length;
    await waitFor(() => b.requests.length > servedByB + 20, 'b to get traffic again');
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    assert.deepEqual(failures, [], 'no client saw an error: in-flight GETs were retried on a');
    const events = await tg.events();
    assert.equal(events.length, ok, 'one event per request');
    const retried = events.filter((e) => (e.attempts ?? 0) > 1);
    assert.ok(retried.length > 0, 'requests in flight to the killed server were retried');
    assert.ok(retried.every((e) => e.status === 200 && e.upstream === a.address), 'retries landed on the live server');
    process.stdout.write(`# failover: ${ok} requests, ${retried.length} retried on the other server\n`);
  } finally {
    await tg.stop();
    await a.close();
    await b.close();
    await sleep(10);
  }
});
