/**
 * Finite inputs: files (plain or gzip), directories, glob patterns and stdin.
 *
 * Offsets. `LineBatch.endOffset` is a byte position in the file as stored on
 * disk. For a plain file it is exact: the position just after the batch's
 * last line, so a registry can resume there. For a gzip file it is the
 * position in the *compressed* file, because that is what the file's size
 * (for progress) and the registry speak about; but a gzip stream cannot be
 * resumed in the middle, so a `.gz` file is read whole or not at all:
 *
 * - every batch except the last reports a position strictly below the file
 *   size (how much compressed input the decompressor has taken so far);
 * - the last batch reports exactly the file size;
 * - `fromOffset >= size` yields nothing (the file is done), and any other
 *   `fromOffset` reads the file again from its first line.
 *
 * So a registry that records `endOffset` after each stored batch marks a
 * `.gz` file done only when its last line is stored. If ingest stops in the
 * middle of a `.gz` file, the next run reads it again from the start (its
 * earlier lines are then ingested twice: at-least-once, documented).
 *
 * These are finite inputs: a last line without a newline is yielded at the
 * end and its bytes are included in `endOffset`. If a writer later completes
 * that line, the completion is read as a line of its own; files still being
 * written are meant for follow.ts, which holds an incomplete line back.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { LineBatch } from '../types.js';
import { glob, hasGlobMagic, walkDirectory } from './glob.js';
import { isGzipMagic, LineSplitter, READ_CHUNK_BYTES, type SplitterOptions } from './lines.js';

/** Thrown by `expandPaths` when some arguments matched no file; lists all of them. */
export class NoMatchError extends Error {
  readonly patterns: string[];
  constructor(patterns: string[]) {
    super(`no files matched: ${patterns.map((p) => JSON.stringify(p)).join(', ')}`);
    this.name = 'NoMatchError';
    this.patterns = patterns;
  }
}

/**
 * Expands command-line arguments into the files to read, in order, without
 * duplicates: a file is itself; a directory is every regular file inside it,
 * recursively, sorted, hidden files and directories skipped; a pattern with
 * `*`, `?`, `[...]` or `**` is globbed (see glob.ts) and matching directories
 * are expanded as above. `-` (stdin) is passed through. Throws `NoMatchError`
 * naming every argument that produced no file.
 */
export async function expandPaths(args: readonly string[]): Promise<string[]> {
  const { files, missing } = await expandPathsReport(args);
  if (missing.length) throw new NoMatchError(missing);
  return files;
}

/** As expandPaths, but the arguments that matched no file are returned instead of thrown. */
export async function expandPathsReport(args: readonly string[]): Promise<{ files: string[]; missing: string[] }> {
  const out: string[] = [];
  const seen = new Set<string>();
  const missing: string[] = [];
  const add = (p: string): void => {
    if (seen.has(p)) return;
    seen.add(p);
    out.push(p);
  };
  for (const arg of args) {
    if (arg === '-') {
      add(arg);
      continue;
    }
    let matched: string[];
    const literal = await statOrNull(arg);
    if (literal || !hasGlobMagic(arg)) matched = literal ? [arg] : [];
    else matched = await glob(arg);
    let n = 0;
    for (const m of matched) {
      const st = m === arg && literal ? literal : await statOrNull(m);
      if (!st) continue;
      if (st.isDirectory()) {
        for (const f of await walkDirectory(m)) {
          add(f);
          n++;
        }
      } else if (st.isFile() || st.isFIFO() || st.isCharacterDevice()) {
        // FIFOs and devices only when named explicitly (e.g. <(zcat x.gz), /dev/stdin).
        if (st.isFile() || m === arg) {
          add(m);
          n++;
        }
      }
    }
    if (n === 0) missing.push(arg);
  }
  return { files: out, missing };
}

async function statOrNull(p: string): Promise<Awaited<ReturnType<typeof stat>> | null> {
  try {
    return await stat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/** The size of a file on disk (compressed size for gzip), for progress. */
export async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

export interface ReadFileOptions {
  /** Byte offset to start from (from the registry). See the header comment for gzip files. */
  fromOffset?: number;
  /** Line number of the line at `fromOffset`. Default: counted (newlines before fromOffset), so error reports name the real line. */
  firstLine?: number;
  batchLines?: number;
  batchBytes?: number;
  maxLineBytes?: number;
}

/** Counts LF bytes in [0, end) of an open file. */
export async function countNewlines(fh: FileHandle, end: number): Promise<number> {
  const buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  let n = 0;
  let pos = 0;
  while (pos < end) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
    if (bytesRead === 0) break;
    const got = buf.subarray(0, bytesRead);
    let i = -1;
    while ((i = got.indexOf(0x0a, i + 1)) !== -1) n++;
    pos += bytesRead;
  }
  return n;
}

/**
 * Reads a file as batches of lines (origin: the path as given). A file that
 * starts with the gzip magic bytes is decompressed, whatever its name.
 * Plain files are read up to their end at the time the read reaches it (a
 * growing file is read until a read returns nothing); the last line is
 * yielded even without a newline.
 */
export async function* readFileLines(path: string, opts: ReadFileOptions = {}): AsyncGenerator<LineBatch> {
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    const head = Buffer.alloc(2);
    const regular = st.isFile();
    if (regular) {
      await fh.read(head, 0, 2, 0);
      if (isGzipMagic(head)) {
        yield* readGzipFile(fh, path, st.size, opts);
        return;
      }
      yield* readPlainFile(fh, path, st.size, opts);
      return;
    }
    // A FIFO or device: read sequentially, gzip detected on the stream.
    yield* readStreamLines(fh.createReadStream({ autoClose: false, highWaterMark: READ_CHUNK_BYTES }), path, opts);
  } finally {
    await fh.close();
  }
}

async function* readPlainFile(fh: FileHandle, path: string, size: number, opts: ReadFileOptions): AsyncGenerator<LineBatch> {
  let pos = opts.fromOffset ?? 0;
  // A file now shorter than the offset was truncated: what it holds is new.
  if (pos > size || pos < 0) pos = 0;
  const firstLine = opts.firstLine !== undefined && pos > 0 ? opts.firstLine : pos > 0 ? 1 + (await countNewlines(fh, pos)) : 1;
  const splitter = new LineSplitter(path, { ...splitterOpts(opts), firstLine, startOffset: pos });
  const buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  const out: LineBatch[] = [];
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    splitter.push(buf.subarray(0, bytesRead), out);
    // The splitter has copied what it keeps, so `buf` can be reused once the batches are handed over.
    for (let i = 0; i < out.length; i++) yield out[i];
    out.length = 0;
  }
  splitter.finish(out);
  for (const b of out) yield b;
}

function splitterOpts(opts: ReadFileOptions): SplitterOptions {
  return { batchLines: opts.batchLines, batchBytes: opts.batchBytes, maxLineBytes: opts.maxLineBytes };
}

async function* readGzipFile(fh: FileHandle, path: string, size: number, opts: ReadFileOptions): AsyncGenerator<LineBatch> {
  if ((opts.fromOffset ?? 0) >= size) return;
  const rs = fh.createReadStream({ start: 0, autoClose: false, highWaterMark: READ_CHUNK_BYTES });
  yield* gunzipLines(rs, path, opts, size);
}

/**
 * An input that cannot be read (on): damaged gzip data, a file that went
 * away or may not be read. The lines before the damage are delivered; the run
 * reports the input and goes on with the next.
 */
export class InputError extends Error {
  constructor(
    readonly origin: string,
    /** What went wrong, without the origin. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${origin}: ${detail}`, options);
    this.name = 'InputError';
  }
}

/** zlib errors (Z_DATA_ERROR, Z_BUF_ERROR for a truncated file) become an InputError with the origin; others pass as they are. */
export function withGzipOrigin(err: unknown, origin: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && code.startsWith('Z_')) return new InputError(origin, `cannot decompress gzip data: ${(err as Error).message}`, { cause: err });
  return err;
}

/**
 * Decompresses `source` and splits it. Batches carry the compressed bytes
 * consumed so far, held one batch back so that only the very last batch can
 * report the total (`total`, or the count of bytes consumed when unknown).
 */
async function* gunzipLines(source: Readable, origin: string, opts: ReadFileOptions, total?: number): AsyncGenerator<LineBatch> {
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  // Errors of either stream surface in the for-await below (pipeline destroys the last stream with them).
  const stream = pipeline(source, gunzip, () => {});
  let consumed = 0;
  source.on('data', (c: Buffer) => {
    consumed += c.length;
  });
  const splitter = new LineSplitter(origin, splitterOpts(opts));
  const out: LineBatch[] = [];
  let held: LineBatch | null = null;
  const below = (): number => Math.max(0, Math.min(consumed, (total ?? Infinity) - 1));
  let damage: unknown;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      splitter.push(chunk, out);
      for (const b of out) {
        if (held) yield held;
        b.endOffset = below();
        held = b;
      }
      out.length = 0;
    }
  } catch (err) {
    damage = err;
  }
  // Damaged: the complete lines decompressed before the damage are good, delivered still below the file's end, then the error.
  const whole = damage === undefined;
  if (whole) splitter.finish(out);
  else splitter.flush(out);
  for (const b of out) {
    if (held) yield held;
    b.endOffset = below();
    held = b;
  }
  if (held) {
    if (whole) held.endOffset = total ?? consumed;
    yield held;
  }
  if (!whole) throw withGzipOrigin(damage, origin);
}

/**
 * Reads lines from any Readable (stdin by default; origin `-`). Gzip input is
 * recognised by its magic bytes and decompressed; `endOffset` then counts
 * compressed bytes. Batches are flushed whenever the stream has nothing more
 * buffered, so a slow producer (`tail -f x | tollgate ingest -`) sees its
 * lines promptly, while a fast one still gets full batches.
 */
export function readStdinLines(input: Readable = process.stdin, opts: ReadStreamOptions = {}): AsyncGenerator<LineBatch> {
  return readStreamLines(input, '-', opts);
}

export interface ReadStreamOptions extends ReadFileOptions {
  /** Hand over a partial batch whenever the stream has nothing more buffered (interactive pipes). Default true. */
  flushWhenDrained?: boolean;
}

/** Reads lines from a Readable under the given origin name. */
export async function* readStreamLines(input: Readable, origin: string, opts: ReadStreamOptions = {}): AsyncGenerator<LineBatch> {
  const it = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const toBuf = (c: Buffer | string): Buffer => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
  // Peek at least two bytes to recognise gzip.
  let head: Buffer = Buffer.alloc(0);
  let ended = false;
  while (head.length < 2) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    head = head.length ? Buffer.concat([head, toBuf(r.value)]) : toBuf(r.value);
  }
  if (!ended && isGzipMagic(head)) {
    const rest = async function* (): AsyncGenerator<Buffer> {
      yield head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield toBuf(r.value);
      }
    };
    yield* gunzipLines(Readable.from(rest(), { objectMode: false }), origin, opts);
    return;
  }
  const splitter = new LineSplitter(origin, splitterOpts(opts));
  const out: LineBatch[] = [];
  const eager = opts.flushWhenDrained ?? true;
  const drained = (): boolean => eager && input.readableLength === 0;
  try {
    if (head.length) {
      splitter.push(head, out);
      if (drained()) splitter.flush(out);
      for (const b of out) yield b;
      out.length = 0;
    }
    if (!ended) {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        splitter.push(toBuf(r.value), out);
        if (drained()) splitter.flush(out);
        for (const b of out) yield b;
        out.length = 0;
      }
      ended = true;
    }
    splitter.finish(out);
    for (const b of out) yield b;
  } finally {
    // The consumer stopped early: release the stream.
    if (!ended) await it.return?.();
  }
}
