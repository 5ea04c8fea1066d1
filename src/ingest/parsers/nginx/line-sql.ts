/**
 * A compiled text format (line-format.ts) as one RE2 pattern and SQL
 * expressions, so the store can parse a whole chunk of a log file inside
 * DuckDB, on all its threads, without a JavaScript string per line
 * (store/duckdb/bulk-log.ts).
 *
 * The rule that keeps it exact: the pattern only accepts values that the
 * JavaScript walk reads in exactly one way and converts exactly as the SQL
 * does. Each value's character class leaves out its separator's first
 * character, quotes and backslashes (so no escape is ever undone and no
 * separator is ever guessed), and numbers, times and request lines must
 * have their plain shapes. A line outside that (an escaped quote, a "-"
 * where an address goes, a URL with a space, HTTP/0.9, a leap second...)
 * is not taken, and LineParser.parse reads it, accepting or rejecting it
 * with its reason. line-sql.test.ts checks both paths store the same
 * events for every golden file and a corpus of edge cases.
 *
 * Formats with a field this file does not translate (durations, upstream
 * lists, hosts, headers, redacted values, ISO or epoch times...) get null:
 * they are read in JavaScript only.
 */
import { Sink, clfTime, clfTimeBracketed, type Field, type LineFormat, type Finisher } from './line-format.js';
import type { SqlLineFormat } from '../../types.js';
import { sqlString } from '../../../store/duckdb/bulk-file.js';

/** One character of a pattern, as RE2 reads it anywhere (in or out of a class). */
function hex(c: string): string {
  return `\\x{${c.codePointAt(0)!.toString(16)}}`;
}

/** A literal as an RE2 pattern. */
function literal(s: string): string {
  let out = '';
  for (const c of s) out += /[A-Za-z0-9 /:,;=_]/.test(c) ? c : hex(c);
  return out;
}

/** A SQL string literal, or NULL. */
function sqlText(s: string | null): string {
  return s === null ? 'NULL' : sqlString(s);
}

// Printable ASCII without space, '"', '\' (and '?' for a path): what a request
// line holds when the server escaped nothing in it.
const PATH_CHAR = '[\\x{21}\\x{23}-\\x{3e}\\x{40}-\\x{5b}\\x{5d}-\\x{7e}]';
const QUERY_CHAR = '[\\x{21}\\x{23}-\\x{5b}\\x{5d}-\\x{7e}]';
const DAY = '(?:0[1-9]|[12][0-9]|3[01])';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const CLOCK = '(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]';

/** The event column each translated sink writes (a format feeding one column twice is not translated). */
const TEXT_COLUMN: Partial<Record<Sink, string>> = {
  [Sink.UserId]: 'user_id',
  [Sink.PeerIp]: 'peer_ip',
  [Sink.Node]: 'node',
  [Sink.ForwardedFor]: 'forwarded_for',
  [Sink.Referer]: 'referer',
  [Sink.UserAgent]: 'user_agent',
  [Sink.RequestId]: 'request_id',
};

/**
 * The SQL form of `lf`, or null when one of its fields cannot be expressed
 * exactly. `source` and `fin` are what LineParser puts in every event.
 */
export function compileLineSql(lf: LineFormat, source: string, fin: Finisher): SqlLineFormat | null {
  let pattern = '^' + literal(lf.lead);
  const groups: string[] = [];
  const columns: [string, string][] = [];
  const extras: string[] = [];
  const written = new Set<string>();
  const extraKeys = new Set<string>();
  let timeGroup = '';
  let hasStatus = false;
  let hasNode = false;

  const group = (name: string, re: string): string => {
    groups.push(name);
    pattern += `(${re})`;
    return `m.${name}`;
  };
  const writes = (...cols: string[]): boolean => {
    for (const c of cols) {
      if (written.has(c)) return false;
      written.add(c);
    }
    return true;
  };

  for (let i = 0; i < lf.fields.length; i++) {
    const f: Field = lf.fields[i];
    const last = i === lf.fields.length - 1;
    if (f.list || f.optional || f.redact !== null || (f.minWidth > 0 && f.sink !== Sink.Time)) return null;
    if (f.after === '' && !last) return null;
    const name = `f${i}`;
    // A value never holds its separator's first character, a quote or a backslash;
    // unquoted, it holds no white space either.
    const stop = f.after === '' ? '' : hex(f.after[0]);
    const textClass = f.quoted ? `[^"\\\\${stop}]*` : `[^\\s"\\\\${stop}]+`;
    switch (f.sink) {
      case Sink.ClientIp: {
        if (!writes('client_ip')) return null;
        columns.push(['client_ip', group(name, '[0-9A-Fa-f.:]+')]);
        break;
      }
      case Sink.UserId:
      case Sink.PeerIp:
      case Sink.Node:
      case Sink.ForwardedFor:
      case Sink.Referer:
      case Sink.UserAgent:
      case Sink.RequestId: {
        const col = TEXT_COLUMN[f.sink]!;
        if (!writes(col)) return null;
        const g = group(name, textClass);
        // "-" and "" are absent values.
        let expr = `nullif(nullif(${g}, ''), '-')`;
        if (f.sink === Sink.Node) {
          hasNode = true;
          expr = `coalesce(${expr}, ${sqlText(fin.node)})`;
        }
        columns.push([col, expr]);
        break;
      }
      case Sink.Extra: {
        // An integer-like key ($1 of an NGINX regex) comes first in JSON.stringify's order, not in the format's.
        if (extraKeys.has(f.key) || /^\d+$/.test(f.key)) return null;
        extraKeys.add(f.key);
        // Kept as JSON text: no control characters, which JSON.stringify would escape.
        const cls = f.quoted ? `[^"\\\\${stop}\\x{0}-\\x{1f}]*` : `[^\\s"\\\\${stop}\\x{0}-\\x{1f}]+`;
        const g = group(name, cls);
        extras.push(`CASE WHEN ${g} IN ('', '-') THEN NULL ELSE ${sqlText(JSON.stringify(f.key) + ':"')} || ${g} || '"' END`);
        break;
      }
      case Sink.Status: {
        if (!writes('status')) return null;
        hasStatus = true;
        const g = group(name, '000|[1-9][0-9][0-9]');
        // "000": no response was sent.
        columns.push(['status', `CASE WHEN ${g} = '000' THEN NULL ELSE TRY_CAST(${g} AS BIGINT) END`]);
        break;
      }
      case Sink.BytesOut:
      case Sink.BytesOutClf: {
        if (!writes('bytes_out')) return null;
        // 15 digits are always a safe integer, as readInt requires.
        const g = group(name, '-|[0-9]{1,15}');
        columns.push(['bytes_out', f.sink === Sink.BytesOutClf ? `CASE WHEN ${g} = '-' THEN 0 ELSE TRY_CAST(${g} AS BIGINT) END` : `TRY_CAST(nullif(${g}, '-') AS BIGINT)`]);
        break;
      }
      case Sink.RequestLine: {
        if (!f.quoted || !writes('method', 'path', 'query', 'http_version')) return null;
        // Origin form only ("/p?q"), and an 8-character version: the walk finds
        // the same two spaces (see requestLine in line-format.ts).
        const method = group(`${name}_m`, '[A-Za-z_-]{1,31}');
        pattern += ' ';
        const path = group(`${name}_p`, `/${PATH_CHAR}*`);
        pattern += '(?:\\?';
        const query = group(`${name}_q`, `${QUERY_CHAR}*`);
        pattern += ')? HTTP/';
        const version = group(`${name}_v`, '1\\.0|1\\.1|2\\.0|3\\.0');
        columns.push(['method', method], ['path', path], ['query', `nullif(${query}, '')`], ['http_version', `CASE ${version} WHEN '2.0' THEN '2' WHEN '3.0' THEN '3' ELSE ${version} END`]);
        break;
      }
      case Sink.Time: {
        const bracketed = f.time === clfTimeBracketed;
        if ((f.time !== clfTime && !bracketed) || timeGroup !== '' || !writes('ts')) return null;
        if (bracketed) pattern += '\\[';
        const dt = group(`${name}_t`, `${DAY}/${MONTH}/[0-9]{4}:${CLOCK}`);
        pattern += ' ';
        const sign = group(`${name}_s`, '[+-]');
        // Offsets the JavaScript reader accepts: hours 00-23, minutes 00-59.
        const oh = group(`${name}_h`, '(?:[01][0-9]|2[0-3])');
        const om = group(`${name}_n`, '[0-5][0-9]');
        if (bracketed) pattern += '\\]';
        timeGroup = dt;
        // UTC = local time minus the offset, in plain TIMESTAMP arithmetic (no session time zone involved).
        columns.push(['ts', `try_strptime(${dt}, '%d/%b/%Y:%H:%M:%S') - (CASE ${sign} WHEN '-' THEN -1 ELSE 1 END) * (TRY_CAST(${oh} AS INTEGER) * 60 + TRY_CAST(${om} AS INTEGER)) * INTERVAL 1 MINUTE`]);
        break;
      }
      default:
        return null;
    }
    pattern += literal(f.after);
  }
  if (timeGroup === '') return null;
  pattern += '$';

  if (extras.length) columns.push(['extra', `nullif('{' || concat_ws(',', ${extras.join(', ')}) || '}', '{}')`]);
  columns.push(['source', sqlText(source)]);
  if (!hasNode) columns.push(['node', sqlText(fin.node)]);
  columns.push(['environment', sqlText(fin.environment)]);
  // Derived from the status as LineParser's finish() does (columns are not visible to each other: repeat the expression).
  const status = columns.find(([c]) => c === 'status')?.[1];
  columns.push(['kind', hasStatus ? `CASE WHEN (${status}) = 101 THEN 'websocket' ELSE 'http' END` : `'http'`]);
  columns.push(['termination', hasStatus ? `CASE (${status}) WHEN 499 THEN 'client_abort' WHEN 504 THEN 'upstream_timeout' WHEN 502 THEN 'upstream_error' WHEN 408 THEN 'request_timeout' WHEN 494 THEN 'request_too_large' ELSE CASE WHEN (${status}) IS NULL THEN NULL ELSE 'ok' END END` : 'NULL']);
  return {
    pattern,
    groups,
    columns,
    // The time group is never empty in a match.
    matched: `${timeGroup} <> ''`,
    // A time JavaScript accepts too: after 1970, before the year 10000.
    taken: `ts > TIMESTAMP '1970-01-01 00:00:00' AND ts <= TIMESTAMP '9999-12-31 23:59:59.999'`,
  };
}
