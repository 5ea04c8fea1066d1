/**
 * Blocks shared by a fleet through Redis: every node writes the blocks made
 * on it (admin API, detection rules) to one Redis hash and announces the
 * change on a channel; every node takes the hash as its list on each
 * announcement (and every 10 s, in case one was missed while disconnected).
 * A block made on any node is enforced on all of them within a moment.
 *
 * While Redis is unreachable, local changes apply locally at once and are
 * queued; they are written when Redis is back. The local blocks file stays
 * the node's own copy, so a restart without Redis keeps what was in force.
 */
import { Redis } from 'ioredis';
import type { Block, BlockRegistry, LocalBlockChange } from './blocks.js';

export interface SharedBlocksOptions {
  url: string;
  /** Hash `<prefix>` holds the blocks by id; channel `<prefix>:changes` announces changes. */
  prefix: string;
  /** Safety-net re-read interval. */
  pullEveryMs?: number;
}

export interface SharedBlocksHealth {
  state: 'up' | 'down';
  since: string;
  last_error: string | null;
  /** Local changes not yet written to Redis. */
  pending: number;
}

type Pending = { op: 'add'; block: Block; replaced: string[] } | { op: 'remove' };

export class SharedBlocks {
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly hash: string;
  private readonly channel: string;
  private readonly pending = new Map<string, Pending>();
  private state: 'up' | 'down' = 'down';
  private since = new Date().toISOString();
  private lastError: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly registry: BlockRegistry,
    private readonly opts: SharedBlocksOptions,
    private readonly log: { warn(o: object, m: string): void; info(o: object, m: string): void },
  ) {
    this.hash = opts.prefix;
    this.channel = `${opts.prefix}:changes`;
    const common = { maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: (n: number) => Math.min(n * 200, 2000) };
    this.cmd = new Redis(opts.url, { ...common, enableOfflineQueue: false, lazyConnect: true });
    this.sub = new Redis(opts.url, { ...common, lazyConnect: true });
    const onError = (err: Error) => {
      if (this.lastError !== err.message) this.log.warn({ err: err.message }, 'shared blocks: Redis unreachable; blocks apply locally until it is back');
      this.lastError = err.message;
    };
    this.cmd.on('error', onError);
    this.sub.on('error', onError);
    this.cmd.on('ready', () => {
      this.setState('up');
      this.sync();
    });
    this.cmd.on('close', () => this.setState('down'));
    this.sub.on('message', () => this.sync());
  }

  async start(): Promise<void> {
    // What this node already holds (its file) joins the fleet's list.
    for (const b of this.registry.list()) this.pending.set(b.id, { op: 'add', block: b, replaced: [] });
    this.unsubscribe = this.registry.onLocalChange((c: LocalBlockChange) => {
      if (c.type === 'add') this.pending.set(c.block.id, { op: 'add', block: c.block, replaced: c.replaced });
      else this.pending.set(c.id, { op: 'remove' });
      this.sync();
    });
    await Promise.all([this.cmd.connect().catch(() => {}), this.sub.connect().catch(() => {})]);
    await this.sub.subscribe(this.channel).catch((err: Error) => (this.lastError = err.message));
    this.timer = setInterval(() => this.sync(), this.opts.pullEveryMs ?? 10_000);
    this.timer.unref();
    await this.syncing;
  }

  health(): SharedBlocksHealth {
    return { state: this.state, since: this.since, last_error: this.lastError, pending: this.pending.size };
  }

  /** Writes pending local changes, then takes the fleet's list; one run at a time. */
  private sync(): void {
    this.syncing = this.syncing.then(() => this.syncOnce()).catch((err: Error) => {
      this.lastError = err.message;
    });
  }

  private async syncOnce(): Promise<void> {
    if (this.cmd.status !== 'ready') return;
    let announced = false;
    for (const [id, p] of [...this.pending]) {
      const m = this.cmd.multi();
      if (p.op === 'add') {
        m.hset(this.hash, id, JSON.stringify(p.block));
        if (p.replaced.length) m.hdel(this.hash, ...p.replaced);
      } else m.hdel(this.hash, id);
      await m.exec();
      // Only now: a change made while this one was being written stays pending.
      if (this.pending.get(id) === p) this.pending.delete(id);
      announced = true;
    }
    if (announced) await this.cmd.publish(this.channel, String(Date.now()));
    const all = await this.cmd.hgetall(this.hash);
    const now = Date.now();
    const list: Block[] = [];
    const expired: string[] = [];
    for (const [id, text] of Object.entries(all)) {
      try {
        const b = JSON.parse(text) as Block;
        if (b.expires_at && Date.parse(b.expires_at) <= now) expired.push(id);
        else list.push(b);
      } catch {
        expired.push(id); // unreadable: drop it rather than fail every sync
      }
    }
    if (expired.length) await this.cmd.hdel(this.hash, ...expired);
    // Changes made meanwhile and not yet written still count.
    for (const p of this.pending.values()) if (p.op === 'add') list.push(p.block);
    const removed = new Set([...this.pending].filter(([, p]) => p.op === 'remove').map(([id]) => id));
    await this.registry.replaceShared(list.filter((b) => !removed.has(b.id)));
  }

  private setState(s: 'up' | 'down'): void {
    if (this.state === s) return;
    this.state = s;
    this.since = new Date().toISOString();
    if (s === 'up') {
      this.lastError = null;
      this.log.info({}, 'shared blocks: connected to Redis');
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    await this.syncing;
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}
