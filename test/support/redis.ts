/**
 * A throwaway redis-server for tests: loopback only, a free port, no
 * persistence, its own temporary directory. Tests that need Redis fail (not
 * skip) when it is not installed, so that a CI machine missing it cannot pass
 * silently; scripts/install-test-deps.sh installs it.
 */
import { accessSync, constants } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/runtime/ports.js';
import { startServerProcess } from './server-process.js';

export const REDIS_SERVER = process.env.TOLLGATE_REDIS_SERVER ?? '/usr/bin/redis-server';

export interface TestRedis {
  port: number;
  url: string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Listen on this port (to restart a stopped server where clients expect it). Default: a free one. */
  port?: number;
  /** How long to wait for PING to be answered. Default 10 s. */
  startTimeoutMs?: number;
}

/** Whether something on 127.0.0.1:port answers PING with PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<TestRedis> {
  try {
    accessSync(REDIS_SERVER, constants.X_OK);
  } catch {
    throw new Error(
      `redis-server is not installed (looked for ${REDIS_SERVER}); the rate-limit tests need a real one. ` +
        'Install it with `bash scripts/install-test-deps.sh redis-server` (CI does), or point TOLLGATE_REDIS_SERVER at a binary.',
    );
  }
  const port = opts.port ?? (await freePort());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'];
  const { stop } = await startServerProcess({
    name: 'redis-server',
    command: REDIS_SERVER,
    args,
    dir,
    address: `127.0.0.1:${port}`,
    ready: () => ping(port),
    startTimeoutMs: opts.startTimeoutMs ?? 10_000,
    notReady: 'did not answer PING',
  });
  return { port, url: `redis://127.0.0.1:${port}`, stop };
}
