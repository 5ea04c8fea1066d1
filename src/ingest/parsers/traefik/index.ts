/** Traefik access logs: `accessLog.format: json` and the default common format. */
import type { ParserFactory } from '../../types.js';
import { parseRatio } from '../common.js';
import { TraefikClfParser, TraefikJsonParser } from './traefik.js';


export const traefikFactories: ParserFactory[] = [
  {
    format: 'traefik-json',
    source: 'traefik',
    description: 'Traefik access log in JSON (accessLog.format: json)',
    create: (opts) => new TraefikJsonParser(opts),
    detect: (sample) => parseRatio(new TraefikJsonParser(), sample, 1),
  },
  {
    format: 'traefik-clf',
    source: 'traefik',
    description: 'Traefik access log in its default common format (CLF + referer, user agent, count, router, URL, duration)',
    create: (opts) => new TraefikClfParser(opts),
    detect: (sample) => parseRatio(new TraefikClfParser(), sample, 1),
  },
];
