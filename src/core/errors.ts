/**
 * The error catalog: every error Tollgate answers to a client, with a stable
 * code, the HTTP status, the audit termination and whether the message may be
 * shown to the client. Error responses carry the request id that is also in
 * the audit event, so a user's report can be found in the trail.
 */
import { STATUS_CODES } from 'node:http';
import type { Decision, Termination } from './event.js';

export interface ErrorSpec {
  code: string;
  status: number;
  termination: Termination;
  decision: Decision;
  /** Safe, generic text for the client. Internal detail goes to `reason` in the event only. */
  message: string;
}

export const ERRORS = {
  BAD_REQUEST: { code: 'TG_BAD_REQUEST', status: 400, termination: 'bad_request', decision: 'error', message: 'Bad request' },
  METHOD_NOT_ALLOWED: { code: 'TG_METHOD_NOT_ALLOWED', status: 405, termination: 'bad_request', decision: 'error', message: 'Method not allowed' },
  REQUEST_TOO_LARGE: { code: 'TG_REQUEST_TOO_LARGE', status: 413, termination: 'request_too_large', decision: 'error', message: 'Request body too large' },
  HEADERS_TOO_LARGE: { code: 'TG_HEADERS_TOO_LARGE', status: 431, termination: 'bad_request', decision: 'error', message: 'Request header fields too large' },
  REQUEST_TIMEOUT: { code: 'TG_REQUEST_TIMEOUT', status: 408, termination: 'request_timeout', decision: 'error', message: 'Request timeout' },
  NO_ROUTE: { code: 'TG_NO_ROUTE', status: 404, termination: 'no_route', decision: 'error', message: 'No route matches this request' },
  NO_HEALTHY_BACKEND: { code: 'TG_NO_HEALTHY_BACKEND', status: 503, termination: 'upstream_unavailable', decision: 'error', message: 'No healthy backend available' },
  UPSTREAM_CONNECT: { code: 'TG_UPSTREAM_CONNECT', status: 502, termination: 'upstream_error', decision: 'error', message: 'Bad gateway' },
  UPSTREAM_ERROR: { code: 'TG_UPSTREAM_ERROR', status: 502, termination: 'upstream_error', decision: 'error', message: 'Bad gateway' },
  UPSTREAM_TIMEOUT: { code: 'TG_UPSTREAM_TIMEOUT', status: 504, termination: 'upstream_timeout', decision: 'error', message: 'Gateway timeout' },
  AUDIT_UNAVAILABLE: { code: 'TG_AUDIT_UNAVAILABLE', status: 503, termination: 'audit_unavailable', decision: 'error', message: 'Service unavailable: audit trail cannot be written' },
  UNAUTHORIZED: { code: 'TG_UNAUTHORIZED', status: 401, termination: 'denied', decision: 'deny', message: 'Authentication required' },
  FORBIDDEN: { code: 'TG_FORBIDDEN', status: 403, termination: 'denied', decision: 'deny', message: 'Forbidden' },
  BLOCKED: { code: 'TG_BLOCKED', status: 403, termination: 'blocked', decision: 'block', message: 'Forbidden' },
  RATE_LIMITED: { code: 'TG_RATE_LIMITED', status: 429, termination: 'rate_limited', decision: 'ratelimit', message: 'Too many requests' },
  AUTH_UNAVAILABLE: { code: 'TG_AUTH_UNAVAILABLE', status: 503, termination: 'denied', decision: 'deny', message: 'Service unavailable: authentication cannot be checked' },
  INTERNAL: { code: 'TG_INTERNAL', status: 500, termination: 'internal_error', decision: 'error', message: 'Internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorName = keyof typeof ERRORS;

/** Body of an error response: small, JSON, with the request id to quote. */
export function errorBody(spec: ErrorSpec, requestId: string): string {
  return `{"error":{"code":"${spec.code}","message":"${spec.message}","request_id":"${requestId}"}}\n`;
}

/**
 * A whole error response for a raw socket (a request Node's HTTP server never
 * handed over, a refused upgrade): `body`, the headers given (CR/LF removed),
 * and the connection closed after it.
 */
export function rawErrorResponse(status: number, body: string, headers: Readonly<Record<string, string>> = {}): string {
  let extra = '';
  for (const [k, v] of Object.entries(headers)) extra += `${k}: ${v.replace(/[\r\n]/g, '')}\r\n`;
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n${extra}Connection: close\r\n\r\n${body}`;
}
