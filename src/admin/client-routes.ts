/**
 * /v1/tenants/{slug}/clients: a tenant's integrations (and, as /v1/tenants/platform/clients, the
 * platform admin clients). The secret is shown once, at creation or
 * rotation; reads show only each secret's metadata. A platform admin or the tenant's own
 * tenant:admin client may call these.
 */
import type Router from '@koa/router';
import type { ClientAuthMethod } from '../catalog/client-auth-methods.ts';
import {
  type ClientRepresentation,
  DEFAULT_SECRET_GRACE_SECONDS,
  deleteClient,
  findClients,
  insertClient,
  rotateClientSecret,
  TooManyLiveSecretsError,
  updateClient,
} from '../auth/clients.ts';
import { compileBodyValidator, compileQueryValidator } from '../http/validation.ts';
import type { Queryable } from '../db/database.ts';
import { ApiError } from '../http/problem.ts';
import { tenantScopes } from '../tenancy/tenant-settings.ts';
import type { TenantRecord } from './operator/tenant-lifecycle.ts';
import { enqueueTenantEvents } from '../webhooks/outbox.ts';
import { ADMIN_SCHEMAS } from './admin-schemas.ts';
import { type AdminContext, type AdminDeps, type AdminState, audit, findRouteTenant } from './admin-steps.ts';

function clientNotFound(clientId: string): ApiError {
  return new ApiError('not-found', `No client "${clientId}" in this tenant.`);
}

/** Scopes a client may hold: what its tenant offers (the platform: platform:admin). */
function checkScopes(tenant: TenantRecord, scopes: readonly string[]): void {
  const offered = tenantScopes(tenant);
  const errors = scopes.flatMap((scope, i) =>
    offered.includes(scope) ? [] : [{ pointer: `/scopes/${i}`, detail: `"${scope}" is not a scope this tenant offers` }],
  );
  if (errors.length) {
    throw new ApiError('validation-failed', `Scopes this tenant offers: ${offered.join(' ')}.`, { members: { errors } });
  }
}

export function registerClientRoutes(router: Router<AdminState>, deps: AdminDeps) {
  const { db } = deps;
  const validateCreate = compileBodyValidator(ADMIN_SCHEMAS.ClientCreate);
  const validateUpdate = compileBodyValidator(ADMIN_SCHEMAS.ClientUpdate);
  const validateRotation = compileBodyValidator(ADMIN_SCHEMAS.SecretRotation);
  const validateNoQuery = compileQueryValidator({ type: 'object', additionalProperties: false, properties: {} });

  const findClient = async (tx: Queryable, tenant: TenantRecord, clientId: string): Promise<ClientRepresentation> => {
    const [client] = await findClients(tx, tenant.id, clientId);
    if (!client) throw clientNotFound(clientId);
    return client;
  };

  /** Reads the tenant, then runs `work` in a transaction scoped to it (RLS holds the owner too). */
  const inTenant = async <T>(ctx: AdminContext, work: (tx: Queryable, tenant: TenantRecord) => Promise<T>): Promise<T> => {
    const tenant = await findRouteTenant(db.owner, ctx, { tenantAdmin: true, platformTenant: true });
    return db.owner.scoped(tenant.id, (tx) => work(tx, tenant));
  };

  /** Changes one client, audited with its representation before and after. */
  const changeClient = (action: string, change: (tx: Queryable, tenant: TenantRecord, clientId: string) => Promise<unknown>) =>
    async function changeClientRoute(ctx: AdminContext) {
      const clientId = ctx.params.clientId ?? '';
      ctx.body = await inTenant(ctx, async (tx, tenant) => {
        const before = await findClient(tx, tenant, clientId);
        await change(tx, tenant, clientId);
        const after = await findClient(tx, tenant, clientId);
        await audit(tx, ctx, { tenant, action, target: { type: 'client', id: clientId }, before, after });
        return after;
      });
    };

  router.get('/tenants/:slug/clients', async function listClients(ctx: AdminContext) {
    validateNoQuery(ctx.query);
    ctx.body = { data: await inTenant(ctx, (tx, tenant) => findClients(tx, tenant.id)), next: null };
  });

  router.post('/tenants/:slug/clients', async function createClientRoute(ctx: AdminContext) {
    const body = validateCreate(ctx.state.body);
    const result = await inTenant(ctx, async (tx, tenant) => {
      checkScopes(tenant, body.scopes as string[]);
      let issued;
      try {
        issued = await insertClient(tx, tenant.id, {
          name: body.name as string,
          scopes: body.scopes as string[],
          accessTokenTtl: (body.access_token_ttl as number | undefined) ?? null,
          authMethod: body.token_endpoint_auth_method as ClientAuthMethod,
          ...(typeof body.client_id === 'string' ? { clientId: body.client_id } : {}),
        });
      } catch (error) {
        if ((error as { code?: string }).code === '23505') {
          throw new ApiError('conflict', `A client "${String(body.client_id)}" exists in this tenant already.`, {
            members: { errors: [{ pointer: '/client_id', detail: 'is taken' }] },
          });
        }
        throw error;
      }
      const client = await findClient(tx, tenant, issued.clientId);
      await audit(tx, ctx, { tenant, action: 'client.create', target: { type: 'client', id: issued.clientId }, after: client });
      return { ...client, client_secret: issued.clientSecret };
    });
    ctx.status = 201;
    ctx.set('Location', `${ctx.state.base}/tenants/${ctx.params.slug}/clients/${encodeURIComponent(result.client_id)}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = result;
  });

  router.get('/tenants/:slug/clients/:clientId', async function getClient(ctx: AdminContext) {
    validateNoQuery(ctx.query);
    ctx.body = await inTenant(ctx, (tx, tenant) => findClient(tx, tenant, ctx.params.clientId ?? ''));
  });

  router.patch('/tenants/:slug/clients/:clientId', async function updateClientRoute(ctx: AdminContext) {
    const body = validateUpdate(ctx.state.body);
    await changeClient('client.update', async (tx, tenant, clientId) => {
      if (body.scopes) checkScopes(tenant, body.scopes as string[]);
      await updateClient(tx, tenant.id, clientId, {
        ...(typeof body.name === 'string' ? { name: body.name } : {}),
        ...(body.scopes ? { scopes: body.scopes as string[] } : {}),
        ...('access_token_ttl' in body ? { accessTokenTtl: body.access_token_ttl as number | null } : {}),
        ...(body.token_endpoint_auth_method ? { authMethod: body.token_endpoint_auth_method as ClientAuthMethod } : {}),
      });
    })(ctx);
  });

  router.post(
    '/tenants/:slug/clients/:clientId/disable',
    changeClient('client.disable', (tx, tenant, clientId) => updateClient(tx, tenant.id, clientId, { disabled: true })),
  );
  router.post(
    '/tenants/:slug/clients/:clientId/enable',
    changeClient('client.enable', (tx, tenant, clientId) => updateClient(tx, tenant.id, clientId, { disabled: false })),
  );

  router.post('/tenants/:slug/clients/:clientId/rotate-secret', async function rotateSecret(ctx: AdminContext) {
    const body = validateRotation(ctx.state.body ?? {});
    const clientId = ctx.params.clientId ?? '';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await inTenant(ctx, async (tx, tenant) => {
      const before = await findClient(tx, tenant, clientId);
      let rotated;
      try {
        rotated = await rotateClientSecret(
          tx,
          tenant.id,
          clientId,
          (body.expires_in as number | undefined) ?? DEFAULT_SECRET_GRACE_SECONDS,
        );
      } catch (error) {
        if (error instanceof TooManyLiveSecretsError) {
          throw new ApiError(
            'conflict',
            `The client has two live secrets already; the previous one expires at ${error.expiresAt}. ` +
              'Wait until then, or rotate with "expires_in": 0 to end every previous secret now.',
          );
        }
        throw error;
      }
      if (!rotated) throw clientNotFound(clientId);
      const after = await findClient(tx, tenant, clientId);
      await audit(tx, ctx, { tenant, action: 'client.rotate_secret', target: { type: 'client', id: clientId }, before, after });
      await enqueueTenantEvents(tx, tenant.id, [{ type: 'client.secret_rotated', data: after }]);
      return { client: after, client_secret: rotated.clientSecret };
    });
  });

  router.delete('/tenants/:slug/clients/:clientId', async function deleteClientRoute(ctx: AdminContext) {
    const clientId = ctx.params.clientId ?? '';
    await inTenant(ctx, async (tx, tenant) => {
      const before = await findClient(tx, tenant, clientId);
      await deleteClient(tx, tenant.id, clientId);
      await audit(tx, ctx, { tenant, action: 'client.delete', target: { type: 'client', id: clientId }, before });
    });
    ctx.status = 204;
  });
}
