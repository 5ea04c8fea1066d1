/** Prints config errors the way `tollgate check` and `start` show them: one per line, with path and line. */
import type { ConfigError } from '../config/load.js';

export function formatConfigErrors(source: string, errors: readonly ConfigError[]): string {
  const lines = errors.map((e) => `  ${source}${e.line ? `:${e.line}` : ''}  ${e.path}: ${e.message}`);
  return `${source}: ${errors.length} error${errors.length === 1 ? '' : 's'}\n${lines.join('\n')}\n`;
}
