/**
 * `<tenant>.<domain>/api/v1/…`: the resource server. Each request reads top to bottom: find the
 * tenant from the host, serve the public reference if asked, authenticate the bearer token
 * against that tenant's keys, refuse a tenant named in the request, then the route with its scope.
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { apiScopes } from '../auth/provider.ts';
import type { EnvironmentConfig } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import { ApiError } from '../http/problem.ts';
import { reportLimits } from '../http/rate-limits.ts';
import { createRouteDispatcher, NOT_FOUND_DETAIL } from '../http/routing.ts';
import type { PublicUrls } from '../tenancy/hosts.ts';
import { type BearerAuthentication, extractBearerToken } from '../http/bearer.ts';
import { extractDpopToken, inPresentedScheme, presentedProof } from '../http/dpop-proof.ts';
import { createApiDocs } from '../http/api-docs.ts';
import { registerRoutes } from '../http/route-spec.ts';
import { clockingBatchRoute } from './clocking-batch.ts';
import { collectionRoutes } from './collections/collection-routes.ts';
import { eventFeedRoute } from './event-feed.ts';
import { COLLECTIONS } from '../catalog/collections.ts';
import { createOpenApiDocument } from './openapi.ts';
import { readJsonBody, rejectTenantInQuery } from '../http/request-guards.ts';
import type { ApiState } from './route-steps.ts';

/** The tenant and client a resource API request was answered for (ctx.state.apiCaller), once its token
 * proved who is asking: server.ts counts the answer, with its final status, in the usage counts. */
export interface ApiCaller {
  readonly tenantId: string;
  readonly clientId: string;
}

export interface ResourceApiDeps {
  readonly db: Database;
  readonly bearer: BearerAuthentication;
  readonly urls: PublicUrls;
  /** TOMBSTONE_RETENTION_DAYS and EVENT_RETENTION_DAYS: how far back syncs and the feed reach */
  readonly retention: { readonly tombstoneDays: number; readonly eventDays: number };
  readonly now: () => number;
}

export function createResourceApi(deps: ResourceApiDeps) {
  // every route once: the router and the OpenAPI document are both made from these declarations
  const batch = clockingBatchRoute(deps);
  const feed = eventFeedRoute({ db: deps.db, eventRetentionDays: deps.retention.eventDays, now: deps.now });
  const collectionDeps = { db: deps.db, tombstoneRetentionDays: deps.retention.tombstoneDays, now: deps.now };
  const collections = COLLECTIONS.map((def) => collectionRoutes(def, collectionDeps));
  const router = new Router<ApiState>({ prefix: '/api/v1' });
  // the router tries the batch route first (/clockings/batch is not /clockings/:id); the document lists it last
  registerRoutes(router, [batch.route, feed.route, ...collections.flatMap((c) => c.routes)]);
  const buildOpenApiDocument = createOpenApiDocument(
    [...collections.flatMap((c) => c.routes), batch.route, feed.route],
    Object.assign({}, batch.components, feed.components, ...collections.map((c) => c.components)),
  );

  const { dispatch, routeTable } = createRouteDispatcher(router, '/api/v1');
  const serveApiDocs = createApiDocs({ base: '/api/v1', title: 'API reference' });

  async function serveResourceApi(ctx: Context, environment: EnvironmentConfig, slug: string): Promise<void> {
    if (ctx.path !== '/api/v1' && !ctx.path.startsWith('/api/v1/')) throw new ApiError('not-found', NOT_FOUND_DETAIL);
    const issuer = await deps.bearer.findIssuer(environment.name, slug);
    if (!issuer) throw new ApiError('not-found', NOT_FOUND_DETAIL);
    const { tenant } = issuer;
    const origin = deps.urls.tenantOrigin(environment, slug);

    if (ctx.path === '/api/v1/openapi.json' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.body = buildOpenApiDocument({
        apiBase: `${origin}/api/v1`,
        tokenUrl: `${deps.urls.issuer(environment, slug)}/connect/token`,
        scopes: apiScopes(tenant),
        tenantName: tenant.name,
      });
      return;
    }
    if (serveApiDocs(ctx)) return;

    const dpopToken = extractDpopToken(ctx.get('authorization') || undefined, origin);
    const token = dpopToken ?? extractBearerToken(ctx.get('authorization') || undefined, origin);
    const presented = presentedProof(ctx, origin, dpopToken === undefined ? 'Bearer' : 'DPoP');
    const claims = await deps.bearer
      .authenticate(token, issuer, {
        issuer: deps.urls.issuer(environment, slug),
        audience: origin,
        clientGone: 'client disabled or deleted',
        inactive: 'This tenant is not active; its API is unavailable.',
        rateLimit: 'api',
        presented,
        onRateLimit: (states) => reportLimits(ctx.res, states),
        onDpopNonce: (nonce) => ctx.set('DPoP-Nonce', nonce),
        onClient: (clientId) => {
          (ctx.state as { apiCaller?: ApiCaller }).apiCaller = { tenantId: tenant.id, clientId };
        },
      })
      .catch((error: unknown) => {
        throw inPresentedScheme(presented, error);
      });
    rejectTenantInQuery(ctx);
    const state: Partial<ApiState> = Object.assign(ctx.state, { tenant, origin, claims });
    if (['POST', 'PUT', 'PATCH', 'DELETE'].includes(ctx.method)) state.body = await readJsonBody(ctx);

    await dispatch(ctx);
  }

  return Object.assign(serveResourceApi, { routeTable });
}
