/**
 * Distinct values seen in a sliding window, with a cap on how many are kept.
 *
 * Each value is kept with the time it was last seen; a value counts while
 * that time is inside (now - windowMs, now]. Unlike CountWindow this is exact
 * to the millisecond: no buckets.
 *
 * Time is event time and is passed in explicitly. The window's clock is the
 * newest time it has been given (by `add` or `count`) and never moves
 * backwards: `count` with an earlier `nowMs` answers as of that newest time.
 * An event older than the window (ts ≤ newest - windowMs) is refused
 * (`add` returns false). A late event inside the window is accepted; it
 * never moves a value's last-seen time backwards.
 *
 * Layout. A Map from value to a slot, and per slot the last-seen time and
 * prev/next links in typed arrays, forming a list sorted by last-seen time
 * (oldest first). Expiry pops from the head; at the cap the head (the least
 * recently seen value) is evicted. Slot arrays grow by doubling up to
 * `maxValues`, so a quiet group stays small.
 *
 * Cost: `add` of an in-order event (not older than the newest time already
 * seen) and `count` are O(1) amortized; they allocate nothing except when the
 * Map or the slot arrays grow. A late event is placed by walking back from the
 * newest end of the list: O(k), k = the number of values seen after it.
 * (A Map kept in insertion order with delete+set would be cheaper to write but
 * can only append, so a late event would be misplaced and expire late.)
 */
import { packedDoubles, packedInts } from './arrays.js';

export class DistinctWindow {
  readonly windowMs: number;
  readonly maxValues: number;
  private readonly index = new Map<string, number>();
  private vals: string[] = [];
  // Plain arrays (doubles and small integers), not typed arrays: see CountWindow.counts.
  private seen: number[];
  private prev: number[];
  private next: number[];
  /** Oldest and newest slot of the list; -1 when empty. */
  private head = -1;
  private tail = -1;
  /** Free slots, linked through `next`. */
  private free = -1;
  /** Slots ever handed out (below the array length). */
  private used = 0;
  private size = 0;
  private clock = Number.NEGATIVE_INFINITY;
  private evicted = 0;

  constructor(windowMs: number, maxValues: number) {
    if (!(windowMs > 0) || windowMs === Number.POSITIVE_INFINITY) throw new RangeError(`windowMs must be a positive number of ms, got ${windowMs}`);
    if (!Number.isSafeInteger(maxValues) || maxValues < 1) throw new RangeError(`maxValues must be a positive integer, got ${maxValues}`);
    this.windowMs = windowMs;
    this.maxValues = maxValues;
    const cap = Math.min(maxValues, 16);
    this.seen = packedDoubles(cap);
    this.prev = packedInts(cap);
    this.next = packedInts(cap);
  }

  /**
   * How many values have been evicted because of the cap, since construction.
   * Non-zero means `count` is a lower bound (it is then `maxValues` while the
   * window is full).
   */
  get capped(): number {
    return this.evicted;
  }

  /**
   * Records `value` at event time `tsMs`. Returns false (and records nothing)
   * when `tsMs` is older than the window or not finite. At the cap a new value
   * evicts the least recently seen one — or is itself dropped if it was seen
   * before all kept values (a late event); either way `capped` goes up and
   * add returns true.
   */
  add(tsMs: number, value: string): boolean {
    if (tsMs > this.clock) {
      if (tsMs === Number.POSITIVE_INFINITY) return false;
      this.clock = tsMs;
      this.expire();
    } else if (!(tsMs > this.clock - this.windowMs)) {
      return false; // too old, or NaN
    }
    const seen = this.seen;
    const s = this.index.get(value);
    if (s !== undefined) {
      if (tsMs <= seen[s]) return true; // late duplicate: never move a value backwards
      seen[s] = tsMs;
      if (s !== this.tail) {
        this.unlink(s);
        this.insertSorted(s, tsMs);
      }
      return true;
    }
    if (this.size >= this.maxValues) {
      this.evicted++;
      if (tsMs < seen[this.head]) return true; // the new value is the least recently seen
      this.remove(this.head);
    }
    const slot = this.alloc();
    this.vals[slot] = value;
    this.seen[slot] = tsMs;
    this.insertSorted(slot, tsMs);
    this.index.set(value, slot);
    this.size++;
    return true;
  }

  /**
   * Empties the window and forgets its clock and cap count: as new (a
   * recycled group). Keeps its grown arrays, capped at 64 slots so a recycled
   * window does not hold on to a large one.
   */
  reset(): void {
    this.index.clear();
    this.vals.length = 0;
    if (this.seen.length > 64) {
      this.seen = packedDoubles(64);
      this.prev = packedInts(64);
      this.next = packedInts(64);
    }
    this.head = this.tail = this.free = -1;
    this.used = 0;
    this.size = 0;
    this.clock = Number.NEGATIVE_INFINITY;
    this.evicted = 0;
  }

  /** Distinct values last seen in (now - windowMs, now]. */
  count(nowMs: number): number {
    if (nowMs > this.clock && nowMs !== Number.POSITIVE_INFINITY) {
      this.clock = nowMs;
      this.expire();
    }
    return this.size;
  }

  /**
   * Up to `n` of the most recently seen values still kept, newest last, as of
   * the window's clock (the newest time given to add or count).
   */
  sample(n: number): string[] {
    const out: string[] = [];
    for (let p = this.tail; p !== -1 && out.length < n; p = this.prev[p]) out.push(this.vals[p]);
    return out.reverse();
  }

  private expire(): void {
    const cutoff = this.clock - this.windowMs;
    const seen = this.seen;
    while (this.head !== -1 && seen[this.head] <= cutoff) this.remove(this.head);
  }

  private remove(s: number): void {
    this.index.delete(this.vals[s]);
    this.vals[s] = '';
    this.unlink(s);
    this.next[s] = this.free;
    this.free = s;
    this.size--;
  }

  private unlink(s: number): void {
    const p = this.prev[s];
    const n = this.next[s];
    if (p !== -1) this.next[p] = n;
    else this.head = n;
    if (n !== -1) this.prev[n] = p;
    else this.tail = p;
  }

  /** Links slot `s` after the newest slot seen at or before `t` (equal times keep arrival order). */
  private insertSorted(s: number, t: number): void {
    const seen = this.seen;
    let p = this.tail;
    while (p !== -1 && seen[p] > t) p = this.prev[p];
    const n = p === -1 ? this.head : this.next[p];
    this.prev[s] = p;
    this.next[s] = n;
    if (p !== -1) this.next[p] = s;
    else this.head = s;
    if (n !== -1) this.prev[n] = s;
    else this.tail = s;
  }

  private alloc(): number {
    if (this.free !== -1) {
      const s = this.free;
      this.free = this.next[s];
      return s;
    }
    if (this.used === this.seen.length) this.grow();
    return this.used++;
  }

  private grow(): void {
    const cap = Math.min(this.maxValues, this.seen.length * 2);
    for (let i = this.seen.length; i < cap; i++) {
      this.seen.push(0);
      this.prev.push(0);
      this.next.push(0);
    }
  }
}

