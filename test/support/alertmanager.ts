/**
 * A throwaway Prometheus Alertmanager for tests (Debian
 * `prometheus-alertmanager`): loopback only, a free port, clustering off
 * (`--cluster.listen-address=` empty: no gossip port), its own temporary
 * config and storage directory. The config routes everything to a receiver
 * with no integrations, so alerts are accepted and kept but go nowhere.
 *
 * When the binary is missing, startAlertmanager() throws saying how to
 * install it; tests use alertmanagerAvailable() to skip on a developer
 * machine (never under CI=true). scripts/install-test-deps.sh installs it.
 */
import { accessSync, constants } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/runtime/ports.js';
import { startServerProcess } from './server-process.js';

export const ALERTMANAGER = process.env.TOLLGATE_ALERTMANAGER ?? '/usr/bin/prometheus-alertmanager';

/** Why Alertmanager tests are skipped on a developer machine without it. */
export const NEEDS_ALERTMANAGER = `needs Prometheus Alertmanager at ${ALERTMANAGER} (bash scripts/install-test-deps.sh prometheus-alertmanager, or point TOLLGATE_ALERTMANAGER at a binary)`;

export function alertmanagerAvailable(): boolean {
  try {
    accessSync(ALERTMANAGER, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** An alert as GET /api/v2/alerts returns it (the fields tests look at). */
export interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  generatorURL?: string;
  fingerprint: string;
  status: { state: 'active' | 'suppressed' | 'unprocessed'; silencedBy: string[]; inhibitedBy: string[] };
  receivers: { name: string }[];
}

export interface TestAlertmanager {
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  /** GET /api/v2/alerts with these query parameters (e.g. { active: 'true' }). */
  alerts(query?: Record<string, string>): Promise<GettableAlert[]>;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartAlertmanagerOptions {
  /** How long to wait for /-/ready. Default 20 s. */
  startTimeoutMs?: number;
}

const CONFIG = `route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
`;

async function ready(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

export async function startAlertmanager(opts: StartAlertmanagerOptions = {}): Promise<TestAlertmanager> {
  if (!alertmanagerAvailable()) {
    throw new Error(
      `prometheus-alertmanager is not installed (looked for ${ALERTMANAGER}); the Alertmanager notifier test needs a real one. ` +
        'Install it with `bash scripts/install-test-deps.sh prometheus-alertmanager` (CI does), or point TOLLGATE_ALERTMANAGER at a binary.',
    );
  }
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-alertmanager-'));
  const config = path.join(dir, 'alertmanager.yml');
  await writeFile(config, CONFIG);
  const url = `http://127.0.0.1:${port}`;
  const args = [
    `--config.file=${config}`,
    `--storage.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
    '--log.level=warn',
  ];
  const { stop } = await startServerProcess({
    name: 'alertmanager',
    command: ALERTMANAGER,
    args,
    cwd: dir,
    dir,
    address: url,
    ready: () => ready(url),
    startTimeoutMs: opts.startTimeoutMs ?? 20_000,
    pollMs: 100,
    killAfterMs: 5000,
  });

  return {
    port,
    url,
    stop,
    async alerts(query = {}) {
      const qs = new URLSearchParams(query).toString();
      const r = await fetch(`${url}/api/v2/alerts${qs ? `?${qs}` : ''}`, { signal: AbortSignal.timeout(5000) });
      if (r.status !== 200) throw new Error(`GET /api/v2/alerts answered ${r.status}: ${await r.text()}`);
      return (await r.json()) as GettableAlert[];
    },
  };
}
