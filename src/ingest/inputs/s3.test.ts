import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { startS3Server, type S3TestServer } from '../../../test/support/s3-server.js';
import { Registry } from '../registry.js';
import { listAndRead, type S3LineBatch, type S3ReadOptions } from './s3.js';

const BUCKET = 'alb-logs';
const PREFIX = 'AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2025/11/24/';
const CREDS = { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' };

/** An ALB-like log object: `count` numbered lines. */
const albLines = (obj: number, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `https 2025-11-24T10:00:${String(i % 60).padStart(2, '0')}.000000Z app/lb/abc 10.0.0.${obj}:1234 10.1.0.1:80 0.001 0.002 0.000 200 200 34 512 "GET https://x/${obj}/${i} HTTP/1.1" "curl" - -`);

interface Fixture {
  server: S3TestServer;
  registry: Registry;
  dir: string;
  opts(extra?: Partial<S3ReadOptions>): S3ReadOptions;
}

async function fixture(objects: Record<string, Buffer | string>): Promise<Fixture> {
  const server = await startS3Server({ buckets: { [BUCKET]: objects, other: {} }, accessKeyId: CREDS.accessKeyId, region: 'eu-west-1' });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tollgate-s3-'));
  const registry = await Registry.open(path.join(dir, 'registry.json'));
  return {
    server,
    registry,
    dir,
    opts: (extra = {}) => ({ bucket: BUCKET, prefix: PREFIX, region: 'eu-west-1', endpoint: server.endpoint, forcePathStyle: true, credentials: CREDS, registry, ...extra }),
  };
}

/** Reads everything, acknowledging each object after its last batch (as the ingest command does once stored). */
async function readAll(opts: S3ReadOptions, ack = true): Promise<S3LineBatch[]> {
  const reader = listAndRead(opts);
  const out: S3LineBatch[] = [];
  for await (const b of reader) {
    out.push(b);
    if (b.objectEnd && ack) reader.ack(b.key);
  }
  return out;
}

test('S3: pagination beyond max-keys, gzip objects, origins, objectEnd, registry skip after ack', async (t) => {
  const objects: Record<string, Buffer | string> = {};
  const expected = new Map<string, string[]>();
  for (let i = 1; i <= 7; i++) {
    const key = `${PREFIX}123456789012_elasticloadbalancing_eu-west-1_app.lb.abc_20251124T10${i}0Z_10.0.0.${i}_x${i}.log.gz`;
    const lines = albLines(i, 100 * i);
    objects[key] = gzipSync(lines.join('\n') + '\n');
    expected.set(key, lines);
  }
  // A plain object with a key needing escaping, an empty object, a folder marker, and one outside the prefix.
  const odd = `${PREFIX}plain file+ü&<x>.log`;
  objects[odd] = 'plain one\r\nplain two';
  expected.set(odd, ['plain one', 'plain two']);
  const empty = `${PREFIX}empty.log`;
  objects[empty] = '';
  expected.set(empty, []);
  objects[`${PREFIX}folder/`] = '';
  objects['elsewhere/x.log'] = 'not listed\n';

  const fx = await fixture(objects);
  t.after(async () => {
    await fx.server.close();
    rmSync(fx.dir, { recursive: true, force: true });
  });

  const batches = await readAll(fx.opts({ maxKeys: 3, batchLines: 150 }));
  const byKey = new Map<string, S3LineBatch[]>();
  for (const b of batches) byKey.set(b.key, [...(byKey.get(b.key) ?? []), b]);
  assert.deepEqual([...byKey.keys()].sort(), [...expected.keys()].sort());
  for (const [key, lines] of expected) {
    const bs = byKey.get(key) as S3LineBatch[];
    assert.deepEqual(
      bs.flatMap((b) => b.lines),
      lines,
      key,
    );
    assert.ok(bs.every((b) => b.origin === `s3://${BUCKET}/${key}` && b.bucket === BUCKET && /^"[0-9a-f]{32}"$/.test(b.etag)));
    assert.deepEqual(
      bs.map((b) => b.objectEnd),
      bs.map((_, i) => i === bs.length - 1),
      'exactly the last batch ends the object',
    );
    let next = 1;
    for (const b of bs) {
      assert.equal(b.firstLine, next);
      next += b.lines.length;
    }
    // endOffset counts stored (compressed) bytes; the last one is the object's size.
    assert.equal(bs[bs.length - 1].endOffset, Buffer.from(objects[key]).length);
  }
  const lists = fx.server.requests.filter((r) => r.query['list-type'] === '2');
  assert.equal(lists.length, 4, '10 keys under the prefix, 3 per page');
  assert.ok(lists.every((r) => r.query['max-keys'] === '3' && r.query.prefix === PREFIX));
  assert.equal(lists[0].query['continuation-token'], undefined);
  assert.ok(lists.slice(1).every((r) => typeof r.query['continuation-token'] === 'string'));
  assert.ok(
    fx.server.requests.every((r) => r.status === 200),
    'every request was signed in the expected shape',
  );

  // Acknowledged objects are done: a second run lists but reads nothing.
  await fx.registry.save();
  const reg2 = await Registry.open(path.join(fx.dir, 'registry.json'));
  const before = fx.server.requests.length;
  const reader = listAndRead(fx.opts({ registry: reg2, maxKeys: 3 }));
  const again: S3LineBatch[] = [];
  for await (const b of reader) again.push(b);
  assert.deepEqual(again, []);
  assert.deepEqual(reader.stats(), { listed: 9, skipped: 9, read: 0, acked: 0, pages: 4 });
  assert.ok(fx.server.requests.slice(before).every((r) => r.query['list-type'] === '2'), 'no GetObject on the second run');

  // A rewritten object (new ETag) is read again; nothing else.
  const first = [...expected.keys()][0];
  fx.server.put(BUCKET, first, gzipSync('rewritten\n'));
  const third = await readAll(fx.opts({ registry: reg2 }));
  assert.deepEqual(
    third.map((b) => [b.key, b.lines]),
    [[first, ['rewritten']]],
  );
});

test('S3: objects not acknowledged are read again; ack before the end is refused; prefix and filter', async (t) => {
  const fx = await fixture({ 'a/1.log': 'one\n', 'a/2.log': 'two\n', 'b/3.log': 'three\n' });
  t.after(async () => {
    await fx.server.close();
    rmSync(fx.dir, { recursive: true, force: true });
  });
  const opts = fx.opts({ prefix: 'a/' });
  // Read without acknowledging: nothing is recorded.
  assert.equal((await readAll(opts, false)).length, 2);
  assert.equal((await readAll(opts, false)).length, 2);

  const reader = listAndRead(opts);
  const it = reader[Symbol.asyncIterator]();
  const r1 = await it.next();
  assert.ok(!r1.done && r1.value.key === 'a/1.log' && r1.value.objectEnd);
  assert.throws(() => reader.ack('a/2.log'), /not read to its end/);
  reader.ack('a/1.log');
  reader.ack('a/1.log'); // twice is harmless
  await it.return?.();
  assert.deepEqual(
    (await readAll(opts)).map((b) => b.key),
    ['a/2.log'],
    'only the unacknowledged object again',
  );
  assert.deepEqual(await readAll(opts), []);

  assert.deepEqual(
    (await readAll(fx.opts({ prefix: '', filter: (k) => k.startsWith('b/') }))).map((b) => b.lines),
    [['three']],
  );
});

test('S3 test server: unsigned or malformed Authorization is refused in S3 error XML; errors surface with the origin', async (t) => {
  const fx = await fixture({ 'k.log': 'x\n', 'bad.gz': Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]) });
  t.after(async () => {
    await fx.server.close();
    rmSync(fx.dir, { recursive: true, force: true });
  });
  const plain = await fetch(`${fx.server.endpoint}/${BUCKET}?list-type=2`);
  assert.equal(plain.status, 403);
  assert.match(await plain.text(), /<Error><Code>AccessDenied<\/Code>/);
  const forged = await fetch(`${fx.server.endpoint}/${BUCKET}/k.log`, {
    headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIDTEST/20251124/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=abc' },
  });
  assert.equal(forged.status, 403);

  // Wrong access key: the SDK surfaces S3's error code.
  await assert.rejects(readAll(fx.opts({ prefix: '', credentials: { accessKeyId: 'OTHER', secretAccessKey: 's' } })), (err: Error) => err.name === 'InvalidAccessKeyId');
  // A corrupt gzip object fails with its s3:// origin in the message.
  await assert.rejects(readAll(fx.opts({ prefix: 'bad' })), (err: Error) => err.message.includes(`s3://${BUCKET}/bad.gz`));
  await assert.rejects(readAll(fx.opts({ bucket: 'nope', prefix: '' })), (err: Error) => err.name === 'NoSuchBucket');
});
