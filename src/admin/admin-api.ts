/**
 * `admin.<domain>/v1/…`: the platform admin API of one environment. Each request reads top to
 * bottom: a request id, the public OpenAPI document or reference page if asked, the caller's token (platform
 * admin or a tenant's own admin client), the body, then the route.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { createApiDocs } from '../http/api-docs.ts';
import { parseJsonBody } from '../http/request-guards.ts';
import type { EnvironmentConfig } from '../config/config.ts';
import { ApiError } from '../http/problem.ts';
import { requestIdOf } from '../http/request-id.ts';
import { createRouteDispatcher, NOT_FOUND_DETAIL } from '../http/routing.ts';
import { createAdminAuthenticator } from './admin-auth.ts';
import { buildAdminOpenApiDocument } from './admin-openapi.ts';
import type { AdminDeps, AdminState } from './admin-steps.ts';
import { registerAuditRoutes } from './audit-routes.ts';
import { registerClientRoutes } from './client-routes.ts';
import { registerKeyRoutes } from './key-routes.ts';
import { registerTenantRoutes } from './tenant-routes.ts';
import { registerWebhookRoutes } from './webhook-routes.ts';

export function createAdminApi(deps: AdminDeps, extraRoutes: ((router: Router<AdminState>, deps: AdminDeps) => void)[] = []) {
  const router = new Router<AdminState>({ prefix: '/v1' });
  registerTenantRoutes(router, deps);
  registerClientRoutes(router, deps);
  registerKeyRoutes(router, deps);
  registerAuditRoutes(router, deps);
  registerWebhookRoutes(router, deps);
  for (const register of extraRoutes) register(router, deps);
  const { dispatch, routeTable } = createRouteDispatcher(router, '/v1');
  const authenticateAdmin = createAdminAuthenticator(deps);
  const serveAdminDocs = createApiDocs({ base: '/v1', title: 'Admin API reference' });

  async function serveAdminApi(ctx: Context, environment: EnvironmentConfig): Promise<void> {
    const requestId = requestIdOf(ctx);
    if (ctx.path !== '/v1' && !ctx.path.startsWith('/v1/')) throw new ApiError('not-found', NOT_FOUND_DETAIL);
    const base = `${deps.urls.adminOrigin(environment)}/v1`;
    if (ctx.path === '/v1/openapi.json' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.body = buildAdminOpenApiDocument({
        adminBase: base,
        platformTokenUrl: `${deps.urls.platformIssuer(environment)}/connect/token`,
        tenantTokenUrlTemplate: `${deps.urls.authenticationOrigin(environment)}/tenants/{tenant}/connect/token`,
      });
      return;
    }
    if (serveAdminDocs(ctx)) return;
    const principal = await authenticateAdmin(ctx, environment);
    ctx.set('Cache-Control', 'no-store');
    const state = ctx.state as AdminState;
    state.environment = environment;
    state.principal = principal;
    state.requestId = requestId;
    state.base = base;
    if (['POST', 'PUT', 'PATCH', 'DELETE'].includes(ctx.method)) state.body = await parseJsonBody(ctx);

    await dispatch(ctx);
  }

  return Object.assign(serveAdminApi, { routeTable });
}
