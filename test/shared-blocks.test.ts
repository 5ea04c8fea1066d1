/**
 * Blocks shared by a fleet through a real redis-server: two Tollgate nodes
 * (each with its own ports, spool, store and blocks file) see the same
 * blocks. A block made through node A's admin API is enforced by node B; a
 * detection rule's block on node B is enforced by node A; lifting it on A
 * lifts it on B. With Redis stopped, a block made on A applies on A at once
 * and reaches B when Redis is back.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBackend, startTollgate, merge, get, adminFetch, waitFor, type Backend, type TestNode, type ConfigObject } from './helpers.js';
import { startRedis, type TestRedis } from './support/redis.js';

let backend: Backend;
let redis: TestRedis;
let a: TestNode;
let b: TestNode;

const from = (node: TestNode, ip: string, path = '/x') => get(`${node.proxy}${path}`, { headers: { 'x-forwarded-for': ip } });
const status = async (node: TestNode, ip: string) => (await from(node, ip)).status;

before(async () => {
  backend = await startBackend((req, res) => {
    if (req.url?.startsWith('/login')) res.writeHead(401).end('no');
    else res.writeHead(200).end('ok');
  });
  redis = await startRedis();
  const configure = (c: ConfigObject) =>
    merge(c, {
      proxy: { trusted_proxies: ['127.0.0.1/32'] },
      access: { shared_blocks: { url: redis.url, prefix: 'tg-test:blocks' } },
      detect: {
        poll_interval: '20ms',
        builtin: { rules: { 'failed-login-surge': { condition: { threshold: 3 }, actions: [{ type: 'block', target: 'client_ip', duration: '1h' }] } } },
      },
    });
  a = await startTollgate({ app: [backend.address] }, configure);
  b = await startTollgate({ app: [backend.address] }, configure);
});

after(async () => {
  await a?.stop();
  await b?.stop();
  await redis?.stop();
  await backend?.close();
});

test('a block made on one node is enforced on the other, and lifting it lifts it everywhere', async () => {
  const ip = '203.0.113.50';
  assert.equal(await status(b, ip), 200);
  const res = await adminFetch(`${a.admin}/api/v1/blocks`, { method: 'POST', body: JSON.stringify({ kind: 'ip', value: ip, duration: '1h', reason: 'fleet test' }) });
  assert.equal(res.status, 201);
  const block = (await res.json()) as { id: string };
  await waitFor(async () => (await status(b, ip)) === 403, 'node B to enforce the block made on A');
  const onB = (await (await adminFetch(`${b.admin}/api/v1/blocks`)).json()) as { blocks: { id: string; reason: string }[] };
  assert.deepEqual(onB.blocks.map((x) => [x.id, x.reason]), [[block.id, 'fleet test']], 'the same block, by id');
  // Lifted on B: lifted on A too.
  assert.equal((await adminFetch(`${b.admin}/api/v1/blocks/${block.id}`, { method: 'DELETE' })).status, 204);
  await waitFor(async () => (await status(a, ip)) === 200, 'node A to lift the block lifted on B');
  assert.equal(await status(b, ip), 200);
});

test('a detection rule blocking on one node blocks on every node', async () => {
  const ip = '198.51.100.77';
  for (let i = 0; i < 3; i++) assert.equal((await from(b, ip, '/login')).status, 401);
  await waitFor(async () => (await status(b, ip)) === 403, 'node B to block the brute-forcer');
  await waitFor(async () => (await status(a, ip)) === 403, 'node A to enforce the block node B made');
  const onA = (await (await adminFetch(`${a.admin}/api/v1/blocks`)).json()) as { blocks: { value: string; created_by: string }[] };
  assert.ok(onA.blocks.some((x) => x.value === ip && x.created_by === 'rule:failed-login-surge'));
});

test('with Redis down a block applies locally at once and reaches the fleet when Redis is back', async () => {
  const ip = '192.0.2.99';
  const port = redis.port;
  await redis.stop();
  await waitFor(async () => {
    const r = (await (await adminFetch(`${a.admin}/readyz`)).json()) as { checks: { name: string; detail: { state: string } }[] };
    return r.checks.find((c) => c.name === 'shared_blocks')?.detail.state === 'down';
  }, 'node A to notice Redis is down');
  const res = await adminFetch(`${a.admin}/api/v1/blocks`, { method: 'POST', body: JSON.stringify({ kind: 'ip', value: ip, duration: '1h' }) });
  assert.equal(res.status, 201, 'the admin API still works');
  assert.equal(await status(a, ip), 403, 'enforced locally at once');
  assert.equal(await status(b, ip), 200, 'B cannot know yet');
  redis = await startRedis({ port });
  await waitFor(async () => (await status(b, ip)) === 403, 'node B to get the block once Redis is back', 20_000, 200);
});
