/**
 * Dynamic blocks: an IP address or CIDR, or a user id, refused with 403
 * (`decision` = block) until an expiry. They are managed through
 * /api/v1/blocks (and by detection rules), kept by the BlockRegistry in the
 * process that runs the admin API — persisted to a file so a restart does not
 * lift them — and pushed to every proxy worker as a BlockList snapshot.
 */
import { readJsonFile, writeFileAtomic } from '../../core/json-file.js';
import ipaddr from 'ipaddr.js';
import { uuidv7 } from '../../core/ids.js';
import { createCidrMatcher, normalizeIp, parseRange } from '../../core/ip.js';

export type { Block } from './block-types.js';
import type { Block } from './block-types.js';

export interface BlockInput {
  kind: 'ip' | 'user';
  value: string;
  reason?: string;
  /** Seconds until the block lifts; absent = until removed. */
  duration_seconds?: number;
  created_by: string;
}

/** Validates and canonicalizes a block target; returns an error message or the canonical value. */
export function canonicalBlockValue(kind: string, value: unknown): { ok: true; value: string } | { ok: false; error: string } {
  if (typeof value !== 'string' || !value.trim()) return { ok: false, error: '`value` must be a non-empty string' };
  const v = value.trim();
  if (kind === 'user') return { ok: true, value: v };
  if (kind !== 'ip') return { ok: false, error: '`kind` must be "ip" or "user"' };
  try {
    if (v.includes('/')) {
      const [addr, bits] = parseRange(v);
      // The network address itself, so 10.1.2.3/16 and 10.1.0.0/16 are one block.
      const network = ipaddr.parse(addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`).toString() : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${bits}`).toString());
      return { ok: true, value: `${network.toString()}/${bits}` };
    }
    return { ok: true, value: normalizeIp(ipaddr.parse(v).toString()) };
  } catch {
    return { ok: false, error: `"${v}" is not an IP address or CIDR` };
  }
}

/** The data plane's view: answers "is this IP / user blocked?" in O(1) for single addresses. */
export class BlockList {
  private ips = new Map<string, Block>();
  private users = new Map<string, Block>();
  private cidrs: { block: Block; match: (ip: string) => boolean }[] = [];
  private nearestExpiry = Infinity;

  constructor(blocks: readonly Block[] = []) {
    this.replace(blocks);
  }

  get size(): number {
    return this.ips.size + this.users.size + this.cidrs.length;
  }

  replace(blocks: readonly Block[]): void {
    this.ips = new Map();
    this.users = new Map();
    this.cidrs = [];
    this.nearestExpiry = Infinity;
    for (const b of blocks) {
      if (b.kind === 'user') this.users.set(b.value, b);
      else if (b.value.includes('/')) this.cidrs.push({ block: b, match: createCidrMatcher([b.value]) });
      else this.ips.set(b.value, b);
      if (b.expires_at) this.nearestExpiry = Math.min(this.nearestExpiry, Date.parse(b.expires_at));
    }
  }

  private live(b: Block | undefined, now: number): Block | null {
    if (!b) return null;
    if (b.expires_at && Date.parse(b.expires_at) <= now) return null;
    return b;
  }

  ip(ip: string, now = Date.now()): Block | null {
    if (this.size === 0) return null;
    const hit = this.live(this.ips.get(ip), now);
    if (hit) return hit;
    for (const c of this.cidrs) {
      // An expired block must not hide a live one further down.
      if (c.match(ip)) {
        const live = this.live(c.block, now);
        if (live) return live;
      }
    }
    return null;
  }

  user(userId: string, now = Date.now()): Block | null {
    if (this.users.size === 0) return null;
    return this.live(this.users.get(userId), now);
  }
}

/**
 * The authoritative set of blocks, in the admin process. Changes are written
 * to `file` (atomically and durably: core/json-file) before they are acknowledged,
 * then announced through `onChange` so workers get the new snapshot.
 */
/** A block made or lifted on this node (the admin API, a detection rule), for fleet sharing. */
export type LocalBlockChange = { type: 'add'; block: Block; replaced: string[] } | { type: 'remove'; id: string };

export class BlockRegistry {
  private blocks = new Map<string, Block>();
  private timer: NodeJS.Timeout | null = null;
  private listeners = new Set<(blocks: Block[]) => void>();
  private localListeners = new Set<(change: LocalBlockChange) => void>();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  /** Reads the persisted blocks; a missing file is an empty list, a corrupt one an error (never silently lift blocks). */
  load(): void {
    const data = readJsonFile(this.file) as { blocks?: Block[] } | undefined;
    if (data === undefined) return;
    const now = Date.now();
    for (const b of data.blocks ?? []) if (!b.expires_at || Date.parse(b.expires_at) > now) this.blocks.set(b.id, b);
    this.schedule();
  }

  list(now = Date.now()): Block[] {
    return [...this.blocks.values()].filter((b) => !b.expires_at || Date.parse(b.expires_at) > now);
  }

  get(id: string): Block | null {
    return this.blocks.get(id) ?? null;
  }

  onChange(fn: (blocks: Block[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Called for changes made on this node only (not for replaceShared). */
  onLocalChange(fn: (change: LocalBlockChange) => void): () => void {
    this.localListeners.add(fn);
    return () => this.localListeners.delete(fn);
  }

  /**
   * Takes the fleet's list (from the shared store) as this node's: what other
   * nodes added appears, what they lifted goes. Expired entries are skipped.
   */
  async replaceShared(blocks: readonly Block[]): Promise<void> {
    const now = Date.now();
    const next = new Map<string, Block>();
    for (const b of blocks) if (!b.expires_at || Date.parse(b.expires_at) > now) next.set(b.id, b);
    const same = next.size === this.blocks.size && [...next.keys()].every((id) => this.blocks.has(id));
    if (same) return;
    this.blocks = next;
    await this.commit();
  }

  async add(input: BlockInput): Promise<Block> {
    const now = Date.now();
    const canon = canonicalBlockValue(input.kind, input.value);
    if (!canon.ok) throw new Error(canon.error);
    // Blocking the same target again replaces the earlier block (new expiry and reason).
    const replaced: string[] = [];
    for (const b of this.blocks.values()) {
      if (b.kind === input.kind && b.value === canon.value) {
        this.blocks.delete(b.id);
        replaced.push(b.id);
      }
    }
    const block: Block = {
      id: uuidv7(),
      kind: input.kind,
      value: canon.value,
      reason: input.reason ?? '',
      created_at: new Date(now).toISOString(),
      expires_at: input.duration_seconds ? new Date(now + input.duration_seconds * 1000).toISOString() : null,
      created_by: input.created_by,
    };
    this.blocks.set(block.id, block);
    await this.commit();
    for (const fn of this.localListeners) fn({ type: 'add', block, replaced });
    return block;
  }

  async remove(id: string): Promise<boolean> {
    if (!this.blocks.delete(id)) return false;
    await this.commit();
    for (const fn of this.localListeners) fn({ type: 'remove', id });
    return true;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async commit(): Promise<void> {
    const snapshot = this.list();
    const write = this.writing.then(() => writeFileAtomic(this.file, JSON.stringify({ blocks: snapshot }, null, 2) + '\n'));
    this.writing = write.catch(() => {});
    await write;
    this.schedule();
    for (const fn of this.listeners) fn(snapshot);
  }

  /** Drops expired blocks from the file and the workers' lists when the next one expires. */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let next = Infinity;
    for (const b of this.blocks.values()) if (b.expires_at) next = Math.min(next, Date.parse(b.expires_at));
    if (next === Infinity) return;
    const delay = Math.max(0, Math.min(next - Date.now() + 10, 2 ** 31 - 1));
    this.timer = setTimeout(() => {
      const now = Date.now();
      let changed = false;
      for (const [id, b] of this.blocks) {
        if (b.expires_at && Date.parse(b.expires_at) <= now) {
          this.blocks.delete(id);
          changed = true;
        }
      }
      if (changed) void this.commit().catch(() => this.schedule());
      else this.schedule();
    }, delay);
    this.timer.unref();
  }
}
