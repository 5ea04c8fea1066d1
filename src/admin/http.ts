/** Small JSON response and request helpers shared by the admin API handlers. */
import type { IncomingMessage, ServerResponse } from 'node:http';

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

/** A time query parameter (ISO 8601 or epoch ms) as ISO, or undefined after recording an error. */
export function timeParam(name: string, v: string, errors: string[]): string | undefined {
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (Number.isFinite(t)) return new Date(t).toISOString();
  errors.push(`\`${name}\` must be an ISO 8601 time or epoch milliseconds`);
  return undefined;
}

/** A `limit` query parameter from 1 to `max`, or undefined after recording an error. */
export function limitParam(v: string, max: number, errors: string[]): number | undefined {
  const n = Number(v);
  if (Number.isInteger(n) && n >= 1 && n <= max) return n;
  errors.push(`\`limit\` must be an integer from 1 to ${max}`);
  return undefined;
}
