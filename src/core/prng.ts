/**
 * A small deterministic pseudo-random generator (mulberry32) for property
 * tests and benchmarks, so every run replays the same stream from the same
 * seed. Not for anything that needs unpredictability.
 */

/** Returns a generator of numbers in [0, 1), seeded with `seed` (taken as a 32-bit unsigned integer). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
