import type { Command } from 'commander';
import { formatConfigErrors } from './config-errors.js';

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('Validate a configuration file: lists every error with its path and line; exit 1 if invalid.')
    .requiredOption('-c, --config <file>', 'configuration file (YAML)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { config: string; json?: boolean }) => {
      const [{ loadConfigFile }, { workerCount }] = await Promise.all([import('../config/load.js'), import('../runtime/node.js')]);
      const r = loadConfigFile(opts.config);
      if (opts.json) {
        process.stdout.write(JSON.stringify(r.ok ? { ok: true } : { ok: false, errors: r.errors }, null, 2) + '\n');
      } else if (r.ok) {
        const c = r.config;
        process.stdout.write(
          `${opts.config}: OK — ${c.listeners.length} listener(s), ${c.routes.length} route(s), ${Object.keys(c.backends).length} backend pool(s), ${workerCount(c)} worker(s)\n`,
        );
      } else {
        process.stderr.write(formatConfigErrors(opts.config, r.errors));
      }
      process.exitCode = r.ok ? 0 : 1;
    });
}
