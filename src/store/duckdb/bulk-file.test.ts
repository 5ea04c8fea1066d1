import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PID_NAMESPACE, removeStaleBulkFiles, withBulkFile } from './bulk-file.js';

test('bulk files: removed after the statement, and those of dead processes at the next start', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tg-bulk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // Removed whether the statement succeeds or fails.
  let named = '';
  await withBulkFile([Buffer.from('a\n')], 'csv', dir, async (file) => void (named = path.basename(file)));
  assert.ok(named.startsWith(`tollgate-bulk-${PID_NAMESPACE}-${process.pid}-`), named);
  await assert.rejects(withBulkFile([Buffer.from('a\n')], 'csv', dir, () => Promise.reject(new Error('refused'))), /refused/);
  assert.deepEqual(readdirSync(dir), []);

  // A process that has exited (its pid is free, as after a SIGKILL mid-load) and one that runs.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  const ns = PID_NAMESPACE;
  // Named as withBulkFile names its files, by a process that has gone.
  const stale = named.replace(`-${process.pid}-`, `-${dead}-`);
  const ours = `tollgate-bulk-${ns}-${process.pid}-1795562155369-2.csv`;
  const parent = `tollgate-bulk-${ns}-${process.ppid}-1795562155369-3.log`;
  // The same dead pid in another PID namespace (a container sharing the directory) is not ours to judge.
  const elsewhere = `tollgate-bulk-${ns === '1' ? '2' : '1'}-${dead}-1795562155369-4.csv`;
  const other = 'tollgate-bulk-notes.txt';
  for (const f of [stale, ours, parent, elsewhere, other]) writeFileSync(path.join(dir, f), 'x');

  assert.equal(removeStaleBulkFiles(dir), 1);
  assert.deepEqual(readdirSync(dir).sort(), [ours, parent, elsewhere, other].sort());
  assert.equal(removeStaleBulkFiles(path.join(dir, 'missing')), 0, 'a missing directory is nothing to do');
});
