// Runs every compiled test file (dist/**/*.test.js) with node's test runner.
// Usage: node scripts/run-tests.mjs [subdir-of-dist ...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = process.argv.slice(2).length ? process.argv.slice(2).map((d) => join('dist', d)) : ['dist'];
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
}
for (const r of roots) walk(r);
files.sort();
if (!files.length) {
  console.error('no test files found under', roots.join(', '), '— did the build run?');
  process.exit(1);
}
console.log(`running ${files.length} test files`);
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=180000', ...files.map((f) => relative('.', f))], { stdio: 'inherit' });
process.exit(r.status ?? 1);
