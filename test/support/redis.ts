/**
 * A throwaway redis-server for tests: loopback only, a free port, no
 * persistence, its own temporary directory. Tests that need Redis fail (not
 * skip) when it is not installed, so that a CI machine missing it cannot pass
 * silently; scripts/install-test-deps.sh installs it.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/runtime/ports.js';

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
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer): void => {
    // Only the end matters for diagnosing a failed start.
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  // A test that crashes must not leave a server behind.
  const killOnExit = (): void => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);
  for (;;) {
    const failed = await Promise.race([spawnError, exit.then(() => null), ping(port).then((ok) => (ok ? 'up' : undefined))]);
    if (failed === 'up') break;
    if (failed instanceof Error || exited) {
      await stop();
      throw new Error(`redis-server did not start on 127.0.0.1:${port}: ${failed instanceof Error ? failed.message : 'it exited'}\n${output}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server did not answer PING on 127.0.0.1:${port} within ${opts.startTimeoutMs ?? 10_000} ms\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, url: `redis://127.0.0.1:${port}`, stop };
}
