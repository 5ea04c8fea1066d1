/**
 * Elastic Load Balancing access logs: Application (`alb`), Classic (`elb`)
 * and Network (`nlb`, TLS listeners) load balancers, as delivered to S3.
 */
import type { ParserFactory } from '../../types.js';
import { parseRatio } from '../common.js';
import { AlbParser } from './alb.js';
import { ElbParser } from './elb.js';
import { NlbParser } from './nlb.js';


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
