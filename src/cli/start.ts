import type { Command } from 'commander';
import { formatConfigErrors } from './config-errors.js';
import { fatal } from './fatal.js';
import type { RunningNode } from '../runtime/node.js';

/** SIGHUP reloads; SIGINT/SIGTERM stop gracefully (a second one forces). */
export function handleSignals(node: RunningNode, log: { info(o: object, m: string): void; error(o: object, m: string): void }): void {
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) {
      log.error({ signal: sig }, 'forced exit');
      process.exit(130);
    }
    stopping = true;
    log.info({ signal: sig }, 'stopping: draining requests, flushing the audit spool');
    node.stop().then(
      () => process.exit(0),
      (err: Error) => {
        log.error({ err: err.message }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => {
    log.info({}, 'SIGHUP: reloading configuration');
    void node.reload();
  });
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('Run the load balancer, the admin API and the store loader.')
    .requiredOption('-c, --config <file>', 'configuration file (YAML)')
    .action(async (opts: { config: string }) => {
      // The server's modules load when it starts, not for every other command (or --help).
      const [{ loadConfigFile }, { createLogger }, { startNode }] = await Promise.all([import('../config/load.js'), import('../runtime/log.js'), import('../runtime/node.js')]);
      const r = loadConfigFile(opts.config);
      if (!r.ok) {
        fatal(formatConfigErrors(opts.config, r.errors));
      }
      const log = createLogger(r.config.log.level);
      let node: RunningNode;
      try {
        node = await startNode({ configPath: opts.config, config: r.config, log });
      } catch (err) {
        fatal(`tollgate: cannot start: ${(err as Error).message}`);
      }
      handleSignals(node, log);
    });
}
