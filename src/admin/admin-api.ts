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
import { registerRoutes } from '../http/route-spec.ts';
import { createAdminOpenApiDocument } from './admin-openapi.ts';
import type { AdminDeps, AdminState } from './admin-steps.ts';
import { auditRoutes } from './audit-routes.ts';
import { authEventRoutes } from './auth-event-routes.ts';
import { clientHealthRoutes } from './client-health-routes.ts';
import { clientRoutes } from './client-routes.ts';
import { keyRoutes } from './key-routes.ts';
import { tenantRoutes } from './tenant-routes.ts';
import { tokenRoutes } from './token-routes.ts';
import { usageRoutes } from './usage-routes.ts';
import { webhookRoutes } from './webhook-routes.ts';

export function createAdminApi(deps: AdminDeps) {
  // every route once: the router and the OpenAPI document are both made from this list
  const routes = [
    ...tenantRoutes(deps),
    ...clientRoutes(deps),
    ...tokenRoutes(deps),
    ...keyRoutes(deps),
    ...webhookRoutes(deps),
    ...auditRoutes(deps),
    ...authEventRoutes(deps),
    ...clientHealthRoutes(deps),
    ...usageRoutes(deps),
  ];
  const router = new Router<AdminState>({ prefix: '/v1' });
  registerRoutes(router, routes);
  const buildAdminOpenApiDocument = createAdminOpenApiDocument(routes);
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
