/**
 * Fast non-cryptographic 32-bit string hashing for the consistent-hash ring.
 *
 * FNV-1a is cheap and allocation-free over a JS string, but its high bits mix
 * poorly for short keys that differ only in their last characters (IPs,
 * "addr#17" virtual nodes). The murmur3 finalizer fixes that, so points and
 * keys spread evenly around the ring. Every worker process computes the same
 * values, so one client keeps landing on the same backend whichever worker
 * accepted its connection.
 */

/** FNV-1a over the string's UTF-16 code units (ASCII as one byte, others as two). */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, 0x01000193);
    } else {
      h = Math.imul(h ^ (c & 0xff), 0x01000193);
      h = Math.imul(h ^ (c >>> 8), 0x01000193);
    }
  }
  return h >>> 0;
}

/** murmur3's fmix32: full avalanche of a 32-bit value. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The hash used for ring points and request keys: unsigned 32-bit. */
export function hash32(s: string): number {
  return fmix32(fnv1a32(s));
}
