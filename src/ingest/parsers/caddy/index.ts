/** Caddy's JSON access log (`log { format json }`, the default encoder for files). */
import type { ParserFactory } from '../../types.js';
import { CaddyParser } from './caddy.js';

export const caddyFactories: ParserFactory[] = [
  {
    format: 'caddy',
    source: 'caddy',
    description: 'Caddy JSON access log (logger http.log.access)',
    create: (opts) => new CaddyParser(opts),
    detect(sample) {
      // JSON with Caddy's access-log shape: a "request" object holding remote_ip,
      // and the http.log.access logger when present.
      const p = new CaddyParser();
      let entries = 0;
      let ok = 0;
      for (const line of sample.slice(0, 50)) {
        const t = line.trim();
        if (t === '') continue;
        // Caddy's own messages (other loggers in the same file) are skipped by the parser: not entries to judge by.
        const o = t.startsWith('{') ? p.parse(line) : null;
        if (o?.ok === 'skip') continue;
        entries++;
        if (!t.includes('"request"') || !t.includes('remote_ip')) continue;
        if (o?.ok === true) ok += t.includes('"http.log.access') ? 1 : 0.8;
      }
      return entries === 0 ? 0 : ok / entries;
    },
  },
];
