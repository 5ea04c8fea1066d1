/**
 * Correlation ids: the request id (kept when the client sent a sane one,
 * generated otherwise; passed to the backend and returned to the client) and
 * the W3C trace id from `traceparent` (https://www.w3.org/TR/trace-context/).
 */
import { requestId } from '../../core/ids.js';

const SANE_ID = /^[\x21-\x7e]{1,128}$/;

export function resolveRequestId(received: string | string[] | undefined): { id: string; generated: boolean } {
  const v = Array.isArray(received) ? received[0] : received;
  if (v && SANE_ID.test(v)) return { id: v, generated: false };
  return { id: requestId(), generated: true };
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The trace id of a valid traceparent header, else null. */
export function traceIdOf(header: string | string[] | undefined): string | null {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v) return null;
  const m = TRACEPARENT.exec(v.trim());
  if (!m) return null;
  const [, version, traceId, parentId] = m;
  if (version === 'ff') return null;
  if (version === '00' && m[5]) return null; // version 00 has exactly four fields
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return null;
  return traceId;
}

