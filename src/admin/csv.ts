/**
 * CSV export of audit events: RFC 4180 (CRLF rows, fields quoted when they
 * hold a quote, comma, CR or LF, quotes doubled), one column per catalog
 * field in catalog order, JSON maps as JSON text, null as an empty cell.
 *
 * Security teams open these files in spreadsheets, and request data is
 * attacker-controlled: a path or user agent like `=HYPERLINK(...)` would run
 * as a formula. Text cells starting with = + - @ TAB or CR get a leading
 * single quote (OWASP "CSV injection"), which spreadsheets show as text.
 * Numbers are never prefixed; we write them ourselves, so they are plain.
 */
import { FIELD_NAMES, type AuditEvent } from '../core/event.js';

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/** One text cell: formula guard, then RFC 4180 quoting. */
export function csvText(s: string): string {
  const guarded = FORMULA_START.test(s) ? `'${s}` : s;
  return NEEDS_QUOTES.test(guarded) ? `"${guarded.replace(/"/g, '""')}"` : guarded;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  if (typeof v === 'string') return csvText(v);
  return csvText(JSON.stringify(v));
}

/** The header row: field names in catalog order. */
export function csvHeader(): string {
  return FIELD_NAMES.join(',') + '\r\n';
}

export function csvRow(ev: AuditEvent): string {
  let line = '';
  for (let i = 0; i < FIELD_NAMES.length; i++) {
    if (i > 0) line += ',';
    line += cell(ev[FIELD_NAMES[i]]);
  }
  return line + '\r\n';
}
