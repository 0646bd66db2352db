/** GET /v1/tenants/{slug}/clients/{clientId}/health: one client's integration health in one
 * answer (operator/client-health.ts). A tenant admin reads its own tenant's clients only. */
import type { RouteSpec } from '../http/route-spec.ts';
import { ref } from './admin-openapi.ts';
import { NO_QUERY } from './admin-schemas.ts';
import { type AdminContext, type AdminDeps, adminRoute, findRouteTenant } from './admin-steps.ts';
import { clientNotFound } from './client-routes.ts';
import { readClientHealth } from './operator/client-health.ts';

export function clientHealthRoutes(deps: AdminDeps): RouteSpec<AdminContext>[] {
  return [
    adminRoute({
      method: 'get',
      path: '/tenants/:slug/clients/:clientId/health',
      operationId: 'getClientHealth',
      summary:
        "A client's last token, last refusal and why, last use and API call, 24-hour counts, quota use, failing webhooks, expiring secrets",
      tags: ['Clients'],
      tenantAdmin: true,
      query: NO_QUERY,
      responses: { 200: { description: 'the client health', schema: ref('ClientHealth') } },
      handler: async function getClientHealth(ctx) {
        const clientId = ctx.params.clientId ?? '';
        const tenant = await findRouteTenant(deps.db.admin, ctx, { tenantAdmin: true });
        const health = await deps.db.admin.scoped(tenant.id, (tx) => readClientHealth(tx, tenant, clientId));
        if (!health) throw clientNotFound(clientId);
        ctx.body = health;
      },
    }),
  ];
}
