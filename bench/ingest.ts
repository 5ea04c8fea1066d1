/**
 * Ingest benchmark: a generated 1,000,000-line NGINX `combined` log is
 * ingested end to end (parse + store, queryable afterwards) by
 * `tollgate ingest`, and processed by GoAccess on the same file in the same
 * run when it is installed. Prints lines/s for both and the ratio (target:
 * Tollgate ≥ 4× GoAccess), medians over rounds; saves JSON under bench/results/.
 * The same log gzipped (as logrotate leaves it) is timed too: Tollgate reads
 * the .gz itself, GoAccess reads it through zcat, as its manual shows.
 *
 *   npm run build && node dist/bench/ingest.js [--lines N] [--repeat N]
 */
import { spawnSync } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDbStore } from '../src/store/duckdb/duckdb-store.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'src', 'cli', 'index.js');

const { values } = parseArgs({ options: { lines: { type: 'string', default: '1000000' }, repeat: { type: 'string', default: '3' }, 'keep-tmp': { type: 'boolean', default: false } } });
const LINES = Number(values.lines);
const REPEAT = Number(values.repeat);

const IPS = ['203.0.113.', '198.51.100.', '192.0.2.', '2001:db8::'];
const PATHS = ['/', '/products', '/products/42?ref=home', '/api/v1/items?id=7&page=2', '/login', '/static/app.3f9a.js', '/search?q=desk+lamp', '/admin/users'];
const UAS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'curl/8.5.0',
  'Googlebot/2.1 (+http://www.google.com/bot.html)',
];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

async function generate(file: string, n: number): Promise<void> {
  const out = createWriteStream(file);
  const t0 = Date.UTC(2026, 10, 1);
  let buf = '';
  for (let i = 0; i < n; i++) {
    const d = new Date(t0 + i * 37);
    const p2 = (x: number) => String(x).padStart(2, '0');
    const ts = `${p2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
    const status = i % 23 === 0 ? 404 : i % 97 === 0 ? 500 : i % 11 === 0 ? 304 : 200;
    const method = i % 13 === 0 ? 'POST' : 'GET';
    buf += `${IPS[i % 4]}${(i * 7) % 250} - ${i % 19 === 0 ? 'alice' : '-'} [${ts}] "${method} ${PATHS[i % PATHS.length]} HTTP/1.1" ${status} ${status === 304 ? 0 : 512 + (i % 9000)} "https://shop.example/" "${UAS[i % UAS.length]}"\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()));
      buf = '';
    }
  }
  await new Promise<void>((r) => out.end(buf, r));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const goaccess = spawnSync('sh', ['-c', 'command -v goaccess'], { encoding: 'utf8' }).stdout.trim() || null;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'tg-bench-ingest-'));
const log = path.join(tmp, 'access.log');
console.log(`generating ${LINES.toLocaleString('en-US')} NGINX combined lines…`);
await generate(log, LINES);
console.log(`  ${log}: ${(statSync(log).size / 1e6).toFixed(0)} MB`);

const gz = `${log}.gz`;
await pipeline(createReadStream(log), createGzip(), createWriteStream(gz));
console.log(`  ${gz}: ${(statSync(gz).size / 1e6).toFixed(0)} MB`);

/** `tollgate ingest` of `file` into a new store; lines/s end to end, checked queryable. */
async function tollgateRun(file: string, tag: string): Promise<number> {
  const store = path.join(tmp, `${tag}.duckdb`);
  const t = performance.now();
  const run = spawnSync(process.execPath, [cli, 'ingest', '--format', 'nginx-combined', '--json', '--registry', `${store}.ingest.json`, '-c', writeConfig(store), file], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const ms = performance.now() - t;
  if (run.status !== 0) throw new Error(`tollgate ingest failed: ${run.stderr}`);
  const summary = JSON.parse(run.stdout.trim().split('\n').pop()!) as { events: number; rejected: number };
  // Queryable afterwards: count what the store answers.
  const s = await DuckDbStore.open({ path: store });
  const stored = await s.count({});
  await s.close();
  if (stored !== LINES || summary.events !== LINES) throw new Error(`stored ${stored}, summary ${summary.events}, expected ${LINES}`);
  rmSync(store, { force: true });
  rmSync(`${store}.wal`, { force: true });
  return LINES / (ms / 1000);
}

/** GoAccess over the same lines (a .gz through zcat); lines/s. */
function goaccessRun(file: string): number {
  const args = `--log-format=COMBINED -o ${JSON.stringify(path.join(tmp, 'report.html'))} --no-progress`;
  const cmd = file.endsWith('.gz') ? `zcat ${JSON.stringify(file)} | ${goaccess} - ${args}` : `${goaccess} ${JSON.stringify(file)} ${args}`;
  const t = performance.now();
  const g = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  const ms = performance.now() - t;
  if (g.status !== 0) throw new Error(`goaccess failed: ${g.stderr}`);
  return LINES / (ms / 1000);
}

const rate = (x: number): string => `${Math.round(x).toLocaleString('en-US')} lines/s`;
const tollgate: number[] = [];
const peer: number[] = [];
const tollgateGz: number[] = [];
const peerGz: number[] = [];
for (let r = 1; r <= REPEAT; r++) {
  tollgate.push(await tollgateRun(log, `r${r}`));
  console.log(`  round ${r}  tollgate ingest        ${rate(tollgate[r - 1])}`);
  if (goaccess) {
    peer.push(goaccessRun(log));
    console.log(`  round ${r}  goaccess               ${rate(peer[r - 1])}`);
  }
  tollgateGz.push(await tollgateRun(gz, `r${r}-gz`));
  console.log(`  round ${r}  tollgate ingest, .gz   ${rate(tollgateGz[r - 1])}`);
  if (goaccess) {
    peerGz.push(goaccessRun(gz));
    console.log(`  round ${r}  zcat | goaccess, .gz   ${rate(peerGz[r - 1])}`);
  }
}

function writeConfig(store: string): string {
  const file = `${store}.yaml`;
  writeFileSync(file, `listeners: [{ address: "127.0.0.1:0" }]\nstore: { path: ${JSON.stringify(store)} }\naudit: { spool: { dir: ${JSON.stringify(path.join(tmp, 'spool'))} } }\n`);
  return file;
}

const result = {
  lines: LINES,
  tollgateLinesPerSecond: Math.round(median(tollgate)),
  goaccessLinesPerSecond: peer.length ? Math.round(median(peer)) : null,
  ratio: peer.length ? median(tollgate) / median(peer) : null,
  gzip: {
    tollgateLinesPerSecond: Math.round(median(tollgateGz)),
    goaccessLinesPerSecond: peerGz.length ? Math.round(median(peerGz)) : null,
    ratio: peerGz.length ? median(tollgateGz) / median(peerGz) : null,
  },
  rounds: { tollgate: tollgate.map(Math.round), goaccess: peer.map(Math.round), tollgateGzip: tollgateGz.map(Math.round), goaccessGzip: peerGz.map(Math.round) },
  cores: os.availableParallelism(),
  goaccess: goaccess ? spawnSync(goaccess, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] : null,
};
console.log(`\nMedians: tollgate ${result.tollgateLinesPerSecond.toLocaleString('en-US')} lines/s` + (result.goaccessLinesPerSecond ? `, goaccess ${result.goaccessLinesPerSecond.toLocaleString('en-US')} lines/s, ratio ${result.ratio!.toFixed(2)}x (target >= 4x) [${result.ratio! >= 4 ? 'meets target' : 'BELOW TARGET'}]` : ' (goaccess not installed: apt-get install goaccess)'));
console.log(`Gzipped: tollgate ${rate(result.gzip.tollgateLinesPerSecond)}` + (result.gzip.ratio !== null ? `, zcat | goaccess ${rate(result.gzip.goaccessLinesPerSecond!)}, ratio ${result.gzip.ratio.toFixed(2)}x` : ''));
mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
const out = path.join(root, 'bench', 'results', `ingest-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z.json`);
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.log(`Results: ${out}`);
if (!values['keep-tmp']) rmSync(tmp, { recursive: true, force: true });
