/**
 * Entry point of a cluster proxy worker: waits for its config from the
 * primary, runs a DataPlane with its own spool writer id, and answers the
 * primary's questions (backends, spool health) and commands (reload, shutdown).
 */
import client from 'prom-client';
import { DataPlane } from '../proxy/dataplane.js';
import { createLogger } from './log.js';
import type { PrimaryToWorker, WorkerToPrimary } from './messages.js';
import type { Block } from '../proxy/authorize/blocks.js';
import type { EventTag } from '../proxy/record/event-tags.js';

let dp: DataPlane | null = null;
/** Blocks that arrive while the data plane is starting: applied once it runs. */
let latestBlocks: Block[] | null = null;
let latestTags: EventTag[] | null = null;
let latestVersions: Record<string, string> | null = null;

// prom-client answers the primary's metrics requests only once an
// AggregatorRegistry exists in this process: constructing one registers that.
new client.AggregatorRegistry();

function send(m: WorkerToPrimary): void {
  process.send?.(m);
}

process.on('message', (m: PrimaryToWorker) => {
  void (async () => {
    switch (m.type) {
      case 'start': {
        const log = createLogger(m.config.log.level).child({ worker: m.writerId });
        try {
          dp = await DataPlane.start({ config: m.config, writerId: m.writerId, log, blocks: m.blocks, tags: m.tags, versions: m.versions });
          if (latestBlocks) dp.setBlocks(latestBlocks);
          if (latestTags) dp.setTags(latestTags);
          if (latestVersions) dp.setVersions(latestVersions);
          send({ type: 'ready' });
        } catch (err) {
          send({ type: 'failed', error: (err as Error).message });
          process.exit(1);
        }
        break;
      }
      case 'reload':
        try {
          send({ type: 'reply', id: m.id, value: dp ? (await dp.reload(m.config)).restartRequired : [] });
        } catch (err) {
          send({ type: 'reply', id: m.id, value: { error: (err as Error).message } });
        }
        break;
      case 'blocks':
        latestBlocks = m.blocks;
        dp?.setBlocks(m.blocks);
        break;
      case 'tags':
        latestTags = m.tags;
        dp?.setTags(m.tags);
        break;
      case 'versions':
        latestVersions = m.versions;
        dp?.setVersions(m.versions);
        break;
      case 'ratelimit':
        send({ type: 'reply', id: m.id, value: dp?.rateLimitHealth() ?? null });
        break;
      case 'backends':
        send({ type: 'reply', id: m.id, value: dp?.backends() ?? [] });
        break;
      case 'spool':
        send({ type: 'reply', id: m.id, value: dp?.spoolHealth() ?? null });
        break;
      case 'shutdown':
        await dp?.close();
        process.exit(0);
    }
  })();
});

// ESM workers register listeners after the module graph loads: a message sent by the
// primary right after fork() would be lost. Say we're listening; then the primary sends `start`.
send({ type: 'booted' });

// The primary handles signals and tells us to shut down; don't die on Ctrl-C's SIGINT to the group.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
