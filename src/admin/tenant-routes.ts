/**
 * /v1/tenants: provision, list, read, change settings, suspend, activate, soft delete, restore
 * and purge. Every change and its audit record share one transaction.
 */
import { decodeCursor, encodeCursor } from '../http/pagination.ts';
import { ApiError } from '../http/problem.ts';
import { isValidTenantSlug } from '../tenancy/hosts.ts';
import { provisionTenant } from './operator/provisioning.ts';
import { syncSandboxTenant } from './operator/sandbox-sync.ts';
import { resetSandboxData } from './operator/sandbox-reset.ts';
import {
  findTenantRecord,
  listTenantRecords,
  purgeTenantRows,
  type TenantChanges,
  type TenantRecord,
  type TenantRepresentation,
  tenantRepresentation,
  updateTenantRecord,
} from './operator/tenant-lifecycle.ts';
import { mergeSettings } from '../tenancy/tenant-settings.ts';
import type { TenantStatus } from '../catalog/tenant-statuses.ts';
import type { TenantSettings } from '../tenancy/tenants.ts';
import { enqueueTenantEvents } from '../webhooks/outbox.ts';
import type { RouteSpec } from '../http/route-spec.ts';
import { CONFLICT, list, ref } from './admin-openapi.ts';
import { ADMIN_SCHEMAS } from './admin-schemas.ts';
import { type AdminContext, type AdminDeps, adminRoute, audit, findRouteTenant, page } from './admin-steps.ts';

const SANDBOX_ENVIRONMENT = 'sandbox';
const tags = ['Tenants'];

export function tenantRoutes(deps: AdminDeps): RouteSpec<AdminContext>[] {
  const { db } = deps;

  /** One change to one tenant, locked, audited, in one transaction. */
  async function changeTenant(
    ctx: AdminContext,
    action: string,
    options: { includeDeleted?: boolean; event?: (before: TenantRepresentation, after: TenantRepresentation) => string | undefined },
    decide: (current: TenantRecord) => TenantChanges,
  ) {
    const result = await db.admin.scoped(null, async (tx) => {
      const record = await findRouteTenant(tx, ctx, { ...options, lock: true });
      const before = tenantRepresentation(record);
      const updated = tenantRepresentation(await updateTenantRecord(tx, record.id, decide(record)));
      await audit(tx, ctx, { tenant: record, action, target: { type: 'tenant', id: record.slug }, before, after: updated });
      const eventType = options.event?.(before, updated);
      if (eventType) await enqueueTenantEvents(tx, record.id, [{ type: eventType, data: updated }]);
      return updated;
    });
    ctx.body = result;
  }

  /** suspend, activate, restore: a change of status that answers the tenant */
  const statusRoute = (action: string, summary: string, rest: Pick<RouteSpec<AdminContext>, 'handler' | 'body'>) =>
    adminRoute({
      method: 'post',
      path: `/tenants/:slug/${action}`,
      operationId: `${action}Tenant`,
      summary,
      tags,
      responses: { 200: { description: 'the tenant', schema: ref('Tenant') }, 409: CONFLICT },
      ...rest,
    });

  return [
    adminRoute({
      method: 'get',
      path: '/tenants',
      operationId: 'listTenants',
      summary: 'List tenants',
      tags,
      query: ADMIN_SCHEMAS.TenantListQuery,
      responses: { 200: { description: 'a page', schema: list('Tenant') } },
      handler: async function listTenants(ctx, { query }) {
        const limit = query.limit as number;
        const after = typeof query.cursor === 'string' ? { slug: decodeCursor(query.cursor, 'slug').key } : undefined;
        const rows = await listTenantRecords(db.admin, {
          environment: ctx.state.environment.name,
          ...(query.status ? { status: query.status as TenantStatus } : {}),
          ...(typeof query.q === 'string' ? { search: query.q } : {}),
          includeDeleted: query.include_deleted === true,
          ...(after ? { after } : {}),
          limit: limit + 1,
        });
        ctx.body = page(ctx, rows.map(tenantRepresentation), limit, (last) => encodeCursor('slug', { key: last.slug, id: last.id }));
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants',
      operationId: 'createTenant',
      summary: 'Provision a tenant (and its signing key)',
      tags,
      body: { schema: ADMIN_SCHEMAS.TenantCreate },
      responses: { 201: { description: 'created', schema: ref('Tenant') }, 409: CONFLICT },
      handler: async function createTenant(ctx, { body }) {
        const slug = body.slug as string;
        if (!isValidTenantSlug(slug)) {
          throw new ApiError('validation-failed', `"${slug}" is reserved for the platform; choose another slug.`, {
            members: { errors: [{ pointer: '/slug', detail: 'is reserved' }] },
          });
        }
        const environment = ctx.state.environment.name;
        const settings = (body.settings ?? {}) as TenantSettings;
        let created: TenantRepresentation | undefined;
        try {
          await provisionTenant(
            db,
            deps.keyEncryption,
            { environment, slug, name: body.name as string, status: body.status as TenantStatus, settings },
            async (tx, tenantId) => {
              const record = await findTenantRecord(tx, environment, slug);
              if (!record || record.id !== tenantId) throw new Error('provisioned tenant not found in its own transaction');
              created = tenantRepresentation(record);
              await audit(tx, ctx, { tenant: record, action: 'tenant.create', target: { type: 'tenant', id: slug }, after: created });
            },
          );
        } catch (error) {
          if ((error as { code?: string }).code === '23505') {
            throw new ApiError('conflict', `The slug "${slug}" is taken in this environment (deleted tenants keep their slug).`, {
              members: { errors: [{ pointer: '/slug', detail: 'is taken' }] },
            });
          }
          throw error;
        }
        ctx.status = 201;
        ctx.set('Location', `${ctx.state.base}/tenants/${slug}`);
        ctx.body = created;
      },
    }),

    adminRoute({
      method: 'get',
      path: '/tenants/:slug',
      operationId: 'getTenant',
      summary: 'Get a tenant',
      tags,
      tenantAdmin: true,
      query: ADMIN_SCHEMAS.TenantGetQuery,
      responses: { 200: { description: 'the tenant', schema: ref('Tenant') } },
      handler: async function getTenant(ctx, { query }) {
        const record = await findRouteTenant(db.admin, ctx, { tenantAdmin: true, includeDeleted: query.include_deleted === true });
        ctx.body = tenantRepresentation(record);
      },
    }),

    adminRoute({
      method: 'patch',
      path: '/tenants/:slug',
      operationId: 'updateTenant',
      summary: 'Change name or settings (JSON merge patch; null resets a setting)',
      tags,
      body: { schema: ADMIN_SCHEMAS.TenantUpdate },
      responses: { 200: { description: 'changed', schema: ref('Tenant') } },
      handler: async function updateTenant(ctx, { body }) {
        // settings merge into what is stored (not the effective values), so a default stays a default
        // and null hands a key back to it; a new signing_alg applies from the next key rotation
        await changeTenant(ctx, 'tenant.update', {}, (current) => ({
          ...(typeof body.name === 'string' ? { name: body.name } : {}),
          ...(body.settings ? { settings: mergeSettings(current.settings, body.settings as Record<string, unknown>) } : {}),
        }));
      },
    }),

    statusRoute('suspend', 'Suspend: tokens refused, API answers 403', {
      handler: async function suspendTenant(ctx) {
        const event = (before: TenantRepresentation, after: TenantRepresentation) =>
          before.status !== 'SUSPENDED' && after.status === 'SUSPENDED' ? 'tenant.suspended' : undefined;
        await changeTenant(ctx, 'tenant.suspend', { event }, () => ({ status: 'SUSPENDED' }));
      },
    }),

    statusRoute('activate', 'Activate', {
      handler: async function activateTenant(ctx) {
        const event = (before: TenantRepresentation, after: TenantRepresentation) =>
          before.status !== 'ACTIVE' && after.status === 'ACTIVE' ? 'tenant.activated' : undefined;
        await changeTenant(ctx, 'tenant.activate', { event }, () => ({ status: 'ACTIVE' }));
      },
    }),

    adminRoute({
      method: 'delete',
      path: '/tenants/:slug',
      operationId: 'deleteTenant',
      summary: 'Soft-delete: SUSPENDED, hidden, slug kept; restorable',
      tags,
      responses: { 200: { description: 'deleted', schema: ref('Tenant') } },
      handler: async function softDeleteTenant(ctx) {
        await changeTenant(ctx, 'tenant.delete', {}, () => ({ status: 'SUSPENDED', deletedAt: 'now' }));
      },
    }),

    statusRoute('restore', 'Restore a soft-deleted tenant', {
      body: { schema: ADMIN_SCHEMAS.TenantRestore, optional: true },
      handler: async function restoreTenant(ctx, { body }) {
        await changeTenant(ctx, 'tenant.restore', { includeDeleted: true }, (current) => {
          if (current.deleted_at === null) throw new ApiError('conflict', `The tenant "${current.slug}" is not deleted.`);
          return { status: (body.status as TenantStatus | undefined) ?? 'ACTIVE', deletedAt: null };
        });
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants/:slug/purge',
      operationId: 'purgeTenant',
      summary: 'Delete a soft-deleted tenant and all its data for good (after TENANT_PURGE_AFTER_DAYS)',
      tags,
      body: { schema: ADMIN_SCHEMAS.TenantPurge },
      responses: { 204: { description: 'purged' }, 409: CONFLICT },
      handler: async function purgeTenant(ctx, { body }) {
        const slug = ctx.params.slug ?? '';
        if (body.confirm !== slug) {
          throw new ApiError('validation-failed', 'Purging deletes the tenant and all its data for good: send {"confirm": "<slug>"}.', {
            members: { errors: [{ pointer: '/confirm', detail: 'must equal the slug' }] },
          });
        }
        const days = deps.config.tenantPurgeAfterDays;
        const record = await findRouteTenant(db.admin, ctx, { includeDeleted: true });
        await db.admin.scoped(record.id, async (tx) => {
          const [locked] = await tx.query<{ purgeable: boolean; deleted: boolean; purgeable_at: Date | null }>(
            `SELECT deleted_at IS NOT NULL AS deleted, deleted_at + make_interval(days => $2) AS purgeable_at,
                deleted_at IS NOT NULL AND deleted_at <= now() - make_interval(days => $2) AS purgeable
           FROM tenants WHERE id = $1 FOR UPDATE`,
            [record.id, days],
          );
          if (!locked) throw new ApiError('not-found', `No tenant "${slug}" in this environment.`);
          if (!locked.deleted) throw new ApiError('conflict', `Only a deleted tenant can be purged: delete "${slug}" first.`);
          if (!locked.purgeable) {
            throw new ApiError(
              'conflict',
              `"${slug}" can be purged from ${new Date(locked.purgeable_at as Date).toISOString()} (${days} days after its deletion; TENANT_PURGE_AFTER_DAYS).`,
            );
          }
          const before = tenantRepresentation(record);
          const removed = await purgeTenantRows(tx, record.id);
          await audit(tx, ctx, {
            tenant: record,
            action: 'tenant.purge',
            target: { type: 'tenant', id: slug },
            before,
            after: { removed },
          });
        });
        ctx.status = 204;
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants/:slug/sandbox-sync',
      operationId: 'syncSandbox',
      summary: "Copy the tenant's settings and clients (same ids and secrets) into the sandbox",
      tags,
      responses: { 200: { description: 'synced', schema: ref('SandboxSyncResult') }, 409: CONFLICT },
      handler: async function sandboxSync(ctx) {
        const { environment } = ctx.state;
        const target = deps.config.environments.find((e) => e.name === SANDBOX_ENVIRONMENT);
        if (!target) throw new ApiError('not-found', 'No sandbox environment is configured (ENVIRONMENTS has no "sandbox").');
        if (environment.name === SANDBOX_ENVIRONMENT) {
          throw new ApiError('conflict', 'Sandbox sync copies from production into the sandbox: call it on the production admin API.');
        }
        const source = await findRouteTenant(db.admin, ctx);
        const result = await syncSandboxTenant(db, deps.keyEncryption, {
          source,
          targetEnvironment: target.name,
          audit: (tx, entry) => audit(tx, ctx, entry),
        });
        ctx.body = result;
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants/:slug/sandbox-reset',
      operationId: 'resetSandbox',
      summary: "Delete every resource row of the tenant's sandbox, then optionally load the demo organisation",
      tags,
      tenantAdmin: true,
      body: { schema: ADMIN_SCHEMAS.SandboxResetRequest, optional: true },
      responses: { 200: { description: 'reset', schema: ref('SandboxResetResult') }, 409: CONFLICT },
      handler: async function resetSandbox(ctx, { body }) {
        const { environment } = ctx.state;
        if (environment.name !== SANDBOX_ENVIRONMENT) {
          throw new ApiError(
            'conflict',
            `Sandbox reset deletes data, so it runs only on the sandbox admin API; this is the ${environment.name} admin API, whose data it never touches.`,
          );
        }
        const seed = body.seed === 'demo' ? 'demo' : null;
        if (seed && !deps.loadDemoOrganisation) {
          throw new ApiError('conflict', 'This instance has no demo data to load; reset without "seed".');
        }
        const record = await findRouteTenant(db.admin, ctx, { tenantAdmin: true });
        const result = await db.admin.scoped(record.id, async (tx) => {
          const reset = await resetSandboxData(tx, record, { seed, loadDemo: deps.loadDemoOrganisation });
          await audit(tx, ctx, {
            tenant: record,
            action: 'tenant.sandbox_reset',
            target: { type: 'tenant', id: record.slug },
            after: reset,
          });
          return reset;
        });
        ctx.body = result;
      },
    }),
  ];
}
