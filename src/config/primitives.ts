/** Value types shared by every configuration section: durations and addresses. */
import { z } from 'zod';

export { parseDuration, formatDuration } from './durations.js';
import { parseDuration } from './durations.js';

/** A duration in config: a string with a unit or a number of ms; parsed to ms. */
export const duration = (description: string) =>
  z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)}: use a number of ms or e.g. "250ms", "5s", "1m", "2h"` });
        return z.NEVER;
      }
      return ms;
    })
    .describe(description);

const ADDRESS_RE = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/;

export interface HostPort { host: string; port: number }

export function parseAddress(v: string): HostPort | null {
  const m = ADDRESS_RE.exec(v.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? m[2], port };
}

