/** Traefik access logs: `accessLog.format: json` and the default common format. */
import type { LogParser, ParserFactory } from '../../types.js';
import { TraefikClfParser, TraefikJsonParser } from './traefik.js';

function parseRatio(parser: LogParser, sample: readonly string[], certainty: number): number {
  let entries = 0;
  let ok = 0;
  for (const line of sample.slice(0, 50)) {
    const o = parser.parse(line);
    if (o.ok === 'skip') continue;
    entries++;
    if (o.ok === true) ok++;
  }
  return entries === 0 ? 0 : (ok / entries) * certainty;
}

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
