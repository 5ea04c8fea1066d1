/**
 * Identifier generation: UUIDv7 for events (RFC 9562, time-ordered, so ids sort
 * by time and index well) and short random request ids.
 */
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

function randomBytes(n: number): Buffer {
  if (poolOffset + n > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

let lastMs = -1;
let seq = 0;

/**
 * UUIDv7 with a 12-bit counter in rand_a (RFC 9562 §6.2 method 1), so ids made
 * in the same millisecond by one process still sort in creation order.
 */
export function uuidv7(now: number = Date.now()): string {
  if (now <= lastMs) {
    seq++;
    if (seq > 0xfff) {
      // Counter exhausted: borrow the next millisecond rather than lose order.
      lastMs++;
      seq = 0;
    }
    now = lastMs;
  } else {
    lastMs = now;
    seq = randomBytes(1)[0] & 0x7f; // random start leaves room to count up
  }
  const r = randomBytes(8);
  const hi = Math.floor(now / 0x10000);
  const lo = now & 0xffff;
  return (
    HEX[(hi >>> 24) & 0xff] + HEX[(hi >>> 16) & 0xff] + HEX[(hi >>> 8) & 0xff] + HEX[hi & 0xff] + '-' +
    HEX[(lo >>> 8) & 0xff] + HEX[lo & 0xff] + '-' +
    HEX[0x70 | ((seq >>> 8) & 0x0f)] + HEX[seq & 0xff] + '-' +
    HEX[0x80 | (r[0] & 0x3f)] + HEX[r[1]] + '-' +
    HEX[r[2]] + HEX[r[3]] + HEX[r[4]] + HEX[r[5]] + HEX[r[6]] + HEX[r[7]]
  );
}

/** Milliseconds since the epoch encoded in a UUIDv7. */
export function uuidv7Time(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** A 128-bit random request id as 32 hex characters (same shape as a trace id). */
export function requestId(): string {
  const r = randomBytes(16);
  let s = '';
  for (let i = 0; i < 16; i++) s += HEX[r[i]];
  return s;
}
