/** Envoy's default access log format (HTTP connection manager and TCP proxy). */
import type { ParserFactory } from '../../types.js';
import { EnvoyParser } from './envoy.js';

export const envoyFactories: ParserFactory[] = [
  {
    format: 'envoy',
    source: 'envoy',
    description: "Envoy access log in Envoy's default format (also TCP proxy lines)",
    create: (opts) => new EnvoyParser(opts),
    detect(sample) {
      const p = new EnvoyParser();
      let entries = 0;
      let ok = 0;
      for (const line of sample.slice(0, 50)) {
        const o = p.parse(line);
        if (o.ok === 'skip') continue;
        entries++;
        if (o.ok === true) ok++;
      }
      return entries === 0 ? 0 : ok / entries;
    },
  },
];
