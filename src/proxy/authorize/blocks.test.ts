import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { BlockList, BlockRegistry, canonicalBlockValue, type Block } from './blocks.js';

const block = (over: Partial<Block>): Block => ({ id: 'b1', kind: 'ip', value: '192.0.2.1', reason: '', created_at: new Date().toISOString(), expires_at: null, created_by: 't', ...over });

test('canonical values: IPv4-mapped IPv6 becomes IPv4, CIDRs are canonical, junk is refused', () => {
  assert.deepEqual(canonicalBlockValue('ip', '::ffff:192.0.2.1'), { ok: true, value: '192.0.2.1' });
  assert.deepEqual(canonicalBlockValue('ip', '2001:0db8:0000::0001'), { ok: true, value: '2001:db8::1' });
  assert.deepEqual(canonicalBlockValue('ip', '10.1.0.0/16'), { ok: true, value: '10.1.0.0/16' });
  assert.equal(canonicalBlockValue('ip', 'example.com').ok, false);
  assert.equal(canonicalBlockValue('ip', '10.0.0.0/33').ok, false);
  assert.equal(canonicalBlockValue('user', '  ').ok, false);
  assert.equal(canonicalBlockValue('host', 'x').ok, false);
});

test('the block list matches addresses, CIDRs (v4 and v6) and users, and ignores expired blocks', () => {
  const now = Date.now();
  const list = new BlockList([
    block({ id: 'a', value: '192.0.2.1' }),
    block({ id: 'b', value: '198.51.100.0/24' }),
    block({ id: 'c', value: '2001:db8::/32' }),
    block({ id: 'd', kind: 'user', value: 'mallory' }),
    block({ id: 'e', value: '203.0.113.9', expires_at: new Date(now - 1000).toISOString() }),
  ]);
  assert.equal(list.ip('192.0.2.1')?.id, 'a');
  assert.equal(list.ip('198.51.100.77')?.id, 'b');
  assert.equal(list.ip('2001:db8:1::5')?.id, 'c');
  assert.equal(list.ip('192.0.2.2'), null);
  assert.equal(list.ip('203.0.113.9'), null, 'expired');
  assert.equal(list.user('mallory')?.id, 'd');
  assert.equal(list.user('alice'), null);
  assert.equal(new BlockList().ip('192.0.2.1'), null);
});

test('the registry persists blocks, replaces a block of the same target, lifts expired ones by itself', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-blocks-'));
  try {
    const file = path.join(dir, 'sub', 'blocks.json');
    const reg = new BlockRegistry(file);
    reg.load();
    const seen: Block[][] = [];
    reg.onChange((b) => seen.push(b));
    const first = await reg.add({ kind: 'ip', value: '::ffff:192.0.2.1', created_by: 'ops' });
    assert.equal(first.value, '192.0.2.1');
    const again = await reg.add({ kind: 'ip', value: '192.0.2.1', reason: 'again', created_by: 'ops' });
    assert.equal(reg.list().length, 1, 'one block per target');
    assert.equal(reg.list()[0].id, again.id);
    await reg.add({ kind: 'user', value: 'eve', duration_seconds: 0.3, created_by: 'rule:x' });
    assert.equal(seen.at(-1)!.length, 2);
    const persisted = JSON.parse(await readFile(file, 'utf8')) as { blocks: Block[] };
    assert.equal(persisted.blocks.length, 2);

    const reopened = new BlockRegistry(file);
    reopened.load();
    assert.equal(reopened.list().length, 2, 'a restart keeps the blocks');
    reopened.close();

    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(reg.list().map((b) => b.value), ['192.0.2.1'], 'the user block expired');
    assert.equal(seen.at(-1)!.length, 1, 'workers were told');
    assert.equal(await reg.remove(again.id), true);
    assert.equal(await reg.remove(again.id), false);
    reg.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a corrupt blocks file is an error, never silently an empty list', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-blocks-'));
  try {
    const file = path.join(dir, 'blocks.json');
    await writeFile(file, '{not json');
    assert.throws(() => new BlockRegistry(file).load());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('IPv4-mapped ranges become IPv4 ranges; an expired wide block does not hide a live narrow one', () => {
  assert.deepEqual(canonicalBlockValue('ip', '::ffff:203.0.113.0/120'), { ok: true, value: '203.0.113.0/24' });
  assert.deepEqual(canonicalBlockValue('ip', '10.1.2.3/16'), { ok: true, value: '10.1.0.0/16' });
  const past = new Date(Date.now() - 1000).toISOString();
  const list = new BlockList([block({ id: 'wide', value: '10.0.0.0/8', expires_at: past }), block({ id: 'narrow', value: '10.1.0.0/16' })]);
  assert.equal(list.ip('10.1.2.3')?.id, 'narrow');
  assert.equal(list.ip('10.2.0.1'), null);
});
