import type { Command } from 'commander';
import type { AuditEvent } from '../core/event.js';
import { addCommonOptions, adminConnection, adminFetch, errorText, filterParams, tableHeader, tableRow } from './admin-client.js';

/** Parses a server-sent-events byte stream into (event, data) messages. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let idx: number;
    while ((idx = buf.indexOf('\n\n')) !== -1) {
      const block = buf.slice(0, idx);
      buf = buf.slice(idx + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) yield { event, data: data.join('\n') };
    }
  }
}

export function registerTail(program: Command): void {
  const cmd = program.command('tail').description('Follow audit events live (server-sent events from the admin API).').option('--json', 'one JSON event per line');
  addCommonOptions(cmd);
  cmd.action(async (opts: { admin?: string; config?: string; tokenFile?: string; json?: boolean; [k: string]: unknown }) => {
    const { base, headers } = await adminConnection(opts);
    const res = await adminFetch(`${base}/api/v1/events/stream?${filterParams(opts).toString()}`, { headers: { ...headers, accept: 'text/event-stream' } });
    if (!res.ok || !res.body) throw new Error(`tail failed (${res.status}): ${await errorText(res)}`);
    if (!opts.json) process.stdout.write(tableHeader() + '\n');
    process.on('SIGINT', () => process.exit(0));
    for await (const m of readSse(res.body)) {
      if (m.event !== 'audit') continue;
      if (opts.json) process.stdout.write(m.data + '\n');
      else process.stdout.write(tableRow(JSON.parse(m.data) as AuditEvent) + '\n');
    }
  });
}
