/**
 * Rate-limit state shared between Tollgate processes through Redis.
 *
 * The GCRA of gcra.ts runs as a Lua script, so that reading the TAT, deciding
 * and writing it back is one atomic step for every process sharing the key.
 * The script takes the time from Redis (TIME), not from the caller: the hosts
 * of two Tollgate processes may disagree about the time by more than an
 * emission interval, and the limit would then leak (or over-refuse) by that
 * much. One clock, the server's, makes them agree.
 *
 * The connection is set up to fail fast: no offline queue (a command sent
 * while disconnected fails at once instead of waiting for a reconnection), no
 * retries of a command, and a command timeout equal to the configured
 * `timeout`. The caller then applies its fallback for that request.
 */
import { Redis } from 'ioredis';

/**
 * KEYS[1]: the key. ARGV[1]: emission interval (ms). ARGV[2]: burst.
 * Returns { allowed (0|1), remaining, resetMs, retryAfterMs }, ms rounded up
 * (Lua numbers come back to the client as integers).
 * Mirrors gcraCheck: keep both in step.
 */
const GCRA_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local emission = tonumber(ARGV[1])
local tolerance = emission * (tonumber(ARGV[2]) + 1)
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  local v = tonumber(stored)
  if v and v > now then tat = v end
end
local clamped = false
if tat - now > tolerance then
  tat = now + tolerance
  clamped = true
end
local newTat = tat + emission
local allowAt = newTat - tolerance
if allowAt - now > 0.001 then
  if clamped then
    redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now))
  end
  return { 0, 0, math.ceil(tat - now), math.ceil(allowAt - now) }
end
local ttl = math.ceil(newTat - now)
redis.call('SET', KEYS[1], string.format('%.3f', newTat), 'PX', ttl)
local remaining = math.floor((tolerance - (newTat - now)) / emission + 0.000001)
if remaining < 0 then remaining = 0 end
return { 1, remaining, ttl, 0 }
`;

/** The command that defineCommand adds to the client. */
interface GcraClient {
  tollgateGcra(key: string, emissionMs: number, burst: number): Promise<[number, number, number, number]>;
}

export interface RedisDecision {
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

export interface RedisHealth {
  state: 'up' | 'down';
  /** Last connection or command error, kept after recovery for diagnosis. */
  lastError: string | null;
  /** ISO time of the last change of `state`. */
  since: string;
}

export interface RedisStoreOptions {
  url: string;
  /** Per-command timeout (ms): a slower answer fails the command. */
  timeoutMs: number;
  /** Called on every change of health state. */
  onHealthChange?: (h: RedisHealth) => void;
  /** Longest wait between two reconnection attempts (ms). Default 1000. */
  maxReconnectDelayMs?: number;
}

export class RedisLimiterStore {
  private readonly client: Redis;
  private state: 'up' | 'down' = 'down';
  private lastError: string | null = null;
  /** An error seen since the last 'ready': the cause to report when the connection closes. */
  private errorSinceReady: string | null = null;
  private since = new Date().toISOString();
  private closed = false;

  constructor(private readonly opts: RedisStoreOptions) {
    const maxDelay = opts.maxReconnectDelayMs ?? 1000;
    this.client = new Redis(opts.url, {
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.timeoutMs,
      // A limiter that cannot connect falls back per request anyway; waiting
      // the default 10 s per attempt would only delay noticing recovery.
      connectTimeout: Math.max(1000, opts.timeoutMs * 10),
      // Reconnect soon after Redis comes back: the fallback is the degraded mode.
      retryStrategy: (times) => Math.min(times * 100, maxDelay),
      // Nothing to resend: a command that lost its connection was already
      // answered by the fallback.
      autoResendUnfulfilledCommands: false,
    });
    this.client.defineCommand('tollgateGcra', { numberOfKeys: 1, lua: GCRA_LUA });
    this.client.on('ready', () => {
      this.errorSinceReady = null;
      this.setState('up', null);
    });
    // Without an 'error' listener ioredis prints every connection error.
    this.client.on('error', (err: Error) => {
      this.errorSinceReady = err.message;
      this.lastError = err.message;
    });
    this.client.on('close', () => this.setState('down', this.errorSinceReady ?? 'connection closed'));
  }

  /**
   * Whether a command can be sent now. When false a check would fail at once
   * (no offline queue), so callers go straight to their fallback.
   */
  get available(): boolean {
    return this.client.status === 'ready';
  }

  /** Decides one request for `key` with the server's clock. Rejects on any Redis failure or timeout. */
  async check(key: string, emissionMs: number, burst: number): Promise<RedisDecision> {
    let reply: [number, number, number, number];
    try {
      reply = await (this.client as unknown as GcraClient).tollgateGcra(key, emissionMs, burst);
    } catch (err) {
      this.setState('down', err instanceof Error ? err.message : String(err));
      throw err;
    }
    // A command answered after a timeout-induced 'down' proves Redis is back.
    if (this.state !== 'up') this.setState('up', null);
    return { allowed: reply[0] === 1, remaining: reply[1], resetMs: reply[2], retryAfterMs: reply[3] };
  }

  health(): RedisHealth {
    return { state: this.state, lastError: this.lastError, since: this.since };
  }

  /** Quits the connection (politely when connected, at once otherwise). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.client.status === 'ready') {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          this.client.quit(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('quit timed out')), Math.max(200, this.opts.timeoutMs * 4));
          }),
        ]);
      } catch {
        // Fall through to disconnect: closing must not hang on a stuck Redis.
      } finally {
        clearTimeout(timer);
      }
    }
    this.client.disconnect();
  }

  private setState(state: 'up' | 'down', error: string | null): void {
    if (error !== null) this.lastError = error;
    if (state === this.state) return;
    this.state = state;
    this.since = new Date().toISOString();
    this.opts.onHealthChange?.(this.health());
  }
}
