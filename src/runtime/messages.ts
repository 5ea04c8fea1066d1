/** IPC between the primary and cluster proxy workers. */
import type { Config } from '../config/schema.js';
import type { Block } from '../proxy/authorize/blocks.js';
import type { EventTag } from '../proxy/record/event-tags.js';

export type PrimaryToWorker =
  | { type: 'start'; config: Readonly<Config>; writerId: string; blocks: Block[]; tags: EventTag[]; versions: Record<string, string> }
  | { type: 'versions'; versions: Record<string, string> }
  | { type: 'blocks'; blocks: Block[] }
  | { type: 'tags'; tags: EventTag[] }
  | { type: 'ratelimit'; id: number }
  | { type: 'reload'; id: number; config: Readonly<Config> }
  | { type: 'backends'; id: number }
  | { type: 'spool'; id: number }
  | { type: 'shutdown' };

export type WorkerToPrimary = { type: 'booted' } | { type: 'ready' } | { type: 'failed'; error: string } | { type: 'reply'; id: number; value: unknown };
