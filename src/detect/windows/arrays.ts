/**
 * Arrays of numbers for the windows, which exist per group per rule (hundreds
 * of thousands at once). Plain packed arrays, not typed arrays: a typed array
 * over 64 bytes keeps its data outside the heap behind an ArrayBuffer that
 * the garbage collector tracks one by one, and that cost more than the
 * windows' own work (rule engine: 195k -> 235k events/s). A packed array of
 * doubles is stored unboxed and is as fast to index.
 */

/** n zeros stored as unboxed doubles (filled with a fraction first, so the array's kind is double, not small integer). */
export function packedDoubles(n: number): number[] {
  const a: number[] = [];
  for (let i = 0; i < n; i++) a.push(0.5);
  a.fill(0);
  return a;
}

/** n zeros as small integers. */
export function packedInts(n: number): number[] {
  const a: number[] = [];
  for (let i = 0; i < n; i++) a.push(0);
  return a;
}
