/** GET /v1/tenants/{slug}/auth-events: a tenant's token requests, newest first, filtered,
 * cursor-paginated. A tenant admin reads its own tenant's only. */
import { listAuthEvents } from '../auth/auth-events.ts';
import type { AuthEventOutcome } from '../catalog/auth-event-reasons.ts';
import { decodeCursor, encodeCursor } from '../http/pagination.ts';
import type { RouteSpec } from '../http/route-spec.ts';
import { list } from './admin-openapi.ts';
import { ADMIN_SCHEMAS } from './admin-schemas.ts';
import { type AdminContext, type AdminDeps, adminRoute, findRouteTenant, page } from './admin-steps.ts';

const AUTH_EVENT_SORT = 'auth-events';

export function authEventRoutes(deps: AdminDeps): RouteSpec<AdminContext>[] {
  return [
    adminRoute({
      method: 'get',
      path: '/tenants/:slug/auth-events',
      operationId: 'listAuthEvents',
      summary: "The tenant's token requests, newest first: issued, or refused and why",
      tags: ['Auth events'],
      tenantAdmin: true,
      query: ADMIN_SCHEMAS.AuthEventQuery,
      responses: { 200: { description: 'a page', schema: list('AuthEvent') } },
      handler: async function listAuthEventsRoute(ctx, { query }) {
        const limit = query.limit as number;
        const before = typeof query.cursor === 'string' ? decodeCursor(query.cursor, AUTH_EVENT_SORT).id : undefined;
        const tenant = await findRouteTenant(deps.db.admin, ctx, { tenantAdmin: true });
        const rows = await deps.db.admin.scoped(tenant.id, (tx) =>
          listAuthEvents(tx, tenant.id, {
            ...(typeof query.client_id === 'string' ? { clientId: query.client_id } : {}),
            ...(typeof query.outcome === 'string' ? { outcome: query.outcome as AuthEventOutcome } : {}),
            ...(typeof query.reason === 'string' ? { reason: query.reason } : {}),
            ...(typeof query.since === 'string' ? { since: query.since } : {}),
            ...(typeof query.until === 'string' ? { until: query.until } : {}),
            ...(before !== undefined ? { before } : {}),
            limit: limit + 1,
          }),
        );
        ctx.body = page(ctx, rows, limit, (last) => encodeCursor(AUTH_EVENT_SORT, { key: last.time, id: last.id }));
      },
    }),
  ];
}
