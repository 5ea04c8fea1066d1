/**
 * Forward authentication: an external auth service decides. It receives a GET
 * carrying the client's credential headers and what the request was
 * (X-Forwarded-Method/Proto/Host/Uri/For); 2xx allows and names the user in
 * response headers, 401 and 403 refuse, anything else (or no answer in time)
 * fails closed with 503 — an outage of the auth service must never let
 * requests through.
 */
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
import type { ForwardAuthIdentityConfig } from '../../../config/access-schema.js';
import type { AuthRequest, Identity, IdentityBuildContext, IdentityMethod, IdentityOutcome } from './types.js';
import { NONE, TtlLru, fail } from './util.js';

const CACHE_ENTRIES = 10_000;

/** Headers that describe the connection to Tollgate, not the caller; undici also refuses most of them. */
const NOT_FORWARDABLE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'content-length', 'host', 'te', 'trailer', 'proxy-connection']);

type HeaderVal = string | string[] | undefined;

function one(v: HeaderVal): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? (v[0] ?? null) : v;
}

function joined(name: string, v: string | string[]): string {
  return Array.isArray(v) ? v.join(name === 'cookie' ? '; ' : ', ') : v;
}

export function createForwardAuthMethod(cfg: ForwardAuthIdentityConfig, _ctx: IdentityBuildContext): IdentityMethod {
  const credHeaders = cfg.request_headers.map((h) => h.toLowerCase());
  const bad = credHeaders.filter((h) => NOT_FORWARDABLE.has(h));
  if (bad.length) throw new Error(`forward_auth identity "${cfg.id}": request_headers cannot include ${bad.join(', ')}`);
  if (credHeaders.length === 0) throw new Error(`forward_auth identity "${cfg.id}": request_headers is empty, so no request would ever be sent to the auth service`);
  const userHeader = cfg.user_header.toLowerCase();
  const nameHeader = cfg.name_header.toLowerCase();
  const groupsHeader = cfg.groups_header.toLowerCase();
  const copyHeaders = cfg.copy_headers.map((h) => h.toLowerCase());
  const timeout = cfg.timeout;

  const agent = new Agent({ connect: { timeout }, headersTimeout: timeout, bodyTimeout: timeout, keepAliveTimeout: 30_000 });
  const closed = new AbortController();
  const cache = cfg.cache > 0 ? new TtlLru<IdentityOutcome>(CACHE_ENTRIES) : null;

  function unavailable(detail: string): IdentityOutcome {
    return fail('unavailable', `auth service ${detail}`, 503);
  }

  function describe(err: unknown): string {
    const e = err as { name?: string; code?: string; message?: string };
    if (e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') {
      return `did not answer within ${timeout} ms`;
    }
    if (closed.signal.aborted) return 'request aborted (identity method closed)';
    return `unreachable: ${e.code ?? e.message ?? String(err)}`;
  }

  async function ask(req: AuthRequest, forwarded: Record<string, string>, cacheKey: string | null): Promise<IdentityOutcome> {
    // Ours come last so a client cannot supply its own X-Forwarded-* through request_headers.
    const headers: Record<string, string> = {
      ...forwarded,
      'x-forwarded-method': req.method,
      'x-forwarded-proto': req.scheme,
      'x-forwarded-host': req.host,
      'x-forwarded-uri': req.query === null ? req.path : `${req.path}?${req.query}`,
      'x-forwarded-for': req.clientIp,
    };
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(cfg.url, {
        dispatcher: agent,
        method: 'GET',
        headers,
        signal: AbortSignal.any([closed.signal, AbortSignal.timeout(timeout)]),
      });
    } catch (err) {
      return unavailable(describe(err));
    }
    // The answer is in the status and headers; the body is drained so the connection can be reused.
    try {
      await res.body.dump();
    } catch {
      /* a broken body does not change the answer already given */
    }
    const status = res.statusCode;
    if (status === 401) return fail('bad_credentials', 'auth service refused the credentials (401)', 401);
    if (status === 403) return fail('refused', 'auth service refused access (403)', 403);
    if (status < 200 || status > 299) return unavailable(`answered ${status}`);

    const userId = one(res.headers[userHeader])?.trim();
    if (!userId) return fail('malformed', `auth service allowed without ${cfg.user_header}`);
    const name = one(res.headers[nameHeader])?.trim();
    const groupsRaw = res.headers[groupsHeader];
    const groups =
      groupsRaw === undefined
        ? []
        : joined(groupsHeader, groupsRaw)
            .split(',')
            .map((g) => g.trim())
            .filter((g) => g.length > 0);
    const identity: Identity = { userId, userName: name ? name : null, groups, claims: {} };
    let outcome: IdentityOutcome;
    if (copyHeaders.length > 0) {
      const upstreamHeaders: Record<string, string> = {};
      for (const h of copyHeaders) {
        const v = res.headers[h];
        if (v !== undefined) upstreamHeaders[h] = joined(h, v);
      }
      outcome = { kind: 'ok', identity, upstreamHeaders };
    } else {
      outcome = { kind: 'ok', identity };
    }
    if (cache !== null && cacheKey !== null) cache.set(cacheKey, outcome, Date.now() + cfg.cache);
    return outcome;
  }

  function authenticate(req: AuthRequest): IdentityOutcome | Promise<IdentityOutcome> {
    let forwarded: Record<string, string> | null = null;
    for (const h of credHeaders) {
      const v = req.headers[h];
      if (v === undefined) continue;
      (forwarded ??= {})[h] = joined(h, v);
    }
    if (forwarded === null) return NONE;
    let key: string | null = null;
    if (cache !== null) {
      // The auth service is told the method, host and URI and may decide per path, so an answer
      // is reused only for the same credentials on the same request line and host.
      const hash = createHash('sha256');
      hash.update(req.method).update('\0').update(req.scheme).update('\0').update(req.host).update('\0').update(req.path).update('?').update(req.query ?? '').update('\n');
      for (const h of credHeaders) {
        const v = forwarded[h];
        if (v !== undefined) hash.update(h).update('\0').update(v).update('\n');
      }
      key = hash.digest('hex');
      const hit = cache.get(key, Date.now());
      if (hit !== undefined) return hit;
    }
    return ask(req, forwarded, key);
  }

  let closing: Promise<void> | null = null;
  return {
    id: cfg.id,
    type: 'forward_auth',
    challenge: null,
    authenticate,
    close() {
      closing ??= (async () => {
        closed.abort();
        cache?.clear();
        await agent.destroy().catch(() => {});
      })();
      return closing;
    },
  };
}
