/**
 * Store loader throughput: spooled events loaded into the embedded DuckDB
 * store by the loader thread, as a running node does it (batches of
 * `store.batch_size`, one DuckDB thread). The spool is written beforehand
 * with the proxy's serializer (typical proxied requests: 50k events per
 * segment); the clock runs from the first load to the last commit.
 *
 *   node dist/bench/loader.js [--events N] [--repeat N] [--batch N]
 *
 * Prints events/s and CPU per event (every thread of this process: the
 * loader and DuckDB), median of the runs. The loader must keep up with the
 * proxy over time, so its CPU per event adds to the cost of every request.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { StoreLoader } from '../src/audit/loader/loader.js';
import { headerLine, segmentFileName } from '../src/audit/spool/format.js';
import { serializeEvent } from '../src/core/event-json.js';
import { emptyEvent } from '../src/core/event.js';
import { uuidv7 } from '../src/core/ids.js';
import { median } from './lib/stats.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' }, repeat: { type: 'string', default: '3' }, batch: { type: 'string', default: '20000' } } });
const N = Number(values.events);
const REPEAT = Number(values.repeat);
const BATCH = Number(values.batch);
const PER_SEGMENT = 50_000;

function writeSpool(spool: string): void {
  mkdirSync(join(spool, 'w0'), { recursive: true });
  const paths = ['/', '/login', '/api/v1/items/123', '/static/app.js', '/admin'];
  const start = Date.now() - 3_600_000;
  let lines: string[] = [];
  let seg = 1;
  const flush = () => {
    writeFileSync(join(spool, 'w0', segmentFileName(seg)), headerLine('w0', seg) + lines.join(''));
    seg++;
    lines = [];
  };
  for (let i = 0; i < N; i++) {
    const e = emptyEvent(uuidv7(), new Date(start + i * 5).toISOString(), 'http', 'tollgate');
    Object.assign(e, {
      duration_ms: 1.5 + (i % 13), node: 'bench', client_ip: `10.0.${i % 200}.${i % 250}`, client_port: 40_000 + (i % 20_000), peer_ip: '127.0.0.1',
      method: i % 7 ? 'GET' : 'POST', scheme: 'http', host: 'shop.example', path: paths[i % 5], query: i % 3 ? null : 'a=1&token=REDACTED',
      http_version: '1.1', route: 'bench', service: 'be', upstream: '127.0.0.1:8080', upstream_status: 200, upstream_ms: 1.1, attempts: 1,
      status: i % 10 ? 200 : 404, bytes_in: 0, bytes_out: 100, decision: 'allow', termination: 'ok', user_agent: 'Mozilla/5.0 (X11; Linux x86_64) bench',
      request_id: i.toString(16).padStart(32, '0'), headers: { 'req.accept': '*/*', 'res.content-type': 'text/plain' },
    });
    lines.push(serializeEvent(e) + '\n');
    if (lines.length === PER_SEGMENT) flush();
  }
  if (lines.length) flush();
}

async function once(): Promise<{ rate: number; cpuUs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-loader-'));
  try {
    // The spool is written aside and moved in once the loader runs: timing starts with no event loaded yet.
    writeSpool(join(dir, 'staging'));
    mkdirSync(join(dir, 'spool'));
    const loader = new StoreLoader(
      { spoolDir: join(dir, 'spool'), storePath: join(dir, 'store.duckdb'), batchSize: BATCH, pollMs: 250, retentionDays: 0, housekeepingMs: 3_600_000, nice: 0 },
      pino({ level: 'warn' }),
    );
    await loader.start();
    try {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      renameSync(join(dir, 'staging', 'w0'), join(dir, 'spool', 'w0'));
      const loaded = await loader.flush();
      const secs = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      if (loaded !== N) throw new Error(`loaded ${loaded} of ${N} events`);
      const stats = await loader.stats();
      if (stats.exactLoads) throw new Error(`${stats.exactLoads} batches took the event-by-event path`);
      return { rate: N / secs, cpuUs: (cpu.user + cpu.system) / N };
    } finally {
      await loader.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const runs: { rate: number; cpuUs: number }[] = [];
for (let r = 0; r < REPEAT; r++) {
  const run = await once();
  runs.push(run);
  console.log(`  run ${r + 1}/${REPEAT}: ${Math.round(run.rate).toLocaleString('en-US')} events/s, ${run.cpuUs.toFixed(1)} µs CPU/event`);
}
console.log(
  `store loader: ${N.toLocaleString('en-US')} spooled events in batches of ${BATCH.toLocaleString('en-US')}: ` +
    `${Math.round(median(runs.map((r) => r.rate))).toLocaleString('en-US')} events/s, ${median(runs.map((r) => r.cpuUs)).toFixed(1)} µs CPU/event (medians of ${REPEAT})`,
);
