/**
 * Child processes of the benchmark and the CPU they use.
 *
 * Every server and every wrk is spawned in its own process group (detached), so
 * that stopping it reaches its whole tree (NGINX workers, Node cluster workers)
 * with one signal, and so that the benchmark — not the terminal — decides when
 * they stop. All of them are registered here; `stopAll` / `killAllSync` run on
 * normal exit, on Ctrl-C and on crashes, so no run leaves orphans behind.
 *
 * CPU comes from /proc/<pid>/stat: utime+stime of each live process of a tree,
 * plus cutime+cstime (children that already exited and were reaped).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
}

export interface Managed {
  name: string;
  pid: number;
  child: ChildProcess;
  /** Set once the root process exited (or could not be spawned). */
  exit: ExitInfo | null;
  exited: Promise<ExitInfo>;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Files that receive the child's stdout / stderr (appended). */
  stdoutFile?: string;
  stderrFile?: string;
  /** Pipe stdout/stderr back instead of writing files (for wrk). */
  pipe?: boolean;
}

const live = new Set<Managed>();
let closed = false;

/** From now on startProcess refuses: the benchmark is shutting down. */
export function refuseNewProcesses(): void {
  closed = true;
}

export function liveProcesses(): readonly Managed[] {
  return [...live];
}

export function startProcess(name: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): Managed {
  if (closed) throw new Error(`not starting ${name}: shutting down`);
  const fds: number[] = [];
  let stdio: ('ignore' | 'pipe' | number)[];
  if (opts.pipe) {
    stdio = ['ignore', 'pipe', 'pipe'];
  } else {
    const out = opts.stdoutFile ? openSync(opts.stdoutFile, 'a') : null;
    const err = opts.stderrFile ? (opts.stderrFile === opts.stdoutFile && out !== null ? out : openSync(opts.stderrFile, 'a')) : null;
    if (out !== null) fds.push(out);
    if (err !== null && err !== out) fds.push(err);
    stdio = ['ignore', out ?? 'ignore', err ?? 'ignore'];
  }
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio, detached: true });
  for (const fd of fds) closeSync(fd);
  let resolveExit!: (e: ExitInfo) => void;
  const exited = new Promise<ExitInfo>((r) => (resolveExit = r));
  const m: Managed = { name, pid: child.pid ?? -1, child, exit: null, exited };
  const finish = (e: ExitInfo): void => {
    if (m.exit) return;
    m.exit = e;
    resolveExit(e);
  };
  child.once('exit', (code, signal) => finish({ code, signal }));
  child.once('error', (err) => finish({ code: null, signal: null, error: err.message }));
  if (m.pid > 0) live.add(m);
  return m;
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgrp: number;
  state: string;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
}

/** Fields after the `(comm)` of /proc/<pid>/stat, which may itself hold spaces or parens. */
function statFields(text: string): string[] | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  return text.slice(close + 2).trim().split(/\s+/);
}

export function readProc(pid: number): ProcInfo | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const f = statFields(text);
  if (!f || f.length < 15) return null;
  // f[0] = field 3 (state); ppid 4, pgrp 5, utime 14, stime 15, cutime 16, cstime 17.
  return { pid, state: f[0], ppid: Number(f[1]), pgrp: Number(f[2]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
}

/** All processes of the machine (visible to us), by pid. */
export function scanProcs(): Map<number, ProcInfo> {
  const out = new Map<number, ProcInfo>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) out.set(p.pid, p);
  }
  return out;
}

/** The roots and all their descendants that are alive in `snap`. */
export function descendants(roots: readonly number[], snap: Map<number, ProcInfo>): number[] {
  const children = new Map<number, number[]>();
  for (const p of snap.values()) {
    let list = children.get(p.ppid);
    if (!list) children.set(p.ppid, (list = []));
    list.push(p.pid);
  }
  const seen = new Set<number>();
  const queue = roots.filter((pid) => snap.has(pid));
  while (queue.length) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    for (const c of children.get(pid) ?? []) queue.push(c);
  }
  return [...seen];
}

/** CPU ticks used so far by the process trees under `roots` (and their reaped children). */
export function treeTicks(roots: readonly number[], snap: Map<number, ProcInfo> = scanProcs()): number {
  let sum = 0;
  for (const pid of descendants(roots, snap)) sum += snap.get(pid)!.ticks;
  return sum;
}

/** CPU ticks of this process's reaped children (wrk once it has exited). */
export function selfChildTicks(): number {
  const f = statFields(readFileSync('/proc/self/stat', 'utf8'));
  return f ? Number(f[13]) + Number(f[14]) : 0;
}

export interface MachineTicks {
  busy: number;
  total: number;
}

/** Whole-machine CPU from the first line of /proc/stat (all cores, clock ticks). */
export function machineTicks(): MachineTicks {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already in user)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = v[3] + (v[4] ?? 0);
  return { busy: total - idle, total };
}

let clkTck: number | null = null;
export function clockTicksPerSecond(): number {
  if (clkTck !== null) return clkTck;
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  clkTck = Number.isFinite(n) && n > 0 ? n : 100;
  return clkTck;
}

// ---------------------------------------------------------------------------
// Stopping
// ---------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Live (non-zombie) processes of group `pgrp` or of the given pids. */
function survivors(pgrp: number, pids: readonly number[]): number[] {
  const snap = scanProcs();
  const out = new Set<number>();
  for (const p of snap.values()) if (p.pgrp === pgrp && p.state !== 'Z') out.add(p.pid);
  for (const pid of pids) {
    const p = snap.get(pid);
    if (p && p.state !== 'Z') out.add(pid);
  }
  return [...out];
}

/**
 * SIGTERM to the root (which stops its own workers, as NGINX and Tollgate do),
 * then SIGKILL to the whole process group and every descendant that is left
 * after `graceMs`. Resolves once nothing of it is alive.
 */
export async function stopProcess(m: Managed, graceMs = 5000): Promise<void> {
  if (m.pid <= 0) return;
  // Collect the tree first: once the root is gone its children are reparented.
  const tree = descendants([m.pid], scanProcs());
  if (!m.exit) signal(m.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (m.exit && survivors(m.pid, tree).length === 0) break;
    await sleep(50);
  }
  let left = survivors(m.pid, tree);
  if (left.length || !m.exit) {
    signal(-m.pid, 'SIGKILL');
    for (const pid of left) signal(pid, 'SIGKILL');
    const hard = Date.now() + 3000;
    while (Date.now() < hard) {
      left = survivors(m.pid, tree);
      if (m.exit && left.length === 0) break;
      await sleep(50);
    }
  }
  live.delete(m);
}

export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...live].map((m) => stopProcess(m, graceMs)));
}

/** Last resort on process exit: SIGKILL every group and known descendant, synchronously. */
export function killAllSync(): void {
  if (!live.size) return;
  let snap: Map<number, ProcInfo> | null = null;
  try {
    snap = scanProcs();
  } catch {
    /* ignore */
  }
  for (const m of live) {
    const tree = snap ? descendants([m.pid], snap) : [];
    signal(-m.pid, 'SIGKILL');
    for (const pid of tree) signal(pid, 'SIGKILL');
  }
  live.clear();
}
