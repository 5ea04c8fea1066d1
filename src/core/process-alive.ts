/**
 * Whether a process of this PID namespace runs: used to tell a lock or a
 * temporary file of a live process from one left by a process that died.
 * EPERM means it runs, as another user.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
