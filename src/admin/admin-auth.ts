/**
 * Who is calling the admin API. Two kinds of token are accepted, both issued by our own
 * authorization servers with the admin API's origin as audience:
 * - the platform issuer's (authentication.<domain>/platform), scope platform:admin: everything;
 * - a tenant's own issuer's, scope tenant:admin: that tenant's clients (and webhooks) only.
 * The issuer claim only chooses which keys to verify with; nothing is trusted before verification.
 */
import { decodeJwt } from 'jose';
import type { Context } from 'koa';
import { type BearerAuthentication, bearerChallenge, extractBearerToken } from '../http/bearer.ts';
import { extractDpopToken, inPresentedScheme, presentedProof } from '../http/dpop-proof.ts';
import type { EnvironmentConfig } from '../config/config.ts';
import { ApiError } from '../http/problem.ts';
import { isValidTenantSlug, PLATFORM_SLUG, type PublicUrls } from '../tenancy/hosts.ts';
import { PLATFORM_ADMIN_SCOPE, TENANT_ADMIN_SCOPE } from '../catalog/scopes.ts';
import type { Tenant } from '../tenancy/tenants.ts';
import type { AdminActor } from './operator/audit-log.ts';

export type AdminPrincipal =
  | { readonly kind: 'platform'; readonly actor: AdminActor }
  | { readonly kind: 'tenant'; readonly actor: AdminActor; readonly tenant: Tenant };

export interface AdminAuthDeps {
  readonly bearer: BearerAuthentication;
  readonly urls: PublicUrls;
}

export function createAdminAuthenticator(deps: AdminAuthDeps) {
  return async function authenticateAdmin(ctx: Context, environment: EnvironmentConfig): Promise<AdminPrincipal> {
    const audience = deps.urls.adminOrigin(environment);
    const dpopToken = extractDpopToken(ctx.get('authorization') || undefined, audience);
    const token = dpopToken ?? extractBearerToken(ctx.get('authorization') || undefined, audience);
    const presented = presentedProof(ctx, audience, dpopToken === undefined ? 'Bearer' : 'DPoP');
    const invalid = (description: string) =>
      inPresentedScheme(
        presented,
        new ApiError('invalid-token', description, {
          headers: { 'WWW-Authenticate': bearerChallenge(audience, { code: 'invalid_token', description }) },
        }),
      );

    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      throw invalid('The access token is invalid.');
    }
    const tenantIssuerPrefix = `${deps.urls.authenticationOrigin(environment)}/tenants/`;
    let slug: string | undefined;
    if (issuer === deps.urls.platformIssuer(environment)) slug = PLATFORM_SLUG;
    else if (typeof issuer === 'string' && issuer.startsWith(tenantIssuerPrefix)) {
      const candidate = issuer.slice(tenantIssuerPrefix.length);
      if (isValidTenantSlug(candidate)) slug = candidate;
    }
    const found = slug === undefined ? undefined : await deps.bearer.findIssuer(environment.name, slug);
    if (!found || (slug === PLATFORM_SLUG) !== (found.tenant.kind === 'platform')) {
      throw invalid('The access token was not issued for this admin API.');
    }
    const { tenant } = found;
    const platform = tenant.kind === 'platform';
    const claims = await deps.bearer
      .authenticate(token, found, {
        issuer: issuer as string,
        audience,
        clientGone: 'The client this token was issued to is disabled or no longer exists.',
        scope: platform ? PLATFORM_ADMIN_SCOPE : TENANT_ADMIN_SCOPE,
        // only a tenant's admin token depends on its tenant's status; the platform row's is not read
        ...(platform ? {} : { inactive: 'This tenant is not active; its administration is unavailable.' }),
        presented,
        onDpopNonce: (nonce) => ctx.set('DPoP-Nonce', nonce),
      })
      .catch((error: unknown) => {
        throw inPresentedScheme(presented, error);
      });
    const actor = { clientId: claims.client_id, issuer: claims.iss };
    return platform ? { kind: 'platform', actor } : { kind: 'tenant', actor, tenant };
  };
}
export type AdminAuthenticator = ReturnType<typeof createAdminAuthenticator>;
