/**
 * A Tollgate node: the data plane (in this process, or in N cluster workers),
 * the store loader thread and the admin API, with reload and graceful stop.
 *
 *   primary ── admin API ── StoreLoader (worker thread) ── DuckDB
 *      │                        ↑ reads spool/<writer>/ segments
 *      └─ DataPlane × N ── SpoolWriter w0..wN-1
 *
 * Each proxy process writes its own spool stream, so no event crosses a
 * process boundary on the hot path.
 */
import { keepFilesPrivate } from '../core/private-files.js';
import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import client from 'prom-client';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { loadConfigFile } from '../config/load.js';
import { DataPlane } from '../proxy/dataplane.js';
import { StoreLoader } from '../audit/loader/loader.js';
import { AdminServer, type ControlPlane, type ReadinessCheck } from '../admin/server.js';
import type { LoaderStats } from '../audit/loader/protocol.js';
import type { PrimaryToWorker, WorkerToPrimary } from './messages.js';
import { BlockRegistry, type Block } from '../proxy/authorize/blocks.js';
import { SharedBlocks } from '../proxy/authorize/shared-blocks.js';
import { DeploymentRegistry } from '../admin/deployments.js';
import { buildIdentityMethods } from '../proxy/authorize/identity/index.js';
import type { RateLimiterHealth } from '../proxy/authorize/ratelimit/limiter.js';
import { AdminAuth, ensureGeneratedToken } from '../admin/auth.js';
import { SpoolWriter } from '../audit/spool/writer.js';
import { createRedactor } from '../audit/redact.js';
import { serializeEvent } from '../core/event-json.js';
import type { AuditEvent } from '../core/event.js';
import { TagRegistry, type EventTag } from '../proxy/record/event-tags.js';
import { Detector } from '../detect/runtime/detector.js';
import type { EffectAction } from '../detect/engine.js';
import type { DetectStats } from '../detect/runtime/protocol.js';

export interface NodeOptions {
  configPath: string | null;
  config: Readonly<Config>;
  log: Logger;
}

export interface RunningNode {
  adminPort: number;
  /** The admin token generated when none is configured (null otherwise). */
  generatedToken: string | null;
  blocks: BlockRegistry;
  tags: TagRegistry;
  loader: StoreLoader;
  /** null when detection is off (detect.enabled: false). */
  detector: Detector | null;
  reload(): ReturnType<ControlPlane['reload']>;
  stop(): Promise<void>;
}

export function workerCount(config: Readonly<Config>): number {
  return config.workers === 'auto' ? Math.max(1, os.availableParallelism()) : config.workers;
}

/** A stats source asked at most every 500 ms, however many gauges read it during one scrape. */
function cachedStats<S>(fetch: () => Promise<S>): () => Promise<S | null> {
  let cached: S | null = null;
  let cachedAt = 0;
  return async () => {
    if (Date.now() - cachedAt > 500) {
      cached = await fetch().catch(() => null);
      cachedAt = Date.now();
    }
    return cached;
  };
}

/** Gauges read from a worker thread's stats at scrape time (0 when it does not answer). */
function statGauges<S>(reg: client.Registry, stats: () => Promise<S | null>, gauges: [name: string, help: string, pick: (s: S) => number][]): void {
  for (const [name, help, pick] of gauges) {
    new client.Gauge({
      name,
      help,
      registers: [reg],
      async collect() {
        const s = await stats();
        this.set(s ? pick(s) : 0);
      },
    });
  }
}

function loaderMetrics(loader: StoreLoader): client.Registry {
  const reg = new client.Registry();
  statGauges<LoaderStats>(reg, cachedStats(() => loader.stats()), [
    ['tollgate_store_events_loaded_total', 'Audit events loaded from the spool into the store (since start).', (s) => s.loaded],
    ['tollgate_store_load_errors_total', 'Failed load attempts (retried).', (s) => s.errors],
    ['tollgate_spool_lag_bytes', 'Spooled bytes not yet loaded into the store.', (s) => s.lagBytes],
    ['tollgate_spool_torn_records_total', 'Torn (unacknowledged, partial) records skipped in sealed segments.', (s) => s.torn],
    ['tollgate_spool_bad_records_total', 'Spool records skipped: unreadable, or an event the store refused (each is logged with its place in the spool).', (s) => s.badLines],
    ['tollgate_store_exact_loads_total', 'Batches of spool records the store refused as a whole and loaded event by event instead (slower; see the log for why).', (s) => s.exactLoads],
    ['tollgate_store_retention_deleted_total', 'Events deleted by retention.', (s) => s.retentionDeleted],
    ['tollgate_store_up', '1 when the store loader is running.', () => (loader.running ? 1 : 0)],
  ]);
  return reg;
}

function detectorMetrics(detector: Detector): client.Registry {
  const reg = new client.Registry();
  const stats = cachedStats(() => detector.stats());
  statGauges<DetectStats>(reg, stats, [
    ['tollgate_detect_events_total', 'Events evaluated by the detection rules (since start).', (s) => s.processed],
    ['tollgate_detect_late_events_total', 'Events older than every rule window when read (skipped).', (s) => s.late],
    ['tollgate_detect_lag_bytes', 'Spooled bytes detection has not read yet.', (s) => s.lagBytes],
    ['tollgate_alerts_firing', 'Alerts firing now (shadow alerts excluded).', (s) => s.firing],
    ['tollgate_detect_up', '1 when the detection worker is running.', () => (detector.running ? 1 : 0)],
  ]);
  new client.Gauge({
    name: 'tollgate_notifications_total',
    help: 'Alert notifications by notifier and outcome (since start).',
    labelNames: ['notifier', 'state'],
    registers: [reg],
    async collect() {
      const s = await stats();
      this.reset();
      for (const [notifier, n] of Object.entries(s?.notifications ?? {})) {
        this.set({ notifier, state: 'sent' }, n.sent);
        this.set({ notifier, state: 'failed' }, n.failed);
        this.set({ notifier, state: 'retried' }, n.retried);
        this.set({ notifier, state: 'dropped' }, n.dropped);
      }
    },
  });
  return reg;
}

export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  const { log } = opts;
  keepFilesPrivate();
  let config = opts.config;
  const loader = new StoreLoader(
    {
      spoolDir: config.audit.spool.dir,
      storePath: config.store.path,
      batchSize: config.store.batch_size,
      pollMs: config.store.load_interval,
      retentionDays: config.store.retention_days,
      housekeepingMs: 30_000,
      nice: config.store.loader_nice,
      // Detection reads the same segments: keep those it has not read yet.
      holdFile: config.detect.enabled ? path.resolve(config.detect.state_file) : null,
    },
    log,
  );
  await loader.start();
  const blocks = new BlockRegistry(config.access.blocks_file);
  blocks.load();
  const sharedBlocks = config.access.shared_blocks ? new SharedBlocks(blocks, { url: config.access.shared_blocks.url, prefix: config.access.shared_blocks.prefix }, log) : null;
  await sharedBlocks?.start();
  const tags = new TagRegistry();
  const deployments = new DeploymentRegistry(config.admin.deployments_file, config.node.environment ?? null);
  deployments.load();
  const n = workerCount(config);
  const plane = n === 1 ? await LocalPlane.start(config, log, blocks.list(), deployments.versions()) : await ClusterPlane.start(config, n, log, blocks.list(), deployments.versions());
  blocks.onChange((list) => plane.setBlocks(list));
  tags.onChange((list) => plane.setTags(list));
  deployments.onChange((v) => plane.setVersions(v));

  const nodeName = config.node.name ?? os.hostname();
  const onEffect = (a: EffectAction, alertId: string): void => {
    if (a.type === 'block') {
      blocks
        .add({ kind: a.kind, value: a.value, reason: `${a.reason} (alert ${alertId})`, duration_seconds: Math.max(1, Math.round(a.duration_ms / 1000)), created_by: `rule:${a.rule_id}` })
        .then((b) => log.warn({ block: b, alert: alertId }, `blocked ${b.kind} ${b.value} until ${b.expires_at} (rule ${a.rule_id})`))
        .catch((err: Error) => log.error({ err: err.message, alert: alertId }, 'detection rule block failed'));
    } else {
      tags.add({ fields: a.fields, values: a.values, label: a.label, value: a.value, expires_at: new Date(Date.now() + Math.max(0, a.expires_ms - Date.now())).toISOString(), rule_id: a.rule_id });
    }
  };
  const detector = config.detect.enabled
    ? new Detector({ spoolDir: config.audit.spool.dir, detect: config.detect, node: nodeName, adminUrl: `http://${config.admin.address}`, baseDir: process.cwd(), onEffect }, log)
    : null;
  await detector?.start();

  // Admin API calls are audit events too, written by this process to its own spool stream.
  const adminSpool = config.audit.enabled ? new SpoolWriter({ ...config.audit.spool, writerId: 'admin', memoryBuffer: config.audit.memory_buffer }) : null;
  await adminSpool?.open();
  const adminRedactor = createRedactor({ ...config.audit.redact, record_headers: { request: [], response: [] } });
  const auditAdmin = (e: AuditEvent): void => {
    if (!adminSpool) return;
    if (e.query !== null) e.query = adminRedactor.query(e.query);
    adminSpool.append(serializeEvent(e), (err) => {
      if (err) log.error({ err: err.message, id: e.id }, 'admin audit event could not be spooled');
    });
  };
  const generatedToken = config.admin.tokens.length ? null : ensureGeneratedToken(config.admin.token_file);
  if (generatedToken) log.info({ token_file: config.admin.token_file }, 'no admin tokens configured: generated an admin token (Authorization: Bearer <token from the file>)');
  const loaderRegistry = loaderMetrics(loader);
  const detectRegistry = detector ? detectorMetrics(detector) : null;

  const reloadFromFile = async (): ReturnType<ControlPlane['reload']> => {
    if (!opts.configPath) return { ok: false, errors: [{ path: '(file)', message: 'this node was started without a config file; nothing to reload' }] };
    const r = loadConfigFile(opts.configPath);
    if (!r.ok) {
      log.error({ errors: r.errors }, `config reload refused: ${r.errors.length} error(s); keeping the running configuration`);
      return { ok: false, errors: r.errors };
    }
    // Build the identity methods once here (keys files, users files) so a broken one
    // refuses the reload before any proxy process sees it.
    try {
      for (const m of buildIdentityMethods(r.config.access.identities, { baseDir: process.cwd(), log }).values()) await m.close();
    } catch (err) {
      const errors = [{ path: 'access.identities', message: (err as Error).message }];
      log.error({ errors }, 'config reload refused; keeping the running configuration');
      return { ok: false, errors };
    }
    let restart: string[];
    try {
      restart = await plane.reload(r.config);
    } catch (err) {
      const errors = [{ path: '(reload)', message: (err as Error).message }];
      log.error({ errors }, 'config reload failed; keeping the running configuration');
      return { ok: false, errors };
    }
    if (detector && r.config.detect.enabled) {
      try {
        await detector.reload(r.config.detect);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'detection rules could not be reloaded; the previous rules stay in force');
        restart.push('detect (reload failed: ' + (err as Error).message + ')');
      }
    }
    if (config.detect.enabled !== r.config.detect.enabled) restart.push('detect.enabled');
    if (JSON.stringify(config.access.shared_blocks) !== JSON.stringify(r.config.access.shared_blocks)) restart.push('access.shared_blocks');
    config = r.config;
    log.info({ restart_required: restart }, 'configuration reloaded');
    return { ok: true, restart_required: restart };
  };

  const control: ControlPlane = {
    backends: () => plane.backends(),
    reload: reloadFromFile,
    readiness: async (): Promise<ReadinessCheck[]> => {
      const spools = await plane.spoolHealth();
      const stats = await loader.stats().catch(() => null);
      const limits = await plane.rateLimitHealth();
      return [
        // Redis down is degraded, not unready: the configured fallback keeps enforcing limits.
        { name: 'rate_limits', ok: true, detail: limits },
        // Redis down is degraded too: blocks apply locally and are shared when it is back.
        ...(sharedBlocks ? [{ name: 'shared_blocks', ok: true, detail: sharedBlocks.health() }] : []),
        { name: 'proxy', ok: plane.ready(), detail: plane.describe() },
        { name: 'audit_spool', ok: spools.every((s) => s.health === null || s.health.ok), detail: spools },
        { name: 'store', ok: loader.running, detail: loader.fatal ? { error: loader.fatal } : stats },
        ...(detector ? [{ name: 'detect', ok: detector.running, detail: detector.fatal ? { error: detector.fatal } : await detector.stats().catch((err: Error) => ({ error: err.message })) }] : []),
      ];
    },
    metrics: async () => {
      const own = (await loaderRegistry.metrics()) + (detectRegistry ? '\n' + (await detectRegistry.metrics()) : '');
      const data = await plane.metrics();
      return { contentType: client.register.contentType, body: data + '\n' + own };
    },
  };
  const admin = new AdminServer({
    address: config.admin.address,
    reader: loader,
    live: loader,
    control,
    log,
    auth: new AdminAuth(config.admin.tokens, generatedToken),
    publicPaths: config.admin.public,
    blocks,
    detector,
    deployments,
    audit: auditAdmin,
    node: nodeName,
  });
  await admin.listen();
  log.info({ admin: config.admin.address, listeners: config.listeners.map((l) => l.address), workers: n }, 'tollgate is running');

  let stopping: Promise<void> | null = null;
  return {
    adminPort: admin.port,
    generatedToken,
    blocks,
    tags,
    loader,
    detector,
    reload: reloadFromFile,
    stop: () =>
      (stopping ??= (async () => {
        await plane.stop();
        log.info({}, 'proxy stopped; loading the rest of the spool into the store');
        // Load what the proxies spooled before they stopped, then stop the loader.
        const loaded = await loader.flush().catch((err: Error) => log.error({ err: err.message }, 'final load into the store failed; events stay in the spool'));
        // Detection reads what the proxies spooled last before it stops.
        await detector?.stop();
        await admin.close();
        blocks.close();
        await sharedBlocks?.close();
        tags.close();
        await adminSpool?.close();
        await loader.flush().catch(() => {});
        await loader.stop();
        log.info({ loaded }, 'stopped');
      })()),
  };
}

interface Plane {
  reload(c: Readonly<Config>): Promise<string[]>;
  setBlocks(blocks: Block[]): void;
  setTags(tags: EventTag[]): void;
  setVersions(v: Record<string, string>): void;
  rateLimitHealth(): Promise<{ worker: string; health: RateLimiterHealth | null }[]>;
  /** One entry per proxy process, since each process tracks backend health itself. */
  backends(): Promise<{ worker: string; pools: unknown }[]>;
  spoolHealth(): Promise<{ worker: string; health: ReturnType<DataPlane['spoolHealth']> }[]>;
  metrics(): Promise<string>;
  ready(): boolean;
  describe(): unknown;
  stop(): Promise<void>;
}

/** workers: 1 — the data plane runs in this process. */
class LocalPlane implements Plane {
  private constructor(private readonly dp: DataPlane) {}
  static async start(config: Readonly<Config>, log: Logger, blocks: Block[], versions: Record<string, string>): Promise<LocalPlane> {
    return new LocalPlane(await DataPlane.start({ config, writerId: 'w0', log, blocks, versions }));
  }
  setBlocks(blocks: Block[]) {
    this.dp.setBlocks(blocks);
  }
  setTags(tags: EventTag[]) {
    this.dp.setTags(tags);
  }
  setVersions(v: Record<string, string>) {
    this.dp.setVersions(v);
  }
  async rateLimitHealth() {
    return [{ worker: 'w0', health: this.dp.rateLimitHealth() }];
  }
  async reload(c: Readonly<Config>) {
    return (await this.dp.reload(c)).restartRequired;
  }
  async backends() {
    return [{ worker: 'w0', pools: this.dp.backends() }];
  }
  async spoolHealth() {
    return [{ worker: 'w0', health: this.dp.spoolHealth() }];
  }
  metrics() {
    return client.register.metrics();
  }
  ready() {
    return this.dp.listeners.length > 0;
  }
  describe() {
    return { workers: 1, listeners: this.dp.listeners.map((l) => `${l.address.host}:${l.address.port}`) };
  }
  stop() {
    return this.dp.close();
  }
}

/** workers: N > 1 — proxy processes forked with node:cluster; this process keeps the admin API and the loader. */
class ClusterPlane implements Plane {
  private workers = new Map<number, ClusterWorker>();
  private nextId = 1;
  private pending = new Map<number, (v: unknown) => void>();
  private stopping = false;
  private readyCount = 0;
  private aggregator = new client.AggregatorRegistry();
  private blocks: Block[] = [];
  private tags: EventTag[] = [];
  private versions: Record<string, string> = {};

  private constructor(
    private config: Readonly<Config>,
    private readonly n: number,
    private readonly log: Logger,
  ) {}

  static async start(config: Readonly<Config>, n: number, log: Logger, blocks: Block[], versions: Record<string, string>): Promise<ClusterPlane> {
    const p = new ClusterPlane(config, n, log);
    p.blocks = blocks;
    p.versions = versions;
    // Let the kernel spread connections over the workers (SO_REUSEPORT-like accept sharing)
    // rather than the primary accepting and passing every socket along.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.js'), silent: false });
    await Promise.all(Array.from({ length: n }, (_, i) => p.fork(i)));
    return p;
  }

  private fork(index: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const w = cluster.fork({ TOLLGATE_WORKER_INDEX: String(index) });
      this.workers.set(index, w);
      let started = false;
      w.on('message', (m: WorkerToPrimary) => {
        if (m.type === 'booted') {
          w.send({ type: 'start', config: this.config, writerId: `w${index}`, blocks: this.blocks, tags: this.tags, versions: this.versions } satisfies PrimaryToWorker);
        } else if (m.type === 'ready') {
          started = true;
          this.readyCount++;
          resolve();
        } else if (m.type === 'failed') {
          reject(new Error(`worker ${index} failed to start: ${m.error}`));
        } else if (m.type === 'reply') {
          this.pending.get(m.id)?.(m.value);
          this.pending.delete(m.id);
        }
      });
      w.on('exit', (code, signal) => {
        if (started) this.readyCount--;
        if (this.stopping) return;
        this.log.error({ worker: index, code, signal }, 'proxy worker exited; starting a replacement');
        if (!started) return;
        setTimeout(() => void this.fork(index).catch((err: Error) => this.log.error({ err: err.message }, 'replacement worker failed')), 500);
      });
    });
  }

  /** Asks every connected worker; each reply carries the writer id of the worker that gave it. */
  private ask(build: (id: number) => PrimaryToWorker): Promise<{ worker: string; answered: boolean; value: unknown }[]> {
    return Promise.all(
      [...this.workers.entries()]
        .filter(([, w]) => w.isConnected())
        .map(
          ([index, w]) =>
            new Promise<{ worker: string; answered: boolean; value: unknown }>((resolve) => {
              const id = this.nextId++;
              const t = setTimeout(() => {
                this.pending.delete(id);
                resolve({ worker: `w${index}`, answered: false, value: null });
              }, 10_000);
              this.pending.set(id, (value) => {
                clearTimeout(t);
                resolve({ worker: `w${index}`, answered: true, value });
              });
              w.send(build(id));
            }),
        ),
    );
  }

  async reload(c: Readonly<Config>): Promise<string[]> {
    this.config = c;
    const replies = await this.ask((id) => ({ type: 'reload', id, config: c }));
    const restart = new Set<string>();
    const failed: string[] = [];
    for (const r of replies) {
      if (!r.answered) failed.push(`${r.worker}: did not answer`);
      else if (r.value && !Array.isArray(r.value)) failed.push(`${r.worker}: ${(r.value as { error: string }).error}`);
      else for (const k of (r.value as string[] | null) ?? []) restart.add(k);
    }
    if (failed.length) throw new Error(`reload failed in ${failed.length} worker(s): ${failed.join('; ')}`);
    return [...restart];
  }
  setBlocks(blocks: Block[]) {
    this.blocks = blocks;
    for (const w of this.workers.values()) if (w.isConnected()) w.send({ type: 'blocks', blocks } satisfies PrimaryToWorker);
  }
  setTags(tags: EventTag[]) {
    this.tags = tags;
    for (const w of this.workers.values()) if (w.isConnected()) w.send({ type: 'tags', tags } satisfies PrimaryToWorker);
  }
  setVersions(versions: Record<string, string>) {
    this.versions = versions;
    for (const w of this.workers.values()) if (w.isConnected()) w.send({ type: 'versions', versions } satisfies PrimaryToWorker);
  }
  async rateLimitHealth() {
    const replies = await this.ask((id) => ({ type: 'ratelimit', id }));
    return replies.map((r) => ({ worker: r.worker, health: r.value as RateLimiterHealth | null }));
  }
  async backends() {
    // Health is tracked per worker process; report each worker's view.
    const replies = await this.ask((id) => ({ type: 'backends', id }));
    return replies.map((r) => ({ worker: r.worker, pools: r.value }));
  }
  async spoolHealth() {
    const replies = await this.ask((id) => ({ type: 'spool', id }));
    return replies.map((r) => ({
      worker: r.worker,
      // null: this worker writes no trail (audit.enabled: false).
      health: r.answered ? (r.value as ReturnType<DataPlane['spoolHealth']>) : { ok: false, error: 'worker did not answer', since: null, queued: 0, dropped: 0, segment: 0 },
    }));
  }
  async metrics() {
    return this.aggregator.clusterMetrics();
  }
  ready() {
    return this.readyCount === this.n;
  }
  describe() {
    return { workers: this.n, ready: this.readyCount, listeners: this.config.listeners.map((l) => l.address) };
  }
  async stop() {
    this.stopping = true;
    await Promise.all(
      [...this.workers.values()].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (!w.isConnected()) return resolve();
            const t = setTimeout(() => {
              w.kill('SIGKILL');
              resolve();
            }, 20_000);
            w.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            w.send({ type: 'shutdown' } satisfies PrimaryToWorker);
          }),
      ),
    );
  }
}
