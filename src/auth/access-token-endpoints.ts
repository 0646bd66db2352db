/**
 * RFC 7009 revocation and RFC 7662 introspection of this server's access tokens.
 *
 * oidc-provider serves both endpoints (features.revocation, features.introspection) for opaque
 * access tokens and refresh tokens only: after authenticating the caller it refuses any JWT with
 * `unsupported_token_type` (lib/shared/reject_structured_tokens.js; its maintainer's answer for
 * JWTs, panva/node-oidc-provider#525, is to mimic introspection ourselves). Every access token
 * here is a JWT (RFC 9068), so the Provider keeps what it does well, the endpoints, their client
 * authentication (every method a client may register, with its errors and throttles), CORS and
 * discovery, and this post-middleware answers for the JWT the Provider declined, once the caller
 * is authenticated: the token is verified like the APIs verify it (this tenant's keys and issuer,
 * one of its two audiences), and the revocation list (tenancy/token-revocations.ts) is the state.
 * An introspection answer is a JWT signed with the tenant's key when the caller asks for one
 * (RFC 9701, `Accept: application/token-introspection+jwt`).
 */
import { decodeJwt, type JWK } from 'jose';
import type { Next } from 'koa';
import type { ExternalSigningKey, KoaContextWithOIDC } from 'oidc-provider';
import type { AccessTokenClaims, AccessTokenVerifier } from '../http/bearer.ts';
import { ApiError } from '../http/problem.ts';
import type { Tenant } from '../tenancy/tenants.ts';
import type { TokenRevocations } from '../tenancy/token-revocations.ts';

export const REVOCATION_PATH = '/connect/revocation';
export const INTROSPECTION_PATH = '/connect/introspect';

/** What the Provider pool gives every Provider for these endpoints (shared by all tenants). */
export interface AccessTokenState {
  readonly verifyAccessToken: AccessTokenVerifier;
  readonly revocations: Pick<TokenRevocations, 'isRevoked' | 'revokeToken'>;
}

export interface AccessTokenEndpointsInput extends AccessTokenState {
  readonly tenant: Tenant;
  readonly issuer: string;
  /** what this issuer's tokens are for: the tenant's API origin, and the admin API's (tenant:admin) */
  readonly audiences: readonly string[];
  readonly findPublicKeys: () => Promise<readonly JWK[]>;
  /** the client, if it still exists and is enabled */
  readonly findClient: (clientId: string) => Promise<object | undefined>;
  /** the tenant's signing key, for RFC 9701 signed introspection answers */
  readonly signingKey: ExternalSigningKey;
}

export const INTROSPECTION_JWT = 'application/token-introspection+jwt';

/** RFC 9701 §5: the answer as a JWT signed with the tenant's key, for the client that asked. */
async function signIntrospection(key: ExternalSigningKey, claims: Record<string, unknown>): Promise<string> {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode({ alg: key.alg, kid: key.kid, typ: 'token-introspection+jwt' })}.${encode(claims)}`;
  const signature = await key.sign(Buffer.from(signingInput));
  return `${signingInput}.${Buffer.from(signature).toString('base64url')}`;
}

/** RFC 7662 §2.2: everything a verified, live token says about itself. */
function describeActiveToken(claims: AccessTokenClaims): Record<string, unknown> {
  const { cnf } = claims as AccessTokenClaims & { cnf?: { jkt?: string } };
  return {
    active: true,
    scope: claims.scope,
    client_id: claims.client_id,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    exp: claims.exp,
    iat: claims.iat,
    jti: claims.jti,
    // RFC 9449 §6.2: a token bound to a DPoP key is a DPoP token
    token_type: cnf?.jkt ? 'DPoP' : 'Bearer',
    ...(cnf ? { cnf } : {}),
  };
}

export function createAccessTokenEndpoints(input: AccessTokenEndpointsInput) {
  const { tenant, issuer, audiences, revocations } = input;

  /** The claims of one of this tenant's live access tokens in this environment, or nothing. */
  async function verify(token: string): Promise<AccessTokenClaims | undefined> {
    let audience: unknown;
    try {
      audience = decodeJwt(token).aud; // only to choose which of the two to require, below
    } catch {
      return undefined;
    }
    if (typeof audience !== 'string' || !audiences.includes(audience)) return undefined;
    try {
      return await input.verifyAccessToken(token, { tenantId: tenant.id, issuer, audience, publicKeys: await input.findPublicKeys() });
    } catch (error) {
      if (error instanceof ApiError) return undefined; // the APIs' 401: an invalid token to these endpoints
      throw error;
    }
  }

  /** RFC 7009 §2.1: only the client the token was issued to may revoke it. */
  async function revoke(ctx: KoaContextWithOIDC, clientId: string, claims: AccessTokenClaims | undefined): Promise<void> {
    if (claims && claims.client_id !== clientId) {
      ctx.status = 400;
      ctx.body = { error: 'unauthorized_client', error_description: 'the token was issued to another client' };
      return;
    }
    // §2.2: an invalid token (expired, another tenant's or environment's, not a token) is no error
    if (claims) await revocations.revokeToken(tenant.id, { jti: claims.jti, clientId, exp: claims.exp });
    ctx.status = 200;
    ctx.body = '';
  }

  /** RFC 7662 §2.2: what a token says about itself; one that is not active says nothing more. */
  async function introspectionOf(claims: AccessTokenClaims | undefined): Promise<Record<string, unknown>> {
    const active =
      claims !== undefined &&
      tenant.status === 'ACTIVE' &&
      !(await revocations.isRevoked(tenant.id, claims)) &&
      (await input.findClient(claims.client_id)) !== undefined;
    return active ? describeActiveToken(claims) : { active: false };
  }

  /** JSON, or a JWT signed by the tenant's key when the caller asks for one (RFC 9701). */
  async function answerIntrospection(ctx: KoaContextWithOIDC, clientId: string, answer: Record<string, unknown>): Promise<void> {
    ctx.status = 200;
    if (ctx.accepts('application/json', INTROSPECTION_JWT) !== INTROSPECTION_JWT) {
      ctx.body = answer;
      return;
    }
    const iat = Math.floor(Date.now() / 1000);
    ctx.body = await signIntrospection(input.signingKey, { iss: issuer, aud: clientId, iat, token_introspection: answer });
    ctx.type = INTROSPECTION_JWT;
  }

  return async function answerForAccessTokens(ctx: KoaContextWithOIDC, next: Next): Promise<void> {
    await next();
    const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
    const route = oidc?.route;
    const clientId = oidc?.client?.clientId;
    // a client that failed to authenticate, a missing token: the Provider's answer stands
    if ((route !== 'revocation' && route !== 'introspection') || clientId === undefined) return;
    const token = oidc?.params?.token;
    // the Provider authenticated the caller, then declined the token for being a JWT
    const declined =
      ctx.status === 400 && (ctx.body as { error?: unknown } | undefined)?.error === 'unsupported_token_type' && typeof token === 'string';
    if (declined && route === 'revocation') await revoke(ctx, clientId, await verify(token));
    else if (declined) await answerIntrospection(ctx, clientId, await introspectionOf(await verify(token)));
    // not a JWT: the Provider looked for an opaque token, which never exists here, and said so
    else if (route === 'introspection' && ctx.status === 200) await answerIntrospection(ctx, clientId, { active: false });
  };
}
