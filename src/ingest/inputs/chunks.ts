/**
 * Large files in chunks of whole lines, for parsing inside the store
 * (store/duckdb/bulk-log.ts): plain files read straight into a chunk, gzip
 * files decompressed into one. What the chunks leave over (a last line
 * without its newline, a line longer than a chunk) is read by the line path;
 * `ChunkRest` says how.
 *
 * Positions follow files.ts: a plain file's chunk ends at the byte offset
 * just after its last line. A gzip file's chunks carry the compressed bytes
 * consumed so far, held strictly below the file's size until the last chunk,
 * which alone records the size; a gzip file is read whole or not at all.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { withGzipOrigin } from './files.js';

const LF = 0x0a;

export interface LineChunk {
  /** Whole lines, each ending in LF. Valid until the next chunk is asked for (the buffer is reused). */
  data: Buffer;
  /** How many lines `data` holds. */
  lines: number;
  /** The file position to record once the chunk is stored. */
  end: number;
}

/** What is left once the chunks are done. */
export type ChunkRest =
  /** Plain file: read it from this offset (the end of the last chunk). */
  | { kind: 'offset'; offset: number }
  /** Gzip file: the text after the last newline (empty when the file ends with one); it ends at the file's size. */
  | { kind: 'tail'; data: Buffer }
  /** Gzip file with a line longer than a chunk: read it again from its start, skipping the lines the chunks held. */
  | { kind: 'reread' };

function countLines(data: Buffer): number {
  let n = 0;
  for (let at = data.indexOf(LF); at !== -1; at = data.indexOf(LF, at + 1)) n++;
  return n;
}

/**
 * Chunks of a plain file from `from`. Stops at the first read that holds no
 * newline: the end of the file, a last line without its newline, or a line
 * longer than a chunk.
 */
export async function* plainLineChunks(path: string, from: number, chunkBytes: number): AsyncGenerator<LineChunk, ChunkRest> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(chunkBytes);
    let pos = from;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      const cut = bytesRead === 0 ? 0 : buf.lastIndexOf(LF, bytesRead - 1) + 1;
      if (cut === 0) return { kind: 'offset', offset: pos };
      const data = buf.subarray(0, cut);
      pos += cut;
      yield { data, lines: countLines(data), end: pos };
    }
  } finally {
    await fh.close();
  }
}

/**
 * Chunks of a gzip file's text (concatenated members too). Each chunk is
 * held back until the next one is full, so that only the last one can claim
 * the file's size. Two buffers take turns: the caller has finished with a
 * chunk when it asks for the next, and only then is its buffer refilled.
 */
export async function* gzipLineChunks(path: string, size: number, chunkBytes: number): AsyncGenerator<LineChunk, ChunkRest> {
  const source = createReadStream(path, { highWaterMark: 1 << 20 });
  let consumed = 0;
  source.on('data', (c) => {
    consumed += c.length;
  });
  // Errors of either stream surface in the for-await below (pipeline destroys the last stream with them).
  const gunzip = pipeline(source, createGunzip({ chunkSize: 1 << 20 }), () => {});
  const bufs = [Buffer.allocUnsafe(chunkBytes), Buffer.allocUnsafe(chunkBytes)];
  let buf = bufs[0];
  let fill = 0;
  let held: Buffer | null = null;
  const below = (): number => Math.max(0, Math.min(consumed, size - 1));
  let damage: unknown;
  try {
    for await (const piece of gunzip as AsyncIterable<Buffer>) {
      for (let at = 0; at < piece.length; ) {
        const n = Math.min(piece.length - at, buf.length - fill);
        piece.copy(buf, fill, at, at + n);
        fill += n;
        at += n;
        if (fill < buf.length) continue;
        const cut = buf.lastIndexOf(LF) + 1;
        if (held) yield { data: held, lines: countLines(held), end: below() };
        if (cut === 0) return { kind: 'reread' };
        held = buf.subarray(0, cut);
        const next = buf === bufs[0] ? bufs[1] : bufs[0];
        fill = buf.copy(next, 0, cut, fill);
        buf = next;
      }
    }
  } catch (err) {
    damage = err;
  } finally {
    source.destroy();
  }
  // Damaged: the whole lines decompressed before the damage are good, delivered below the file's end, then the error.
  const whole = damage === undefined;
  const cut = fill === 0 ? 0 : buf.lastIndexOf(LF, fill - 1) + 1;
  if (held) yield { data: held, lines: countLines(held), end: whole && cut === 0 && fill === 0 ? size : below() };
  if (cut > 0) {
    const data = buf.subarray(0, cut);
    yield { data, lines: countLines(data), end: whole && cut === fill ? size : below() };
  }
  if (!whole) throw withGzipOrigin(damage, path);
  return { kind: 'tail', data: buf.subarray(cut, fill) };
}

/**
 * The uncompressed size a gzip file declares (ISIZE, its last four bytes:
 * the last member's size modulo 2^32). Only a hint for choosing a path: both
 * paths read the file alike.
 */
export async function gzipDeclaredSize(path: string, size: number): Promise<number> {
  if (size < 18) return 0;
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, size - 4);
    return b.readUInt32LE(0);
  } finally {
    await fh.close();
  }
}

/** The first `bytes` of a gzip file's text (fewer when it is shorter); a corrupt file yields what precedes the damage. */
export async function gzipTextSample(path: string, bytes: number): Promise<Buffer> {
  const source = createReadStream(path, { highWaterMark: 64 << 10 });
  const gunzip = pipeline(source, createGunzip(), () => {});
  const parts: Buffer[] = [];
  let got = 0;
  try {
    for await (const piece of gunzip as AsyncIterable<Buffer>) {
      parts.push(piece);
      got += piece.length;
      if (got >= bytes) break;
    }
  } catch {
    // The chunks report the damage when they reach it; the sample is what came before.
  } finally {
    source.destroy();
  }
  return Buffer.concat(parts).subarray(0, bytes);
}
