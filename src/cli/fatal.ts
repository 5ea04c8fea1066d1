import { writeSync } from 'node:fs';

/**
 * Prints a message and exits with `code`. The write is synchronous: with
 * process.stderr.write() followed by process.exit(), the message can be lost
 * when stderr is a pipe (systemd, docker logs, `| tee`), which is exactly
 * when an operator needs it.
 */
export function fatal(message: string, code = 1): never {
  try {
    writeSync(2, message.endsWith('\n') ? message : message + '\n');
  } catch {
    /* stderr is gone; the exit code still tells */
  }
  process.exit(code);
}
