/**
 * NGINX access logs: the stock formats, JSON formats and any custom
 * `log_format`. See README.md for the fields each variable feeds.
 */
import type { LogParser, ParserFactory, ParserOptions } from '../../types.js';
import { LineParser, clfFlavour, parsedShare } from './line-format.js';
import { compileNginxFormat } from './log-format.js';
import { NginxJsonParser, detectNginxJson } from './json.js';

/** NGINX's predefined `combined` format. */
export const NGINX_COMBINED = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';
/** The Common Log Format as NGINX variables (combined without referer and user agent). */
export const NGINX_COMMON = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent';
/** `main` from the Debian/Ubuntu and official Docker nginx.conf: combined plus X-Forwarded-For. */
export const NGINX_MAIN = NGINX_COMBINED + ' "$http_x_forwarded_for"';

function builtIn(format: string, logFormat: string, description: string, weight: number): ParserFactory {
  const create = (opts: ParserOptions): LogParser => new LineParser(format, 'nginx', compileNginxFormat(logFormat), opts);
  return {
    format,
    source: 'nginx',
    description,
    create,
    // The formats are strict (a combined line is not a common one with extra text), so the share of
    // lines read tells them apart; the flavour tells NGINX's lines from Apache's same-shaped ones.
    detect: (sample) => parsedShare(create({}), sample) * (weight + 0.03 * clfFlavour(sample)),
  };
}

export const nginxFactories: ParserFactory[] = [
  builtIn('nginx-combined', NGINX_COMBINED, 'NGINX combined format (the default access_log format)', 0.9),
  builtIn('nginx-common', NGINX_COMMON, 'NGINX lines in the Common Log Format (combined without referer and user agent)', 0.85),
  builtIn('nginx-main', NGINX_MAIN, 'NGINX `main` format of the Debian and Docker images: combined plus "$http_x_forwarded_for"', 0.95),
  {
    format: 'nginx-json',
    source: 'nginx',
    description: 'NGINX JSON lines (log_format ... escape=json): keys named after NGINX variables or their usual aliases',
    create: (opts) => new NginxJsonParser(opts),
    detect: detectNginxJson,
  },
  {
    format: 'nginx',
    source: 'nginx',
    description: 'NGINX with a custom log_format, given verbatim with --log-format',
    needsLogFormat: true,
    create: (opts) => {
      if (!opts.logFormat) throw new Error('format nginx needs the log_format string (--log-format)');
      return new LineParser('nginx', 'nginx', compileNginxFormat(opts.logFormat), opts);
    },
  },
];
