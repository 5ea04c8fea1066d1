/**
 * The per-request context that pipeline stages share. Stages talk through it,
 * never through each other; the audit event inside it is the record every
 * stage adds to.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { RecordTarget } from './record/recorder.js';
import type { CompiledRoute } from './route/router.js';
import type { BackendPool } from './balance/pool.js';

export interface RequestContext extends RecordTarget {
  req: IncomingMessage;
  res: ServerResponse;
  scheme: 'http' | 'https';
  peerIp: string;
  peerTrusted: boolean;
  /** Request target for the backend (path + query, after strip_prefix). */
  target: string;
  route: CompiledRoute<BackendPool> | null;
  /** The client's connection closed before the response was complete. */
  clientGone: boolean;
  /** res.end() was called: the response is complete. */
  finished: boolean;
  /** Aborts the backend exchange in progress, if any. */
  controller: Dispatcher.DispatchController | null;
  bytesOut: number;
  /** Client headers not passed to the backend (lower case). */
  stripHeaders: ReadonlySet<string> | null;
  /** Headers access control adds for the backend (forward-auth identity). */
  upstreamHeaders: Readonly<Record<string, string>> | null;
}
