/**
 * private_key_jwt (RFC 7523 §3, RFC 7521 §4.2) as this server accepts it, on top of oidc-provider's
 * own checks (algorithm among the client's asymmetric ones, exp and jti present, iss = client id,
 * the signature by one of the client's keys, exp and nbf with its clock tolerance):
 *
 * - signed with ES256, EdDSA, PS256 or RS256 (enabledJWA.clientAuthSigningAlgValues; checked here too);
 * - iss = sub = the client id;
 * - aud = this tenant's issuer in this environment, one string: by default oidc-provider also
 *   accepts an array, the token endpoint URL and the endpoint URL;
 * - a lifetime (exp - iat, and exp - now) of at most the configured maximum (default 60 s);
 * - a jti never seen for this tenant and client, recorded atomically in Postgres
 *   (assertion-replay.ts) when oidc-provider asks its ReplayDetection model, right after these checks.
 *
 * Every refusal is oidc-provider's InvalidClientAuth: 401 `invalid_client` with the generic
 * description; the reason is its error_detail, which the token endpoint logs and never sends.
 */
import { hash } from 'node:crypto';
import { decodeProtectedHeader, type JWK } from 'jose';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { CLIENT_ASSERTION_ALGORITHMS } from '../catalog/client-auth-methods.ts';
import { ClientKeysUnavailableError } from './client-jwks.ts';
import type { ClientRecord } from './tenant-credentials.ts';

export interface ClientAssertionDeps {
  /** this tenant's issuer in this environment: the one audience accepted */
  readonly issuer: string;
  readonly maxLifetimeSeconds: number;
  /** records (client, jti) for this tenant; false when it was recorded before */
  readonly recordOnce: (clientId: string, jtiHash: string, expiresInSeconds: number) => Promise<boolean>;
  /** a jwks_uri client's current keys (kid: the one the assertion names) */
  readonly remoteKeys: (clientId: string, uri: string, kid: string | undefined) => Promise<readonly JWK[]>;
  readonly now?: () => number;
}

/** oidc-provider's ReplayDetection id of an assertion: lib/models/replay_detection.js hashes iss and jti so. */
const replayIdOf = (iss: string, jti: string) => hash('sha256', `${iss}${jti}`, 'base64url');

const refuse = (detail: string) => new errors.InvalidClientAuth(detail);

export function createClientAssertionChecks(deps: ClientAssertionDeps) {
  const now = deps.now ?? Date.now;
  /** the assertion of a request that passed the checks below, until its jti is recorded */
  const checked = new WeakMap<object, { clientId: string; replayId: string }>();

  return {
    /** oidc-provider's assertJwtClientAuthClaimsAndHeader: runs after the signature verified. */
    async assertClaimsAndHeader(
      ctx: KoaContextWithOIDC,
      claims: Record<string, unknown>,
      header: Record<string, unknown>,
      client: { clientId: string; clientAuthMethod?: string | undefined },
    ): Promise<void> {
      if (client.clientAuthMethod !== 'private_key_jwt') throw refuse(`the client authenticates with ${String(client.clientAuthMethod)}`);
      if (!(CLIENT_ASSERTION_ALGORITHMS as readonly unknown[]).includes(header.alg))
        throw refuse(`alg ${String(header.alg)} is not accepted`);
      if (claims.iss !== client.clientId || claims.sub !== client.clientId) throw refuse('iss and sub must both be the client id');
      if (typeof claims.aud !== 'string') throw refuse('aud must be a single string: the issuer');
      if (claims.aud !== deps.issuer) throw refuse(`aud must be the issuer ${deps.issuer}`);
      const exp = claims.exp as number;
      const nowSeconds = Math.floor(now() / 1000);
      const lifetime = Math.max(exp - nowSeconds, typeof claims.iat === 'number' ? exp - claims.iat : 0);
      if (lifetime > deps.maxLifetimeSeconds) {
        throw refuse(`the assertion lives ${lifetime} s; at most ${deps.maxLifetimeSeconds} s are accepted`);
      }
      checked.set(ctx, { clientId: client.clientId, replayId: replayIdOf(client.clientId, String(claims.jti)) });
    },

    /**
     * oidc-provider's ReplayDetection, as its adapter's upsert sees it (its find answers "not seen":
     * the atomic insert decides), for the assertion of this request:
     * 'recorded' once the jti is stored, a throw (invalid_client) when it was seen before, and
     * 'other' for an id that is not this request's client assertion (left to the caller).
     */
    async recordReplayId(ctx: object | undefined, id: string, expiresInSeconds: number): Promise<'recorded' | 'other'> {
      const mine = ctx && checked.get(ctx);
      if (!mine || mine.replayId !== id) return 'other';
      checked.delete(ctx);
      if (!(await deps.recordOnce(mine.clientId, id, expiresInSeconds))) throw refuse('the assertion was used before (jti replayed)');
      return 'recorded';
    },

    /**
     * The public keys a private_key_jwt client's assertion is verified with: inline, or fetched from
     * its jwks_uri (an unknown kid may refetch). undefined for a client of another method.
     */
    async keysOf(client: ClientRecord, assertion: unknown): Promise<readonly JWK[] | undefined> {
      if (!client.authMethods.includes('private_key_jwt')) return undefined;
      if (client.jwks) return client.jwks.keys;
      if (!client.jwksUri) throw refuse('the client has no keys registered');
      // no assertion presented: oidc-provider refuses the request for its method; nothing to fetch
      if (typeof assertion !== 'string') return [];
      let kid: string | undefined;
      try {
        kid = decodeProtectedHeader(assertion).kid;
      } catch {
        kid = undefined; // oidc-provider refuses the malformed assertion itself
      }
      try {
        return await deps.remoteKeys(client.clientId, client.jwksUri, kid);
      } catch (error) {
        if (error instanceof ClientKeysUnavailableError) throw refuse(error.message);
        throw error;
      }
    },
  };
}
export type ClientAssertionChecks = ReturnType<typeof createClientAssertionChecks>;
