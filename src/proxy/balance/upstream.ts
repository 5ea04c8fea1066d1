/**
 * One backend server of a pool: its keep-alive connection pool (undici) and
 * the live state that balancers read on every pick.
 *
 * State is plain mutable fields, not getters or events, because balancers read
 * it for every server on every request (~30k req/s). Who writes what:
 *  - the forwarding stage: acquire()/release() around each attempt;
 *  - the health checker (health.ts): `healthy`, `lastCheck`;
 *  - the pool's outlier detection (pool.ts): `consecutiveFailures`,
 *    `ejectedUntil`, `ejectionCount`, `failures`.
 * An ejection ends by the clock alone (isAvailable compares with `now`), so no
 * timer is needed for a server to come back.
 */
import { Pool } from 'undici';
import { parseAddress, type PoolConfig, type ServerConfig } from '../../config/schema.js';

export type { UpstreamState } from './snapshot.js';
import type { UpstreamState } from './snapshot.js';

/** Why an attempt failed, as reported by the forwarding stage. */
export type FailureReason = 'connect' | 'timeout' | 'status_5xx' | 'reset';

/** The last active health check of a server. */
export interface HealthCheckRecord {
  /** When the check started (epoch ms). */
  ts: number;
  ok: boolean;
  /** Status the server answered, or null when it did not answer. */
  status: number | null;
  /** Transport error or timeout text; null when the server answered. */
  error: string | null;
  duration_ms: number;
}

/** The pool settings an upstream's connection pool is built from. */
export type UpstreamPoolSettings = Pick<PoolConfig, 'timeouts' | 'max_connections' | 'keepalive_timeout'>;

export class Upstream {
  /** "host:port" exactly as written in the config; the `upstream` event field. */
  readonly address: string;
  /** Host name or IP (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly tls: boolean;
  /** "http(s)://host:port" (IPv6 in brackets). */
  readonly origin: string;
  /**
   * Keep-alive connections to this server. The forwarding stage dispatches
   * through it and sets headers/body timeouts per request.
   */
  readonly dispatcher: Pool;

  /** Requests in flight (acquire()d and not yet release()d). */
  outstanding = 0;
  /** Active health state; true until a health check says otherwise. */
  healthy = true;
  lastCheck: HealthCheckRecord | null = null;

  /** Failures in a row since the last success (passive outlier detection). */
  consecutiveFailures = 0;
  /** Ejected until this epoch ms; 0 when never ejected. */
  ejectedUntil = 0;
  /** Ejections so far; the next one lasts base_ejection * 2^ejectionCount. */
  ejectionCount = 0;

  /** Attempts sent (counted by acquire()). */
  requests = 0;
  /** Attempts reported as failed. */
  failures = 0;

  constructor(server: Pick<ServerConfig, 'address'> & Partial<ServerConfig>, settings: UpstreamPoolSettings) {
    const hp = parseAddress(server.address);
    if (!hp) throw new Error(`invalid upstream address ${JSON.stringify(server.address)}: expected "host:port"`);
    const weight = server.weight ?? 1;
    if (!Number.isInteger(weight) || weight < 1) throw new Error(`invalid weight ${weight} for upstream ${server.address}: expected an integer >= 1`);
    this.address = server.address;
    this.host = hp.host;
    this.port = hp.port;
    this.weight = weight;
    this.tls = server.tls ?? false;
    const hostPart = hp.host.includes(':') ? `[${hp.host}]` : hp.host;
    this.origin = `${this.tls ? 'https' : 'http'}://${hostPart}:${hp.port}`;
    const keepAlive = settings.keepalive_timeout > 0;
    this.dispatcher = new Pool(this.origin, {
      connections: settings.max_connections,
      // undici rejects a zero keepAliveTimeout (lazily, at the first request);
      // keepalive_timeout 0 means no reuse, which undici spells pipelining 0.
      ...(keepAlive ? { keepAliveTimeout: settings.keepalive_timeout } : {}),
      connect: { timeout: settings.timeouts.connect },
      // One request per connection at a time: pipelining lets one slow
      // response stall the requests queued behind it.
      pipelining: keepAlive ? 1 : 0,
    });
  }

  /** Marks an attempt as started. Pair every call with release(). */
  acquire(): void {
    this.outstanding++;
    this.requests++;
  }

  /** Marks an attempt as finished (success or not). */
  release(): void {
    if (this.outstanding > 0) this.outstanding--;
  }

  /** Whether balancers may pick this server: healthy and not ejected. */
  isAvailable(now: number = Date.now()): boolean {
    return this.healthy && this.ejectedUntil <= now;
  }

  /**
   * One word for the admin API and logs. Unhealthy wins over ejected: an
   * ejection ends by itself, a failing health check does not.
   */
  state(now: number = Date.now()): UpstreamState {
    if (!this.healthy) return 'unhealthy';
    return this.ejectedUntil > now ? 'ejected' : 'healthy';
  }
}
