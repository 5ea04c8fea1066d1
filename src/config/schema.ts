/**
 * The configuration schema, section by section. It is the single source for
 * validation (`tollgate check`), the shipped JSON Schema (schema/) and the
 * configuration reference (docs/configuration.md): describe every field here.
 */
import { z } from 'zod';

import { duration, parseAddress } from './primitives.js';
import { AccessSchema, RouteAccessSchema, AdminTokenSchema } from './access-schema.js';
import { DetectSchema } from './detect-schema.js';

export { parseDuration, parseAddress, duration, type HostPort } from './primitives.js';

const address = (description: string) =>
  z.string().refine((v) => parseAddress(v) !== null, { message: 'expected "host:port" (IPv6 as "[::1]:port") with a port 0-65535' }).describe(description);

const cidr = z.string().describe('An IPv4 or IPv6 address or CIDR block, e.g. "10.0.0.0/8" or "::1".');

const nameRe = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const name = (what: string) => z.string().regex(nameRe, `${what} must be 1-64 characters of letters, digits, "_", "." or "-", starting with a letter or digit`);

export const TimeoutsSchema = z
  .object({
    connect: duration('Time allowed to open a TCP (and TLS) connection to a backend.').prefault('5s'),
    response_headers: duration('Time allowed, after the request was sent, for the backend to send its response headers.').prefault('30s'),
    idle: duration('Longest silence allowed while streaming a body in either direction: a client that stops sending its request body gets 408 (`request_timeout`); a backend that stops reading it, or stops sending its response, 504 (`upstream_timeout`) or a cut response.').prefault('60s'),
    total: duration('Upper bound on the whole exchange, request start to last response byte, connecting and retries included (0 = none).').prefault('0'),
    tunnel: duration(
      'Longest silence allowed in a WebSocket tunnel, both directions together (applications ping to stay under it); then both connections are closed and the tunnel recorded with termination `upstream_timeout`. 0 = none.',
    ).prefault('1h'),
  })
  .strict()
  .describe('Backend timeouts. Exceeding any of them ends the request with 504 and termination `upstream_timeout`.');

export const HealthCheckSchema = z
  .object({
    path: z.string().startsWith('/').default('/healthz').describe('Path requested with GET.'),
    interval: duration('Time between checks of one server.').prefault('5s'),
    timeout: duration('A check that takes longer fails. Not longer than `interval`; the default 2s becomes the interval when that is shorter.').prefault('2s'),
    healthy_threshold: z.number().int().min(1).default(2).describe('Consecutive passes that mark an unhealthy server healthy again.'),
    unhealthy_threshold: z.number().int().min(1).default(3).describe('Consecutive failures that mark a server unhealthy.'),
    expect_status: z
      .array(
        z.union([
          z.number().int().min(100).max(599),
          z
            .string()
            .regex(/^[1-5]xx$|^\d{3}-\d{3}$/, 'expected a class ("2xx") or a range ("200-299")')
            .refine((s) => {
              const [from, to] = s.split('-').map(Number);
              return to === undefined || (from >= 100 && from <= to && to <= 599);
            }, 'a range runs from its lower to its higher status, within 100-599'),
        ]),
      )
      .min(1)
      .default(['2xx', '3xx'])
      .describe('Statuses that pass: codes (200), classes ("2xx") or ranges ("200-299").'),
    host: z.string().optional().describe('Host header sent with checks (default: the server address).'),
  })
  .strict()
  .describe('Active health checks. Omit to consider servers healthy until passive checks say otherwise.');

export const OutlierSchema = z
  .object({
    consecutive_failures: z.number().int().min(1).default(5).describe('Consecutive connection failures, timeouts or 5xx answers that eject a server.'),
    base_ejection: duration('How long a first ejection lasts; doubles with each further ejection.').prefault('10s'),
    max_ejection: duration('Upper bound for the doubled ejection time.').prefault('5m'),
    count_5xx: z.boolean().default(true).describe('Whether 5xx answers from the backend count as failures (connection errors and timeouts always do).'),
  })
  .strict()
  .describe('Passive outlier ejection from live traffic.');

export const ServerSchema = z
  .object({
    address: address('Backend address "host:port".'),
    weight: z.number().int().min(1).max(1000).default(1).describe('Relative share of traffic for weighted algorithms.'),
    tls: z.boolean().default(false).describe('Speak HTTPS to this backend.'),
  })
  .strict();

export const ALGORITHMS = ['round_robin', 'weighted_round_robin', 'least_outstanding', 'power_of_two', 'consistent_hash'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export const PoolSchema = z
  .object({
    algorithm: z.enum(ALGORITHMS).default('round_robin').describe('How a server is chosen for each request.'),
    hash_on: z
      .object({
        by: z.enum(['client_ip', 'header', 'cookie']).describe('What the consistent hash is computed over.'),
        name: z.string().optional().describe('Header or cookie name when `by` is `header` or `cookie`.'),
      })
      .strict()
      .optional()
      .describe('Key for `consistent_hash` (default: client_ip). Requests without the key fall back to the client IP.'),
    servers: z.array(ServerSchema).min(1, 'a pool needs at least one server').describe('The backend servers of this pool.'),
    health_check: HealthCheckSchema.optional(),
    outlier: OutlierSchema.prefault({}),
    retries: z
      .number()
      .int()
      .min(0)
      .max(5)
      .default(2)
      .describe('Extra attempts on another server when connecting fails, for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) without a request body.'),
    timeouts: TimeoutsSchema.prefault({}),
    max_connections: z.number().int().min(1).default(256).describe('Most open connections to each server (keep-alive pool size).'),
    keepalive_timeout: duration('How long an idle backend connection is kept open.').prefault('30s'),
  })
  .strict()
  .describe('A backend pool: its servers, how one is chosen, health checks, retries and timeouts.');

export const RouteSchema = z
  .object({
    id: name('route id').describe('Stable id of the route; recorded in every event as `route`.'),
    hosts: z
      .array(z.string().min(1))
      .optional()
      .describe('Host names this route serves: exact ("api.example.com") or wildcard ("*.example.com" matches one or more labels). Omit for any host.'),
    path_prefix: z.string().startsWith('/').default('/').describe('Path prefix matched on segment boundaries ("/api" matches "/api" and "/api/x", not "/apix").'),
    methods: z.array(z.string().regex(/^[A-Z]+$/)).optional().describe('Restrict the route to these methods.'),
    backend: name('backend pool name').describe('Name of the backend pool that serves this route.'),
    service: z.string().optional().describe('Service name recorded in events (default: the backend pool name).'),
    strip_prefix: z.boolean().default(false).describe('Remove `path_prefix` from the path sent to the backend.'),
    labels: z.record(z.string(), z.string()).default({}).describe('Labels added to every event of this route.'),
    access: RouteAccessSchema.describe('Who may use this route: identity methods, policy rules, rate limits.'),
  })
  .strict();

export const CertificateSchema = z
  .object({
    cert: z.string().describe('PEM certificate chain file.'),
    key: z.string().describe('PEM private key file.'),
    server_names: z.array(z.string()).optional().describe('SNI names this certificate answers (exact or "*.example.com"); default: the names in the certificate.'),
  })
  .strict();

export const ListenerSchema = z
  .object({
    name: name('listener name').default('http').describe('Unique name of the listener.'),
    address: address('Address to listen on, "host:port".'),
    tls: z
      .object({
        certificates: z.array(CertificateSchema).min(1).describe('Certificates; picked by SNI, the first is the default.'),
        min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('Oldest TLS version accepted from clients.'),
        client_ca: z.string().optional().describe('PEM file of CAs that sign client certificates: asks clients for a certificate (mTLS). Verified certificates feed `mtls` identities.'),
        client_auth: z
          .enum(['request', 'require'])
          .default('request')
          .describe('With `client_ca`: `request` accepts clients without a (valid) certificate and lets route policies decide; `require` refuses the TLS handshake without a valid one.'),
      })
      .strict()
      .optional()
      .describe('Terminate TLS on this listener.'),
  })
  .strict();

export const ProxySchema = z
  .object({
    trusted_proxies: z
      .array(cidr)
      .default([])
      .describe('Peers whose X-Forwarded-For / Forwarded headers are believed. The client IP is the right-most address in the chain that is not a trusted proxy.'),
    request_id_header: z.string().default('x-request-id').describe('Header carrying the request id; generated when absent and passed on.'),
    max_body_size: z.number().int().min(0).default(10 * 1024 * 1024).describe('Largest request body accepted, in bytes; larger ones get 413.'),
    max_header_size: z.number().int().min(1024).max(1024 * 1024).default(16 * 1024).describe('Largest request head accepted, in bytes; larger ones get 431.'),
    request_timeout: duration('Time allowed for a client to send its complete request.').prefault('30s'),
    headers_timeout: duration('Time allowed for a client to send the request head.').prefault('10s'),
    keepalive_timeout: duration('How long an idle client connection is kept open.').prefault('5s'),
  })
  .strict();

export const SpoolSchema = z
  .object({
    dir: z.string().default('./data/spool').describe('Directory of spool segment files.'),
    segment_size: z.number().int().min(64 * 1024).default(64 * 1024 * 1024).describe('A segment is sealed and a new one started past this many bytes.'),
    segment_age: duration('A segment is sealed after this long even if not full, so it can be removed once loaded.').prefault('1m'),
    group_commit: duration(
      'Extra time a finished event may wait so more events share one write. 0 writes at the end of the current event-loop turn: events finishing together still share a write, and no latency is added when idle.',
    ).prefault('0'),
    fsync: z
      .enum(['always', 'interval', 'never'])
      .default('interval')
      .describe('`always`: fsync each batch before responses are released (survives power loss); `interval`: fsync every `fsync_interval` (survives a process crash); `never`: leave it to the OS.'),
    fsync_interval: duration('Time between fsyncs with `fsync: interval`.').prefault('1s'),
  })
  .strict();

export const AuditSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe('Write the audit trail. Only for measuring the cost of auditing in benchmarks: with false, no event is written for any request.'),
    spool: SpoolSchema.prefault({}).describe('The local durable spool: every event is written here first, then loaded into the store.'),
    on_audit_failure: z
      .enum(['reject', 'continue'])
      .default('reject')
      .describe('When the spool cannot be written: `reject` answers 503 (fail closed, for compliance); `continue` keeps serving and keeps the events in memory up to `memory_buffer` until the spool recovers.'),
    memory_buffer: z.number().int().min(0).default(100_000).describe('Events held in memory while the spool is failing (with `continue`).'),
    record_headers: z
      .object({
        request: z.array(z.string()).default(['accept', 'content-type', 'content-length', 'x-forwarded-proto', 'origin']).describe('Request headers recorded, as `req.<name>`.'),
        response: z.array(z.string()).default(['content-type', 'content-length', 'location', 'cache-control']).describe('Response headers recorded, as `res.<name>`.'),
      })
      .strict()
      .prefault({})
      .describe('Headers copied into the event `headers` field (lower-case names).'),
    redact: z
      .object({
        headers: z.array(z.string()).default([]).describe('More headers to redact, in addition to authorization, proxy-authorization, cookie, set-cookie and x-api-key, which always are (in live and ingested events).'),
        query_params: z
          .array(z.string())
          .default([
            'token', 'access_token', 'id_token', 'refresh_token', 'session_token', 'auth_token', 'private_token', 'jwt', 'auth',
            'session', 'sessionid', 'session_id', 'sid', 'api_key', 'apikey', 'key', 'password', 'passwd', 'pwd', 'secret', 'client_secret',
            'signature', 'sig', 'code', 'x-amz-signature', 'x-amz-credential', 'x-amz-security-token',
          ])
          .describe('Query parameters whose values are replaced by "REDACTED" (case-insensitive).'),
      })
      .strict()
      .prefault({})
      .describe('Keeps secrets out of events: header values and query parameters replaced by "REDACTED".'),
  })
  .strict();

export const StoreSchema = z
  .object({
    type: z.literal('duckdb').default('duckdb').describe('Store engine; the embedded DuckDB is the only one so far.'),
    path: z.string().default('./data/tollgate.duckdb').describe('DuckDB database file.'),
    retention_days: z.number().min(0).default(30).describe('Events older than this are deleted (0 = keep forever).'),
    batch_size: z.number().int().min(1).default(20_000).describe('Most events loaded in one transaction.'),
    load_interval: duration(
      'Pause between loads of the spool into the store when the loader has caught up. Larger values mean fewer, bigger transactions (less CPU per event) and a later view of new events in queries and the live stream.',
    ).prefault('250ms'),
    loader_nice: z
      .number()
      .int()
      .min(0)
      .max(19)
      .default(19)
      .describe('CPU niceness of the thread that loads the spool into the store (Linux). Higher yields more to traffic under contention; the spool absorbs the lag. 0 = same priority as the proxy.'),
  })
  .strict();

export const AdminSchema = z
  .object({
    address: address('Admin API and metrics listener.').default('127.0.0.1:9191'),
    tokens: z
      .array(AdminTokenSchema)
      .default([])
      .describe('Admin API tokens (Bearer), stored as SHA-256 hashes, with roles. With none configured, a random admin token is generated at start and written to `token_file`.'),
    deployments_file: z.string().default('./data/deployments.json').describe('Where deployment markers (POST /api/v1/deployments, `tollgate deploy mark`) are kept.'),
    token_file: z.string().default('./data/admin.token').describe('Where the generated admin token is written (mode 0600) when `tokens` is empty; `tollgate query`/`tail` read it from here.'),
    public: z
      .array(z.enum(['/readyz', '/metrics']))
      .default([])
      .describe('Endpoints served without a token besides /healthz (e.g. /readyz for a load balancer health check, /metrics for a scraper that cannot send a token).'),
  })
  .strict();

export const ConfigSchema = z
  .object({
    node: z
      .object({
        name: z.string().optional().describe('Node name recorded as `node` (default: the host name).'),
        environment: z.string().optional().describe('Environment tag recorded as `environment` in every event, e.g. "production".'),
        region: z.string().optional().describe('Region tag recorded as `region` in every event.'),
        labels: z.record(z.string(), z.string()).default({}).describe('Labels added to every event.'),
      })
      .strict()
      .prefault({})
      .describe('This Tollgate node: its name and the tags added to every event.'),
    workers: z
      .union([z.literal('auto'), z.number().int().min(1).max(256)])
      .default(1)
      .describe('Proxy processes: a number, or "auto" for one per CPU core. The admin API and the store writer run once, in the primary.'),
    listeners: z.array(ListenerSchema).min(1, 'at least one listener is needed').describe('Where clients connect: one or more HTTP or HTTPS listeners.'),
    routes: z.array(RouteSchema).default([]).describe('Routes, tried in order; the first match wins.'),
    backends: z.record(z.string(), PoolSchema).default({}).describe('Backend pools by name.'),
    proxy: ProxySchema.prefault({}).describe('How client requests are received and passed on: trusted proxies, size limits and client timeouts.'),
    access: AccessSchema.prefault({}).describe('Access control: identity methods, IP lists, dynamic blocks, rate-limit storage and path normalization.'),
    audit: AuditSchema.prefault({}).describe('The audit trail: spool, failure policy, recorded headers and redaction.'),
    store: StoreSchema.prefault({}).describe('Where events are stored and searched.'),
    admin: AdminSchema.prefault({}).describe('The admin listener: API, dashboard, /metrics, /healthz and /readyz.'),
    detect: DetectSchema.prefault({}).describe('Detection rules over the live event stream, alerts and notifiers.'),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('Least severe level written.') })
      .strict()
      .prefault({})
      .describe("Tollgate's own log (not the audit trail)."),
  })
  .strict();

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
export type PoolConfig = z.output<typeof PoolSchema>;
export type ServerConfig = z.output<typeof ServerSchema>;
export type RouteConfig = z.output<typeof RouteSchema>;
export type ListenerConfig = z.output<typeof ListenerSchema>;
export type HealthCheckConfig = z.output<typeof HealthCheckSchema>;
export type OutlierConfig = z.output<typeof OutlierSchema>;
export type TimeoutsConfig = z.output<typeof TimeoutsSchema>;
export type AuditConfig = z.output<typeof AuditSchema>;
export type SpoolConfig = z.output<typeof SpoolSchema>;
export type StoreConfig = z.output<typeof StoreSchema>;
