/**
 * HAProxy logs through syslog, so its lines reach files and pipes with one of
 * several headers in front of the message: RFC 3164 (`<134>Oct 11 22:14:15
 * host haproxy[1234]: `, the host often absent when HAProxy itself wrote it),
 * RFC 5424 (`<134>1 2024-10-11T22:14:15.003Z host haproxy 1234 - - `), an
 * rsyslog RFC 3339 file line (`2024-10-11T22:14:15+00:00 host haproxy[1234]: `),
 * just the tag (`haproxy[1234]: `), or nothing (`log stdout format raw`).
 * The header's time is ignored (the message carries the accept date); its
 * host names the load balancer.
 */

export interface SyslogHeader {
  /** Index in the line where the HAProxy message starts. */
  start: number;
  /** The sending host, when the header names one. */
  host: string | null;
  /** The process id from the tag or the RFC 5424 PROCID. */
  pid: string | null;
}

const MONTHS = 'JanFebMarAprMayJunJulAugSepOctNovDec';

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** "Oct 11 22:14:15" / "Oct  1 22:14:15" at i: the index after it, or -1. */
function rfc3164Time(line: string, i: number): number {
  if (line.length < i + 15) return -1;
  const m = MONTHS.indexOf(line.slice(i, i + 3));
  if (m === -1 || m % 3 !== 0 || line.charCodeAt(i + 3) !== 32) return -1;
  const d1 = line.charCodeAt(i + 4);
  if (!(d1 === 32 || isDigit(d1)) || !isDigit(line.charCodeAt(i + 5)) || line.charCodeAt(i + 6) !== 32) return -1;
  if (line.charCodeAt(i + 9) !== 58 || line.charCodeAt(i + 12) !== 58) return -1;
  return i + 15;
}

/** "2024-10-11T22:14:15…" at i: the index after the timestamp token, or -1. */
function isoTime(line: string, i: number): number {
  if (line.length < i + 19 || line.charCodeAt(i + 4) !== 45 || line.charCodeAt(i + 10) !== 84 || !isDigit(line.charCodeAt(i))) return -1;
  const sp = line.indexOf(' ', i);
  return sp === -1 ? -1 : sp;
}

/** A syslog tag: "haproxy[1234]:" or "haproxy:". Returns the pid, "" when none, or null when not a tag. */
function tagPid(tok: string): string | null {
  if (tok.length < 2 || tok.charCodeAt(tok.length - 1) !== 58 /* : */) return null;
  const open = tok.indexOf('[');
  if (open === -1) {
    // "haproxy:" — a bare word; an IPv6 address never ends with ':' here.
    for (let k = 0; k < tok.length - 1; k++) {
      const c = tok.charCodeAt(k);
      if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 45 || c === 95 || c === 46 || c === 47)) return null;
    }
    return '';
  }
  if (open === 0 || tok.charCodeAt(tok.length - 2) !== 93 /* ] */) return null;
  return tok.slice(open + 1, tok.length - 2);
}

function nextToken(line: string, i: number): [string, number] {
  while (line.charCodeAt(i) === 32) i++;
  let j = line.indexOf(' ', i);
  if (j === -1) j = line.length;
  return [line.slice(i, j), j];
}

/** Finds where the HAProxy message starts. Never fails: no header means start 0. */
export function syslogHeader(line: string): SyslogHeader {
  let i = 0;
  if (line.charCodeAt(0) === 60 /* < */) {
    const gt = line.indexOf('>');
    if (gt > 1 && gt <= 4) {
      let ok = true;
      for (let k = 1; k < gt; k++) if (!isDigit(line.charCodeAt(k))) ok = false;
      if (ok) i = gt + 1;
    }
  }
  // RFC 5424: VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
  if (i > 0 && isDigit(line.charCodeAt(i)) && line.charCodeAt(i + 1) === 32) {
    const [, afterTs] = nextToken(line, i + 2);
    const [host, afterHost] = nextToken(line, afterTs);
    const [, afterApp] = nextToken(line, afterHost);
    const [procid, afterProc] = nextToken(line, afterApp);
    const [, afterMsgId] = nextToken(line, afterProc);
    let k = afterMsgId + 1;
    if (line.charCodeAt(k) === 45 /* - */) k++;
    else {
      // Structured data: one or more [id param="value"…] with \] escapes.
      while (line.charCodeAt(k) === 91) {
        k++;
        while (k < line.length && line.charCodeAt(k) !== 93) k += line.charCodeAt(k) === 92 ? 2 : 1;
        k++;
      }
    }
    if (line.charCodeAt(k) === 32) k++;
    return { start: Math.min(k, line.length), host: host === '-' || host === '' ? null : host, pid: procid === '-' ? null : procid };
  }
  let afterTime = rfc3164Time(line, i);
  if (afterTime === -1) afterTime = isoTime(line, i);
  if (afterTime === -1) afterTime = i;
  // [HOST SP] TAG ':' — the host is there only when the token after it is the tag.
  const [t1, after1] = nextToken(line, afterTime);
  const pid1 = tagPid(t1);
  if (pid1 !== null) return { start: skipSpace(line, after1), host: null, pid: pid1 || null };
  if (afterTime !== i) {
    const [t2, after2] = nextToken(line, after1);
    const pid2 = tagPid(t2);
    if (pid2 !== null) return { start: skipSpace(line, after2), host: t1 || null, pid: pid2 || null };
  }
  return { start: skipSpace(line, afterTime), host: null, pid: null };
}

function skipSpace(line: string, i: number): number {
  while (line.charCodeAt(i) === 32) i++;
  return i;
}
