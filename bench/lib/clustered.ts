/**
 * What the Node.js peers (bare-proxy.ts, node-http-proxy.ts) share: the same
 * number of cluster workers as Tollgate, with the kernel spreading
 * connections over them as Tollgate's cluster does, and a primary that stops
 * them all on SIGTERM/SIGINT.
 */
import cluster from 'node:cluster';

export function clustered(workers: number, serve: () => void): void {
  if (!cluster.isPrimary) {
    serve();
    return;
  }
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  for (let i = 0; i < Math.max(1, workers || 1); i++) cluster.fork();
  const stop = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
