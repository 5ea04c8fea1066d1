/**
 * Walks one line along a compiled log-format: each step either matches
 * literal text, skips separators, or measures a variable's value and stores
 * it in its slot. Values are raw text (quotes removed); the mapper in
 * parser.ts interprets them.
 */
import { Shape, type CompiledFormat, type Step, type VarStep } from './format.js';

export interface MatchError {
  reason: string;
  detail: string;
}

function mismatch(what: string, line: string, pos: number): MatchError {
  return { reason: 'format_mismatch', detail: `${what} at column ${pos + 1}: ${JSON.stringify(line.slice(pos, pos + 40))}` };
}

/** Index just after a "dd/Mon/yyyy:hh:mm:ss[.mmm][ ±zzzz]" date starting at i, or -1. */
function dateEnd(line: string, i: number): number {
  if (line.length < i + 20 || line.charCodeAt(i + 2) !== 47 || line.charCodeAt(i + 6) !== 47 || line.charCodeAt(i + 11) !== 58) return -1;
  let k = i + 20;
  if (line.charCodeAt(k) === 46) {
    k++;
    while (k < line.length && line.charCodeAt(k) >= 48 && line.charCodeAt(k) <= 57) k++;
  }
  const z = line.charCodeAt(k + 1);
  if (line.charCodeAt(k) === 32 && (z === 43 || z === 45) && line.length >= k + 6) {
    let digits = true;
    for (let d = k + 2; d < k + 6; d++) {
      const c = line.charCodeAt(d);
      if (c < 48 || c > 57) digits = false;
    }
    if (digits) k += 6;
  }
  return k;
}

function isAddressChar(c: number): boolean {
  return (c >= 48 && c <= 58) || c === 46 || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** Undoes `\"` and `\\` (flag E, or syslog-ng escaping quotes, which 8.6 says is safe to reverse). */
function unbackslash(s: string): string {
  if (s.indexOf('\\') === -1) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length && (s[i + 1] === '"' || s[i + 1] === '\\' || s[i + 1] === ']')) out += s[++i];
    else out += c;
  }
  return out;
}

export class Matcher {
  /** Raw value per variable slot; `quoted[slot]` tells whether it was quoted. */
  readonly values: string[];
  readonly quoted: boolean[];
  /** For each step, the step after it that is not a separator (or undefined). */
  private readonly nextReal: (Step | undefined)[];
  /** For each step, whether only separators follow it. */
  private readonly lastVar: boolean[];
  /** For each step, whether only separators and List variables follow it. */
  private readonly listsFollow: boolean[];

  constructor(private readonly cf: CompiledFormat) {
    this.values = new Array<string>(cf.vars.length).fill('');
    this.quoted = new Array<boolean>(cf.vars.length).fill(false);
    const steps = cf.steps;
    this.nextReal = steps.map((_, i) => {
      for (let k = i + 1; k < steps.length; k++) if (steps[k].kind !== 'sep') return steps[k];
      return undefined;
    });
    this.lastVar = steps.map((_, i) => steps.slice(i + 1).every((s) => s.kind === 'sep'));
    this.listsFollow = steps.map((_, i) => steps.slice(i + 1).every((s) => s.kind === 'sep' || (s.kind === 'var' && s.shape === Shape.List)));
  }

  /** Matches `line` from `start`; null on success, with `values` filled. */
  match(line: string, start: number): MatchError | null {
    const steps = this.cf.steps;
    const n = line.length;
    let pos = start;
    for (let si = 0; si < steps.length; si++) {
      const step = steps[si];
      if (step.kind === 'sep') {
        while (pos < n && line.charCodeAt(pos) === 32) pos++;
        continue;
      }
      if (step.kind === 'lit') {
        if (!line.startsWith(step.text, pos)) return mismatch(`expected ${JSON.stringify(step.text)}`, line, pos);
        pos += step.text.length;
        continue;
      }
      const r = this.readVar(step, si, line, pos);
      if (typeof r !== 'number') return r;
      pos = r;
    }
    while (pos < n && line.charCodeAt(pos) === 32) pos++;
    if (pos < n) return mismatch('unexpected text after the last field', line, pos);
    return null;
  }

  private readVar(v: VarStep, si: number, line: string, pos: number): number | MatchError {
    const n = line.length;
    const values = this.values;
    this.quoted[v.slot] = false;
    const next = this.nextReal[si];
    switch (v.shape) {
      case Shape.Date: {
        // A date under %{+Q}o may come quoted.
        const q = line.charCodeAt(pos) === 34 ? 1 : 0;
        const end = dateEnd(line, pos + q);
        if (end === -1 || (q === 1 && line.charCodeAt(end) !== 34)) {
          return { reason: 'bad_timestamp', detail: `no date at column ${pos + 1}: ${JSON.stringify(line.slice(pos, pos + 30))}` };
        }
        values[v.slot] = line.slice(pos + q, end);
        return end + q;
      }
      case Shape.Braces: {
        // Quoted under %{+Q}o: "{…}", or "" when nothing was captured.
        if (line.charCodeAt(pos) === 34 && line.charCodeAt(pos + 1) === 34) {
          values[v.slot] = '';
          return pos + 2;
        }
        const q = line.charCodeAt(pos) === 34 && line.charCodeAt(pos + 1) === 123 ? 1 : 0;
        if (line.charCodeAt(pos + q) !== 123 /* { */) {
          // No capture configured: HAProxy writes nothing (not even the braces).
          values[v.slot] = '';
          return pos;
        }
        const end = line.indexOf('}', pos + q + 1);
        if (end === -1 || (q === 1 && line.charCodeAt(end + 1) !== 34)) return mismatch('unclosed "{"', line, pos);
        values[v.slot] = line.slice(pos + q + 1, end);
        return end + 1 + q;
      }
      case Shape.List: {
        if (this.listsFollow[si]) {
          // "%hrl %hsl" at the end: how many words each has is not in the
          // line, so the first list takes them all (raw) and the rest are empty.
          let end = n;
          while (end > pos && line.charCodeAt(end - 1) === 32) end--;
          let empty = true;
          for (let k = pos; k < end && empty; k++) empty = line.charCodeAt(k) === 34 || line.charCodeAt(k) === 32;
          values[v.slot] = empty ? '' : line.slice(pos, end);
          return end;
        }
        break;
      }
      default:
        break;
    }
    if (line.charCodeAt(pos) === 34 /* " */) return this.readQuoted(v, si, line, pos, next);
    if (v.shape === Shape.Request) {
      if (this.lastVar[si]) {
        let end = n;
        while (end > pos && line.charCodeAt(end - 1) === 32) end--;
        values[v.slot] = line.slice(pos, end);
        return end;
      }
      // Unquoted and not last: method, URI and version are three words.
      let end = pos;
      for (let w = 0; w < 3 && end < n; w++) {
        const sp = line.indexOf(' ', end);
        end = sp === -1 ? n : w < 2 ? sp + 1 : sp;
      }
      values[v.slot] = line.slice(pos, end).trimEnd();
      return end;
    }
    let wordEnd = line.indexOf(' ', pos);
    if (wordEnd === -1) wordEnd = n;
    // The value ends where the step right after it begins: a literal glued to
    // it ("%ci:%cp", "%b/%s"), else the end of the word.
    const adjacent = this.cf.steps[si + 1];
    if (adjacent === undefined || adjacent.kind !== 'lit') {
      values[v.slot] = line.slice(pos, wordEnd);
      return wordEnd;
    }
    const lit = adjacent.text;
    let k: number;
    if (v.shape === Shape.Ip) {
      // An address is made of hex digits, dots and colons ("-" when unset,
      // "unix" for a UNIX socket); "2001:db8::1:443" before ":%cp" ends at
      // the last colon of that run.
      let end = pos;
      if (line.charCodeAt(pos) === 45) end = pos + 1;
      else if (line.startsWith('unix', pos)) end = pos + 4;
      else while (end < wordEnd && isAddressChar(line.charCodeAt(end))) end++;
      k = line.lastIndexOf(lit, end);
      if (k < pos) k = -1;
    } else {
      k = line.indexOf(lit, pos);
      if (k !== -1 && k + lit.length > wordEnd) k = -1;
    }
    if (k === -1) return mismatch(`expected ${JSON.stringify(lit)} after %${v.name}`, line, pos);
    values[v.slot] = line.slice(pos, k);
    return k;
  }

  private readQuoted(v: VarStep, si: number, line: string, pos: number, next: Step | undefined): number | MatchError {
    const n = line.length;
    let close = -1;
    if (this.lastVar[si]) {
      // The request line is last and "the only one which can contain quotes" (8.2.3).
      close = line.lastIndexOf('"');
      if (close <= pos) close = -1;
    } else {
      const follow = next !== undefined && next.kind === 'lit' ? next.text.charCodeAt(0) : 32;
      for (let j = pos + 1; j < n; j++) {
        const c = line.charCodeAt(j);
        if (c === 92 /* \ */) {
          j++;
          continue;
        }
        if (c === 34 && (j + 1 === n || line.charCodeAt(j + 1) === 32 || line.charCodeAt(j + 1) === follow)) {
          close = j;
          break;
        }
      }
    }
    if (close === -1) return { reason: 'unterminated_quote', detail: `%${v.name} opens a quote at column ${pos + 1} that does not close` };
    this.values[v.slot] = unbackslash(line.slice(pos + 1, close));
    this.quoted[v.slot] = true;
    return close + 1;
  }
}
