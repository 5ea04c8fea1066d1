/**
 * HAProxy `log-format` strings (configuration manual, 8.2.4 "Custom log
 * format"), compiled once into a list of steps that a matcher walks with an
 * index over each line: no regular expressions, no per-line allocation
 * beyond the field values themselves. The predefined formats (option
 * httplog, tcplog, httplog clf) are compiled from their documented strings.
 */

import { isWholeQuoted } from '../common.js';

/** How a variable's text is delimited in a line. */
export const enum Shape {
  /** Runs to the next space or literal (names, numbers, flags). */
  Word,
  /** An address: "1.2.3.4", "2001:db8::1" — a following ":" is its last colon. */
  Ip,
  /** "dd/Mon/yyyy:hh:mm:ss[.mmm][ +zzzz]" — measured, since it may contain a space. */
  Date,
  /** "{a|b}" when headers are captured, nothing at all otherwise. */
  Braces,
  /** The request line: quoted, or three space-separated words. */
  Request,
  /** CLF-style capture lists (%hrl, %hsl): any number of (quoted) words. */
  List,
}

/** Numeric ids of the variables, so the mapper switches on integers. */
export const enum V {
  o, B, CC, CS, H, HM, HP, HPO, HQ, HU, HV, ID, ST, T, Ta, Tc, Td, Th, Ti, Tl, Tq, TR, Tr, Ts, Tt, Tu, Tw, U,
  ac, b, bc, bi, bp, bq, ci, cp, f, fc, fi, fp, ft, hr, hrl, hs, hsl, lc, ms, pid, r, rc, rt, s, sc, si, sp, sq,
  sslc, sslv, t, tr, trg, trl, ts, tsc, sample,
}

interface VarInfo {
  id: V;
  shape: Shape;
  /** Only meaningful in HTTP mode: its presence makes the format an HTTP one. */
  http?: boolean;
}

// Header captures (%hr…) are not HTTP-only: 8.8 allows them in TCP frontends.
const VARS: Record<string, VarInfo> = {
  o: { id: V.o, shape: Shape.Word },
  B: { id: V.B, shape: Shape.Word },
  CC: { id: V.CC, shape: Shape.Word, http: true },
  CS: { id: V.CS, shape: Shape.Word, http: true },
  H: { id: V.H, shape: Shape.Word },
  HM: { id: V.HM, shape: Shape.Word, http: true },
  HP: { id: V.HP, shape: Shape.Word, http: true },
  HPO: { id: V.HPO, shape: Shape.Word, http: true },
  HQ: { id: V.HQ, shape: Shape.Word, http: true },
  HU: { id: V.HU, shape: Shape.Word, http: true },
  HV: { id: V.HV, shape: Shape.Word, http: true },
  ID: { id: V.ID, shape: Shape.Word },
  ST: { id: V.ST, shape: Shape.Word, http: true },
  T: { id: V.T, shape: Shape.Date },
  Ta: { id: V.Ta, shape: Shape.Word, http: true },
  Tc: { id: V.Tc, shape: Shape.Word },
  Td: { id: V.Td, shape: Shape.Word },
  Th: { id: V.Th, shape: Shape.Word },
  Ti: { id: V.Ti, shape: Shape.Word, http: true },
  Tl: { id: V.Tl, shape: Shape.Date },
  Tq: { id: V.Tq, shape: Shape.Word, http: true },
  TR: { id: V.TR, shape: Shape.Word, http: true },
  Tr: { id: V.Tr, shape: Shape.Word, http: true },
  Ts: { id: V.Ts, shape: Shape.Word },
  Tt: { id: V.Tt, shape: Shape.Word },
  Tu: { id: V.Tu, shape: Shape.Word },
  Tw: { id: V.Tw, shape: Shape.Word },
  U: { id: V.U, shape: Shape.Word },
  ac: { id: V.ac, shape: Shape.Word },
  b: { id: V.b, shape: Shape.Word },
  bc: { id: V.bc, shape: Shape.Word },
  bi: { id: V.bi, shape: Shape.Ip },
  bp: { id: V.bp, shape: Shape.Word },
  bq: { id: V.bq, shape: Shape.Word },
  ci: { id: V.ci, shape: Shape.Ip },
  cp: { id: V.cp, shape: Shape.Word },
  f: { id: V.f, shape: Shape.Word },
  fc: { id: V.fc, shape: Shape.Word },
  fi: { id: V.fi, shape: Shape.Ip },
  fp: { id: V.fp, shape: Shape.Word },
  ft: { id: V.ft, shape: Shape.Word },
  hr: { id: V.hr, shape: Shape.Braces },
  hrl: { id: V.hrl, shape: Shape.List },
  hs: { id: V.hs, shape: Shape.Braces },
  hsl: { id: V.hsl, shape: Shape.List },
  lc: { id: V.lc, shape: Shape.Word },
  ms: { id: V.ms, shape: Shape.Word },
  pid: { id: V.pid, shape: Shape.Word },
  r: { id: V.r, shape: Shape.Request, http: true },
  rc: { id: V.rc, shape: Shape.Word },
  rt: { id: V.rt, shape: Shape.Word },
  s: { id: V.s, shape: Shape.Word },
  sc: { id: V.sc, shape: Shape.Word },
  si: { id: V.si, shape: Shape.Ip },
  sp: { id: V.sp, shape: Shape.Word },
  sq: { id: V.sq, shape: Shape.Word },
  sslc: { id: V.sslc, shape: Shape.Word },
  sslv: { id: V.sslv, shape: Shape.Word },
  t: { id: V.t, shape: Shape.Date },
  tr: { id: V.tr, shape: Shape.Date, http: true },
  trg: { id: V.trg, shape: Shape.Date, http: true },
  trl: { id: V.trl, shape: Shape.Date, http: true },
  ts: { id: V.ts, shape: Shape.Word },
  tsc: { id: V.tsc, shape: Shape.Word, http: true },
};

export interface VarStep {
  kind: 'var';
  id: V;
  name: string;
  shape: Shape;
  /** Flags as configured (the line itself says whether a value is quoted). */
  hex: boolean;
  escaped: boolean;
  /** The sample expression of %[...]. */
  expr?: string;
  /** Index of this variable's value in the matcher's output. */
  slot: number;
}
export interface LitStep {
  kind: 'lit';
  text: string;
}
export interface SepStep {
  kind: 'sep';
}
export type Step = VarStep | LitStep | SepStep;

export interface CompiledFormat {
  source: string;
  steps: Step[];
  vars: VarStep[];
  /** Whether the format logs HTTP fields (else its events are `tcp`). */
  http: boolean;
}

/** The formats HAProxy predefines, as documented in 8.2.4. */
export const HTTPLOG = '%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r';
export const TCPLOG = '%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq';
export const CLFLOG =
  '%{+Q}o %{-Q}ci - - [%trg] %r %ST %B "" "" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl';

/**
 * The format as written in haproxy.cfg may carry its quoting: surrounding
 * double quotes, `\ ` for spaces and `\"` for quotes, even the `log-format`
 * keyword. All of that is configuration syntax, not part of the format.
 */
function unconfig(raw: string): string {
  let s = raw.trim();
  const keyword = /^log-format\s/.test(s);
  if (keyword) s = s.slice(11).trim();
  // As haproxy.cfg reads a line: quotes, backslash escapes, and a `#` outside them starts a comment.
  // A bare format (no keyword, not one quoted string) is the format itself, escapes aside.
  if (keyword || isWholeQuoted(s, `"'`, /^\s*(?:#.*)?$/s)) return configWords(s);
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && i + 1 < s.length) out += s[++i];
    else out += s[i];
  }
  return out;
}

/** The words of a haproxy.cfg line, unquoted and unescaped, joined by a space; a comment ends them. */
function configWords(s: string): string {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) word += s[++i];
      else word += c;
      continue;
    }
    if (c === '#') break;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (word !== null) words.push(word);
      word = null;
      continue;
    }
    word ??= '';
    if (c === '"' || c === "'") quote = c;
    else if (c === '\\' && i + 1 < s.length) word += s[++i];
    else word += c;
  }
  if (quote) throw new Error(`log-format: unterminated ${quote}quoted${quote} string`);
  if (word !== null) words.push(word);
  return words.join(' ');
}

/** HAProxy's `option httpslog` (2.5+). */
const HTTPSLOG =
  '%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r ' +
  '%[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc';

/** HAProxy's `option tcplog clf` (3.0+). */
const TCP_CLFLOG = '%{+Q}o %{-Q}ci - - [%T] "TCP " 000 %B "" "" %cp %ms %ft %b %s %Th %Tw %Tc %Tt %U %ts-- %ac %fc %bc %sc %rc %sq %bq "" "" ';

/** The formats HAProxy 3.x predefines as variables, so a config can say log-format "${HAPROXY_HTTP_LOG_FMT} ...". */
const PREDEFINED: Record<string, string> = {
  HAPROXY_HTTP_LOG_FMT: HTTPLOG,
  HAPROXY_HTTP_CLF_LOG_FMT: CLFLOG,
  HAPROXY_HTTPS_LOG_FMT: HTTPSLOG,
  HAPROXY_TCP_LOG_FMT: TCPLOG,
  HAPROXY_TCP_CLF_LOG_FMT: TCP_CLFLOG,
};

/** Expands the predefined format variables; any other `${VAR}` is the environment of the HAProxy process, unknown here. */
function expandVariables(fmt: string): string {
  return fmt.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const known = PREDEFINED[name];
    if (known === undefined) throw new Error(`log-format uses \${${name}}, a variable of the HAProxy process: give the format with it expanded (HAProxy's own: ${Object.keys(PREDEFINED).map((k) => `\${${k}}`).join(', ')})`);
    return known;
  });
}

/** Compiles a log-format string; throws an Error naming the problem. */
export function compileFormat(raw: string): CompiledFormat {
  const fmt = expandVariables(unconfig(raw));
  if (fmt.trim() === '') throw new Error('empty HAProxy log-format');
  const steps: Step[] = [];
  const vars: VarStep[] = [];
  let lit = '';
  // %o sets flags for all following variables; %{+X}var adds or removes on one.
  let defHex = false;
  let defEsc = false;
  const flushLit = () => {
    // Separators (spaces) are merged by HAProxy, so any run is one step.
    let k = 0;
    while (k < lit.length) {
      if (lit[k] === ' ') {
        while (k < lit.length && lit[k] === ' ') k++;
        if (steps.length === 0 || steps[steps.length - 1].kind !== 'sep') steps.push({ kind: 'sep' });
      } else {
        let e = k;
        while (e < lit.length && lit[e] !== ' ') e++;
        steps.push({ kind: 'lit', text: lit.slice(k, e) });
        k = e;
      }
    }
    lit = '';
  };
  let i = 0;
  while (i < fmt.length) {
    const c = fmt[i];
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    if (fmt[i + 1] === '%') {
      lit += '%';
      i += 2;
      continue;
    }
    i++;
    let hex: boolean = defHex;
    let esc: boolean = defEsc;
    if (fmt[i] === '{') {
      const end = fmt.indexOf('}', i);
      if (end === -1) throw new Error(`unclosed "{" in HAProxy log-format at column ${i + 1}`);
      for (const flag of fmt.slice(i + 1, end).split(',')) {
        const f = flag.trim();
        const on = !f.startsWith('-');
        const name = f.replace(/^[+-]/, '');
        if (name === 'X') hex = on;
        else if (name === 'E') esc = on;
        else if (name !== 'Q' && name !== '') {
          // Q is read from the line itself (a value is quoted or not); other
          // flags (e.g. "json", "cbor", "bin") change the encoding entirely.
          throw new Error(`unsupported HAProxy log-format flag "${f}"`);
        }
      }
      i = end + 1;
    }
    let step: VarStep;
    if (fmt[i] === '[') {
      let depth = 0;
      let end = i;
      for (; end < fmt.length; end++) {
        if (fmt[end] === '[') depth++;
        else if (fmt[end] === ']' && --depth === 0) break;
      }
      if (end >= fmt.length) throw new Error(`unclosed "[" in HAProxy log-format at column ${i + 1}`);
      step = { kind: 'var', id: V.sample, name: fmt.slice(i, end + 1), shape: Shape.Word, hex, escaped: esc, expr: fmt.slice(i + 1, end).trim(), slot: 0 };
      i = end + 1;
    } else {
      let end = i;
      while (end < fmt.length && /[A-Za-z]/.test(fmt[end])) end++;
      const name = fmt.slice(i, end);
      const info = VARS[name];
      if (!info) throw new Error(`unsupported HAProxy log-format variable "%${name || fmt.slice(i, i + 1)}" at column ${i}`);
      i = end;
      if (info.id === V.o) {
        defHex = hex;
        defEsc = esc;
        continue;
      }
      step = { kind: 'var', id: info.id, name, shape: info.shape, hex, escaped: esc, slot: 0 };
    }
    flushLit();
    const prev = steps[steps.length - 1];
    if (prev && prev.kind === 'var' && prev.shape !== Shape.Date && prev.shape !== Shape.Braces) {
      throw new Error(`HAProxy log-format variables ${prev.name} and ${step.name} need a separator between them to be parsed back`);
    }
    step.slot = vars.length;
    vars.push(step);
    steps.push(step);
  }
  flushLit();
  if (!vars.length) throw new Error('HAProxy log-format has no variables');
  const http = vars.some((v) => v.id !== V.sample && VARS[v.name]?.http === true);
  return { source: fmt, steps, vars, http };
}
