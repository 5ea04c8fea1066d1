#!/usr/bin/env node
/** The `tollgate` command. One file per subcommand; each uses the same public modules as the server. */
import { Command } from 'commander';
import { registerStart } from './start.js';
import { registerCheck } from './check.js';
import { registerQuery } from './query.js';
import { registerTail } from './tail.js';
import { registerDemo } from './demo.js';
import { registerHash } from './hash.js';
import { registerIngest } from './ingest.js';
import { registerRules } from './rules.js';
import { registerDeploy } from './deploy.js';
import { VERSION } from './version.js';
import { fatal } from './fatal.js';

const program = new Command();
program
  .name('tollgate')
  .description('An access-auditing load balancer: balances HTTP traffic and keeps one complete audit event per request.')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  // Options after a command belong to it: `deploy mark --version v2` is the deployed version, not this program's.
  .enablePositionalOptions();

registerStart(program);
registerDemo(program);
registerCheck(program);
registerQuery(program);
registerRules(program);
registerDeploy(program);
registerTail(program);
registerIngest(program);
registerHash(program);

program.parseAsync(process.argv).catch((err: Error) => {
  fatal(`tollgate: ${err.message}`);
});
