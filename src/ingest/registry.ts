/**
 * The ingest registry: how far each input has been ingested, so that running
 * the same ingest twice reads nothing new the second time, a file that grew
 * continues where it stopped, and a truncated or rotated file starts over.
 *
 * Files are known by identity, not by name, because rotation renames them:
 * device + inode, plus a fingerprint (SHA-256 of the first bytes, up to 1 KiB)
 * because a deleted file's inode number is soon given to a new file, which
 * must be read from its start. The fingerprint remembers how many bytes it
 * covers (a file shorter than 1 KiB when first seen grows past it later), and
 * a file whose first bytes no longer hash the same is a different file.
 *
 * S3 objects are known by bucket + key + ETag (a rewritten object has a new
 * ETag and is read again); they are read whole, so they are either done or not.
 *
 * The caller commits a position only after the events of the lines before it
 * are stored (commit → store → save order is the caller's contract: save()
 * after the store has acknowledged). The file is JSON, written atomically:
 * temp file, fsync, rename, fsync of the directory, so a crash leaves either
 * the old or the new registry, never a torn one.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { readJsonFile, writeFileAtomic } from '../core/json-file.js';

/** How many leading bytes the fingerprint covers at most. */
export const FINGERPRINT_BYTES = 1024;

export interface FileIdentity {
  /** Device and inode, as decimal strings (inode numbers may exceed 2^53). */
  dev: string;
  ino: string;
  /** SHA-256 (hex) of the first `fingerprintBytes` bytes of the file. */
  fingerprint: string;
  fingerprintBytes: number;
}

/** The parts of fs.Stats (number or bigint flavour) the registry uses. */
export interface StatLike {
  dev: number | bigint;
  ino: number | bigint;
  size: number | bigint;
}

interface FileEntry {
  dev: string;
  ino: string;
  fingerprint: string;
  fingerprintBytes: number;
  /** The path the file was last seen under (informational: rotation renames files). */
  path: string;
  /** Bytes fully ingested: the position after the last stored line. */
  offset: number;
  /** The line number at `offset` (1-based), when known. */
  nextLine?: number;
  updatedAt: string;
}

interface ObjectEntry {
  bucket: string;
  key: string;
  etag: string;
  doneAt: string;
}

interface RegistryData {
  version: 1;
  files: FileEntry[];
  objects: ObjectEntry[];
}

/** Where to resume a file. */
export interface ResumePoint {
  offset: number;
  /** Line number at `offset`, if the registry knows it (else the reader counts). */
  nextLine?: number;
  /** Why: `new` (never seen), `continue`, `recycled` (same inode, different content), `truncated`. */
  reason: 'new' | 'continue' | 'recycled' | 'truncated';
}

/** SHA-256 (hex) of the first `n` bytes of `bytes`. */
function hashOf(bytes: Uint8Array, n: number): string {
  return createHash('sha256').update(bytes.subarray(0, n)).digest('hex');
}

export function fingerprintOf(firstBytes: Uint8Array): { fingerprint: string; fingerprintBytes: number } {
  const n = Math.min(firstBytes.length, FINGERPRINT_BYTES);
  return { fingerprint: hashOf(firstBytes, n), fingerprintBytes: n };
}

/** Whether `text` begins with the bytes a fingerprint was taken of. */
export function fingerprintMatches(text: Uint8Array, fp: { fingerprint: string; fingerprintBytes: number }): boolean {
  return text.length >= fp.fingerprintBytes && hashOf(text, fp.fingerprintBytes) === fp.fingerprint;
}

export function identityOf(stat: StatLike, firstBytes: Uint8Array): FileIdentity {
  return { dev: String(stat.dev), ino: String(stat.ino), ...fingerprintOf(firstBytes) };
}

/** Stats a file and reads its first bytes through one descriptor (so both describe the same file). */
export async function identifyFile(file: string): Promise<{ identity: FileIdentity; size: number; firstBytes: Buffer }> {
  const fh = await open(file, 'r');
  try {
    const st = await fh.stat({ bigint: true });
    const buf = Buffer.alloc(FINGERPRINT_BYTES);
    const { bytesRead } = await fh.read(buf, 0, FINGERPRINT_BYTES, 0);
    const firstBytes = buf.subarray(0, bytesRead);
    return { identity: identityOf(st, firstBytes), size: Number(st.size), firstBytes };
  } finally {
    await fh.close();
  }
}

const fileKey = (dev: string, ino: string): string => `${dev}:${ino}`;
const objectKey = (bucket: string, key: string): string => `${bucket}\u0000${key}`;
/** ETags are quoted on the wire; some servers differ in quoting between listing and GET. */
const normEtag = (etag: string): string => etag.replace(/^W\//, '').replace(/^"|"$/g, '');

export class Registry {
  readonly file: string;
  private files = new Map<string, FileEntry>();
  private objects = new Map<string, ObjectEntry>();
  private dirty = false;
  private saving: Promise<void> = Promise.resolve();

  private constructor(file: string) {
    this.file = file;
  }

  /** Loads the registry at `file`, or starts an empty one if it does not exist. A corrupt file is an error, not a fresh start. */
  static async open(file: string): Promise<Registry> {
    const r = new Registry(file);
    let data: RegistryData | undefined;
    try {
      data = readJsonFile(file) as RegistryData | undefined;
    } catch (err) {
      throw new Error(`ingest registry: ${(err as Error).message}; move it away to ingest everything again`);
    }
    if (data === undefined) return r;
    if (!data || data.version !== 1 || !Array.isArray(data.files) || !Array.isArray(data.objects)) {
      throw new Error(`ingest registry ${file}: unknown format (expected {"version":1,...})`);
    }
    for (const f of data.files) r.files.set(fileKey(f.dev, f.ino), f);
    for (const o of data.objects) r.objects.set(objectKey(o.bucket, o.key), o);
    return r;
  }

  /** Where to resume `filePath`, given its current stat and first bytes (at least FINGERPRINT_BYTES of them, or the whole file). */
  lookup(filePath: string, stat: StatLike, firstBytes: Uint8Array): ResumePoint {
    const e = this.files.get(fileKey(String(stat.dev), String(stat.ino)));
    if (!e) return { offset: 0, reason: 'new' };
    if (firstBytes.length < e.fingerprintBytes) return { offset: 0, reason: 'truncated' };
    if (!fingerprintMatches(firstBytes, e)) return { offset: 0, reason: 'recycled' };
    if (Number(stat.size) < e.offset) return { offset: 0, reason: 'truncated' };
    return { offset: e.offset, nextLine: e.nextLine, reason: 'continue' };
  }

  /**
   * A file the registry does not know by identity whose first bytes (its
   * text: a gzip file's decompressed) match a file it knows: the same log
   * under a new inode. Rotation does that: logrotate's `compress` turns
   * access.log.1 into access.log.1.gz, `copytruncate` copies access.log to
   * access.log.1. The known file's lines are stored already; the caller
   * skips them (by line for gzip, by offset for a plain file). The match
   * that got furthest wins; entries without a line number are not matched.
   */
  findByContent(text: Uint8Array): { offset: number; nextLine: number; path: string } | null {
    const hashes = new Map<number, string>();
    let best: FileEntry | null = null;
    for (const e of this.files.values()) {
      if (e.nextLine === undefined || e.fingerprintBytes === 0 || text.length < e.fingerprintBytes) continue;
      let fp = hashes.get(e.fingerprintBytes);
      if (fp === undefined) {
        fp = hashOf(text, e.fingerprintBytes);
        hashes.set(e.fingerprintBytes, fp);
      }
      if (fp === e.fingerprint && (best === null || e.nextLine > best.nextLine!)) best = e;
    }
    return best ? { offset: best.offset, nextLine: best.nextLine!, path: best.path } : null;
  }

  /**
   * The file last read under `filePath` (the most recently updated entry with
   * that path): after a restart, the followed path may name a new file while
   * the one read before was renamed away with lines still unread.
   */
  lastAt(filePath: string): { dev: string; ino: string; fingerprint: string; fingerprintBytes: number; offset: number; nextLine?: number } | null {
    let best: FileEntry | null = null;
    const want = resolve(filePath);
    for (const e of this.files.values()) if (resolve(e.path) === want && (best === null || e.updatedAt > best.updatedAt)) best = e;
    return best ? { dev: best.dev, ino: best.ino, fingerprint: best.fingerprint, fingerprintBytes: best.fingerprintBytes, offset: best.offset, nextLine: best.nextLine } : null;
  }

  /** The byte offset to resume `filePath` from (0: read it all). */
  offsetFor(filePath: string, stat: StatLike, firstBytes: Uint8Array): number {
    return this.lookup(filePath, stat, firstBytes).offset;
  }

  /** Records that `filePath` (with this identity) is ingested up to `offset`. Call after the events are stored. */
  commit(filePath: string, identity: FileIdentity, offset: number, nextLine?: number): void {
    this.files.set(fileKey(identity.dev, identity.ino), {
      dev: identity.dev,
      ino: identity.ino,
      fingerprint: identity.fingerprint,
      fingerprintBytes: identity.fingerprintBytes,
      path: filePath,
      offset,
      ...(nextLine !== undefined ? { nextLine } : {}),
      updatedAt: new Date().toISOString(),
    });
    this.dirty = true;
  }

  /** Records that an S3 object (at this ETag) is fully ingested. Call after its events are stored. */
  objectDone(bucket: string, key: string, etag: string): void {
    this.objects.set(objectKey(bucket, key), { bucket, key, etag: normEtag(etag), doneAt: new Date().toISOString() });
    this.dirty = true;
  }

  /** Whether this object, at this ETag, was fully ingested already. */
  isObjectDone(bucket: string, key: string, etag: string): boolean {
    const o = this.objects.get(objectKey(bucket, key));
    return o !== undefined && o.etag === normEtag(etag);
  }

  /** Number of files and objects known (for status output). */
  get size(): { files: number; objects: number } {
    return { files: this.files.size, objects: this.objects.size };
  }

  /** Writes the registry atomically if it changed. Concurrent calls are serialised. */
  save(): Promise<void> {
    const next = this.saving.then(() => this.writeNow());
    // A failed save must not wedge the next one; the caller sees the error from its own promise.
    this.saving = next.catch(() => {});
    return next;
  }

  private async writeNow(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const data: RegistryData = { version: 1, files: [...this.files.values()], objects: [...this.objects.values()] };
    try {
      await writeFileAtomic(this.file, JSON.stringify(data, null, 1) + '\n');
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }
}

/** Same as `Registry.open`. */
export function openRegistry(file: string): Promise<Registry> {
  return Registry.open(file);
}
