/**
 * The balancer's view of one request. Header and cookie values are only read
 * when an algorithm asks for them (consistent_hash), and the methods live on
 * the prototype, so the common case allocates one small object per request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { PickContext } from './balancers.js';

export class RequestPickContext implements PickContext {
  constructor(
    readonly clientIp: string,
    private readonly headers: IncomingHttpHeaders,
  ) {}

  header(name: string): string | undefined {
    const v = this.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  cookie(name: string): string | undefined {
    const header = this.headers.cookie;
    if (!header) return undefined;
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
    return undefined;
  }
}
