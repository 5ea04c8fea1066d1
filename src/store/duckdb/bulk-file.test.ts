import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { removeStaleBulkFiles, withBulkFile } from './bulk-file.js';

test('bulk files: removed after the statement, and those of dead processes at the next start', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tg-bulk-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // Removed whether the statement succeeds or fails.
  await withBulkFile([Buffer.from('a\n')], 'csv', dir, async () => undefined);
  await assert.rejects(withBulkFile([Buffer.from('a\n')], 'csv', dir, () => Promise.reject(new Error('refused'))), /refused/);
  assert.deepEqual(readdirSync(dir), []);

  // A process that has exited (its pid is free, as after a SIGKILL mid-load) and one that runs.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  const stale = `tollgate-bulk-${dead}-1795562155369-1.ndjson`;
  const ours = `tollgate-bulk-${process.pid}-1795562155369-2.csv`;
  const parent = `tollgate-bulk-${process.ppid}-1795562155369-3.log`;
  const other = 'tollgate-bulk-notes.txt';
  for (const f of [stale, ours, parent, other]) writeFileSync(path.join(dir, f), 'x');

  assert.equal(removeStaleBulkFiles(dir), 1);
  assert.deepEqual(readdirSync(dir).sort(), [ours, parent, other].sort());
  assert.equal(removeStaleBulkFiles(path.join(dir, 'missing')), 0, 'a missing directory is nothing to do');
});
