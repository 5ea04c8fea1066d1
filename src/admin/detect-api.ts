/**
 * /api/v1/alerts (list with filters and cursor paging, one alert, acknowledge)
 * and /api/v1/rules (each rule's state and shadow hit counts). Acknowledging
 * needs the operator role (checked by the server) and is recorded in the
 * call's admin event.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditEvent } from '../core/event.js';
import type { Detector } from '../detect/runtime/detector.js';
import type { AlertQuery } from '../detect/alerts/alert-book.js';
import { SEVERITIES } from '../detect/types.js';
import type { AdminCaller } from './auth.js';
import { limitParam, sendError, sendJson, timeParam } from './http.js';

const ALERT_PARAMS = ['status', 'rule_id', 'severity', 'shadow', 'acknowledged', 'from', 'to', 'group', 'limit', 'cursor'] as const;

function parseBool(name: string, v: string, errors: string[]): boolean | undefined {
  if (v === 'true') return true;
  if (v === 'false') return false;
  errors.push(`\`${name}\` must be true or false`);
  return undefined;
}

export function parseAlertQuery(params: URLSearchParams): { query: AlertQuery; errors: string[] } {
  const errors: string[] = [];
  const q: AlertQuery = {};
  for (const [k, v] of params) {
    switch (k) {
      case 'status':
        if (v === 'firing' || v === 'resolved') q.status = v;
        else errors.push('`status` must be firing or resolved');
        break;
      case 'severity':
        if ((SEVERITIES as readonly string[]).includes(v)) q.severity = v;
        else errors.push(`\`severity\` must be one of ${SEVERITIES.join(', ')}`);
        break;
      case 'shadow':
        q.shadow = parseBool(k, v, errors);
        break;
      case 'acknowledged':
        q.acknowledged = parseBool(k, v, errors);
        break;
      case 'from':
      case 'to':
        q[k] = timeParam(k, v, errors);
        break;
      case 'limit':
        q.limit = limitParam(v, 1000, errors);
        break;
      case 'rule_id':
      case 'group':
      case 'cursor':
        q[k] = v;
        break;
      default:
        errors.push(`unknown parameter \`${k}\` (known: ${ALERT_PARAMS.join(', ')})`);
    }
  }
  return { query: q, errors };
}

export async function handleDetectApi(req: IncomingMessage, res: ServerResponse, url: URL, detector: Detector | null, e: AuditEvent, caller: AdminCaller | null): Promise<boolean> {
  const p = url.pathname;
  if (p !== '/api/v1/alerts' && p !== '/api/v1/rules' && !p.startsWith('/api/v1/alerts/') && !p.startsWith('/api/v1/rules/')) return false;
  if (!detector) {
    sendError(res, 404, 'detection_disabled', 'detection is off on this node (detect.enabled: false)');
    return true;
  }
  if (p === '/api/v1/alerts') {
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
    const { query, errors } = parseAlertQuery(url.searchParams);
    if (errors.length) {
      sendError(res, 400, 'bad_parameter', errors.join('; '), {}, { errors });
      return true;
    }
    sendJson(res, 200, await detector.alerts(query));
    return true;
  }
  const ack = /^\/api\/v1\/alerts\/([^/]+)\/ack$/.exec(p);
  if (ack) {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    const id = decodeURIComponent(ack[1]);
    const a = await detector.acknowledge(id, caller?.tokenId ?? 'anonymous');
    if (!a) {
      sendError(res, 404, 'not_found', `no alert ${id}`);
      return true;
    }
    e.reason = `acknowledged alert ${a.id} (${a.rule_id})`;
    sendJson(res, 200, a);
    return true;
  }
  const one = /^\/api\/v1\/alerts\/([^/]+)$/.exec(p);
  if (one) {
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
    const a = await detector.alert(decodeURIComponent(one[1]));
    if (!a) sendError(res, 404, 'not_found', `no alert ${one[1]}`);
    else sendJson(res, 200, a);
    return true;
  }
  if (p === '/api/v1/rules') {
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
    sendJson(res, 200, { rules: await detector.rules() });
    return true;
  }
  const rule = /^\/api\/v1\/rules\/([^/]+)$/.exec(p);
  if (rule) {
    if (req.method !== 'GET') return methodNotAllowed(res, 'GET');
    const id = decodeURIComponent(rule[1]);
    const r = (await detector.rules()).find((x) => x.id === id);
    if (!r) sendError(res, 404, 'not_found', `no rule ${id}`);
    else sendJson(res, 200, r);
    return true;
  }
  sendError(res, 404, 'not_found', `no such endpoint: ${p}`);
  return true;
}

function methodNotAllowed(res: ServerResponse, allowed: string): true {
  sendError(res, 405, 'method_not_allowed', `use ${allowed}`, { allow: allowed });
  return true;
}
