/**
 * A throwaway SMTP server for tests: aiosmtpd (Debian `python3-aiosmtpd`),
 * loopback only, a free port, its own temporary directory. Two handlers:
 *
 * - `mailbox`: aiosmtpd's own `aiosmtpd.handlers.Mailbox`, which accepts
 *   every message and stores it in a Maildir — a plain, real SMTP receiver;
 * - `scripted`: the same Mailbox plus a reply script, for failure tests: each
 *   message (every attempt, accepted or not) is stored, then answered as the
 *   next line of the script says — `ok` (250), `retryable` (451), `fatal`
 *   (554) or `hang` (no answer at all). An empty script answers `ok`.
 *
 * Stored messages are read back and parsed by Python's `email` package (not
 * by the code under test), with the envelope that aiosmtpd records in
 * X-MailFrom / X-RcptTo.
 *
 * When aiosmtpd is missing, startSmtp() throws saying how to install it;
 * tests use smtpServerAvailable() to skip on a developer machine (never under
 * CI=true). scripts/install-test-deps.sh installs it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/runtime/ports.js';
import { startServerProcess } from './server-process.js';

/** The Python that has aiosmtpd: Debian's, not whatever `python3` comes first on PATH. */
export const PYTHON = process.env.TOLLGATE_PYTHON ?? '/usr/bin/python3';

/** Why SMTP tests are skipped on a developer machine without aiosmtpd. */
export const NEEDS_AIOSMTPD = `needs aiosmtpd for ${PYTHON} (bash scripts/install-test-deps.sh python3-aiosmtpd, or point TOLLGATE_PYTHON at a Python that has it)`;

let available: boolean | undefined;
/** Whether PYTHON can import aiosmtpd. */
export function smtpServerAvailable(): boolean {
  available ??= spawnSync(PYTHON, ['-c', 'import aiosmtpd.handlers'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
  return available;
}

export type SmtpBehaviour = 'ok' | 'retryable' | 'fatal' | 'hang';

export interface StoredMessage {
  /** Envelope sender (MAIL FROM). */
  mail_from: string;
  /** Envelope recipients (RCPT TO). */
  rcpt_to: string[];
  from: string;
  to: string;
  subject: string;
  message_id: string;
  in_reply_to: string;
  /** Every header, names lower-cased, values decoded (RFC 2047), unfolded and trimmed. */
  headers: Record<string, string>;
  /** The text/plain body, transfer encoding removed. */
  body: string;
}

export interface TestSmtp {
  host: string;
  port: number;
  dir: string;
  /** Replies for the next messages (scripted handler only), appended to what is left of the script. */
  script(...b: SmtpBehaviour[]): Promise<void>;
  /** Every message stored so far, oldest first. */
  messages(): Promise<StoredMessage[]>;
  /** Forgets the stored messages and the script. */
  clear(): Promise<void>;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartSmtpOptions {
  handler?: 'mailbox' | 'scripted';
  /** How long to wait for the 220 greeting. Default 15 s. */
  startTimeoutMs?: number;
}

const SCRIPTED_HANDLER = `
import asyncio, os
from aiosmtpd.handlers import Mailbox

class Scripted(Mailbox):
    def __init__(self, root):
        self.root = root
        super().__init__(os.path.join(root, 'maildir'))

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error('usage: Scripted <dir>')
        return cls(args[0])

    def next_behaviour(self):
        p = os.path.join(self.root, 'script')
        try:
            with open(p) as f:
                lines = [l.strip() for l in f if l.strip()]
        except FileNotFoundError:
            lines = []
        if not lines:
            return 'ok'
        with open(p + '.tmp', 'w') as f:
            f.write(''.join(l + '\\n' for l in lines[1:]))
        os.replace(p + '.tmp', p)
        return lines[0]

    async def handle_DATA(self, server, session, envelope):
        behaviour = self.next_behaviour()
        result = await super().handle_DATA(server, session, envelope)
        if behaviour == 'hang':
            await asyncio.sleep(3600)
        if behaviour == 'retryable':
            return '451 4.3.0 Temporary failure, try again later'
        if behaviour == 'fatal':
            return '554 5.7.1 Message rejected'
        return result
`;

const READ_MAILDIR = `
import json, mailbox, sys
from email import policy
from email.parser import BytesParser

box = mailbox.Maildir(sys.argv[1], factory=None, create=True)
def order(key):
    head = key.split('.')
    micro = head[1][1:].split('P')[0] if len(head) > 1 and head[1].startswith('M') else '0'
    return (int(head[0]), int(micro or 0), key)
out = []
for key in sorted(box.keys(), key=order):
    with box.get_file(key) as f:
        msg = BytesParser(policy=policy.default).parse(f)
    body = msg.get_body(preferencelist=('plain',))
    out.append({
        'mail_from': str(msg.get('X-MailFrom', '')),
        'rcpt_to': [a.strip() for a in str(msg.get('X-RcptTo', '')).split(',') if a.strip()],
        'from': str(msg.get('From', '')).strip(),
        'to': str(msg.get('To', '')).strip(),
        'subject': str(msg.get('Subject', '')).strip(),
        'message_id': str(msg.get('Message-ID', '')).strip(),
        'in_reply_to': str(msg.get('In-Reply-To', '')).strip(),
        'headers': {k.lower(): str(v).strip() for k, v in msg.items()},
        'body': body.get_content() if body is not None else '',
    })
json.dump(out, sys.stdout)
`;

/** Whether something on 127.0.0.1:port greets with "220". */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) {
        s.write('QUIT\r\n');
        done(buf.startsWith('220'));
      }
    });
  });
}

function runPython(code: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', code, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${PYTHON} exited with ${code}: ${err.slice(-2000)}`))));
  });
}

export async function startSmtp(opts: StartSmtpOptions = {}): Promise<TestSmtp> {
  if (!smtpServerAvailable()) {
    throw new Error(`aiosmtpd is not installed for ${PYTHON}; the e-mail notifier tests need a real SMTP server. Install it with \`bash scripts/install-test-deps.sh python3-aiosmtpd\` (CI does), or point TOLLGATE_PYTHON at a Python that has it.`);
  }
  const handler = opts.handler ?? 'mailbox';
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tg-smtp-'));
  const maildir = path.join(dir, 'maildir');
  const env = { ...process.env, PYTHONPATH: dir, PYTHONDONTWRITEBYTECODE: '1' };
  let args: string[];
  if (handler === 'scripted') {
    await writeFile(path.join(dir, 'tg_scripted_smtp.py'), SCRIPTED_HANDLER);
    args = ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'tg_scripted_smtp.Scripted', dir];
  } else {
    args = ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir];
  }
  const { stop } = await startServerProcess({
    name: 'aiosmtpd',
    command: PYTHON,
    args,
    cwd: dir,
    env,
    dir,
    address: `127.0.0.1:${port}`,
    ready: () => greets(port),
    startTimeoutMs: opts.startTimeoutMs ?? 15_000,
    notReady: 'did not greet',
  });

  const scriptFile = path.join(dir, 'script');
  return {
    host: '127.0.0.1',
    port,
    dir,
    stop,
    async script(...b) {
      if (handler !== 'scripted') throw new Error('script() needs the scripted handler');
      // The handler consumes lines from the file; rewrite what it has not used yet plus the new ones.
      const left = await readFile(scriptFile, 'utf8').catch(() => '');
      const lines = [...left.split('\n').filter((l) => l.trim() !== ''), ...b];
      await writeFile(`${scriptFile}.new`, lines.map((l) => `${l.trim()}\n`).join(''));
      await rename(`${scriptFile}.new`, scriptFile);
    },
    async messages() {
      return JSON.parse(await runPython(READ_MAILDIR, [maildir])) as StoredMessage[];
    },
    async clear() {
      // The server keeps the Maildir open: empty it rather than remove it.
      for (const sub of ['new', 'cur']) {
        const d = path.join(maildir, sub);
        for (const f of await readdir(d).catch(() => [] as string[])) await rm(path.join(d, f), { force: true });
      }
      await rm(scriptFile, { force: true });
    },
  };
}
