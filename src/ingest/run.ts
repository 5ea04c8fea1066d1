/**
 * `tollgate ingest`: reads other load balancers' logs (files, globs,
 * directories, .gz, stdin, followed files, a syslog receiver, S3 prefixes),
 * parses every line into the event catalog and stores the events — or
 * prints them as NDJSON.
 *
 *   inputs ─LineBatch─► parser ─events─► batch (≤ BATCH_EVENTS) ─► sink ─► registry
 *
 * A bad line never stops ingestion: it is counted by reason and a sample is
 * kept with its origin and line number. While the sink stores one batch, the
 * next one is parsed (at most one write in flight), so parsing and DuckDB's
 * native load overlap. The registry records a file's position only after
 * the sink has made the batch durable; with the store as sink the position is
 * also written in the same transaction as the events, so a crash can never
 * store a batch twice.
 */
import type { AuditEvent } from '../core/event.js';
import type { LineBatch, LogParser, ParseOutcome, ParserFactory, ParserOptions } from './types.js';
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { expandPaths, expandPathsReport, InputError, NoMatchError, readFileLines, readStdinLines, readStreamLines } from './inputs/files.js';
import { DEFAULT_MAX_LINE_BYTES, isGzipMagic, LineSplitter } from './inputs/lines.js';
import { gzipDeclaredSize, gzipLineChunks, gzipTextSample, plainLineChunks, type ChunkRest, type LineChunk } from './inputs/chunks.js';
import { LogChunkRefusedError, readableAsLines, type SqlLineFormat } from '../store/duckdb/bulk-log.js';
import { FollowedFiles, followFile } from './inputs/follow.js';
import { syslogBatches, type SyslogStats } from './inputs/syslog.js';
import { FINGERPRINT_BYTES, fingerprintMatches, identifyFile, type FileIdentity, type Registry } from './registry.js';
import type { EventSink, SinkCursor } from './sinks.js';
import { redactUrlQuery, type QueryFilter } from '../audit/redact.js';

/**
 * Events per commit. DuckDB inserts a batch with two threads, each writing
 * its share straight to the database file (not through the WAL) in row
 * groups of 122,880 rows, and merges the partly filled ones at commit. Below
 * about 1.5 row groups per thread that merge is most of the cost: 250,000
 * events per commit loaded at 2.4 µs per row, 350,000 and more at 1.55 µs.
 * The rows wait as packed CSV outside the JavaScript heap (about 100 MB for
 * an access log).
 */
const BATCH_EVENTS = 500_000;
const SAMPLE_LIMIT = 10;
/**
 * Files at least this large (what is left of them) are parsed inside the
 * store when the format allows (store/duckdb/bulk-log.ts), in chunks of
 * IN_STORE_CHUNK_BYTES: a chunk holds a few DuckDB row groups (~350k access
 * log lines), so each insert fills whole row groups on both threads.
 */
const IN_STORE_MIN_BYTES = 4 << 20;
const IN_STORE_CHUNK_BYTES = 64 << 20;
/** With --format auto, the first bytes of a file parsed in the store are the sample. */
const SAMPLE_BYTES = 256 << 10;
const LF = 0x0a;
/** Continuous inputs: events wait at most this long before they are stored. */
const EAGER_FLUSH_MS = 250;

export interface RejectedSample {
  origin: string;
  line: number;
  reason: string;
  detail: string;
}

export interface IngestSummary {
  format: string;
  formatDetected: boolean;
  sink: string;
  inputs: number;
  linesRead: number;
  /** Lines parsed by the store itself (large files of a text format it can read); the rest were parsed in JavaScript. */
  parsedInStore: number;
  events: number;
  skipped: number;
  rejected: number;
  rejectedByReason: Record<string, number>;
  samples: RejectedSample[];
  /** Files left alone because the registry says they were read already. */
  alreadyRead: number;
  /**
   * Inputs that could not be read (an argument that matched nothing, a file
   * that went away or may not be read, damaged gzip data after its good
   * lines): each is reported and the run goes on with the others.
   */
  inputErrors: { origin: string; error: string }[];
  elapsedMs: number;
  linesPerSecond: number;
}

export interface IngestProgress {
  lines: number;
  events: number;
  rejected: number;
  bytes: number;
  totalBytes: number | null;
  elapsedMs: number;
  current?: string;
}

export type InputSpec =
  | { kind: 'paths'; args: string[] }
  | { kind: 'stdin' }
  | { kind: 'follow'; args: string[] }
  | { kind: 'syslog'; udp?: string; tcp?: string; onListening?(ports: { udp?: number; tcp?: number }): void }
  | { kind: 's3'; bucket: string; prefix: string; region: string; endpoint?: string; forcePathStyle?: boolean };

export interface IngestOptions {
  /** A format id, or `auto` to detect it from the first lines. */
  format: string;
  parserOptions: ParserOptions;
  factories: readonly ParserFactory[];
  input: InputSpec;
  sink: EventSink;
  /** Null for stdout (nothing stored, nothing remembered). */
  registry: Registry | null;
  /** Files are read from their start whatever the registry says (after fixing a format that rejected every line); their events are stored again. */
  reread?: boolean;
  signal: AbortSignal;
  /** Events per commit (default BATCH_EVENTS); smaller in tests to see several commits. */
  batchEvents?: number;
  /** Parsing inside the store: files from `minBytes` (default 4 MiB; Infinity: never), read in chunks of `chunkBytes` (default 64 MiB). Tests make both small. */
  inStore?: { minBytes?: number; chunkBytes?: number };
  /** Redacts secret query parameters (audit.redact.query_params), as for live traffic. */
  redactQuery?: QueryFilter;
  onProgress?(p: IngestProgress): void;
  /** Said once the format is known (detected or given). */
  onFormat?(format: string, detected: boolean, scores: { format: string; score: number }[], input?: string): void;
}

export class IngestError extends Error {}

/** --format auto found no format that fits an input's first lines. */
export class FormatUndetectedError extends IngestError {}

/** Errors of reading one input (not of the store): the input is reported and the run goes on. */
function isInputFailure(err: unknown): boolean {
  if (err instanceof InputError || err instanceof FormatUndetectedError) return true;
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' || code === 'EISDIR' || code === 'ELOOP';
}

/** Scores every detectable format on a sample; best first. */
export function detectFormat(factories: readonly ParserFactory[], sample: readonly string[]): { format: string; score: number }[] {
  const lines = sample.filter((l) => l.trim() !== '').slice(0, 50);
  return factories
    .filter((f) => f.detect)
    .map((f) => ({ format: f.format, score: lines.length ? f.detect!(lines) : 0 }))
    .sort((a, b) => b.score - a.score);
}

/** One source of batches plus what the registry needs to remember about it. */
interface Stream {
  batches: AsyncIterable<LineBatch>;
  /** File identity for the registry (files and followed files), per batch for followed files. */
  identity?: FileIdentity;
  path?: string;
  /** Bytes to read (for progress), and where reading starts. */
  size?: number;
  startOffset?: number;
  /** A continuous input (follow, syslog, stdin): events are stored within a fraction of a second, not per batch. */
  eager?: boolean;
  /** Lines numbered below this are already stored (a gzip file resumed: it can only be read from its start). */
  skipBefore?: number;
  /** S3: call when an object's events are stored. */
  ack?(key: string): void;
}

/** What the batch loop needs to know of a stream besides its batches. */
type StreamInfo = Omit<Stream, 'batches'>;

export async function runIngest(o: IngestOptions): Promise<IngestSummary> {
  const started = performance.now();
  const s: IngestSummary = {
    format: o.format,
    formatDetected: false,
    sink: o.sink.description,
    inputs: 0,
    linesRead: 0,
    parsedInStore: 0,
    events: 0,
    skipped: 0,
    rejected: 0,
    rejectedByReason: {},
    samples: [],
    alreadyRead: 0,
    inputErrors: [],
    elapsedMs: 0,
    linesPerSecond: 0,
  };
  let parser: LogParser | null = null;
  // Inputs stop on the caller's signal and on a failed commit (a continuous input would
  // otherwise keep reading into memory with nothing stored, and say so only at the end).
  const stop = new AbortController();
  const signal = stop.signal;
  if (o.signal.aborted) stop.abort();
  else o.signal.addEventListener('abort', () => stop.abort(), { once: true });
  let commitError: Error | null = null;
  let bytesDone = 0;
  let totalBytes: number | null = null;
  let current: string | undefined;
  const progress = (): void =>
    o.onProgress?.({ lines: s.linesRead, events: s.events, rejected: s.rejected, bytes: bytesDone, totalBytes, elapsedMs: performance.now() - started, current });

  const chooseParser = (sample: readonly string[]): LogParser => {
    let format = o.format;
    let detected = false;
    let scores: { format: string; score: number }[] = [];
    if (format === 'auto') {
      scores = detectFormat(o.factories, sample);
      if (!scores.length || scores[0].score < 0.5) {
        const best = scores.slice(0, 3).map((x) => `${x.format} ${x.score.toFixed(2)}`).join(', ');
        throw new FormatUndetectedError(`cannot detect the log format from the first lines${best ? ` (best: ${best})` : ''}; name it with --format (see tollgate ingest --help)`);
      }
      format = scores[0].format;
      detected = true;
    }
    const factory = o.factories.find((f) => f.format === format);
    if (!factory) throw new IngestError(`unknown format "${format}"; known: ${o.factories.map((f) => f.format).join(', ')}`);
    if (factory.needsLogFormat && !o.parserOptions.logFormat) throw new IngestError(`format ${format} needs --log-format with the log_format / log-format / LogFormat string`);
    // A format string that would not be used is a mistake to say, not to ignore (every line would be read another way).
    if (!factory.needsLogFormat && o.parserOptions.logFormat) {
      const custom = o.factories.filter((f) => f.needsLogFormat).map((f) => f.format);
      throw new IngestError(`--log-format is only read by the custom formats (--format ${custom.join(', ')}); ${detected ? `--format auto chose ${format}, which` : `--format ${format}`} has its own fixed layout`);
    }
    // Several files of different formats (--format auto, each file detected): all are named.
    if (s.format === 'auto' || s.format === o.format) s.format = format;
    else if (!s.format.split(', ').includes(format)) s.format += `, ${format}`;
    s.formatDetected = detected;
    o.onFormat?.(format, detected, scores, current);
    return factory.create(o.parserOptions);
  };

  // One commit in flight while the next lines are parsed.
  let inFlight: Promise<void> = Promise.resolve();
  let pendingCommit: (() => void)[] = [];
  let pendingCursors = new Map<string, { offset: number; nextLine: number }>();
  /**
   * Starts a commit of everything added so far once the previous commit is
   * done. Flushes come from the batch loop and from the eager timer: they are
   * serialized, so two never take the same events or race for `inFlight`.
   */
  const startCommit = async (): Promise<void> => {
    await inFlight;
    if (!o.sink.pending && !pendingCommit.length && !pendingCursors.size) return;
    // Snapshot and commit in one synchronous step: the rows taken and the positions recorded match.
    const count = o.sink.pending;
    const commits = pendingCommit;
    const cursors: SinkCursor[] = [...pendingCursors].map(([key, c]) => ({ key, offset: c.offset, nextLine: c.nextLine }));
    pendingCommit = [];
    pendingCursors = new Map();
    inFlight = o.sink.commit(cursors).then(
      () => {
        s.events += count;
        for (const c of commits) c();
        scheduleRegistrySave();
        progress();
      },
      (err: Error) => {
        commitError ??= err;
        stop.abort();
        throw err;
      },
    );
    // A failed commit is not lost: the next flush (or the end of the run) awaits inFlight and throws.
    inFlight.catch(() => undefined);
  };
  // Positions are saved about once a second while a long run goes on, not only at its end.
  let registrySave: NodeJS.Timeout | null = null;
  const scheduleRegistrySave = (): void => {
    if (!o.registry || registrySave) return;
    registrySave = setTimeout(() => {
      registrySave = null;
      void o.registry?.save().catch(() => undefined);
    }, 1000);
    registrySave.unref();
  };
  let flushLock: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    const run = flushLock.then(startCommit);
    flushLock = run.catch(() => undefined);
    return run;
  };

  const redact = o.redactQuery;
  const batchEvents = o.batchEvents ?? BATCH_EVENTS;
  /** `n` lines read and rejected for `reason` (no sample: lines nobody can point at, e.g. dropped ones). */
  const countRejected = (reason: string, n: number): void => {
    s.linesRead += n;
    s.rejected += n;
    s.rejectedByReason[reason] = (s.rejectedByReason[reason] ?? 0) + n;
  };
  const noteRejected = (origin: string, line: number, reason: string, detail: string): void => {
    s.rejected++;
    s.rejectedByReason[reason] = (s.rejectedByReason[reason] ?? 0) + 1;
    if (s.samples.length < SAMPLE_LIMIT) s.samples.push({ origin, line, reason, detail });
  };
  const reject = (reason: string, detail: string, batch: LineBatch, i: number): void => noteRejected(batch.origin, batch.firstLine + i, reason, detail);
  /**
   * One line through the parser into `add`, with the configured query
   * redaction: null when it became an event, 'skip' when it is not an entry,
   * else why it was rejected.
   */
  const fallbackNode = o.parserOptions.node ?? null;
  const parseLine = (p: LogParser, text: string, add: (e: AuditEvent) => void, sender: string | null = null, pid: string | null = null): null | 'skip' | { reason: string; detail: string } => {
    let r: ParseOutcome;
    try {
      r = p.parse(text);
    } catch (err) {
      // Parsers must not throw; one that does (a bug, an input nobody foresaw) costs its line, not the run.
      return { reason: 'parser_error', detail: (err as Error)?.message ?? String(err) };
    }
    if (r.ok === 'skip') return 'skip';
    if (r.ok === false) return r;
    const q = r.event.query;
    if (q !== null && redact) r.event.query = redact(q);
    const ref = r.event.referer;
    if (ref !== null && redact) r.event.referer = redactUrlQuery(ref, redact);
    // The syslog sender names the load balancer unless the line did (--node is only the fallback).
    if (sender !== null && (r.event.node === null || r.event.node === fallbackNode)) r.event.node = sender;
    // And its process id, as a syslog header read from a file gives it (unless the line has its own).
    if (pid !== null && r.event.extra?.pid === undefined) r.event.extra = { ...r.event.extra, pid };
    try {
      add(r.event);
      return null;
    } catch (err) {
      // A parser produced a value the catalog does not allow: that line is rejected, not the run.
      return { reason: 'invalid_event', detail: (err as Error).message };
    }
  };
  const addToSink = (e: AuditEvent): void => o.sink.add(e);
  /**
   * With --format auto, batches wait here until there is enough to judge: 20
   * non-blank lines (3 for a continuous input, which may be slow), or the end
   * of the input. A first batch of blank lines or a stray banner line must not
   * decide the format.
   */
  let detectQueue: { batch: LineBatch; stream: StreamInfo }[] = [];
  let detectLines = 0;
  const detectNow = async (): Promise<void> => {
    if (parser || !detectQueue.length) return;
    const queued = detectQueue;
    detectQueue = [];
    if (detectLines === 0) {
      // Only blank lines so far: nothing to parse or detect.
      for (const q of queued) {
        s.linesRead += q.batch.lines.length;
        s.skipped += q.batch.lines.length;
      }
      return;
    }
    try {
      parser = chooseParser(queued.flatMap((q) => q.batch.lines));
    } catch (err) {
      // Lines of no known format: read, and rejected with the input (the caller reports it).
      if (err instanceof FormatUndetectedError) countRejected('unknown_format', queued.reduce((k, q) => k + q.batch.lines.length, 0));
      throw err;
    }
    for (const q of queued) await consume(q.batch, q.stream);
  };
  /** --format auto over several files: each file's format is detected from its own first lines. */
  const detectPerInput = (): void => {
    if (o.format !== 'auto') return;
    parser = null;
    detectLines = 0;
    detectQueue = [];
  };
  const consume = async (batch: LineBatch, stream: StreamInfo): Promise<void> => {
    if (!parser) {
      if (o.format !== 'auto') parser = chooseParser([]);
      else {
        detectQueue.push({ batch, stream });
        for (const l of batch.lines) if (l.trim() !== '') detectLines++;
        if (detectLines < (stream.eager ? 3 : 20)) return;
        await detectNow();
        return;
      }
    }
    const p = parser;
    const senders = batch.senders;
    // A line cut to the reader's limit is not the line the log holds: rejected as such, not parsed.
    const cut = batch.truncated ? new Map(batch.truncated.map((t) => [t.index, t.bytes])) : null;
    for (let i = 0; i < batch.lines.length; i++) {
      const long = cut?.get(i);
      if (long !== undefined) {
        reject('line_too_long', `${long} bytes; a line may have at most ${DEFAULT_MAX_LINE_BYTES} (the rest was not read)`, batch, i);
        continue;
      }
      const r = parseLine(p, batch.lines[i], addToSink, senders ? senders[i] : null, batch.pids ? batch.pids[i] : null);
      if (r === 'skip') s.skipped++;
      else if (r) reject(r.reason, r.detail, batch, i);
    }
    s.linesRead += batch.lines.length;
    const identity = (batch as LineBatch & { identity?: FileIdentity }).identity ?? stream.identity;
    if (identity && stream.path && o.registry) {
      const reg = o.registry;
      const path = stream.path;
      const end = batch.endOffset;
      // A batch skipped whole (a gzip file read again) never moves the position back.
      const nextLine = Math.max(batch.firstLine + batch.lines.length, stream.skipBefore ?? 0);
      pendingCursors.set(identityKey(identity), { offset: end, nextLine });
      pendingCommit.push(() => reg.commit(path, identity, end, nextLine));
    }
    const s3 = batch as LineBatch & { objectEnd?: boolean; key?: string };
    if (s3.objectEnd && s3.key && stream.ack) {
      const ack = stream.ack;
      const key = s3.key;
      pendingCommit.push(() => ack(key));
    }
    if (o.sink.pending >= batchEvents) await flush();
    else if (stream.eager) scheduleFlush();
    progress();
  };
  let flushTimer: NodeJS.Timeout | null = null;
  const scheduleFlush = (): void => {
    flushTimer ??= setTimeout(() => {
      flushTimer = null;
      // A failure here resurfaces at the next flush or at the end (inFlight keeps it).
      flush().catch(() => undefined);
    }, EAGER_FLUSH_MS);
  };

  const drain = async (stream: Stream, label: string, newInput = true): Promise<void> => {
    current = label;
    if (newInput) s.inputs++;
    for await (const batch of stream.batches) {
      if (stream.size !== undefined) advanceProgress(batch.endOffset - (stream.startOffset ?? 0), stream.size);
      await consume(stream.skipBefore ? withoutLinesBefore(batch, stream.skipBefore) : batch, stream);
      if (signal.aborted) break;
    }
    await endOfInput(stream.size);
  };
  /** An input is read to its end: its `size` bytes count as done, and everything parsed of it is stored. */
  const endOfInput = async (size: number | undefined): Promise<void> => {
    await detectNow();
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = null;
    if (size !== undefined) {
      // A gzip file's positions stay below its size until its end: read whole, it counts whole.
      if (!signal.aborted) advanceProgress(size, size);
      baseBytes += size;
    }
    // Each file's position is committed once it is fully read (followed inputs commit per batch).
    await flush();
  };
  let baseBytes = 0;
  /**
   * `done` of the current file's `size` bytes are read. Never backwards (a
   * gzip file read again from its start, its stored lines skipped, shows no
   * progress until it passes where it was) and never past the file's share
   * of the total (a file that grew since the plan was made).
   */
  const advanceProgress = (done: number, size: number): void => {
    bytesDone = Math.max(bytesDone, baseBytes + Math.min(done, size));
  };

  /**
   * Where to start a file: the registry's position, or the store's own when it
   * is further (a crash after the store committed, before the registry was saved).
   */
  const resumePoint = (path: string, identity: FileIdentity, size: number, firstBytes: Uint8Array, stored: Map<string, { offset: number; nextLine: number }>) => {
    const r = o.registry ? o.registry.lookup(path, { dev: BigInt(identity.dev), ino: BigInt(identity.ino), size: BigInt(size) }, firstBytes) : { offset: 0, nextLine: undefined, reason: 'new' as const };
    const inStore = stored.get(identityKey(identity));
    // Gzip positions stay below the size until the end, so they often tie: the line number decides then.
    const storeIsFurther = inStore !== undefined && inStore.offset <= size && (inStore.offset > r.offset || (inStore.offset === r.offset && inStore.nextLine > (r.nextLine ?? 0)));
    if (storeIsFurther) return { from: inStore.offset, firstLine: inStore.nextLine > 0 ? inStore.nextLine : undefined, known: true };
    // Not known: never seen, or its inode now holds other text (recycled, truncated) — which may be a known log under a new inode.
    return { from: r.offset, firstLine: r.nextLine, known: r.reason === 'continue' || inStore !== undefined };
  };

  /**
   * The store's form of the format for a file about to be read, or null when
   * it has none (or the sink cannot parse): the file is read in JavaScript.
   * With --format auto the format is detected from the file's first bytes.
   */
  const inStoreFormat = async (f: { path: string; from: number; gzip: boolean }): Promise<SqlLineFormat | null> => {
    if (!o.sink.commitLogChunk) return null;
    if (!parser) {
      if (o.format !== 'auto') parser = chooseParser([]);
      else {
        let text: Buffer;
        if (f.gzip) text = await gzipTextSample(f.path, SAMPLE_BYTES);
        else {
          const fh = await open(f.path, 'r');
          try {
            const { bytesRead, buffer } = await fh.read(Buffer.alloc(SAMPLE_BYTES), 0, SAMPLE_BYTES, f.from);
            text = buffer.subarray(0, bytesRead);
          } finally {
            await fh.close();
          }
        }
        // Lines as the line path splits them: without a CR before the LF.
        const sample = text.toString('utf8', 0, text.lastIndexOf(LF) + 1).split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
        // As the line path does: a format is chosen from 20 entries at least.
        if (sample.filter((l) => l.trim() !== '').length < 20) return null;
        try {
          parser = chooseParser(sample);
        } catch (err) {
          // As on the line path: the lines looked at are read, and rejected with the input.
          if (err instanceof FormatUndetectedError) countRejected('unknown_format', sample.length - 1);
          throw err;
        }
      }
    }
    return parser.sql ?? null;
  };

  /**
   * Whether what is left of a file is large enough to be parsed in the store.
   * Regular files only (a FIFO or a device has size 0). A gzip file is judged
   * by the text size it declares, and only when it is read from its start
   * (a resumed one skips its stored lines on the line path).
   */
  const largeEnoughInStore = async (f: { path: string; size: number; from: number; gzip: boolean }): Promise<boolean> => {
    const min = Math.max(1, o.inStore?.minBytes ?? IN_STORE_MIN_BYTES);
    if (!f.gzip) return f.size - f.from >= min;
    return f.from === 0 && f.size > 0 && Math.max(f.size, await gzipDeclaredSize(f.path, f.size)) >= min;
  };

  /**
   * Reads a file (plain or gzip) in chunks of whole lines that the store
   * parses (see DuckDbStore.appendLogChunk); the lines the store does not
   * take are parsed here, in the same transaction. A chunk the store cannot
   * read as lines (not UTF-8, CR line ends...) goes through the line path,
   * as does the end of the file after the last newline (inputs/chunks.ts).
   */
  const drainInStore = async (f: { path: string; identity: FileIdentity; size: number; from: number; firstLine?: number; gzip: boolean }, sql: SqlLineFormat): Promise<void> => {
    current = f.path;
    s.inputs++;
    const commitLogChunk = o.sink.commitLogChunk!.bind(o.sink);
    const p = parser!;
    const stream: StreamInfo = { identity: f.identity, path: f.path };
    const suspect = redact?.suspect ?? null;

    /** One chunk parsed by the store; false when the store refused it (nothing stored, nothing counted). */
    const chunkInStore = async (data: Buffer, end: number, line: number, lines: number): Promise<boolean> => {
      // The lines the store did not take, parsed here; counted once the chunk is stored.
      let notTakenCount = 0;
      let skipped = 0;
      const rejected: { line: number; reason: string; detail: string }[] = [];
      const parseRest = (notTaken: readonly number[], add: (e: AuditEvent) => void): void => {
        notTakenCount = notTaken.length;
        let at = 0;
        let index = 0;
        for (const want of notTaken) {
          for (; index < want; index++) at = data.indexOf(LF, at) + 1;
          const r = parseLine(p, data.toString('utf8', at, data.indexOf(LF, at)), add);
          if (r === 'skip') skipped++;
          else if (r) rejected.push({ line: line + want, reason: r.reason, detail: r.detail });
        }
      };
      // As the line path does: the store records the position when a registry is kept.
      const cursors = o.registry ? [{ key: identityKey(f.identity), offset: end, nextLine: line + lines }] : [];
      let stored: number;
      try {
        stored = await commitLogChunk(data, sql, suspect, parseRest, cursors);
      } catch (err) {
        // DuckDB's reader refused the chunk, having stored nothing: the line path reads it.
        if (err instanceof LogChunkRefusedError) return false;
        // Anything else is the store's failure, never the input's (whatever its error code).
        commitError ??= err as Error;
        throw err;
      }
      s.linesRead += lines;
      s.parsedInStore += lines - notTakenCount;
      s.events += stored;
      s.skipped += skipped;
      for (const r of rejected) noteRejected(f.path, r.line, r.reason, r.detail);
      o.registry?.commit(f.path, f.identity, end, line + lines);
      scheduleRegistrySave();
      return true;
    };

    /**
     * Text of the file held in memory, from line `line`, through the line path.
     * `final`: it ends the file (a last line without its newline counts). A
     * gzip file's lines have no position of their own in the compressed file:
     * only the last batch records `end`, earlier ones stay below the size.
     */
    const lineByLine = async (data: Buffer, line: number, start: number, end: number, final: boolean): Promise<void> => {
      const splitter = new LineSplitter(f.path, { firstLine: line, startOffset: start });
      const batches: LineBatch[] = [];
      splitter.push(data, batches);
      if (final) splitter.finish(batches);
      else splitter.flush(batches);
      if (f.gzip) for (const [i, b] of batches.entries()) b.endOffset = i === batches.length - 1 ? end : Math.min(end, f.size - 1);
      for (const b of batches) await consume(b, stream);
    };

    const chunkBytes = o.inStore?.chunkBytes ?? IN_STORE_CHUNK_BYTES;
    const chunks = f.gzip ? gzipLineChunks(f.path, f.size, chunkBytes) : plainLineChunks(f.path, f.from, chunkBytes);
    let start = f.from;
    let line = f.firstLine ?? 1;
    let next: IteratorResult<LineChunk, ChunkRest>;
    try {
      next = await chunks.next();
      for (; !next.done && !signal.aborted; next = await chunks.next()) {
        const c = next.value;
        // Everything parsed so far is stored first: the chunk's transaction records the file's position past it.
        await flush();
        await inFlight;
        const done = readableAsLines(c.data) && (await chunkInStore(c.data, c.end, line, c.lines));
        if (!done) await lineByLine(c.data, line, start, c.end, false);
        start = c.end;
        line += c.lines;
        advanceProgress(c.end - f.from, bytesToRead(f));
        progress();
      }
    } finally {
      // Closes the file when a chunk failed or the run was stopped (nothing to do once the chunks are done).
      await chunks.return({ kind: 'reread' });
    }
    if (signal.aborted) return;
    const rest = next.value as ChunkRest;
    if (rest.kind === 'offset') {
      await drain({ batches: readFileLines(f.path, { fromOffset: rest.offset, firstLine: line }), ...stream, size: f.size - f.from, startOffset: f.from }, f.path, false);
    } else if (rest.kind === 'reread') {
      // A line longer than a chunk: gzip cannot be entered in the middle, so the line path reads the file again and skips what is stored.
      await drain({ batches: readFileLines(f.path), ...stream, size: f.size, startOffset: 0, skipBefore: line }, f.path, false);
    } else {
      // The text after a gzip file's last newline: it ends at the file's size.
      await lineByLine(rest.data, line, 0, f.size, true);
      await endOfInput(f.size);
    }
  };

  /**
   * A followed path whose file was rotated while no ingest ran: the text read
   * last time now lives elsewhere in the same directory — the same file
   * renamed (access.log.1), a copy (copytruncate) or a compressed copy
   * (compress) — with lines after the recorded position that nobody read.
   * Every file there that begins with that text is read past what is stored
   * of it (its own position, else the furthest the registry got in the same
   * text), so a restart loses nothing and reads nothing twice. Files that are
   * followed themselves are left to their followers.
   */
  const finishRotatedAway = async (followed: string, stored: Map<string, { offset: number; nextLine: number }>, followedIds: ReadonlySet<string>): Promise<void> => {
    const last = o.registry!.lastAt(followed);
    if (!last) return;
    const now = await stat(followed, { bigint: true }).catch(() => null);
    if (now && String(now.dev) === last.dev && String(now.ino) === last.ino) {
      // Still the text read last time (it may have grown): the follower resumes it.
      const here = await identifyFile(followed).catch(() => null);
      if (here === null || (fingerprintMatches(here.firstBytes, last) && here.size >= last.offset)) return;
    }
    const dir = dirname(followed);
    for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
      const candidate = join(dir, name);
      if (candidate === join(dir, basename(followed))) continue;
      let found: { identity: FileIdentity; size: number; firstBytes: Buffer; gzip: boolean; text: Uint8Array };
      try {
        const st = await stat(candidate, { bigint: true });
        if (!st.isFile() || followedIds.has(`${st.dev}:${st.ino}`)) continue;
        const id = await identifyFile(candidate);
        found = { ...id, gzip: isGzipMagic(id.firstBytes), text: await leadingText(candidate, id.firstBytes) };
      } catch (err) {
        // A file that went away or may not be read is not the one looked for.
        if (isInputFailure(err)) continue;
        throw err;
      }
      // The same text as the file read last time (a renamed file keeps its first bytes; a recycled inode does not).
      if (!fingerprintMatches(found.text, last)) continue;
      const { identity, size, gzip } = found;
      const own = resumePoint(candidate, identity, size, found.firstBytes, stored);
      const done = own.known ? { offset: own.from, nextLine: own.firstLine } : o.registry!.findByContent(found.text);
      if (!done) continue;
      let read: Stream | null = null;
      if (gzip) {
        // Read from its start, the stored lines skipped; without a line number that cannot be done safely.
        if (done.nextLine !== undefined && !(own.known && own.from >= size)) read = { batches: readFileLines(candidate), skipBefore: done.nextLine };
      } else if (done.offset < size) {
        read = { batches: readFileLines(candidate, { fromOffset: done.offset, firstLine: done.nextLine }), size: size - done.offset, startOffset: done.offset };
      }
      if (!read) continue;
      const stream = read;
      await readInput(candidate, () => drain({ ...stream, identity, path: candidate }, candidate));
      // Its position in the registry before the next file of the same text is judged.
      await inFlight.catch(() => undefined);
    }
  };

  /**
   * Reads one input; one that cannot be read on (damaged gzip data, a file
   * gone or forbidden) is reported after the lines it gave, and the run goes
   * on. Store failures and everything else still end the run.
   */
  const readInput = async (origin: string, read: () => Promise<void>, size?: number): Promise<void> => {
    const base = baseBytes;
    try {
      await read();
    } catch (err) {
      // A failed commit (the store or spool refused the batch) is never blamed on the input.
      if (commitError || !isInputFailure(err)) throw err;
      // What is left of it will not be read: its share of the progress is done.
      if (size !== undefined) {
        baseBytes = base + size;
        bytesDone = Math.max(bytesDone, baseBytes);
      }
      // The lines it gave before failing that wait for --format auto to decide are this input's: parsed now.
      if (!(err instanceof FormatUndetectedError)) {
        await detectNow().catch((again: unknown) => {
          if (!(again instanceof FormatUndetectedError)) throw again;
        });
      }
      s.inputErrors.push({ origin, error: err instanceof InputError ? err.detail : (err as Error).message });
    }
  };

  try {
    const input = o.input;
    if (input.kind === 'paths') {
      const { files, missing } = await expandPathsReport(input.args);
      // Nothing at all to read is an error; some arguments without a file are reported, the rest read.
      if (!files.length && missing.length) throw new NoMatchError(missing);
      for (const m of missing) s.inputErrors.push({ origin: m, error: 'no such file (or no file matched the pattern)' });
      /** skipLines: a gzip file's lines before this one are stored already (under the file it was compressed from). */
      const plan: { path: string; identity: FileIdentity; size: number; from: number; firstLine?: number; gzip: boolean; skipLines?: number }[] = [];
      const stored = await o.sink.cursors();
      const seen = new Set<string>();
      /** FIFOs and devices named explicitly (`<(zcat x.gz)`): read as streams, nothing remembered. */
      const streams: string[] = [];
      for (const path of files) {
        let id: Awaited<ReturnType<typeof identifyFile>>;
        try {
          const st = await stat(path);
          if (!st.isFile()) {
            streams.push(path);
            continue;
          }
          id = await identifyFile(path);
        } catch (err) {
          if (!isInputFailure(err)) throw err;
          s.inputErrors.push({ origin: path, error: (err as Error).message });
          continue;
        }
        const { identity, size, firstBytes } = id;
        // The same file under two names (./a.log and a.log, a symlink) is read once.
        const fileId = `${identity.dev}:${identity.ino}`;
        if (seen.has(fileId)) continue;
        seen.add(fileId);
        const gzip = isGzipMagic(firstBytes);
        if (o.reread) {
          plan.push({ path, identity, size, from: 0, gzip });
          continue;
        }
        const resume = resumePoint(path, identity, size, firstBytes, stored);
        let { from, firstLine } = resume;
        let skipLines: number | undefined;
        if (!resume.known && o.registry) {
          // A log the registry knows under another inode (rotated with compress or copytruncate): its stored lines are skipped.
          const same = o.registry.findByContent(await leadingText(path, firstBytes));
          if (same && gzip) skipLines = same.nextLine;
          else if (same && same.offset <= size) ({ from, firstLine } = { from: same.offset, firstLine: same.nextLine });
          // A copy shorter than what was read of its original (the original grew after the copy): all of it is stored.
          else if (same) from = size;
        }
        if (from >= size && size > 0) {
          s.alreadyRead++;
          continue;
        }
        plan.push({ path, identity, size, from, firstLine, gzip, skipLines });
      }
      totalBytes = plan.reduce((n, f) => n + bytesToRead(f), 0);
      for (const path of streams) {
        detectPerInput();
        current = path;
        await readInput(path, () => drain({ batches: readStreamLines(createReadStream(path), path) }, path));
        if (signal.aborted) break;
      }
      for (const f of plan) {
        if (signal.aborted) break;
        detectPerInput();
        current = f.path;
        await readInput(f.path, async () => {
          // Choosing the store's form detects the format (--format auto): a file of no known format is this file's failure.
          const sql = !f.skipLines && (await largeEnoughInStore(f)) ? await inStoreFormat(f) : null;
          if (sql) return drainInStore(f, sql);
          return drain(
            {
              // A gzip file cannot be entered in the middle: it is read from its start and the lines already stored are skipped.
              batches: readFileLines(f.path, f.gzip ? {} : { fromOffset: f.from, firstLine: f.firstLine }),
              identity: f.identity,
              path: f.path,
              size: bytesToRead(f),
              startOffset: f.gzip ? 0 : f.from,
              skipBefore: f.gzip && f.from > 0 && f.firstLine ? f.firstLine : f.skipLines,
            },
            f.path,
          );
        }, bytesToRead(f));
        if (signal.aborted) break;
      }
    } else if (input.kind === 'stdin') {
      await drain({ batches: readStdinLines(), eager: true }, 'stdin');
    } else if (input.kind === 'follow') {
      const stored = await o.sink.cursors();
      // The same file under two names (./a.log and a.log, a symlink) is followed once.
      const files: string[] = [];
      const seenFiles = new Set<string>();
      for (const path of await expandPaths(input.args)) {
        const st = await stat(path, { bigint: true }).catch(() => null);
        const key = st ? `${st.dev}:${st.ino}` : `path:${path}`;
        if (seenFiles.has(key)) continue;
        seenFiles.add(key);
        files.push(path);
      }
      // Catching up after rotations first, one path after another, before any follower reads.
      if (o.registry) for (const path of files) await finishRotatedAway(path, stored, seenFiles);
      // A file rotation moves from one followed path to another (access.log → access.log.1) stays with its follower.
      const shared = new FollowedFiles();
      // Followed files are read concurrently; each batch is committed with its own identity.
      await Promise.all(
        files.map(async (path) => {
          let from = 0;
          let expect: { dev: string; ino: string } | undefined;
          let firstLine: number | undefined;
          if (o.registry) {
            const { identity, firstBytes, size } = await identifyFile(path);
            ({ from, firstLine } = resumePoint(path, identity, size, firstBytes, stored));
            expect = { dev: identity.dev, ino: identity.ino };
          }
          await drain({ batches: followFile(path, { fromOffset: from, firstLine, expect, signal, shared }), path, eager: true }, path);
        }),
      );
    } else if (input.kind === 'syslog') {
      // Frames that are not syslog messages, or too large, are rejected lines too: counted, a sample shown.
      // The "line" of a rejected frame is its number among the frames received.
      let stats: (() => SyslogStats) | null = null;
      const onRejected = (reason: string, detail: string, peer: string): void => {
        s.linesRead++;
        const st = stats?.();
        noteRejected(`syslog from ${peer}`, st ? st.received + st.malformed + st.oversize : 0, reason, detail);
      };
      const { receiver, batches, close } = await syslogBatches({ udp: input.udp, tcp: input.tcp, signal, onRejected });
      stats = () => receiver.stats();
      input.onListening?.(receiver.ports);
      try {
        await drain({ batches, eager: true }, 'syslog');
      } finally {
        await close();
        // Lines that arrived faster than they could be stored (UDP cannot wait): lost, and said so.
        if (batches.dropped) countRejected('syslog_queue_full', batches.dropped);
      }
    } else {
      if (!o.registry) throw new IngestError('reading S3 needs the registry (it records which objects are done)');
      // The AWS SDK takes a noticeable part of start-up: loaded only for an S3 input.
      const { listAndRead } = await import('./inputs/s3.js');
      const reader = listAndRead({ ...input, registry: o.registry, signal, filter: (k) => !k.endsWith('/') });
      await drain({ batches: reader, ack: (key) => reader.ack(key) }, `s3://${input.bucket}/${input.prefix}`);
    }
    await flush();
    await inFlight;
    if (commitError) throw commitError;
  } finally {
    if (flushTimer) clearTimeout(flushTimer);
    if (registrySave) clearTimeout(registrySave);
    await inFlight.catch(() => undefined);
    await o.registry?.save();
  }
  s.elapsedMs = Math.round(performance.now() - started);
  s.linesPerSecond = Math.round(s.linesRead / Math.max(s.elapsedMs / 1000, 0.001));
  progress();
  return s;
}

/** The first bytes of a file's text, as the registry fingerprints it (a gzip file's decompressed). */
async function leadingText(path: string, firstBytes: Buffer): Promise<Uint8Array> {
  return isGzipMagic(firstBytes) ? gzipTextSample(path, FINGERPRINT_BYTES) : firstBytes;
}

/** What progress counts for a file: from where reading starts, which for a gzip file is always its start (see resumePoint). */
function bytesToRead(f: { size: number; from: number; gzip: boolean }): number {
  return f.gzip ? f.size : f.size - f.from;
}

/** The batch without its lines numbered below `line`. */
function withoutLinesBefore(batch: LineBatch, line: number): LineBatch {
  if (batch.firstLine >= line) return batch;
  const skip = Math.min(batch.lines.length, line - batch.firstLine);
  const out: LineBatch = { ...batch, firstLine: batch.firstLine + skip, lines: batch.lines.slice(skip) };
  if (batch.senders) out.senders = batch.senders.slice(skip);
  if (batch.pids) out.pids = batch.pids.slice(skip);
  if (batch.truncated) out.truncated = batch.truncated.filter((t) => t.index >= skip).map((t) => ({ index: t.index - skip, bytes: t.bytes }));
  return out;
}

/** The key under which a file's position is kept (registry and store cursors). */
export function identityKey(id: FileIdentity): string {
  return `${id.dev}:${id.ino}:${id.fingerprint.slice(0, 16)}`;
}
