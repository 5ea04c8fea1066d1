/**
 * GET of a small JSON document (key sets, OIDC discovery) through a dedicated
 * undici Agent, so key fetches neither share connection limits with backend
 * traffic nor outlive the identity method that owns them.
 */
import { Agent, request } from 'undici';

/** Key sets and discovery documents are a few KiB; more is a misconfigured URL. */
const MAX_BYTES = 1 << 20;

export class FetchError extends Error {}

export function jsonAgent(timeoutMs: number): Agent {
  return new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connections: 2 });
}

export async function fetchJson(url: string, agent: Agent, timeoutMs: number, closed: AbortSignal): Promise<unknown> {
  const signal = AbortSignal.any([closed, AbortSignal.timeout(timeoutMs)]);
  let res;
  try {
    res = await request(url, { dispatcher: agent, method: 'GET', headers: { accept: 'application/json' }, signal });
  } catch (err) {
    throw new FetchError(`GET ${url} failed: ${describe(err, timeoutMs)}`);
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => {});
    throw new FetchError(`GET ${url} answered ${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      const b = chunk as Buffer;
      size += b.length;
      if (size > MAX_BYTES) {
        res.body.destroy();
        throw new FetchError(`GET ${url}: document larger than ${MAX_BYTES} bytes`);
      }
      chunks.push(b);
    }
  } catch (err) {
    if (err instanceof FetchError) throw err;
    throw new FetchError(`GET ${url} failed while reading: ${describe(err, timeoutMs)}`);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new FetchError(`GET ${url}: not valid JSON`);
  }
}

function describe(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string };
  if (e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return `timed out after ${timeoutMs} ms`;
  }
  if (e.name === 'AbortError') return 'aborted (identity method closed)';
  return e.code ?? e.message ?? String(err);
}
