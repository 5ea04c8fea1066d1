/**
 * Event timestamps ("YYYY-MM-DDTHH:MM:SS.mmmZ", what every event's `ts`
 * looks like), many times per second, in both directions.
 */

const MS_SUFFIX: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0') + 'Z');
let isoSecond = Number.NaN;
let isoPrefix = '';

/**
 * Milliseconds since the epoch (an integer within Date's range) to ISO 8601
 * UTC, like `new Date(ms).toISOString()` but without a Date per call: the
 * proxy stamps events and log lines come in time order, so the
 * "YYYY-MM-DDTHH:mm:ss." part is reused for every one of the same second.
 */
export function isoFromMs(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== isoSecond) {
    const iso = new Date(sec * 1000).toISOString();
    isoPrefix = iso.slice(0, -4);
    isoSecond = sec;
  }
  return isoPrefix + MS_SUFFIX[ms - sec * 1000];
}

/**
 * Reading event timestamps ("YYYY-MM-DDTHH:MM:SS.mmmZ", what every event's
 * `ts` looks like) to epoch milliseconds, many times per second. Consecutive
 * events mostly share their second: that part is parsed once (Date.parse,
 * which validates it) and only the milliseconds are read per event. Anything
 * else goes to Date.parse whole.
 */
export class IsoMillis {
  private lastText = '';
  private lastSecond = Number.NaN;

  /** Epoch ms of `t`, or NaN when Date.parse cannot read it. */
  parse(t: string): number {
    if (
      t.length === 24 &&
      t.charCodeAt(4) === 45 /* - */ &&
      t.charCodeAt(7) === 45 &&
      t.charCodeAt(10) === 84 /* T */ &&
      t.charCodeAt(13) === 58 /* : */ &&
      t.charCodeAt(16) === 58 &&
      t.charCodeAt(19) === 46 /* . */ &&
      t.charCodeAt(23) === 90 /* Z */
    ) {
      const a = t.charCodeAt(20) - 48;
      const b = t.charCodeAt(21) - 48;
      const c = t.charCodeAt(22) - 48;
      if (a >= 0 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9) {
        const last = this.lastText;
        let same = last.length === 24;
        for (let i = 18; same && i >= 0; i--) if (t.charCodeAt(i) !== last.charCodeAt(i)) same = false;
        if (!same) {
          this.lastSecond = Date.parse(t.slice(0, 19) + 'Z');
          this.lastText = t;
        }
        // An unreadable second stays NaN (NaN + ms is NaN).
        return this.lastSecond + a * 100 + b * 10 + c;
      }
    }
    return Date.parse(t);
  }
}
