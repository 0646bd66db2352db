/** GET /v1/audit-events: the environment's audit log, newest first, filtered, cursor-paginated.
 * A tenant admin sees its own tenant's events only. */
import { decodeCursor, encodeCursor } from '../http/pagination.ts';
import type { RouteSpec } from '../http/route-spec.ts';
import { list } from './admin-openapi.ts';
import { ADMIN_SCHEMAS } from './admin-schemas.ts';
import { type AdminContext, type AdminDeps, adminRoute, page } from './admin-steps.ts';
import { listAuditEvents } from './operator/audit-log.ts';

export function auditRoutes(deps: AdminDeps): RouteSpec<AdminContext>[] {
  return [
    adminRoute({
      method: 'get',
      path: '/audit-events',
      operationId: 'listAuditEvents',
      summary: 'The audit log, newest first',
      tags: ['Audit'],
      tenantAdmin: true,
      query: ADMIN_SCHEMAS.AuditQuery,
      responses: { 200: { description: 'a page', schema: list('AuditEvent') } },
      handler: async function listAuditEventsRoute(ctx, { query }) {
        const { principal } = ctx.state;
        const limit = query.limit as number;
        // a tenant admin's filter is its own tenant, whatever it asked for
        const tenantSlug = principal.kind === 'tenant' ? principal.tenant.slug : (query.tenant as string | undefined);
        const rows = await listAuditEvents(deps.db.admin, {
          environment: ctx.state.environment.name,
          ...(tenantSlug !== undefined ? { tenantSlug } : {}),
          ...(typeof query.action === 'string' ? { action: query.action } : {}),
          ...(typeof query.actor === 'string' ? { actorClientId: query.actor } : {}),
          ...(typeof query.since === 'string' ? { since: query.since } : {}),
          ...(typeof query.until === 'string' ? { until: query.until } : {}),
          ...(typeof query.cursor === 'string' ? { before: decodeCursor(query.cursor, 'audit').id } : {}),
          limit: limit + 1,
        });
        ctx.body = page(ctx, rows, limit, (last) => encodeCursor('audit', { key: last.occurred_at, id: last.id }));
      },
    }),
  ];
}
