/**
 * Apache httpd access logs: the stock common and combined formats and any
 * custom `LogFormat`. See README.md for the fields each directive feeds.
 */
import type { LogParser, ParserFactory, ParserOptions } from '../../types.js';
import { LineParser, clfFlavour, parsedShare } from '../nginx/line-format.js';
import { compileApacheFormat } from './log-format.js';

/** httpd.conf's `common`. */
export const APACHE_COMMON = '%h %l %u %t "%r" %>s %b';
/** httpd.conf's `combined`. */
export const APACHE_COMBINED = '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"';

function builtIn(format: string, logFormat: string, description: string, weight: number): ParserFactory {
  const create = (opts: ParserOptions): LogParser => new LineParser(format, 'apache', compileApacheFormat(logFormat), opts);
  return {
    format,
    source: 'apache',
    description,
    create,
    // Same layout as NGINX's combined and common: with nothing to tell them apart NGINX (the more
    // common server) scores a little higher; Apache's own habits ("-" for an empty body, \") tip it.
    detect: (sample) => parsedShare(create({}), sample) * (weight - 0.02 - 0.03 * clfFlavour(sample)),
  };
}

export const apacheFactories: ParserFactory[] = [
  builtIn('apache-common', APACHE_COMMON, 'Apache httpd Common Log Format (LogFormat "%h %l %u %t \\"%r\\" %>s %b" common)', 0.85),
  builtIn('apache-combined', APACHE_COMBINED, 'Apache httpd combined format (common plus Referer and User-Agent)', 0.9),
  {
    format: 'apache',
    source: 'apache',
    description: 'Apache httpd with a custom LogFormat, given verbatim with --log-format',
    needsLogFormat: true,
    create: (opts) => {
      if (!opts.logFormat) throw new Error('format apache needs the LogFormat string (--log-format)');
      return new LineParser('apache', 'apache', compileApacheFormat(opts.logFormat), opts);
    },
  },
];
