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
/** The two hex digits of each byte value as character codes. */
const HEX_CODES = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  HEX_CODES[2 * i] = HEX[i].charCodeAt(0);
  HEX_CODES[2 * i + 1] = HEX[i].charCodeAt(1);
}
/** The id is written here and read out as one flat string. */
const ID_TEXT = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');

function putHex(at: number, byte: number): void {
  ID_TEXT[at] = HEX_CODES[2 * byte];
  ID_TEXT[at + 1] = HEX_CODES[2 * byte + 1];
}

let lastMs = -1;
let seq = 0;

/**
 * UUIDv7 with a 12-bit counter in rand_a (RFC 9562 §6.2 method 1), so ids made
 * in the same millisecond by one process still sort in creation order.
 *
 * The text is built in a buffer and decoded once: concatenating twenty
 * pieces makes a rope that every later reader (validation, CSV, JSON) has
 * to flatten first — twice the cost of the whole id.
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
  putHex(0, (hi >>> 24) & 0xff);
  putHex(2, (hi >>> 16) & 0xff);
  putHex(4, (hi >>> 8) & 0xff);
  putHex(6, hi & 0xff);
  putHex(9, (lo >>> 8) & 0xff);
  putHex(11, lo & 0xff);
  putHex(14, 0x70 | ((seq >>> 8) & 0x0f));
  putHex(16, seq & 0xff);
  putHex(19, 0x80 | (r[0] & 0x3f));
  putHex(21, r[1]);
  for (let k = 0; k < 6; k++) putHex(24 + 2 * k, r[2 + k]);
  return ID_TEXT.toString('latin1', 0, 36);
}

/** Milliseconds since the epoch encoded in a UUIDv7. */
export function uuidv7Time(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** A 128-bit random request id as 32 hex characters (same shape as a trace id). */
export function requestId(): string {
  // One flat string (a concatenation of 16 pieces is a rope every later reader flattens).
  return randomBytes(16).toString('hex');
}
