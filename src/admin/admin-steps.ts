/** Small named steps the admin API's routes are composed of. */
import type { Context } from 'koa';
import type { KeyEncryption } from '../auth/key-encryption.ts';
import type { BearerAuthentication } from '../http/bearer.ts';
import type { Config, EnvironmentConfig } from '../config/config.ts';
import type { Database, Queryable } from '../db/database.ts';
import { ApiError } from '../http/problem.ts';
import { defineRoute, type RouteSpec } from '../http/route-spec.ts';
import { PLATFORM_SLUG, type PublicUrls } from '../tenancy/hosts.ts';
import { findTenantRecord, type TenantRecord } from './operator/tenant-lifecycle.ts';
import type { AdminPrincipal } from './admin-auth.ts';
import type { Page } from './admin-contract.ts';
import { recordAudit } from './operator/audit-log.ts';
import type { DemoOrganisationLoader } from './operator/sandbox-reset.ts';

export interface AdminDeps {
  readonly config: Config;
  readonly db: Database;
  readonly bearer: BearerAuthentication;
  readonly urls: PublicUrls;
  readonly keyEncryption: KeyEncryption;
  /** loads the demo organisation for a sandbox reset with {"seed":"demo"}; the process edge passes it in */
  readonly loadDemoOrganisation?: DemoOrganisationLoader | undefined;
}

export interface AdminState {
  environment: EnvironmentConfig;
  principal: AdminPrincipal;
  requestId: string;
  /** https://admin.<domain>/v1 */
  base: string;
  body: unknown;
}

export type AdminContext = Context & { state: AdminState; params: Record<string, string> };

export function requirePlatformAdmin(ctx: AdminContext): void {
  if (ctx.state.principal.kind !== 'platform') {
    throw new ApiError('insufficient-scope', 'This request requires the scope "platform:admin".', {
      members: { required_scope: 'platform:admin' },
    });
  }
}

const PLATFORM_ADMIN = { platformAdmin: ['platform:admin'] };
const TENANT_ADMIN = { tenantAdmin: [] };
/** either admin token, bound to a key (RFC 9449): the scope still decides, as for the two above */
const DPOP = { dpop: [] };

/**
 * An admin route: platform admins only unless `tenantAdmin` (then a tenant's own tenant:admin
 * client too, for its own tenant: `findRouteTenant` keeps it there). The document's security
 * requirements and the check come from this one flag.
 */
export function adminRoute(
  spec: Omit<RouteSpec<AdminContext>, 'security' | 'authorize'> & { readonly tenantAdmin?: boolean },
): RouteSpec<AdminContext> {
  const { tenantAdmin = false, ...route } = spec;
  return defineRoute({
    ...route,
    security: tenantAdmin ? [PLATFORM_ADMIN, TENANT_ADMIN, DPOP] : [PLATFORM_ADMIN, DPOP],
    ...(tenantAdmin ? {} : { authorize: requirePlatformAdmin }),
  });
}

export function tenantNotFound(slug: string): ApiError {
  return new ApiError('not-found', `No tenant "${slug}" in this environment.`);
}

/**
 * The tenant a route is about. A tenant admin reaches only its own tenant; any other slug answers
 * exactly like one that does not exist. `platform` names the platform issuer's own row, for
 * platform admins on the routes that allow it (its clients: more admins, rotating the bootstrap
 * secret).
 */
export async function findRouteTenant(
  q: Queryable,
  ctx: AdminContext,
  options: { tenantAdmin?: boolean; platformTenant?: boolean; includeDeleted?: boolean; lock?: boolean } = {},
): Promise<TenantRecord> {
  const slug = ctx.params.slug ?? '';
  const { principal, environment } = ctx.state;
  if (principal.kind === 'tenant') {
    if (!options.tenantAdmin) requirePlatformAdmin(ctx);
    if (principal.tenant.slug !== slug) throw tenantNotFound(slug);
  }
  const kind = slug === PLATFORM_SLUG && options.platformTenant && principal.kind === 'platform' ? 'platform' : 'tenant';
  const record = await findTenantRecord(q, environment.name, slug, { ...options, kind });
  if (!record) throw tenantNotFound(slug);
  return record;
}

export async function audit(
  tx: Queryable,
  ctx: AdminContext,
  entry: { tenant: TenantRecord | null; action: string; target: { type: string; id: string }; before?: unknown; after?: unknown },
): Promise<void> {
  await recordAudit(tx, {
    environment: ctx.state.environment.name,
    tenant: entry.tenant ? { id: entry.tenant.id, slug: entry.tenant.slug } : null,
    actor: ctx.state.principal.actor,
    action: entry.action,
    target: entry.target,
    before: entry.before,
    after: entry.after,
    requestId: ctx.state.requestId,
  });
}

/** `{ data, next }` with the next page's absolute URL, as the resource API lists do. */
export function page<T>(ctx: AdminContext, rows: T[], limit: number, cursorOf: (last: T) => string): Page<T> {
  const data = rows.slice(0, limit);
  const last = data[data.length - 1];
  let next: string | null = null;
  if (rows.length > limit && last !== undefined) {
    const params = new URLSearchParams(ctx.querystring);
    params.set('cursor', cursorOf(last));
    next = `${ctx.state.base}${ctx.path.replace(/^\/v1/, '')}?${params}`;
    ctx.set('Link', `<${next}>; rel="next"`);
  }
  return { data, next };
}
