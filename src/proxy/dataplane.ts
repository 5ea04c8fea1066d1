/**
 * DataPlane: one proxy process's listeners, backend pools, pipeline and spool
 * writer, built from a config and swapped atomically on reload. In-flight
 * requests finish on the pools they started with; unchanged pools are kept
 * (with their health state and warm connections).
 */
import os from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { SpoolWriter, type SpoolHealth } from '../audit/spool/writer.js';
import { createRedactor } from '../audit/redact.js';
import { BackendPool, type PoolSnapshot } from './balance/pool.js';
import { Pipeline, type NodeTags } from './pipeline.js';
import { Recorder, ServiceVersions } from './record/recorder.js';
import { startListener, type ListenerHandlers, type RunningListener } from './accept/listener.js';
import { metrics, setSpoolMetricsSource } from './metrics.js';
import { BlockList, type Block } from './authorize/blocks.js';
import { EventTags, type EventTag } from './record/event-tags.js';
import { buildIdentityMethods } from './authorize/identity/index.js';
import type { IdentityMethod } from './authorize/identity/types.js';
import { RateLimiter, type RateLimiterHealth } from './authorize/ratelimit/limiter.js';
import { parseAddress } from '../config/schema.js';

export interface DataPlaneOptions {
  config: Readonly<Config>;
  /** Spool writer id: unique per proxy process sharing a spool directory. */
  writerId: string;
  log: Logger;
  /** Dynamic blocks in force at start. */
  blocks?: readonly Block[];
  /** Event tags in force at start. */
  tags?: readonly EventTag[];
  /** Deployed versions per service at start. */
  versions?: Readonly<Record<string, string>>;
}

export interface ReloadOutcome {
  /** Settings that changed but only take effect after a restart. */
  restartRequired: string[];
}

export class DataPlane {
  config: Readonly<Config>;
  readonly spool: SpoolWriter | null;
  pools = new Map<string, BackendPool>();
  pipeline!: Pipeline;
  recorder!: Recorder;
  listeners: RunningListener[] = [];
  private readonly log: Logger;
  private closing = false;
  /** Dynamic blocks, pushed by the admin process; survives reloads. */
  readonly blocks = new BlockList();
  /** Labels from detection rules' tag actions, pushed by the admin process; survive reloads. */
  readonly eventTags = new EventTags();
  /** Deployed versions per service (deployment markers), pushed by the admin process; survive reloads. */
  readonly versions = new ServiceVersions();
  private identities = new Map<string, IdentityMethod>();
  private limiter: RateLimiter | null = null;
  private limiterKey = '';

  private constructor(opts: DataPlaneOptions, spool: SpoolWriter | null) {
    this.config = opts.config;
    this.log = opts.log;
    this.spool = spool;
  }

  static async start(opts: DataPlaneOptions): Promise<DataPlane> {
    const { config } = opts;
    let spool: SpoolWriter | null = null;
    if (config.audit.enabled) {
      spool = new SpoolWriter({ ...config.audit.spool, writerId: opts.writerId, memoryBuffer: config.audit.memory_buffer });
      await spool.open();
      spool.on('health', (h: SpoolHealth) => {
        if (h.ok) opts.log.warn({ spool: h }, 'audit spool recovered; queued events are being written');
        else opts.log.error({ spool: h }, `audit spool cannot be written (${h.error}); on_audit_failure=${dp.config.audit.on_audit_failure}`);
      });
      spool.on('dropped', () => opts.log.error({ dropped: spool!.stats.dropped }, 'audit events dropped: spool failing and memory buffer full'));
      setSpoolMetricsSource(spool);
    }
    const dp = new DataPlane(opts, spool);
    if (opts.blocks) dp.blocks.replace(opts.blocks);
    if (opts.tags) dp.eventTags.replace(opts.tags);
    if (opts.versions) dp.versions.replace(opts.versions);
    dp.build(config, new Map()).apply();
    for (const pool of dp.pools.values()) await pool.start();
    for (const l of config.listeners) dp.listeners.push(await startListener(l, config, dp.handlers));
    return dp;
  }

  // Through `this.pipeline` at call time, so a reload swaps it for new requests.
  private readonly handlers: ListenerHandlers = {
    request: (req, res, scheme) => this.pipeline.handle(req, res, scheme),
    upgrade: (req, socket, head, scheme) => this.pipeline.upgrade(req, socket, head, scheme),
    connect: (req, socket, scheme) => this.pipeline.connect(req, socket, scheme),
    clientError: (socket, scheme, refused) => this.pipeline.clientError(socket, scheme, refused),
    requestTimedOut: (socket) => this.pipeline.requestTimedOut(socket),
    inFlightResponse: (socket) => this.pipeline.inFlightResponse(socket),
  };

  private tags(config: Readonly<Config>): NodeTags {
    return { node: config.node.name ?? os.hostname(), environment: config.node.environment ?? null, region: config.node.region ?? null, labels: config.node.labels };
  }

  /**
   * Identity methods and the rate limiter for a config. Throws (before
   * anything is swapped) when a method cannot be built, e.g. an unreadable
   * keys file, so a reload fails and the running config stays.
   */
  private buildAccess(config: Readonly<Config>): { identities: Map<string, IdentityMethod>; limiter: RateLimiter | null; limiterKey: string } {
    const identities = buildIdentityMethods(config.access.identities, { baseDir: process.cwd(), log: this.log });
    const routeLimits = config.routes.filter((r) => r.access.rate_limits.length).map((r) => ({ routeId: r.id, limits: r.access.rate_limits }));
    const limiterKey = JSON.stringify([config.access.rate_limit, routeLimits]);
    // Unchanged limits keep their limiter, so a reload does not reset the counters.
    if (limiterKey === this.limiterKey && this.limiter) return { identities, limiter: this.limiter, limiterKey };
    const limiter = routeLimits.length ? new RateLimiter(routeLimits, config.access.rate_limit) : null;
    return { identities, limiter, limiterKey };
  }

  /**
   * Builds pools (reusing unchanged ones from `keep`, which is left holding
   * those no longer used), recorder and pipeline for a config. Nothing is in
   * force until `apply`, which returns the new pools (to start); a build that
   * throws, or is discarded, leaves the running config as it was.
   */
  private build(config: Readonly<Config>, keep: Map<string, BackendPool>, access = this.buildAccess(config)): { apply: () => BackendPool[]; discard: () => void } {
    const pools = new Map<string, BackendPool>();
    const fresh: BackendPool[] = [];
    const discard = (): void => {
      for (const p of fresh) void p.close();
    };
    try {
      for (const [name, cfg] of Object.entries(config.backends)) {
        const old = keep.get(name);
        if (old && JSON.stringify(old.config) === JSON.stringify(cfg)) {
          pools.set(name, old);
          keep.delete(name);
          continue;
        }
        const pool = new BackendPool(name, cfg, {
          onStateChange: (p, u, from, to, reason) => {
            metrics.backendState(p, u.address, to === 'healthy', to);
            const level = to === 'healthy' ? 'info' : 'warn';
            this.log[level]({ pool: p, server: u.address, from, to, reason }, `backend ${u.address} in pool ${p} is ${to}`);
          },
        });
        pools.set(name, pool);
        fresh.push(pool);
      }
      // Query parameters that carry API keys are secrets too.
      const queryParams = [...config.audit.redact.query_params];
      for (const m of config.access.identities) if (m.type === 'api_key' && m.query_param) queryParams.push(m.query_param);
      const recorder = new Recorder({
        spool: this.spool,
        redactor: createRedactor({ ...config.audit.redact, query_params: queryParams, record_headers: config.audit.record_headers }),
        onAuditFailure: config.audit.on_audit_failure,
        log: this.log,
        tags: this.eventTags,
        versions: this.versions,
      });
      const pipeline = new Pipeline({
        config,
        pools,
        recorder,
        tags: this.tags(config),
        access: { identities: access.identities, blocks: this.blocks, limiter: access.limiter },
      });
      const apply = (): BackendPool[] => {
        const oldIdentities = this.identities;
        const oldLimiter = this.limiter;
        for (const pool of fresh) for (const u of pool.upstreams) metrics.backendState(pool.name, u.address, true);
        this.recorder = recorder;
        this.pipeline = pipeline;
        this.pools = pools;
        this.config = config;
        this.identities = access.identities;
        this.limiter = access.limiter;
        this.limiterKey = access.limiterKey;
        // Requests already past authorization do not use these any more; give slow ones a moment.
        if (oldIdentities.size || (oldLimiter && oldLimiter !== access.limiter)) setTimeout(() => this.closeAccess(oldIdentities, oldLimiter), 30_000).unref();
        return fresh;
      };
      return { apply, discard };
    } catch (err) {
      discard();
      throw err;
    }
  }

  /** Closes identity methods and a rate limiter no longer (or never) in force; the limiter in force stays. */
  private closeAccess(identities: ReadonlyMap<string, IdentityMethod>, limiter: RateLimiter | null): void {
    for (const m of identities.values()) void m.close();
    if (limiter && limiter !== this.limiter) void limiter.close();
  }

  setBlocks(blocks: readonly Block[]): void {
    this.blocks.replace(blocks);
  }

  setTags(tags: readonly EventTag[]): void {
    this.eventTags.replace(tags);
  }

  setVersions(v: Readonly<Record<string, string>>): void {
    this.versions.replace(v);
  }

  rateLimitHealth(): RateLimiterHealth | null {
    return this.limiter ? this.limiter.health() : null;
  }

  async reload(config: Readonly<Config>): Promise<ReloadOutcome> {
    const restartRequired: string[] = [];
    const prev = this.config;
    for (const key of ['workers', 'admin', 'store'] as const) if (JSON.stringify(prev[key]) !== JSON.stringify(config[key])) restartRequired.push(key);
    if (JSON.stringify(prev.audit.spool) !== JSON.stringify(config.audit.spool)) restartRequired.push('audit.spool');
    if (prev.audit.enabled !== config.audit.enabled) restartRequired.push('audit.enabled');
    // What can fail comes first, before anything is swapped: a reload either applies whole or
    // leaves the running config (and its listeners) as they were.
    const access = this.buildAccess(config);
    const oldPools = new Map(this.pools);
    let built: ReturnType<DataPlane['build']> | null = null;
    let removed: RunningListener[];
    let keptInForce: () => void;
    try {
      built = this.build(config, oldPools, access);
      ({ removed, keptInForce } = await this.openListeners(config));
    } catch (err) {
      // Refused: what was built for the new config goes (new pools, identity methods' key files
      // and JWKS, a new limiter's Redis); the routes, pools and listeners in force stay.
      built?.discard();
      this.closeAccess(access.identities, access.limiter);
      throw err;
    }
    const fresh = built.apply();
    keptInForce();
    for (const p of fresh) await p.start();
    // Pools no longer used close once their in-flight requests finish.
    for (const p of oldPools.values()) void p.close();
    for (const l of removed) await l.close();
    return { restartRequired };
  }

  /**
   * Opens the listeners `config` adds and returns the ones it removes (still
   * open; the caller closes them once the new config is in force), and what
   * puts the kept ones' renewed certificates and settings in force. A removed
   * listener on the port of an added one (its TLS or name changed) is closed
   * first to free the port. When a listener cannot be opened (port taken,
   * certificate unreadable), those just opened are closed, those closed are
   * opened again, and the error is thrown: the listeners are as before.
   */
  private async openListeners(config: Readonly<Config>): Promise<{ removed: RunningListener[]; keptInForce: () => void }> {
    const key = (l: { address: string; tls?: unknown; name: string }) => JSON.stringify(l);
    const wanted = new Map(config.listeners.map((l) => [key(l), l]));
    const kept: RunningListener[] = [];
    let removed: RunningListener[] = [];
    for (const l of this.listeners) {
      if (wanted.delete(key(l.config))) kept.push(l);
      else removed.push(l);
    }
    // Certificate files of the kept listeners are read first: one that cannot be read refuses the reload before anything opens.
    const keptReady = kept.map((l) => l.prepare(config));
    const added: RunningListener[] = [];
    const closedEarly: RunningListener[] = [];
    try {
      for (const cfg of wanted.values()) {
        const port = parseAddress(cfg.address)?.port;
        for (const r of removed.filter((l) => l.address.port === port)) {
          await r.close();
          closedEarly.push(r);
        }
        removed = removed.filter((l) => !closedEarly.includes(l));
        added.push(await startListener(cfg, config, this.handlers));
      }
    } catch (err) {
      for (const l of added) await l.close();
      const reopened: RunningListener[] = [];
      for (const l of closedEarly) {
        try {
          reopened.push(await startListener(l.config, this.config, this.handlers));
        } catch (again) {
          this.log.error({ err: again, listener: l.config.name, address: l.config.address }, `listener ${l.config.name} could not be opened again after a failed reload`);
        }
      }
      this.listeners = [...kept, ...removed, ...reopened];
      throw err;
    }
    this.listeners = [...kept, ...added];
    return { removed, keptInForce: () => keptReady.forEach((apply) => apply()) };
  }

  backends(): PoolSnapshot[] {
    return [...this.pools.values()].map((p) => p.snapshot());
  }

  spoolHealth(): SpoolHealth | null {
    return this.spool ? this.spool.health() : null;
  }

  /** Stops accepting, lets in-flight requests finish (up to graceMs), flushes the spool. */
  async close(graceMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closes = this.listeners.map((l) => l.close());
    const timer = setTimeout(() => {
      for (const l of this.listeners) l.server.closeAllConnections();
    }, graceMs);
    timer.unref();
    await Promise.all(closes);
    clearTimeout(timer);
    this.log.debug({}, 'listeners closed');
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    this.log.debug({}, 'backend pools closed');
    await Promise.all([...this.identities.values()].map((m) => m.close()));
    await this.limiter?.close();
    if (this.spool) await this.spool.close();
    this.log.debug({}, 'spool closed');
  }
}
