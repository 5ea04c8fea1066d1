/**
 * Builds the configured identity methods, by id. Construction is synchronous
 * and fails fast on configuration mistakes (unreadable keys_file, invalid
 * hashes, a JWT method without keys) so a bad reload is refused before
 * anything is swapped in; key sets and auth services are only contacted on
 * first use.
 */
import type { IdentityConfig } from '../../../config/access-schema.js';
import type { IdentityBuildContext, IdentityMethod } from './types.js';
import { createApiKeyMethod } from './api-key.js';
import { createBasicMethod } from './basic.js';
import { createForwardAuthMethod } from './forward-auth.js';
import { createJwtMethod } from './jwt.js';
import { createMtlsMethod } from './mtls.js';

export { hashSecret, hashPassword, verifyPassword, DEFAULT_SCRYPT, type ScryptParams } from './secrets.js';
export { createApiKeyMethod, createBasicMethod, createForwardAuthMethod, createJwtMethod, createMtlsMethod };
export type * from './types.js';

export function buildIdentityMethod(cfg: IdentityConfig, ctx: IdentityBuildContext): IdentityMethod {
  switch (cfg.type) {
    case 'api_key':
      return createApiKeyMethod(cfg, ctx);
    case 'jwt':
      return createJwtMethod(cfg, ctx);
    case 'mtls':
      return createMtlsMethod(cfg, ctx);
    case 'basic':
      return createBasicMethod(cfg, ctx);
    case 'forward_auth':
      return createForwardAuthMethod(cfg, ctx);
    default: {
      const never: never = cfg;
      throw new Error(`unknown identity type ${JSON.stringify((never as { type: unknown }).type)}`);
    }
  }
}

/** All methods by id; throws (closing what was already built) when any of them cannot be built or an id repeats. */
export function buildIdentityMethods(configs: readonly IdentityConfig[], ctx: IdentityBuildContext): Map<string, IdentityMethod> {
  const methods = new Map<string, IdentityMethod>();
  try {
    for (const cfg of configs) {
      if (methods.has(cfg.id)) throw new Error(`identity id "${cfg.id}" is used twice`);
      try {
        methods.set(cfg.id, buildIdentityMethod(cfg, ctx));
      } catch (err) {
        const msg = (err as Error).message;
        throw new Error(msg.includes(`"${cfg.id}"`) ? msg : `${cfg.type} identity "${cfg.id}": ${msg}`, { cause: err });
      }
    }
  } catch (err) {
    for (const m of methods.values()) m.close().catch(() => {});
    throw err;
  }
  return methods;
}

/** Closes every method; safe to call more than once. */
export async function closeIdentityMethods(methods: ReadonlyMap<string, IdentityMethod>): Promise<void> {
  await Promise.allSettled([...methods.values()].map((m) => m.close()));
}
