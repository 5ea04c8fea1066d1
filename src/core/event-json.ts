/**
 * Fast serialization of audit events to JSON, compiled once from the field
 * catalog. JSON.stringify walks a 47-field object generically on every
 * request; this unrolls the catalog into straight-line code and copies
 * strings that need no escaping as they are (the common case).
 *
 * Null fields are left out (about half of a typical event): the spool line
 * is shorter to write, read and parse, and readers restore them with
 * completeEvent(). `id` is always first, so a record starts with `{"id":`.
 */
import { FIELDS, type AuditEvent, type FieldSpec } from './event.js';

/** A string has a character JSON.stringify escapes (or a lone surrogate, which it escapes as \uXXXX). */
export const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/; // eslint-disable-line no-control-regex

function str(v: string | null | undefined): string {
  if (v === null || v === undefined) return 'null';
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : '"' + v + '"';
}

function num(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'null';
  return String(v);
}

function obj(v: unknown): string {
  return v === null || v === undefined ? 'null' : JSON.stringify(v);
}

function writerFor(f: FieldSpec): string {
  const get = `e[${JSON.stringify(f.name)}]`;
  switch (f.type) {
    case 'int':
    case 'float':
      return `num(${get})`;
    case 'json':
      return `obj(${get})`;
    default:
      return `str(${get})`;
  }
}

type Serializer = (e: AuditEvent) => string;

function compile(): Serializer {
  const [first, ...rest] = FIELDS;
  if (first.name !== 'id') throw new Error('the field catalog must start with id');
  const parts = [`${JSON.stringify('{"id":')} + str(e.id)`];
  for (const f of rest) {
    const get = `e[${JSON.stringify(f.name)}]`;
    parts.push(`(${get} === null || ${get} === undefined ? '' : ${JSON.stringify(',' + JSON.stringify(f.name) + ':')} + ${writerFor(f)})`);
  }
  const body = `return ${parts.join(' + ')} + '}';`;
  // Code generated from the static field catalog above, never from input.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function('str', 'num', 'obj', `return function serializeEvent(e) { ${body} };`) as (s: typeof str, n: typeof num, o: typeof obj) => Serializer;
  return factory(str, num, obj);
}

/** An event read back from a record, with every absent field set to null, in catalog order. */
export function completeEvent(partial: Partial<AuditEvent>): AuditEvent {
  const out = {} as Record<string, unknown>;
  for (const f of FIELDS) out[f.name] = partial[f.name] ?? null;
  return out as unknown as AuditEvent;
}

/** JSON text of an event: non-null fields in catalog order. */
export const serializeEvent: Serializer = compile();

const RECORD_HEAD = Buffer.from('{"id":"');
const TS_KEY = Buffer.from('","ts":"');
/** `{"id":"` + 36-character UUID + `","ts":"`: where a record's ts starts. */
const TS_AT = RECORD_HEAD.length + 36 + TS_KEY.length;

/**
 * The ts of a record as serializeEvent writes it — `{"id":"<UUID>","ts":"`
 * followed by toISOString() form (`YYYY-MM-DDTHH:MM:SS.mmmZ`) — read from the
 * bytes without parsing the record; null for any other shape. Lets a loader
 * that hands records to a native JSON reader check the one field whose text
 * form matters (a timestamp with another offset would be read wrongly) and
 * learn the hour each record falls in.
 */
export function recordTs(buf: Buffer, start: number, end: number): string | null {
  const tsEnd = start + TS_AT + 24;
  if (end < tsEnd + 1 || buf[tsEnd] !== 0x22 /* " */ || buf[tsEnd - 1] !== 0x5a /* Z */) return null;
  if (buf.compare(RECORD_HEAD, 0, RECORD_HEAD.length, start, start + RECORD_HEAD.length) !== 0) return null;
  const keyAt = start + RECORD_HEAD.length + 36;
  if (buf.compare(TS_KEY, 0, TS_KEY.length, keyAt, keyAt + TS_KEY.length) !== 0) return null;
  // The id must be a UUID as written (8-4-4-4-12 hex): DuckDB's UUID reader would accept other dash placements and store a different id.
  const idAt = start + RECORD_HEAD.length;
  for (let i = 0; i < 36; i++) {
    const ch = buf[idAt + i];
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (ch !== 0x2d /* - */) return null;
    } else if (!((ch >= 0x30 && ch <= 0x39) || (ch >= 0x61 && ch <= 0x66) || (ch >= 0x41 && ch <= 0x46))) return null;
  }
  const ts = buf.toString('latin1', start + TS_AT, tsEnd);
  return ts.charCodeAt(10) === 84 /* T */ && ts.charCodeAt(19) === 46 /* . */ && ts.charCodeAt(4) === 45 /* - */ ? ts : null;
}
