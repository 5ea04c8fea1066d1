/**
 * HAProxy logs: the predefined `option httplog`, `option tcplog` and
 * `option httplog clf` formats, and any custom `log-format` (format
 * `haproxy`, given as ParserOptions.logFormat). All are accepted with or
 * without a syslog header in front.
 */
import type { ParserFactory } from '../../types.js';
import { parseRatio } from '../common.js';
import { CLFLOG, compileFormat, HTTPLOG, TCPLOG } from './format.js';
import { HaproxyParser } from './parser.js';

/** Compiled once per process: the predefined formats never change. */
const HTTP = compileFormat(HTTPLOG);
const TCP = compileFormat(TCPLOG);
const CLF = compileFormat(CLFLOG);


export const haproxyFactories: ParserFactory[] = [
  {
    format: 'haproxy-http',
    source: 'haproxy',
    description: 'HAProxy "option httplog" lines (the default HTTP format), with or without a syslog header',
    create: (opts) => new HaproxyParser('haproxy-http', HTTP, opts),
    detect: (sample) => parseRatio(new HaproxyParser('haproxy-http', HTTP), sample, 1),
  },
  {
    format: 'haproxy-tcp',
    source: 'haproxy',
    description: 'HAProxy "option tcplog" lines, with or without a syslog header',
    create: (opts) => new HaproxyParser('haproxy-tcp', TCP, opts),
    detect: (sample) => parseRatio(new HaproxyParser('haproxy-tcp', TCP), sample, 1),
  },
  {
    format: 'haproxy-clf',
    source: 'haproxy',
    description: 'HAProxy "option httplog clf" lines (Common Log Format followed by HAProxy fields)',
    create: (opts) => new HaproxyParser('haproxy-clf', CLF, opts),
    detect: (sample) => parseRatio(new HaproxyParser('haproxy-clf', CLF), sample, 1),
  },
  {
    format: 'haproxy',
    source: 'haproxy',
    description: 'HAProxy lines in a custom log-format (give the format string with --log-format)',
    needsLogFormat: true,
    create: (opts) => {
      if (opts.logFormat === undefined || opts.logFormat.trim() === '') throw new Error('format "haproxy" needs the log-format string (the "log-format" line of haproxy.cfg)');
      return new HaproxyParser('haproxy', compileFormat(opts.logFormat), opts);
    },
  },
];
