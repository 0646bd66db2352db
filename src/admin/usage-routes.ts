/** GET /v1/usage: tokens, API calls and webhook deliveries per tenant, client and UTC day
 * (operator/usage-report.ts). A tenant admin reads its own tenant's only. */
import { decodeCursor, encodeCursor } from '../http/pagination.ts';
import { ApiError } from '../http/problem.ts';
import type { RouteSpec } from '../http/route-spec.ts';
import { list } from './admin-openapi.ts';
import { ADMIN_SCHEMAS } from './admin-schemas.ts';
import { type AdminContext, type AdminDeps, adminRoute, page, tenantNotFound } from './admin-steps.ts';
import { findTenantRecord } from './operator/tenant-lifecycle.ts';
import { listUsage, type UsagePosition, usageRange } from './operator/usage-report.ts';

const USAGE_SORT = 'usage';

/** The tenant asked about: a tenant admin's own (another slug answers like one that does not exist). */
async function usageTenant(deps: AdminDeps, ctx: AdminContext, slug: string | undefined): Promise<string | undefined> {
  const { principal, environment } = ctx.state;
  if (principal.kind === 'tenant') {
    if (slug !== undefined && slug !== principal.tenant.slug) throw tenantNotFound(slug);
    return principal.tenant.id;
  }
  if (slug === undefined) return undefined;
  // a deleted tenant's usage stays readable until it is purged
  const record = await findTenantRecord(deps.db.admin, environment.name, slug, { includeDeleted: true });
  if (!record) throw tenantNotFound(slug);
  return record.id;
}

/** The cursor's position: key `<date>/<client_id>`, id the tenant's id. */
function positionOf(cursor: string): UsagePosition {
  const { key, id } = decodeCursor(cursor, USAGE_SORT);
  const date = key.slice(0, 10);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || key[10] !== '/') {
    throw new ApiError(
      'invalid-query',
      'The cursor is not valid: malformed cursor. Pass back the `next` link of the previous page unchanged.',
      {
        members: { errors: [{ pointer: '/query/cursor', detail: 'malformed cursor' }] },
      },
    );
  }
  return { date, tenantId: id, clientId: key.slice(11) };
}

export function usageRoutes(deps: AdminDeps): RouteSpec<AdminContext>[] {
  return [
    adminRoute({
      method: 'get',
      path: '/usage',
      operationId: 'listUsage',
      summary: 'Tokens issued, API calls and webhook deliveries per tenant, client and UTC day',
      tags: ['Usage'],
      tenantAdmin: true,
      query: ADMIN_SCHEMAS.UsageQuery,
      responses: { 200: { description: 'a page, by day, then tenant, then client', schema: list('UsageRow') } },
      handler: async function listUsageRoute(ctx, { query }) {
        const limit = query.limit as number;
        const range = usageRange({ from: query.from as string | undefined, to: query.to as string | undefined }, Date.now());
        if ('error' in range) {
          throw new ApiError('invalid-query', `The date range is not valid: ${range.error}.`, {
            members: { errors: [{ pointer: `/query/${range.parameter}`, detail: range.error }] },
          });
        }
        const after = typeof query.cursor === 'string' ? positionOf(query.cursor) : undefined;
        const tenantId = await usageTenant(deps, ctx, query.tenant as string | undefined);
        const rows = await listUsage(deps.db.admin, {
          environment: ctx.state.environment.name,
          tenantId,
          from: range.from,
          to: range.to,
          after,
          limit: limit + 1,
        });
        const answer = page(ctx, rows, limit, ({ position }) =>
          encodeCursor(USAGE_SORT, { key: `${position.date}/${position.clientId}`, id: position.tenantId }),
        );
        ctx.body = { ...answer, data: answer.data.map(({ position: _, ...row }) => row) };
      },
    }),
  ];
}
