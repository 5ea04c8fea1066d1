/**
 * Ingest: other load balancers' access logs, read into the same audit event
 * catalog, spool and store as live traffic. A parser turns one log line into
 * one event (or says precisely why it cannot); an input yields batches of
 * lines with where they came from, so bad lines are reported with file and
 * line number and the registry can remember how far each file was read.
 */
import type { AuditEvent } from '../core/event.js';
import type { SqlLineFormat } from '../store/duckdb/bulk-log.js';

export type ParseOutcome =
  | { ok: true; event: AuditEvent }
  /** The line is not an access-log entry at all (blank, a comment, a header line): not counted as rejected. */
  | { ok: 'skip' }
  | {
      ok: false;
      /** Stable, short, lower_snake reason for totals, e.g. `field_count`, `bad_timestamp`, `bad_request_line`. */
      reason: string;
      /** Human detail for the sample shown to the user (never more than ~200 characters). */
      detail: string;
    };

export interface LogParser {
  /** The format id, e.g. `nginx-combined`, `alb`, `haproxy-http`. */
  readonly format: string;
  /** The event's `source`: `nginx`, `haproxy`, `alb`, `elb`, `nlb`, `apache`, `caddy`, `traefik`, `envoy`. */
  readonly source: string;
  /** Pure and synchronous; called once per line (without its line terminator). Must never throw. */
  parse(line: string): ParseOutcome;
  /**
   * The same format as a regular expression and SQL, so the store can parse
   * whole chunks of a file itself (store/duckdb/bulk-log.ts); absent or null
   * when the format has a field that cannot be expressed exactly.
   */
  readonly sql?: SqlLineFormat | null;
}

/**
 * A text format compiled for DuckDB. It only takes lines whose every value
 * it reads exactly as `parse` does; the store reports the others, and
 * `parse` reads them. So both paths give the same events, which the
 * differential tests check (nginx/line-sql.test.ts).
 */
export type { SqlLineFormat } from '../store/duckdb/bulk-log.js';

export interface ParserOptions {
  /** A custom format string: NGINX `log_format`, HAProxy `log-format`, Apache `LogFormat`. */
  logFormat?: string;
  /** Recorded as `node` when the log line does not name its load balancer. */
  node?: string;
  /** Recorded as `environment`. */
  environment?: string;
  /**
   * IANA time zone ("Europe/Berlin") of times the log writes without an
   * offset: HAProxy's default dates, Apache %{...}t without %z, Caddy's
   * `wall`. Default: UTC.
   */
  timezone?: string;
  /**
   * More header names to redact (audit.redact.headers), as for live traffic;
   * the always-redacted ones (Authorization, Cookie...) are redacted anyway.
   */
  redactHeaders?: readonly string[];
}

export interface ParserFactory {
  format: string;
  source: string;
  /** One line for `tollgate ingest --help` and the docs. */
  description: string;
  /** Whether the format needs `logFormat` (custom formats). */
  needsLogFormat?: boolean;
  /** Throws an Error with a clear message when `opts.logFormat` cannot be compiled. */
  create(opts: ParserOptions): LogParser;
  /**
   * How well `sample` (the first non-empty lines of an input) fits this format,
   * 0 (not at all) to 1 (certainly); used by `--format auto`. Absent: never auto-detected.
   */
  detect?(sample: readonly string[]): number;
}

/** A batch of lines from one input, in order. */
export interface LineBatch {
  /** Where the lines come from: a file path, `-` for stdin, `syslog`, or `s3://bucket/key`. */
  origin: string;
  /** Line number (1-based) of lines[0] in its origin. */
  firstLine: number;
  lines: string[];
  /** Bytes of the origin consumed up to the end of this batch (for progress and the registry). */
  endOffset: number;
  /**
   * Syslog: the host that sent each line (the message's HOSTNAME, null when it
   * had none). It becomes the event's `node` when the line itself does not
   * name its load balancer, as the syslog header does in a file.
   */
  senders?: (string | null)[];
  /** Syslog: the sending process's id (PROCID, or the TAG's `[pid]`), kept as `extra.pid` as the syslog header in a file is. */
  pids?: (string | null)[];
  /** Lines longer than the reader's limit (1 MiB), kept cut to it: their index in `lines` and their full length in bytes. */
  truncated?: { index: number; bytes: number }[];
}
