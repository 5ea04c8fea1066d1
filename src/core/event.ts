/**
 * The audit event: the one record Tollgate writes per request, and the field
 * catalog (version 1) that documents it. Every pipeline stage adds to an
 * event; the store, the exports and the docs are all derived from FIELDS, so a
 * field is added here and nowhere else.
 *
 * core/ imports nothing outside core/.
 */

export const EVENT_SCHEMA_VERSION = 1;

export type EventKind = 'http' | 'websocket' | 'tcp' | 'admin';
export type Decision = 'allow' | 'deny' | 'ratelimit' | 'block' | 'error';
export type Termination =
  | 'ok'
  | 'client_abort'
  | 'upstream_timeout'
  | 'upstream_error'
  | 'upstream_unavailable'
  | 'no_route'
  | 'bad_request'
  | 'request_too_large'
  | 'request_timeout'
  | 'audit_unavailable'
  | 'denied'
  | 'blocked'
  | 'rate_limited'
  | 'internal_error';

/** JSON object fields (headers, labels, extra) carry string values only. */
export type JsonMap = Record<string, string>;

export interface AuditEvent {
  id: string;
  ts: string;
  duration_ms: number | null;
  kind: EventKind;
  source: string;
  node: string | null;
  client_ip: string | null;
  client_port: number | null;
  peer_ip: string | null;
  forwarded_for: string | null;
  user_id: string | null;
  user_name: string | null;
  auth_method: string | null;
  auth_error: string | null;
  method: string | null;
  scheme: string | null;
  host: string | null;
  path: string | null;
  query: string | null;
  http_version: string | null;
  route: string | null;
  service: string | null;
  upstream: string | null;
  upstream_status: number | null;
  upstream_ms: number | null;
  attempts: number | null;
  status: number | null;
  bytes_in: number | null;
  bytes_out: number | null;
  decision: Decision | null;
  rule_id: string | null;
  reason: string | null;
  termination: Termination | string | null;
  user_agent: string | null;
  referer: string | null;
  request_id: string | null;
  trace_id: string | null;
  tls_version: string | null;
  tls_cipher: string | null;
  sni: string | null;
  client_cert: string | null;
  environment: string | null;
  region: string | null;
  deployment: string | null;
  headers: JsonMap | null;
  labels: JsonMap | null;
  extra: JsonMap | null;
}

export type FieldType = 'uuid' | 'timestamp' | 'string' | 'int' | 'float' | 'json';

export interface FieldSpec {
  name: keyof AuditEvent;
  type: FieldType;
  /** OpenTelemetry / ECS name used by exports, when one exists. */
  otel?: string;
  /** Filterable through the admin API and `tollgate query`. */
  filter?: boolean;
  description: string;
}

/** The field catalog, in column order. */
export const FIELDS: readonly FieldSpec[] = [
  { name: 'id', type: 'uuid', otel: 'event.id', description: 'UUIDv7: unique and sortable by time.' },
  { name: 'ts', type: 'timestamp', otel: '@timestamp', description: 'When the request started (first byte of the request head), ms precision, UTC.' },
  { name: 'duration_ms', type: 'float', otel: 'event.duration', description: 'From request start until the last response byte was handed to the socket, or until the abort.' },
  { name: 'kind', type: 'string', description: '`http`, `websocket`, `tcp` or `admin`.' },
  { name: 'source', type: 'string', description: '`tollgate` for live traffic, otherwise the ingested format (`nginx`, `haproxy`, `alb`, ...).' },
  { name: 'node', type: 'string', otel: 'observer.hostname', description: 'The Tollgate node (or original load balancer) that saw the request.' },
  { name: 'client_ip', type: 'string', otel: 'client.address', filter: true, description: 'The client, resolved through the trusted proxies.' },
  { name: 'client_port', type: 'int', otel: 'client.port', description: 'The client port when the client is the socket peer; null when resolved through a proxy.' },
  { name: 'peer_ip', type: 'string', otel: 'network.peer.address', description: 'The socket peer address.' },
  { name: 'forwarded_for', type: 'string', description: 'The X-Forwarded-For chain as received (null when absent).' },
  { name: 'user_id', type: 'string', otel: 'user.id', filter: true, description: 'The authenticated identity.' },
  { name: 'user_name', type: 'string', otel: 'user.name', description: 'Display name of the identity; on a failed Basic login, the user name that was tried (with `user_id` null).' },
  { name: 'auth_method', type: 'string', description: 'How the identity was established (`api_key`, `jwt`, `mtls`, `basic`, `forward_auth`).' },
  { name: 'auth_error', type: 'string', description: 'Why authentication failed (`missing`, `expired`, `bad_signature`, ...).' },
  { name: 'method', type: 'string', otel: 'http.request.method', filter: true, description: 'HTTP method as received.' },
  { name: 'scheme', type: 'string', otel: 'url.scheme', description: '`http` or `https` as seen by Tollgate.' },
  { name: 'host', type: 'string', otel: 'url.domain', filter: true, description: 'Host header (without port), lower-cased.' },
  { name: 'path', type: 'string', otel: 'url.path', description: 'Request path as received (without the query).' },
  { name: 'query', type: 'string', otel: 'url.query', description: 'Query string without `?`, with secret parameters redacted.' },
  { name: 'http_version', type: 'string', otel: 'network.protocol.version', description: '`1.0`, `1.1` or `2`.' },
  { name: 'route', type: 'string', filter: true, description: 'Id of the route that matched (null when none did).' },
  { name: 'service', type: 'string', otel: 'service.name', filter: true, description: 'Service name of the route (defaults to its backend pool).' },
  { name: 'upstream', type: 'string', otel: 'server.address', filter: true, description: 'The backend (host:port) that served the final attempt.' },
  { name: 'upstream_status', type: 'int', description: 'Status the backend answered (null when no backend answered).' },
  { name: 'upstream_ms', type: 'float', description: 'From sending the request to the backend until its response headers arrived (final attempt).' },
  { name: 'attempts', type: 'int', description: 'Backend attempts made (retries included); 0 when a proxied request tried no backend (no route, refused, no server available). Null for admin calls, and for ingested logs that do not say.' },
  { name: 'status', type: 'int', otel: 'http.response.status_code', filter: true, description: 'Status the client got (null when the client aborted before any response).' },
  { name: 'bytes_in', type: 'int', otel: 'http.request.body.size', description: 'Request body bytes received from the client.' },
  { name: 'bytes_out', type: 'int', otel: 'http.response.body.size', description: 'Response body bytes sent to the client.' },
  { name: 'decision', type: 'string', filter: true, description: '`allow`, `deny`, `ratelimit`, `block` or `error`.' },
  { name: 'rule_id', type: 'string', filter: true, description: 'The rule behind the decision.' },
  { name: 'reason', type: 'string', description: 'Why: a stable, human-readable explanation of the decision or failure.' },
  { name: 'termination', type: 'string', filter: true, description: 'How the exchange ended: `ok`, `client_abort`, `upstream_timeout`, `upstream_error`, `upstream_unavailable`, `no_route`, `bad_request`, `request_too_large`, `request_timeout`, `audit_unavailable`, `denied` (policy or authentication), `blocked` (IP list or dynamic block), `rate_limited`, `internal_error`.' },
  { name: 'user_agent', type: 'string', otel: 'user_agent.original', description: 'User-Agent header.' },
  { name: 'referer', type: 'string', otel: 'http.request.referrer', description: 'Referer header.' },
  { name: 'request_id', type: 'string', otel: 'http.request.id', filter: true, description: 'X-Request-Id as received, or generated by Tollgate; passed to the backend and returned to the client.' },
  { name: 'trace_id', type: 'string', otel: 'trace.id', filter: true, description: 'W3C trace id from `traceparent`.' },
  { name: 'tls_version', type: 'string', otel: 'tls.version', description: 'Negotiated TLS version.' },
  { name: 'tls_cipher', type: 'string', otel: 'tls.cipher', description: 'Negotiated cipher.' },
  { name: 'sni', type: 'string', otel: 'tls.client.server_name', description: 'Server name the client asked for.' },
  { name: 'client_cert', type: 'string', otel: 'tls.client.subject', description: 'Client certificate subject, when one was presented.' },
  { name: 'environment', type: 'string', otel: 'deployment.environment', description: 'Configured environment tag.' },
  { name: 'region', type: 'string', otel: 'cloud.region', description: 'Configured region tag.' },
  { name: 'deployment', type: 'string', otel: 'service.version', description: 'Version deployed for the service when the request was made.' },
  { name: 'headers', type: 'json', description: 'Selected request (`req.<name>`) and response (`res.<name>`) headers, redacted.' },
  { name: 'labels', type: 'json', description: 'User-defined labels from the node and the route.' },
  { name: 'extra', type: 'json', description: 'Source-specific fields of ingested logs.' },
];

export const FIELD_NAMES: readonly (keyof AuditEvent)[] = FIELDS.map((f) => f.name);

/** A fresh event with every field present and null, so records are uniform. */
export function emptyEvent(id: string, ts: string, kind: EventKind, source: string): AuditEvent {
  return {
    id, ts, duration_ms: null, kind, source, node: null,
    client_ip: null, client_port: null, peer_ip: null, forwarded_for: null,
    user_id: null, user_name: null, auth_method: null, auth_error: null,
    method: null, scheme: null, host: null, path: null, query: null, http_version: null,
    route: null, service: null, upstream: null, upstream_status: null, upstream_ms: null, attempts: null,
    status: null, bytes_in: null, bytes_out: null,
    decision: null, rule_id: null, reason: null, termination: null,
    user_agent: null, referer: null, request_id: null, trace_id: null,
    tls_version: null, tls_cipher: null, sni: null, client_cert: null,
    environment: null, region: null, deployment: null,
    headers: null, labels: null, extra: null,
  };
}

export function statusClass(status: number | null): string {
  if (status === null) return 'none';
  return `${Math.floor(status / 100)}xx`;
}
