/**
 * Running a throwaway server process for tests (redis-server, aiosmtpd,
 * Alertmanager): spawn it with its output captured, wait until it answers,
 * stop it. The caller makes the server's temporary directory and says how to
 * tell that the server is ready; stopping the server removes the directory.
 * A test process that exits (or crashes) kills a server it left running.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';

export interface StartServerProcessOptions {
  /** The server's name in error messages, e.g. `redis-server`. */
  name: string;
  /** The executable and its arguments. */
  command: string;
  args: string[];
  /** Working directory of the process. Default: this process's. */
  cwd?: string;
  /** Environment of the process. Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** The server's temporary directory, removed (recursively) once it has stopped. */
  dir: string;
  /** Where it listens, for error messages: `127.0.0.1:<port>` or a URL. */
  address: string;
  /** One readiness probe: whether the server answers yet. Should give up (false) within about a second. */
  ready: () => Promise<boolean>;
  /** How long to wait for `ready`, in ms. */
  startTimeoutMs: number;
  /** What timing out means, for its error, e.g. `did not answer PING`. Default `was not ready`. */
  notReady?: string;
  /** Pause between probes, in ms. Default 50. */
  pollMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL, in ms. Default 3000. */
  killAfterMs?: number;
}

export interface ServerProcess {
  /** Stops the server (SIGTERM, then SIGKILL) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** How much of the process's output is kept: only the end matters for diagnosing a failed start. */
const OUTPUT_TAIL = 4000;

/**
 * Spawns the server and resolves once `ready` says it answers. When it cannot
 * be spawned, exits, or is not ready within startTimeoutMs, it is stopped (its
 * directory removed) and the promise rejects with an error that names the
 * server and its address and ends with the last of what it wrote to stdout and
 * stderr.
 */
export async function startServerProcess(opts: StartServerProcessOptions): Promise<ServerProcess> {
  const { name, address, dir } = opts;
  const child = spawn(opts.command, opts.args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd, env: opts.env });
  let output = '';
  const keep = (d: Buffer): void => {
    output = (output + d.toString()).slice(-OUTPUT_TAIL);
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

  const killAfterMs = opts.killAfterMs ?? 3000;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killOnExit);
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      await exit;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const limit = opts.startTimeoutMs;
  const pollMs = opts.pollMs ?? 50;
  const deadline = Date.now() + limit;
  for (;;) {
    const r = await Promise.race([spawnError, exit.then(() => null), opts.ready().then((ok) => (ok ? 'up' : undefined))]);
    if (r === 'up') break;
    if (r instanceof Error || exited) {
      await stop();
      throw new Error(`${name} did not start on ${address}: ${r instanceof Error ? r.message : 'it exited'}\n${output}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} ${opts.notReady ?? 'was not ready'} on ${address} within ${limit} ms\n${output}`);
    }
    await new Promise((res) => setTimeout(res, pollMs));
  }
  return { stop };
}
