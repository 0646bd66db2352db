/**
 * /v1/tenants/{slug}/clients: a tenant's integrations (and, as /v1/tenants/platform/clients, the
 * platform admin clients). The secret is shown once, at creation or
 * rotation; reads show only each secret's metadata. A platform admin or the tenant's own
 * tenant:admin client may call these.
 */
import { type ClientAuthMethod, SECRET_AUTH_METHODS } from '../catalog/client-auth-methods.ts';
import { clientJwksProblem, jwksUriProblem } from '../auth/client-jwks.ts';
import type { TokenQuota } from '../catalog/token-quotas.ts';
import {
  type ClientKeys,
  type ClientRepresentation,
  DEFAULT_SECRET_GRACE_SECONDS,
  deleteClient,
  findClients,
  lockClient,
  insertClient,
  insertKeyClient,
  setClientKeys,
  rotateClientSecret,
  TooManyLiveSecretsError,
  updateClient,
} from '../auth/clients.ts';
import type { Queryable } from '../db/database.ts';
import { ApiError } from '../http/problem.ts';
import { tenantScopes } from '../tenancy/tenant-settings.ts';
import type { TenantRecord } from './operator/tenant-lifecycle.ts';
import { enqueueTenantEvents } from '../webhooks/outbox.ts';
import type { RouteSpec } from '../http/route-spec.ts';
import { CONFLICT, list, ref } from './admin-openapi.ts';
import { ADMIN_SCHEMAS, NO_QUERY } from './admin-schemas.ts';
import { type AdminContext, type AdminDeps, adminRoute, audit, findRouteTenant } from './admin-steps.ts';

const tags = ['Clients'];

export function clientNotFound(clientId: string): ApiError {
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

/** 400 naming the member at fault. */
function invalidMember(pointer: string, detail: string, title = `${pointer.slice(1)} ${detail}.`): ApiError {
  return new ApiError('validation-failed', title, { members: { errors: [{ pointer, detail }] } });
}

/**
 * private_key_jwt keys from a body (`jwks` or `jwks_uri`): checked here, so a bad key set or URL is
 * a 400 naming it. The keys must be public, the URL https (or loopback where allowed).
 */
function readClientKeys(body: Record<string, unknown>, allowLoopback: boolean): ClientKeys | undefined {
  if (body.jwks !== undefined && body.jwks_uri !== undefined) {
    throw invalidMember('/jwks_uri', 'cannot be given with jwks', 'Give either jwks or jwks_uri, not both.');
  }
  if (body.jwks !== undefined) {
    const problem = clientJwksProblem(body.jwks);
    if (problem) throw invalidMember('/jwks', problem);
    return { jwks: body.jwks as { keys: [] } };
  }
  if (typeof body.jwks_uri === 'string') {
    const problem = jwksUriProblem(body.jwks_uri, allowLoopback);
    if (problem) throw invalidMember('/jwks_uri', problem);
    return { jwksUri: body.jwks_uri };
  }
  return undefined;
}

export function clientRoutes(deps: AdminDeps): RouteSpec<AdminContext>[] {
  const { db } = deps;
  const allowLoopback = deps.config.webhooks.allowLoopback;

  const findClient = async (tx: Queryable, tenant: TenantRecord, clientId: string): Promise<ClientRepresentation> => {
    const [client] = await findClients(tx, tenant.id, clientId);
    if (!client) throw clientNotFound(clientId);
    return client;
  };

  /** Reads the tenant, then runs `work` in a transaction scoped to it (RLS holds the owner too). */
  const inTenant = async <T>(ctx: AdminContext, work: (tx: Queryable, tenant: TenantRecord) => Promise<T>): Promise<T> => {
    const tenant = await findRouteTenant(db.admin, ctx, { tenantAdmin: true, platformTenant: true });
    return db.admin.scoped(tenant.id, (tx) => work(tx, tenant));
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

  /** disable, enable: one flag of a client, answering the client */
  const switchRoute = (action: 'disable' | 'enable', summary: string, disabled: boolean) =>
    adminRoute({
      method: 'post',
      path: `/tenants/:slug/clients/:clientId/${action}`,
      operationId: `${action}Client`,
      summary,
      tags,
      tenantAdmin: true,
      responses: { 200: { description: 'the client', schema: ref('Client') } },
      handler: changeClient(`client.${action}`, (tx, tenant, clientId) => updateClient(tx, tenant.id, clientId, { disabled })),
    });

  /**
   * A method the client can authenticate with at once: keys for private_key_jwt, a live secret for
   * the others. The row stays locked until the change commits, so what is checked is what is changed.
   */
  const checkMethodChange = async (tx: Queryable, tenant: TenantRecord, clientId: string, method: ClientAuthMethod) => {
    await lockClient(tx, tenant.id, clientId);
    const client = await findClient(tx, tenant, clientId);
    if (method === 'private_key_jwt' && client.jwks === null && client.jwks_uri === null) {
      throw invalidMember(
        '/token_endpoint_auth_method',
        'needs keys first',
        `Register the client's public keys first: PUT /v1/tenants/${tenant.slug}/clients/${clientId}/jwks.`,
      );
    }
    const live = client.secrets.some((secret) => secret.expires_at === null || Date.parse(secret.expires_at) > Date.now());
    if (SECRET_AUTH_METHODS.includes(method) && !live) {
      throw invalidMember(
        '/token_endpoint_auth_method',
        'needs a live secret first',
        `The client has no live secret: POST /v1/tenants/${tenant.slug}/clients/${clientId}/rotate-secret first.`,
      );
    }
  };

  return [
    adminRoute({
      method: 'get',
      path: '/tenants/:slug/clients',
      operationId: 'listClients',
      summary: 'List clients (never secrets)',
      tags,
      tenantAdmin: true,
      query: NO_QUERY,
      responses: { 200: { description: 'all clients', schema: list('Client') } },
      handler: async function listClients(ctx) {
        ctx.body = { data: await inTenant(ctx, (tx, tenant) => findClients(tx, tenant.id)), next: null };
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants/:slug/clients',
      operationId: 'createClient',
      summary: 'Create a client; the secret is returned once',
      tags,
      tenantAdmin: true,
      body: { schema: ADMIN_SCHEMAS.ClientCreate },
      responses: { 201: { description: 'created', schema: ref('ClientWithSecret') }, 409: CONFLICT },
      handler: async function createClientRoute(ctx, { body }) {
        const result = await inTenant(ctx, async (tx, tenant) => {
          checkScopes(tenant, body.scopes as string[]);
          const method = body.token_endpoint_auth_method as ClientAuthMethod;
          const keys = readClientKeys(body, allowLoopback);
          if (method === 'private_key_jwt' && !keys) {
            throw invalidMember(
              '/jwks',
              'is required for private_key_jwt (or jwks_uri)',
              'A private_key_jwt client needs jwks or jwks_uri.',
            );
          }
          if (method !== 'private_key_jwt' && keys) {
            throw invalidMember(
              '/token_endpoint_auth_method',
              'must be private_key_jwt to register keys',
              'jwks and jwks_uri are for "token_endpoint_auth_method": "private_key_jwt".',
            );
          }
          const input = {
            name: body.name as string,
            scopes: body.scopes as string[],
            accessTokenTtl: (body.access_token_ttl as number | undefined) ?? null,
            dpopBoundAccessTokens: body.dpop_bound_access_tokens === true,
            tokenQuota: (body.token_quota as TokenQuota | undefined) ?? null,
            ...(typeof body.client_id === 'string' ? { clientId: body.client_id } : {}),
          };
          let issued: { clientId: string; clientSecret?: string };
          try {
            issued = keys
              ? await insertKeyClient(tx, tenant.id, { ...input, keys })
              : await insertClient(tx, tenant.id, { ...input, authMethod: method });
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
          return issued.clientSecret === undefined ? client : { ...client, client_secret: issued.clientSecret };
        });
        ctx.status = 201;
        ctx.set('Location', `${ctx.state.base}/tenants/${ctx.params.slug}/clients/${encodeURIComponent(result.client_id)}`);
        ctx.set('Cache-Control', 'no-store');
        ctx.body = result;
      },
    }),

    adminRoute({
      method: 'get',
      path: '/tenants/:slug/clients/:clientId',
      operationId: 'getClient',
      summary: 'Get a client',
      tags,
      tenantAdmin: true,
      query: NO_QUERY,
      responses: { 200: { description: 'the client', schema: ref('Client') } },
      handler: async function getClient(ctx) {
        ctx.body = await inTenant(ctx, (tx, tenant) => findClient(tx, tenant, ctx.params.clientId ?? ''));
      },
    }),

    adminRoute({
      method: 'patch',
      path: '/tenants/:slug/clients/:clientId',
      operationId: 'updateClient',
      summary: 'Change name, scopes, token lifetime, token quota, auth method or DPoP binding',
      tags,
      tenantAdmin: true,
      body: { schema: ADMIN_SCHEMAS.ClientUpdate },
      responses: { 200: { description: 'changed', schema: ref('Client') } },
      handler: async function updateClientRoute(ctx, { body }) {
        await changeClient('client.update', async (tx, tenant, clientId) => {
          if (body.scopes) checkScopes(tenant, body.scopes as string[]);
          const method = body.token_endpoint_auth_method as ClientAuthMethod | undefined;
          if (method) await checkMethodChange(tx, tenant, clientId, method);
          await updateClient(tx, tenant.id, clientId, {
            ...(typeof body.name === 'string' ? { name: body.name } : {}),
            ...(body.scopes ? { scopes: body.scopes as string[] } : {}),
            ...('access_token_ttl' in body ? { accessTokenTtl: body.access_token_ttl as number | null } : {}),
            ...('token_quota' in body ? { tokenQuota: body.token_quota as TokenQuota | null } : {}),
            ...(body.token_endpoint_auth_method ? { authMethod: body.token_endpoint_auth_method as ClientAuthMethod } : {}),
            ...(typeof body.dpop_bound_access_tokens === 'boolean' ? { dpopBoundAccessTokens: body.dpop_bound_access_tokens } : {}),
          });
        })(ctx);
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants/:slug/clients/:clientId/rotate-secret',
      operationId: 'rotateClientSecret',
      summary: 'Issue a new secret; the previous one works until expires_in (default 7 days)',
      tags,
      tenantAdmin: true,
      body: { schema: ADMIN_SCHEMAS.SecretRotation, optional: true },
      responses: { 200: { description: 'the new secret, shown once', schema: ref('SecretRotationResult') }, 409: CONFLICT },
      handler: async function rotateSecret(ctx, { body }) {
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
      },
    }),

    adminRoute({
      method: 'put',
      path: '/tenants/:slug/clients/:clientId/jwks',
      operationId: 'setClientKeys',
      summary: "Replace a private_key_jwt client's public keys (jwks or jwks_uri); every instance within a second",
      tags,
      tenantAdmin: true,
      body: { schema: ADMIN_SCHEMAS.ClientKeys },
      responses: { 200: { description: 'the client with its new keys', schema: ref('Client') } },
      handler: async function setClientKeysRoute(ctx, { body }) {
        const keys = readClientKeys(body, allowLoopback) as ClientKeys;
        await changeClient('client.set_keys', (tx, tenant, clientId) => setClientKeys(tx, tenant.id, clientId, keys))(ctx);
      },
    }),

    switchRoute('disable', 'Disable: no tokens, existing tokens refused within a second', true),
    switchRoute('enable', 'Enable', false),

    adminRoute({
      method: 'delete',
      path: '/tenants/:slug/clients/:clientId',
      operationId: 'deleteClient',
      summary: 'Delete a client; its tokens stop working within a second',
      tags,
      tenantAdmin: true,
      responses: { 204: { description: 'deleted' } },
      handler: async function deleteClientRoute(ctx) {
        const clientId = ctx.params.clientId ?? '';
        await inTenant(ctx, async (tx, tenant) => {
          const before = await findClient(tx, tenant, clientId);
          await deleteClient(tx, tenant.id, clientId);
          await audit(tx, ctx, { tenant, action: 'client.delete', target: { type: 'client', id: clientId }, before });
        });
        ctx.status = 204;
      },
    }),
  ];
}
