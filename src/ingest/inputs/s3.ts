/**
 * Reading load-balancer logs stored in S3 (ALB/NLB/CLB access logs, or any
 * bucket of log files): ListObjectsV2 page by page (continuation tokens),
 * then GetObject streamed, decompressed when the object starts with the gzip
 * magic bytes (ALB writes `.log.gz`), split into LineBatches whose origin is
 * `s3://bucket/key`.
 *
 * Objects are read whole, one after the other in listing (key) order, and
 * an object already done in the registry (same key and ETag) is skipped; a
 * rewritten object has a new ETag and is read again.
 *
 * Acknowledgement (why not mark an object done as soon as it was read: its
 * events may still be in flight to the store, and a crash then would lose
 * them). Every object ends with a batch whose `objectEnd` is true (possibly
 * with no lines, so that even an empty object can be acknowledged). Once the
 * caller has stored the events of all of an object's batches, it calls
 * `reader.ack(key)`, which records the object as done in the registry (with
 * the ETag of the bytes actually read), then saves the registry when it
 * likes. Unacknowledged objects are read again on the next run
 * (at-least-once). Acknowledging an object before its last batch was handed
 * over is an error; acknowledging it twice is harmless.
 */
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { Registry } from '../registry.js';
import type { LineBatch } from '../types.js';
import { readStreamLines } from './files.js';

export interface S3ReadOptions {
  bucket: string;
  /** Only keys starting with this (e.g. `AWSLogs/123456789012/elasticloadbalancing/`). */
  prefix?: string;
  region: string;
  /** An S3-compatible endpoint (MinIO, Ceph, LocalStack), e.g. `http://127.0.0.1:9000`. */
  endpoint?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (needed by most S3-compatible servers). */
  forcePathStyle?: boolean;
  /** Default: the SDK's chain (environment, shared config, instance/container role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  registry: Pick<Registry, 'isObjectDone' | 'objectDone'>;
  /** Keys per listing page (1–1000). Default 1000. */
  maxKeys?: number;
  /** Only objects whose key passes (e.g. `k => k.endsWith('.log.gz')`). Keys ending in `/` (folder markers) are always skipped. */
  filter?(key: string): boolean;
  batchLines?: number;
  batchBytes?: number;
  /** Stops listing and reading (the current request is aborted). */
  signal?: AbortSignal;
  /** Use this client instead of creating one (then it is not destroyed at the end). */
  client?: S3Client;
}

export interface S3LineBatch extends LineBatch {
  bucket: string;
  key: string;
  /** The ETag of the object as read (quoted, as S3 sends it). */
  etag: string;
  /** The last batch of this object: after storing it, call `ack(key)`. */
  objectEnd: boolean;
}

export interface S3ReadStats {
  listed: number;
  skipped: number;
  read: number;
  acked: number;
  pages: number;
}

export interface S3Reader extends AsyncIterable<S3LineBatch> {
  /** The object's events are all stored: record it as done in the registry. */
  ack(key: string): void;
  stats(): S3ReadStats;
}

/** Lists and reads the objects under `prefix`; iterate once. See the header for the ack contract. */
export function listAndRead(opts: S3ReadOptions): S3Reader {
  const stats: S3ReadStats = { listed: 0, skipped: 0, read: 0, acked: 0, pages: 0 };
  /** Fully handed-over objects awaiting their ack: key → ETag read. */
  const finished = new Map<string, string>();
  const acked = new Set<string>();
  const maxKeys = Math.min(1000, Math.max(1, opts.maxKeys ?? 1000));

  async function* run(): AsyncGenerator<S3LineBatch> {
    const client =
      opts.client ??
      new S3Client({
        region: opts.region,
        ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
        ...(opts.forcePathStyle !== undefined ? { forcePathStyle: opts.forcePathStyle } : {}),
        ...(opts.credentials ? { credentials: opts.credentials } : {}),
      });
    const send = { abortSignal: opts.signal };
    try {
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: opts.bucket, Prefix: opts.prefix, ContinuationToken: token, MaxKeys: maxKeys }),
          send,
        );
        stats.pages++;
        for (const obj of page.Contents ?? []) {
          const key = obj.Key;
          if (!key || key.endsWith('/')) continue;
          if (opts.filter && !opts.filter(key)) continue;
          stats.listed++;
          if (obj.ETag && opts.registry.isObjectDone(opts.bucket, key, obj.ETag)) {
            stats.skipped++;
            continue;
          }
          yield* readObject(client, key, obj.ETag ?? '');
          if (opts.signal?.aborted) return;
        }
        if (page.IsTruncated && !page.NextContinuationToken) {
          throw new Error(`s3://${opts.bucket}/${opts.prefix ?? ''}: listing truncated without a continuation token`);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token && !opts.signal?.aborted);
    } finally {
      if (!opts.client) client.destroy();
    }
  }

  async function* readObject(client: S3Client, key: string, listedEtag: string): AsyncGenerator<S3LineBatch> {
    const origin = `s3://${opts.bucket}/${key}`;
    const res = await client.send(new GetObjectCommand({ Bucket: opts.bucket, Key: key }), { abortSignal: opts.signal });
    const etag = res.ETag ?? listedEtag;
    const body = res.Body as Readable | undefined;
    const decorate = (b: LineBatch, objectEnd: boolean): S3LineBatch => ({ ...b, bucket: opts.bucket, key, etag, objectEnd });
    stats.read++;
    // One batch is held back so that the last one can say it is the last.
    let held: LineBatch | null = null;
    if (body) {
      try {
        for await (const b of readStreamLines(body, origin, { batchLines: opts.batchLines, batchBytes: opts.batchBytes, flushWhenDrained: false })) {
          if (held) yield decorate(held, false);
          held = b;
        }
      } catch (err) {
        body.destroy();
        if ((err as Error).message.startsWith(origin)) throw err;
        throw new Error(`${origin}: ${(err as Error).message}`, { cause: err });
      }
    }
    finished.set(key, etag);
    yield decorate(held ?? { origin, firstLine: 1, lines: [], endOffset: res.ContentLength ?? 0 }, true);
  }

  return {
    [Symbol.asyncIterator]: () => run(),
    ack(key: string): void {
      if (acked.has(key)) return;
      const etag = finished.get(key);
      if (etag === undefined) throw new Error(`s3 ack(${JSON.stringify(key)}): that object was not read to its end`);
      finished.delete(key);
      acked.add(key);
      opts.registry.objectDone(opts.bucket, key, etag);
      stats.acked++;
    },
    stats: () => ({ ...stats }),
  };
}
