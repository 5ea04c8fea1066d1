/** Runs wrk and parses its report (wrk 4.x text output with --latency). */
import { startProcess, stopProcess } from './procs.js';

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  latencyMs: { avg: number; max: number; p50: number; p75: number; p90: number; p99: number };
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** wrk's "Non-2xx or 3xx responses" (it counts status >= 400). */
  non2xx3xx: number;
  /** connect + read + write + timeout + non2xx3xx */
  errors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "812.00us", "1.25ms", "2.00s", "1.00m" → milliseconds. */
export function parseLatency(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`unrecognized wrk latency ${JSON.stringify(text)}`);
  return parseFloat(m[1]) * UNIT_MS[m[2]];
}

/** "1.23k" → 1230 (wrk's metric suffixes for counts). */
function parseCount(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kMG]?)$/.exec(text.trim());
  if (!m) throw new Error(`unrecognized wrk number ${JSON.stringify(text)}`);
  return parseFloat(m[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]];
}

export function parseWrk(out: string): WrkResult {
  const need = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk output has no ${what}:\n${out.trim()}`);
    return m;
  };
  const totals = need(/^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),/m, 'request count');
  const rps = need(/^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec');
  const lat = need(/^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)/m, 'latency line');
  const pct = (p: string): number => parseLatency(need(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm'), `${p}% latency (run wrk with --latency)`)[1]);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socketErrors = {
    connect: sock ? Number(sock[1]) : 0,
    read: sock ? Number(sock[2]) : 0,
    write: sock ? Number(sock[3]) : 0,
    timeout: sock ? Number(sock[4]) : 0,
  };
  const non2xx3xx = non ? Number(non[1]) : 0;
  return {
    requests: parseCount(totals[1]),
    durationS: parseLatency(totals[2] + totals[3]) / 1000,
    rps: parseFloat(rps[1]),
    latencyMs: { avg: parseLatency(lat[1]), max: parseLatency(lat[3]), p50: pct('50'), p75: pct('75'), p90: pct('90'), p99: pct('99') },
    socketErrors,
    non2xx3xx,
    errors: socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout + non2xx3xx,
  };
}

export interface WrkOptions {
  url: string;
  threads: number;
  connections: number;
  durationS: number;
  headers: readonly string[];
}

export function wrkArgs(o: WrkOptions): string[] {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.durationS}s`, '--latency'];
  for (const h of o.headers) args.push('-H', h);
  args.push(o.url);
  return args;
}

export interface WrkRun {
  result: WrkResult;
  output: string;
  pid: number;
}

/** Runs wrk to completion; killed if it overruns its duration by 15 s. */
export async function runWrk(o: WrkOptions, wrkBin = 'wrk'): Promise<WrkRun> {
  const m = startProcess(`wrk -c${o.connections}`, wrkBin, wrkArgs(o), { pipe: true });
  let out = '';
  let err = '';
  m.child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  m.child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const closed = new Promise<void>((r) => m.child.once('close', () => r()));
  let overran = false;
  const timer = setTimeout(() => {
    overran = true;
    void stopProcess(m, 500);
  }, (o.durationS + 15) * 1000);
  const exit = await m.exited;
  await closed;
  clearTimeout(timer);
  await stopProcess(m, 500);
  if (exit.error) throw new Error(`cannot run wrk: ${exit.error}`);
  if (overran) throw new Error(`wrk did not finish within ${o.durationS + 15} s`);
  if (exit.code !== 0) throw new Error(`wrk exited with ${exit.code ?? exit.signal}: ${(err || out).trim()}`);
  return { result: parseWrk(out), output: out, pid: m.pid };
}
