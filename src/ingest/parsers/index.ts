/**
 * Every log format Tollgate reads, in the order `--format auto` breaks ties
 * (more specific formats first). Each family lives in its own folder with
 * its README and golden files.
 */
import type { ParserFactory } from '../types.js';
import { awsFactories } from './aws/index.js';
import { haproxyFactories } from './haproxy/index.js';
import { nginxFactories } from './nginx/index.js';
import { apacheFactories } from './apache/index.js';
import { caddyFactories } from './caddy/index.js';
import { traefikFactories } from './traefik/index.js';
import { envoyFactories } from './envoy/index.js';

export const ALL_FACTORIES: readonly ParserFactory[] = [
  ...awsFactories,
  ...haproxyFactories,
  ...caddyFactories,
  ...traefikFactories,
  ...envoyFactories,
  ...nginxFactories,
  ...apacheFactories,
];
