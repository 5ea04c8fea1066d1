/**
 * /api/v1/blocks: list, create and lift dynamic blocks of an IP (or CIDR) or
 * a user. Creating and lifting need the operator role (checked by the
 * server); the admin event of the call says what was blocked or lifted.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditEvent } from '../core/event.js';
import { canonicalBlockValue, type BlockRegistry } from '../proxy/authorize/blocks.js';
import { parseDuration } from '../config/primitives.js';
import type { AdminCaller } from './auth.js';
import { readJsonBody, sendError, sendJson } from './http.js';

const MAX_DURATION_S = 10 * 365 * 86_400;

export async function handleBlocksApi(req: IncomingMessage, res: ServerResponse, url: URL, blocks: BlockRegistry, e: AuditEvent, caller: AdminCaller | null): Promise<boolean> {
  const p = url.pathname;
  if (p === '/api/v1/blocks') {
    if (req.method === 'GET') {
      sendJson(res, 200, { blocks: blocks.list() });
      return true;
    }
    if (req.method !== 'POST') {
      sendError(res, 405, 'method_not_allowed', 'use GET or POST');
      return true;
    }
    let body: Record<string, unknown>;
    try {
      const b = await readJsonBody(req);
      if (!b || typeof b !== 'object' || Array.isArray(b)) throw new Error('the body must be a JSON object');
      body = b as Record<string, unknown>;
    } catch (err) {
      sendError(res, 400, 'bad_request', (err as Error).message);
      return true;
    }
    const errors: string[] = [];
    const kind = body.kind;
    if (kind !== 'ip' && kind !== 'user') errors.push('`kind` must be "ip" or "user"');
    const canon = kind === 'ip' || kind === 'user' ? canonicalBlockValue(kind, body.value) : null;
    if (canon && !canon.ok) errors.push(canon.error);
    let seconds: number | undefined;
    if (body.duration !== undefined) {
      const ms = typeof body.duration === 'string' || typeof body.duration === 'number' ? parseDuration(typeof body.duration === 'number' ? body.duration * 1000 : body.duration) : null;
      if (ms === null || ms <= 0 || ms / 1000 > MAX_DURATION_S) errors.push('`duration` must be a positive duration such as "15m", "2h", "7d" or a number of seconds (at most 10 years)');
      else seconds = ms / 1000;
    }
    if (body.reason !== undefined && typeof body.reason !== 'string') errors.push('`reason` must be a string');
    for (const k of Object.keys(body)) if (!['kind', 'value', 'duration', 'reason'].includes(k)) errors.push(`unknown field \`${k}\``);
    if (errors.length) {
      sendError(res, 400, 'bad_request', errors.join('; '), {}, { errors });
      return true;
    }
    const block = await blocks.add({
      kind: kind as 'ip' | 'user',
      value: (canon as { value: string }).value,
      reason: body.reason as string | undefined,
      duration_seconds: seconds,
      created_by: caller?.tokenId ?? 'anonymous',
    });
    e.reason = `blocked ${block.kind} ${block.value}${block.expires_at ? ` until ${block.expires_at}` : ''}${block.reason ? `: ${block.reason}` : ''}`;
    sendJson(res, 201, block, { location: `/api/v1/blocks/${block.id}` });
    return true;
  }
  if (p.startsWith('/api/v1/blocks/')) {
    const id = decodeURIComponent(p.slice('/api/v1/blocks/'.length));
    const block = blocks.get(id);
    if (req.method === 'GET') {
      if (!block) sendError(res, 404, 'not_found', `no block ${id}`);
      else sendJson(res, 200, block);
      return true;
    }
    if (req.method !== 'DELETE') {
      sendError(res, 405, 'method_not_allowed', 'use GET or DELETE');
      return true;
    }
    if (!block || !(await blocks.remove(id))) {
      sendError(res, 404, 'not_found', `no block ${id}`);
      return true;
    }
    e.reason = `lifted block of ${block.kind} ${block.value}`;
    res.writeHead(204).end();
    return true;
  }
  return false;
}
