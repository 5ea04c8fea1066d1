/**
 * In-process rate-limit state: one TAT per key in a Map used as an LRU.
 *
 * A Map iterates in insertion order, so deleting a key and setting it again
 * moves it to the end: the first entry is always the least recently used.
 * That gives an LRU without a linked list or any per-entry object — each
 * entry is a string key and a number.
 *
 * The bound (`max_keys`) protects memory from key floods (every spoofed
 * client IP or random API key makes a key). Evicting a key that is still
 * limited forgets its debt, so evictions are counted: a steady count means
 * max_keys is too small for the traffic.
 */
import { gcraCheck, type GcraLimit, type GcraResult } from './gcra.js';

/** Expired entries at the LRU head dropped per insertion (bounded work per request). */
const SWEEP_PER_INSERT = 4;

export class LocalLimiterStore {
  private readonly tats = new Map<string, number>();
  /** Live entries dropped to make room (expired ones dropped are not counted). */
  evictions = 0;

  constructor(
    readonly maxKeys: number,
    private readonly onEvict?: () => void,
  ) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`maxKeys must be a positive integer, got ${maxKeys}`);
  }

  /** Keys held, expired ones included until they are swept. */
  get size(): number {
    return this.tats.size;
  }

  /**
   * Decides one request for `key` at `now` (ms) and records it. Synchronous.
   * Pass `out` to reuse a result object (see gcraCheck).
   */
  check(key: string, limit: GcraLimit, now: number, out?: GcraResult): GcraResult {
    const tats = this.tats;
    let tat: number | null = null;
    const stored = tats.get(key);
    if (stored !== undefined) {
      // Deleted either way: re-set below to become most recently used, or,
      // when expired, it is the same as no entry at all (a rested key).
      tats.delete(key);
      if (stored > now) tat = stored;
    }
    const r = gcraCheck(tat, now, limit.emissionMs, limit.burst, out);
    if (tats.size >= this.maxKeys) this.makeRoom(now);
    tats.set(key, r.newTat);
    return r;
  }

  /** Forgets every key. */
  clear(): void {
    this.tats.clear();
  }

  private makeRoom(now: number): void {
    const tats = this.tats;
    let dropped = 0;
    // Expired entries first: they hold no information, so dropping them costs
    // nothing and is not an eviction. Only the head is looked at — the least
    // recently used entries are the ones most likely to have expired.
    for (const [k, tat] of tats) {
      if (tat > now || dropped >= SWEEP_PER_INSERT) break;
      tats.delete(k);
      dropped++;
    }
    while (tats.size >= this.maxKeys) {
      const oldest = tats.keys().next();
      if (oldest.done) break;
      tats.delete(oldest.value);
      this.evictions++;
      this.onEvict?.();
    }
  }
}
