/**
 * A tiny S3 stand-in for the ingest tests. No real S3 server (nor MinIO or
 * LocalStack) can run here, so the tests exercise the real AWS SDK client
 * against this server, which implements just enough of the documented S3
 * REST wire format (path-style addressing) to check what the client sends and
 * how it reads the answers:
 *
 * - `GET /{bucket}?list-type=2&prefix=&continuation-token=&start-after=&max-keys=`
 *   (ListObjectsV2): a `ListBucketResult` XML document with Name, Prefix,
 *   KeyCount, MaxKeys, IsTruncated, ContinuationToken, NextContinuationToken
 *   and Contents (Key, LastModified, ETag, Size, StorageClass), keys in
 *   UTF-8 binary order, at most 1,000 per page; `encoding-type=url` is honoured;
 * - `GET /{bucket}/{key}` (GetObject): the bytes, with ETag (the quoted MD5 of
 *   the content, as S3 gives for single-part uploads), Content-Length,
 *   Last-Modified;
 * - errors as S3's `<Error><Code>…</Code><Message>…</Message></Error>`
 *   (NoSuchBucket, NoSuchKey, AccessDenied, NotImplemented);
 * - every request must carry a SigV4 `Authorization` header of the right
 *   shape — `AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/s3/aws4_request,
 *   SignedHeaders=<...;host;...;x-amz-date...>, Signature=<64 hex>` — plus
 *   `x-amz-date` (same day as the credential scope) and
 *   `x-amz-content-sha256`. The signature itself is not recomputed: the shape
 *   check proves the client signs; verifying HMACs would test the SDK, not us.
 */
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface S3TestRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

export interface S3TestServer {
  /** `http://127.0.0.1:<port>`: pass as the client's endpoint with forcePathStyle. */
  endpoint: string;
  port: number;
  /** Every request answered, in order. */
  requests: S3TestRequest[];
  put(bucket: string, key: string, body: Buffer | string): void;
  remove(bucket: string, key: string): void;
  close(): Promise<void>;
}

export interface S3TestServerOptions {
  /** Initial contents: bucket → key → bytes. */
  buckets?: Record<string, Record<string, Buffer | string>>;
  /** The access key id clients must use. Default: any. */
  accessKeyId?: string;
  /** The region clients must sign for. Default: any. */
  region?: string;
}

interface StoredObject {
  body: Buffer;
  etag: string;
  lastModified: Date;
}

const AUTH_RE =
  /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([a-z0-9-]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

const xml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** S3 returns keys in UTF-8 binary order. */
const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

export async function startS3Server(opts: S3TestServerOptions = {}): Promise<S3TestServer> {
  const buckets = new Map<string, Map<string, StoredObject>>();
  const put = (bucket: string, key: string, body: Buffer | string): void => {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    let b = buckets.get(bucket);
    if (!b) buckets.set(bucket, (b = new Map()));
    b.set(key, { body: buf, etag: `"${createHash('md5').update(buf).digest('hex')}"`, lastModified: new Date() });
  };
  for (const [bucket, objects] of Object.entries(opts.buckets ?? {})) {
    if (!buckets.has(bucket)) buckets.set(bucket, new Map());
    for (const [key, body] of Object.entries(objects)) put(bucket, key, body);
  }
  const requests: S3TestRequest[] = [];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams);
    const send = (status: number, body: string | Buffer, headers: Record<string, string | number> = {}): void => {
      requests.push({ method: req.method ?? '', path: url.pathname, query, status });
      res.writeHead(status, { 'x-amz-request-id': randomUUID(), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const error = (status: number, code: string, message: string): void =>
      send(
        status,
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xml(message)}</Message><Resource>${xml(url.pathname)}</Resource></Error>`,
        { 'content-type': 'application/xml' },
      );
    // Drain any request body (none is expected).
    req.resume();

    const authError = checkAuth(req, opts);
    if (authError) return error(403, authError.code, authError.message);

    // Path-style: /bucket or /bucket/key (the key keeps its slashes; each part is percent-encoded).
    const parts = url.pathname.split('/');
    const bucketName = decodeURIComponent(parts[1] ?? '');
    const key = parts.slice(2).map(decodeURIComponent).join('/');
    if (req.method !== 'GET') return error(501, 'NotImplemented', `${req.method} is not implemented by the test server`);
    const bucket = buckets.get(bucketName);
    if (!bucketName || !bucket) return error(404, 'NoSuchBucket', 'The specified bucket does not exist');

    if (key === '') {
      if (query['list-type'] !== '2') return error(501, 'NotImplemented', 'only ListObjectsV2 (list-type=2) is implemented');
      const prefix = query.prefix ?? '';
      const maxKeys = Math.min(1000, query['max-keys'] !== undefined ? Number(query['max-keys']) : 1000);
      if (!Number.isInteger(maxKeys) || maxKeys < 0) return error(400, 'InvalidArgument', 'max-keys');
      let after = query['start-after'] ?? '';
      const token = query['continuation-token'];
      if (token !== undefined) {
        after = Buffer.from(token, 'base64url').toString('utf8');
        if (!after) return error(400, 'InvalidArgument', 'The continuation token provided is incorrect');
      }
      const keys = [...bucket.keys()].filter((k) => k.startsWith(prefix) && (after === '' || byUtf8(k, after) > 0)).sort(byUtf8);
      const page = keys.slice(0, maxKeys);
      const truncated = keys.length > page.length;
      const urlEncode = query['encoding-type'] === 'url';
      const enc = (k: string): string => xml(urlEncode ? encodeURIComponent(k).replace(/%2F/g, '/') : k);
      const contents = page
        .map((k) => {
          const o = bucket.get(k) as StoredObject;
          return `<Contents><Key>${enc(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xml(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
        })
        .join('');
      const body =
        `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
        `<Name>${xml(bucketName)}</Name><Prefix>${enc(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>` +
        (urlEncode ? '<EncodingType>url</EncodingType>' : '') +
        `<IsTruncated>${truncated}</IsTruncated>` +
        (token !== undefined ? `<ContinuationToken>${xml(token)}</ContinuationToken>` : '') +
        (truncated ? `<NextContinuationToken>${Buffer.from(page[page.length - 1], 'utf8').toString('base64url')}</NextContinuationToken>` : '') +
        contents +
        `</ListBucketResult>`;
      return send(200, body, { 'content-type': 'application/xml' });
    }

    const obj = bucket.get(key);
    if (!obj) return error(404, 'NoSuchKey', 'The specified key does not exist.');
    return send(200, obj.body, {
      'content-type': 'application/octet-stream',
      'content-length': obj.body.length,
      etag: obj.etag,
      'last-modified': obj.lastModified.toUTCString(),
      'accept-ranges': 'bytes',
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    requests,
    put,
    remove(bucket, key) {
      buckets.get(bucket)?.delete(key);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The SigV4 shape check; returns the S3 error to answer, or null. */
function checkAuth(req: http.IncomingMessage, opts: S3TestServerOptions): { code: string; message: string } | null {
  const auth = req.headers.authorization;
  if (!auth) return { code: 'AccessDenied', message: 'missing Authorization header' };
  const m = AUTH_RE.exec(auth);
  if (!m) return { code: 'AccessDenied', message: `malformed SigV4 Authorization header: ${auth.slice(0, 80)}` };
  const [, keyId, day, region, signedHeaders] = m;
  if (opts.accessKeyId !== undefined && keyId !== opts.accessKeyId) return { code: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.' };
  if (opts.region !== undefined && region !== opts.region) return { code: 'AuthorizationHeaderMalformed', message: `the region '${region}' is wrong; expecting '${opts.region}'` };
  const signed = signedHeaders.split(';');
  if (!signed.includes('host') || !signed.includes('x-amz-date')) return { code: 'AccessDenied', message: 'SignedHeaders must include host and x-amz-date' };
  const date = req.headers['x-amz-date'];
  if (typeof date !== 'string' || !/^\d{8}T\d{6}Z$/.test(date) || date.slice(0, 8) !== day) {
    return { code: 'AccessDenied', message: 'x-amz-date missing or not matching the credential scope date' };
  }
  if (typeof req.headers['x-amz-content-sha256'] !== 'string') return { code: 'AccessDenied', message: 'missing x-amz-content-sha256' };
  return null;
}
