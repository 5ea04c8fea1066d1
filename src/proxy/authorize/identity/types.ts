/**
 * Identity methods: each one reads one kind of credential from a request and
 * either finds none, establishes who the caller is, or says precisely why the
 * credential is refused. Methods are built once per configuration (keys
 * hashed, JWKS loaded, CA parsed) and then called per request; they run the
 * shared conformance suite in conformance.ts.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';

/** Stable reasons recorded as `auth_error`. */
export type AuthError =
  | 'missing'
  | 'malformed'
  | 'expired'
  | 'not_yet_valid'
  | 'bad_signature'
  | 'unknown_key'
  | 'revoked'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'bad_credentials'
  | 'unknown_user'
  | 'untrusted_certificate'
  | 'refused'
  | 'unavailable';

export interface Identity {
  /** `user_id` */
  userId: string;
  /** `user_name` */
  userName: string | null;
  groups: readonly string[];
  /** Claims or attributes policies can match (`claims:` in rules). */
  claims: Readonly<Record<string, unknown>>;
  /** The API key id when the identity came from a key (for `by: api_key` limits). */
  keyId?: string;
}

export type IdentityOutcome =
  /** No credential of this kind in the request: the next method is tried. */
  | { kind: 'none' }
  | {
      kind: 'ok';
      identity: Identity;
      /** Headers to set on the request to the backend (forward auth `copy_headers`). */
      upstreamHeaders?: Readonly<Record<string, string>>;
    }
  | {
      kind: 'fail';
      error: AuthError;
      /** Human-readable detail for `reason` (never the secret itself). */
      detail: string;
      /** 401 by default; 503 when the method's backing service is unavailable (fail closed). */
      status?: 401 | 403 | 503;
      /** The user name the caller tried (Basic), recorded as `user_name` so rules can count attempted users per client. */
      attemptedUser?: string;
    };

/** What an identity method may look at. */
export interface AuthRequest {
  method: string;
  /** Host, normalized (lower case, no port). */
  host: string;
  /** Normalized path (what policies and the backend see). */
  path: string;
  /** Raw query string without "?", or null. */
  query: string | null;
  headers: IncomingHttpHeaders;
  clientIp: string;
  scheme: 'http' | 'https';
  /** The client connection: a TLSSocket on HTTPS listeners (mTLS reads the verified peer certificate). */
  socket: Socket | TLSSocket;
}

export interface IdentityMethod {
  /** The configured id, e.g. "corp-sso". */
  readonly id: string;
  /** The method type, recorded as `auth_method`: api_key, jwt, mtls, basic, forward_auth. */
  readonly type: string;
  /** Resolves synchronously when it can (API keys, cached tokens) so the hot path does not allocate promises. */
  authenticate(req: AuthRequest): IdentityOutcome | Promise<IdentityOutcome>;
  /** `WWW-Authenticate` challenge for a 401 from this method, if it has one. */
  readonly challenge: string | null;
  /** Stops timers and connections (JWKS refresh). */
  close(): Promise<void>;
}

/** Passed to factories: where relative files are, and how to log. */
export interface IdentityBuildContext {
  baseDir: string;
  log: { warn(o: object, m: string): void; info(o: object, m: string): void };
}
