/**
 * Who is calling the admin API. Two kinds of token are accepted, both issued by our own
 * authorization servers with the admin API's origin as audience:
 * - the platform issuer's (authentication.<domain>/platform), scope platform:admin: everything;
 * - a tenant's own issuer's, scope tenant:admin: that tenant's clients (and webhooks) only.
 * The issuer claim only chooses which keys to verify with; nothing is trusted before verification.
 */
import { decodeJwt } from 'jose';
import type { Context } from 'koa';
import { type AccessTokenVerifier, bearerChallenge, extractBearerToken, requireScope } from '../http/bearer.ts';
import type { TenantCredentials } from '../auth/tenant-credentials.ts';
import type { EnvironmentConfig } from '../config/config.ts';
import { ApiError } from '../http/problem.ts';
import { isValidTenantSlug, PLATFORM_SLUG, type PublicUrls } from '../tenancy/hosts.ts';
import { PLATFORM_ADMIN_SCOPE, TENANT_ADMIN_SCOPE } from '../catalog/scopes.ts';
import type { Tenant, TenantCache } from '../tenancy/tenants.ts';
import type { AdminActor } from './operator/audit-log.ts';

export type AdminPrincipal =
  | { readonly kind: 'platform'; readonly actor: AdminActor }
  | { readonly kind: 'tenant'; readonly actor: AdminActor; readonly tenant: Tenant };

export interface AdminAuthDeps {
  readonly tenants: TenantCache;
  readonly credentials: TenantCredentials;
  readonly verifyAccessToken: AccessTokenVerifier;
  readonly urls: PublicUrls;
}

export function createAdminAuthenticator(deps: AdminAuthDeps) {
  return async function authenticateAdmin(ctx: Context, environment: EnvironmentConfig): Promise<AdminPrincipal> {
    const audience = deps.urls.adminOrigin(environment);
    const invalid = (description: string) =>
      new ApiError('invalid-token', description, {
        headers: { 'WWW-Authenticate': bearerChallenge(audience, { code: 'invalid_token', description }) },
      });
    const token = extractBearerToken(ctx.get('authorization') || undefined, audience);

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
    const tenant = slug === undefined ? undefined : await deps.tenants.getTenant(environment.name, slug);
    const keys = tenant && (await deps.credentials.getKeys(tenant.id));
    if (!tenant || !keys || (slug === PLATFORM_SLUG) !== (tenant.kind === 'platform')) {
      throw invalid('The access token was not issued for this admin API.');
    }
    const claims = await deps.verifyAccessToken(token, {
      tenantId: tenant.id,
      issuer: issuer as string,
      audience,
      publicKeys: keys.publicKeys,
    });
    if (!(await deps.credentials.getClient(tenant.id, claims.client_id))) {
      throw invalid('The client this token was issued to is disabled or no longer exists.');
    }
    const actor = { clientId: claims.client_id, issuer: claims.iss };
    if (tenant.kind === 'platform') {
      requireScope(claims, PLATFORM_ADMIN_SCOPE, audience);
      return { kind: 'platform', actor };
    }
    requireScope(claims, TENANT_ADMIN_SCOPE, audience);
    if (tenant.status !== 'ACTIVE') throw new ApiError('tenant-suspended', 'This tenant is not active; its administration is unavailable.');
    return { kind: 'tenant', actor, tenant };
  };
}
export type AdminAuthenticator = ReturnType<typeof createAdminAuthenticator>;
