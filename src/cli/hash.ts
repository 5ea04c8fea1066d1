/**
 * `tollgate hash-key` and `tollgate hash-password`: turn a secret into the
 * form stored in configuration (SHA-256 hex for API keys and admin tokens,
 * scrypt for Basic passwords). The secret can be given as an argument, but
 * is better piped or typed at the (hidden) prompt so it never lands in shell
 * history or the process list.
 */
import type { Command } from 'commander';
import type { Readable } from 'node:stream';
import { hashPassword, hashSecret, type ScryptParams } from '../proxy/authorize/identity/secrets.js';

interface Output {
  write(s: string): unknown;
}

export interface HashIo {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Output;
  stderr: Output;
}

const processIo = (): HashIo => ({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });

/** Reads a line at a terminal without echoing it. */
function readHidden(prompt: string, io: HashIo): Promise<string> {
  const input = io.stdin;
  io.stderr.write(prompt);
  input.setRawMode?.(true);
  input.setEncoding('utf8');
  input.resume();
  return new Promise((resolve, reject) => {
    let buf = '';
    const finish = (err: Error | null) => {
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(buf);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish(null);
        if (ch === '\u0003') return finish(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') buf = Array.from(buf).slice(0, -1).join('');
        else buf += ch;
      }
    };
    input.on('data', onData);
  });
}

/** Everything on a piped stdin, minus the one line break `echo` adds. */
async function readPiped(io: HashIo): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of io.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function obtain(arg: string | undefined, what: string, io: HashIo, confirm: boolean): Promise<string> {
  let secret: string;
  if (arg !== undefined) secret = arg;
  else if (io.stdin.isTTY) {
    secret = await readHidden(`${what}: `, io);
    if (confirm && secret !== '' && (await readHidden(`${what} (again): `, io)) !== secret) throw new Error(`the two ${what.toLowerCase()}s differ`);
  } else secret = await readPiped(io);
  if (secret === '') throw new Error(`empty ${what.toLowerCase()}: nothing to hash`);
  return secret;
}

/** Prints (and returns) the SHA-256 hex of an API key or admin token. */
export async function hashKeyCommand(secret?: string, io: HashIo = processIo()): Promise<string> {
  const h = hashSecret(await obtain(secret, 'Secret', io, false));
  io.stdout.write(`${h}\n`);
  return h;
}

/** Prints (and returns) the scrypt string for a Basic user's `hash`. */
export async function hashPasswordCommand(password?: string, io: HashIo = processIo(), params?: ScryptParams): Promise<string> {
  const h = hashPassword(await obtain(password, 'Password', io, true), params);
  io.stdout.write(`${h}\n`);
  return h;
}

/** `tollgate hash-key` and `tollgate hash-password`. */
export function registerHash(program: Command): void {
  program
    .command('hash-key')
    .description('Print the SHA-256 of an API key or admin token, for `sha256:` in the config. Reads the secret from stdin (or a hidden prompt) so it stays out of shell history.')
    .argument('[secret]', 'the secret (prefer stdin)')
    .action(async (secret?: string) => {
      await hashKeyCommand(secret);
    });
  program
    .command('hash-password')
    .description('Print the scrypt hash of a password for a `basic` identity user. Reads it from stdin or a hidden prompt (asked twice).')
    .argument('[password]', 'the password (prefer stdin)')
    .action(async (password?: string) => {
      await hashPasswordCommand(password);
    });
}
