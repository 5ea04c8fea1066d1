/** Small JSON response and request helpers shared by the admin API handlers. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseTime } from '../store/query.js';
import { QueryError } from '../store/types.js';

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  // Audit data: never cached by browsers or proxies.
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

export function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

/** `{ error: { code, message, ...fields } }` with extra response `headers` (e.g. Allow). */
export function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}, fields: Record<string, unknown> = {}): void {
  sendJson(res, status, { error: { code, message, ...fields } }, headers);
}

/** Reads a JSON request body of at most `limit` bytes; throws with a message fit for a 400. */
export async function readJsonBody(req: IncomingMessage, limit = 64 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new Error(`request body larger than ${limit} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) throw new Error('a JSON body is required');
  try {
    return JSON.parse(text);
  } catch {
    throw new Error('the body is not valid JSON');
  }
}

/**
 * A time given as ISO 8601 or epoch milliseconds, read as the event API reads
 * it (store/query.ts parseTime: a time without an offset is UTC, impossible
 * dates are refused), as epoch ms; or the error to report.
 */
export function readTime(name: string, v: unknown): { ms: number } | { error: string } {
  let ms: number;
  try {
    ms = parseTime(v, `\`${name}\``);
  } catch (err) {
    if (err instanceof QueryError) return { error: err.message };
    throw err;
  }
  // Epoch milliseconds past the range of dates have no ISO form.
  return Number.isFinite(new Date(ms).getTime()) ? { ms } : { error: `\`${name}\` is outside the range of dates` };
}

/** A time query parameter (ISO 8601 or epoch ms) as ISO, or undefined after recording an error. */
export function timeParam(name: string, v: string, errors: string[]): string | undefined {
  const t = readTime(name, v);
  if ('ms' in t) return new Date(t.ms).toISOString();
  errors.push(t.error);
  return undefined;
}

/** A `limit` query parameter from 1 to `max`, or undefined after recording an error. */
export function limitParam(v: string, max: number, errors: string[]): number | undefined {
  const n = Number(v);
  if (Number.isInteger(n) && n >= 1 && n <= max) return n;
  errors.push(`\`limit\` must be an integer from 1 to ${max}`);
  return undefined;
}
