/**
 * Kill -9 under load. Tollgate runs as a child process; clients hammer it;
 * it is SIGKILLed mid-stream (the store loader thread with it) and restarted.
 * Every response a client received completely must have exactly one event in
 * the store; the only events without a received response are the requests in
 * flight at the moment of the kill (their event was durable, the last bytes
 * of their response had not left yet).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { mkdir, readdir, writeFile, rm } from 'node:fs/promises';
import { stringify } from 'yaml';
import { startBackend, baseConfig, freePort, tempDir, spawnTollgate, waitFor, allEvents, sleep, adminFetch } from './helpers.js';
import { PID_NAMESPACE } from '../src/store/duckdb/bulk-file.js';

const CONCURRENCY = 16;

async function ready(admin: string): Promise<boolean> {
  try {
    const r = await adminFetch(`${admin}/readyz`);
    return r.status === 200;
  } catch {
    return false;
  }
}

test('SIGKILL under load: events in the store = responses received (+ in flight), no duplicates', { timeout: 120_000 }, async () => {
  const backend = await startBackend((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('x'.repeat(100));
  });
  const dir = await tempDir('tg-crash-');
  const proxyPort = await freePort();
  const adminPort = await freePort();
  const file = path.join(dir, 'tollgate.yaml');
  await writeFile(file, stringify(baseConfig(dir, proxyPort, adminPort, { app: [backend.address] }, { log: { level: 'warn' } })));
  const admin = `http://127.0.0.1:${adminPort}`;
  // Its own temporary directory, to see the bulk files a killed process leaves there.
  const tmp = path.join(dir, 'tmp');
  await mkdir(tmp);
  const env = { ...process.env, TMPDIR: tmp };
  let child = spawnTollgate(file, env);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitFor(() => ready(admin), 'tollgate to be ready', 30_000);

    const received = new Set<string>();
    let sent = 0;
    let stop = false;
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const loop = async (worker: number) => {
      for (let i = 0; !stop; i++) {
        const rid = `c${worker}-${i}`;
        sent++;
        const ok = await new Promise<boolean>((resolve) => {
          const req = http.get({ host: '127.0.0.1', port: proxyPort, path: `/item/${i}?w=${worker}`, agent, headers: { 'x-request-id': rid } }, (res) => {
            let n = 0;
            res.on('data', (c: Buffer) => (n += c.length));
            res.on('end', () => resolve(res.statusCode === 200 && n === 100 && res.complete));
            res.on('error', () => resolve(false));
          });
          req.on('error', () => resolve(false));
        });
        if (ok) received.add(rid);
        else if (stop) return;
        else await sleep(5);
      }
    };
    const loops = Array.from({ length: CONCURRENCY }, (_, w) => loop(w));
    await waitFor(() => received.size >= 2000, 'load to build up', 30_000);
    const killed = child.pid!;
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The file a load in progress at the kill leaves behind (there may be one already; this one surely is).
    await writeFile(path.join(tmp, `tollgate-bulk-${PID_NAMESPACE}-${killed}-${Date.now()}-0.ndjson`), '{}\n');
    await sleep(200);
    stop = true;
    await Promise.all(loops);
    agent.destroy();
    const receivedCount = received.size;
    assert.ok(receivedCount >= 2000, `clients received ${receivedCount} responses`);

    child = spawnTollgate(file, env);
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor(() => ready(admin), 'tollgate to restart', 30_000);
    const leftByKilled = (await readdir(tmp)).filter((f) => f.startsWith(`tollgate-bulk-${PID_NAMESPACE}-${killed}-`));
    assert.deepEqual(leftByKilled, [], 'the restarted node removes the bulk files of the killed one');
    // The restarted loader resumes from its cursors and loads the rest of the spool.
    let events = await allEvents(admin);
    let stable = 0;
    await waitFor(
      async () => {
        const next = await allEvents(admin);
        stable = next.length === events.length && next.length >= receivedCount ? stable + 1 : 0;
        events = next;
        return stable >= 3;
      },
      'the store to catch up with the spool',
      60_000,
      300,
    );
    const ids = events.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'no duplicate event ids');
    const rids = events.map((e) => e.request_id!);
    assert.equal(new Set(rids).size, rids.length, 'no request recorded twice');
    const stored = new Set(rids);
    const missing = [...received].filter((r) => !stored.has(r));
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} received responses have no event`);
    const extra = events.length - receivedCount;
    assert.ok(extra >= 0 && extra <= CONCURRENCY, `events without a received response (${extra}) are at most the requests in flight (${CONCURRENCY})`);
    for (const e of events) assert.ok(e.status === 200 && e.termination === 'ok', `unexpected event ${JSON.stringify(e)}`);
    process.stdout.write(`# crash test: sent ${sent}, received ${receivedCount}, stored ${events.length}, in flight at kill ${extra}\n`);
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(15_000).then(() => child.kill('SIGKILL'))]);
    }
    await backend.close();
    await rm(dir, { recursive: true, force: true });
    if (process.env.TG_TEST_LOG) process.stderr.write(stderr);
  }
});
