/**
 * Elastic Load Balancing access logs: Application (`alb`), Classic (`elb`)
 * and Network (`nlb`, TLS listeners) load balancers, as delivered to S3.
 */
import type { LogParser, ParserFactory } from '../../types.js';
import { AlbParser } from './alb.js';
import { ElbParser } from './elb.js';
import { NlbParser } from './nlb.js';

/**
 * Share of the sample's entries (skipped lines aside) that `parser` accepts,
 * scaled by how distinctive a successful parse is. Parsing is the detector:
 * each format's own validation (field count, type word, times, addresses)
 * is stricter than any signature test would be.
 */
export function parseRatio(parser: LogParser, sample: readonly string[], certainty: number): number {
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

export const awsFactories: ParserFactory[] = [
  {
    format: 'alb',
    source: 'alb',
    description: 'AWS Application Load Balancer access logs (all 33 fields to date; newer trailing fields kept in extra)',
    create: (opts) => new AlbParser(opts),
    detect: (sample) => parseRatio(new AlbParser(), sample, 1),
  },
  {
    format: 'elb',
    source: 'elb',
    description: 'AWS Classic Load Balancer access logs (HTTP, HTTPS, TCP and SSL listeners)',
    create: (opts) => new ElbParser(opts),
    // 15 plain fields is a less distinctive shape than ALB's or NLB's leading type word.
    detect: (sample) => parseRatio(new ElbParser(), sample, 0.95),
  },
  {
    format: 'nlb',
    source: 'nlb',
    description: 'AWS Network Load Balancer TLS access logs (one line per TLS connection)',
    create: (opts) => new NlbParser(opts),
    detect: (sample) => parseRatio(new NlbParser(), sample, 1),
  },
];
