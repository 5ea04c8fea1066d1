import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readJsonFile, writeFileAtomic } from './json-file.js';

test('readJsonFile: missing is undefined, corrupt is an error naming the file', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tg-json-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'state.json');
  assert.equal(readJsonFile(file), undefined);
  writeFileSync(file, '{"a": [1, 2]}');
  assert.deepEqual(readJsonFile(file), { a: [1, 2] });
  writeFileSync(file, '{"a": [1, ');
  assert.throws(() => readJsonFile(file), (e: Error) => e.message.startsWith(`${file} is not valid JSON`));
});

test('writeFileAtomic: creates the directory, replaces the file whole, leaves no temp file, sets the mode', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tg-json-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'sub', 'state.json');
  await writeFileAtomic(file, 'first\n');
  await writeFileAtomic(file, 'second\n');
  assert.equal(readFileSync(file, 'utf8'), 'second\n');
  assert.deepEqual(readdirSync(path.dirname(file)), ['state.json']);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  // Concurrent writers each replace the file whole: the result is one of them, never a mix.
  await Promise.all(['a', 'b', 'c'].map((x) => writeFileAtomic(file, x.repeat(100_000))));
  assert.match(readFileSync(file, 'utf8'), /^(a{100000}|b{100000}|c{100000})$/);
  assert.deepEqual(readdirSync(path.dirname(file)), ['state.json']);
});
