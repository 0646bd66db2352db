/**
 * /v1/tenants/{slug}/webhooks: a tenant's webhook subscriptions, their deliveries, secret
 * rotation, redelivery and the test event. The signing secret is shown once, at creation or
 * rotation. A platform admin or the tenant's own tenant:admin client may call these; every change
 * and its audit record share one transaction.
 */
import { decodeCursor, encodeCursor } from '../http/pagination.ts';
import type { Queryable } from '../db/database.ts';
import { ApiError } from '../http/problem.ts';
import type { TenantRecord } from './operator/tenant-lifecycle.ts';
import { effectiveSettings } from '../tenancy/tenant-settings.ts';
import { urlProblem } from '../http/address-guard.ts';
import { EVENT_TYPES, matchesAnyEventType } from '../webhooks/events.ts';
import type { DeliveryStatus } from '../catalog/delivery-statuses.ts';
import { createSubscriptionQueries, type SubscriptionRepresentation } from '../webhooks/subscriptions.ts';
import type { RouteSpec } from '../http/route-spec.ts';
import { CONFLICT, list, ref } from './admin-openapi.ts';
import { ADMIN_SCHEMAS, NO_QUERY, WEBHOOK_SECRET_GRACE_SECONDS } from './admin-schemas.ts';
import { type AdminContext, type AdminDeps, adminRoute, audit, findRouteTenant, page } from './admin-steps.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DELIVERY_SORT = '-created_at';
const tags = ['Webhooks'];

function subscriptionNotFound(): ApiError {
  return new ApiError('not-found', 'No webhook subscription with this id in this tenant.');
}

export function webhookRoutes(deps: AdminDeps): RouteSpec<AdminContext>[] {
  const { db } = deps;
  const queries = createSubscriptionQueries(deps.keyEncryption);
  const allowLoopback = deps.config.webhooks.allowLoopback;

  /** The URL and patterns a subscription may have, beyond what the schema says. */
  function checkSubscription(body: Record<string, unknown>): void {
    const errors: { pointer: string; detail: string }[] = [];
    if (typeof body.url === 'string') {
      const problem = urlProblem(body.url, allowLoopback);
      if (problem) errors.push({ pointer: '/url', detail: problem });
    }
    if (Array.isArray(body.event_types)) {
      (body.event_types as string[]).forEach((pattern, i) => {
        if (!matchesAnyEventType(pattern)) errors.push({ pointer: `/event_types/${i}`, detail: `"${pattern}" matches no event type` });
      });
    }
    if (errors.length)
      throw new ApiError('validation-failed', errors.map((e) => `${e.pointer}: ${e.detail}`).join('; '), { members: { errors } });
  }

  const subscriptionId = (ctx: AdminContext): string => {
    const id = ctx.params.id ?? '';
    if (!UUID.test(id)) throw subscriptionNotFound();
    return id;
  };

  /** Reads the tenant, then runs `work` in a transaction scoped to it. */
  const inTenant = async <T>(ctx: AdminContext, work: (tx: Queryable, tenant: TenantRecord) => Promise<T>): Promise<T> => {
    const tenant = await findRouteTenant(db.admin, ctx, { tenantAdmin: true });
    return db.admin.scoped(tenant.id, (tx) => work(tx, tenant));
  };

  const findSubscription = async (tx: Queryable, tenant: TenantRecord, id: string, lock = false): Promise<SubscriptionRepresentation> => {
    const found = await queries.findSubscription(tx, tenant.id, id, { lock });
    if (!found) throw subscriptionNotFound();
    return found;
  };

  return [
    adminRoute({
      method: 'get',
      path: '/webhook-event-types',
      operationId: 'listWebhookEventTypes',
      summary: 'Every event type a subscription may name (besides "<resource>.*" and "*")',
      tags,
      tenantAdmin: true,
      query: NO_QUERY,
      responses: { 200: { description: 'all event types', schema: list('WebhookEventType') } },
      handler: async function listEventTypes(ctx) {
        ctx.body = { data: EVENT_TYPES.map((type) => ({ type })), next: null };
      },
    }),

    adminRoute({
      method: 'get',
      path: '/tenants/:slug/webhooks',
      operationId: 'listWebhooks',
      summary: 'List webhook subscriptions (never secrets)',
      tags,
      tenantAdmin: true,
      query: NO_QUERY,
      responses: { 200: { description: 'all subscriptions', schema: list('WebhookSubscription') } },
      handler: async function listWebhooks(ctx) {
        ctx.body = { data: await inTenant(ctx, (tx, tenant) => queries.listSubscriptions(tx, tenant.id)), next: null };
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants/:slug/webhooks',
      operationId: 'createWebhook',
      summary: 'Subscribe a URL to events; the signing secret is returned once (409 beyond settings.webhooks.max_subscriptions)',
      tags,
      tenantAdmin: true,
      body: { schema: ADMIN_SCHEMAS.WebhookSubscriptionCreate },
      responses: { 201: { description: 'created', schema: ref('WebhookSubscriptionWithSecret') }, 409: CONFLICT },
      handler: async function createWebhook(ctx, { body }) {
        checkSubscription(body);
        const result = await inTenant(ctx, async (tx, tenant) => {
          const limit = effectiveSettings(tenant.settings).webhooks.max_subscriptions;
          const count = await queries.countSubscriptionsForCreate(tx, tenant.id);
          if (count >= limit) {
            throw new ApiError(
              'conflict',
              `The tenant has ${count} webhook subscriptions, its limit (settings.webhooks.max_subscriptions = ${limit}). Delete one first.`,
            );
          }
          const created = await queries.insertSubscription(tx, tenant.id, {
            url: body.url as string,
            eventTypes: body.event_types as string[],
            description: (body.description as string | undefined) ?? '',
            enabled: (body.enabled as boolean | undefined) ?? true,
          });
          await audit(tx, ctx, {
            tenant,
            action: 'webhook.create',
            target: { type: 'webhook', id: created.subscription.id },
            after: created.subscription,
          });
          return { ...created.subscription, secret: created.secret };
        });
        ctx.status = 201;
        ctx.set('Location', `${ctx.state.base}/tenants/${ctx.params.slug}/webhooks/${result.id}`);
        ctx.set('Cache-Control', 'no-store');
        ctx.body = result;
      },
    }),

    adminRoute({
      method: 'get',
      path: '/tenants/:slug/webhooks/:id',
      operationId: 'getWebhook',
      summary: 'Get a webhook subscription',
      tags,
      tenantAdmin: true,
      query: NO_QUERY,
      responses: { 200: { description: 'the subscription', schema: ref('WebhookSubscription') } },
      handler: async function getWebhook(ctx) {
        const id = subscriptionId(ctx);
        ctx.body = await inTenant(ctx, (tx, tenant) => findSubscription(tx, tenant, id));
      },
    }),

    adminRoute({
      method: 'patch',
      path: '/tenants/:slug/webhooks/:id',
      operationId: 'updateWebhook',
      summary: 'Change URL, event types, description, or enable/disable',
      tags,
      tenantAdmin: true,
      body: { schema: ADMIN_SCHEMAS.WebhookSubscriptionUpdate },
      responses: { 200: { description: 'changed', schema: ref('WebhookSubscription') } },
      handler: async function updateWebhook(ctx, { body }) {
        checkSubscription(body);
        const id = subscriptionId(ctx);
        ctx.body = await inTenant(ctx, async (tx, tenant) => {
          const before = await findSubscription(tx, tenant, id, true);
          const after = await queries.updateSubscription(tx, tenant.id, id, {
            ...(typeof body.url === 'string' ? { url: body.url } : {}),
            ...(Array.isArray(body.event_types) ? { eventTypes: body.event_types as string[] } : {}),
            ...(typeof body.description === 'string' ? { description: body.description } : {}),
            ...(typeof body.enabled === 'boolean' ? { enabled: body.enabled } : {}),
          });
          if (!after) throw subscriptionNotFound();
          await audit(tx, ctx, { tenant, action: 'webhook.update', target: { type: 'webhook', id }, before, after });
          return after;
        });
      },
    }),

    adminRoute({
      method: 'delete',
      path: '/tenants/:slug/webhooks/:id',
      operationId: 'deleteWebhook',
      summary: 'Delete a subscription and its deliveries',
      tags,
      tenantAdmin: true,
      responses: { 204: { description: 'deleted' } },
      handler: async function deleteWebhook(ctx) {
        const id = subscriptionId(ctx);
        await inTenant(ctx, async (tx, tenant) => {
          const before = await findSubscription(tx, tenant, id, true);
          await queries.deleteSubscription(tx, tenant.id, id);
          await audit(tx, ctx, { tenant, action: 'webhook.delete', target: { type: 'webhook', id }, before });
        });
        ctx.status = 204;
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants/:slug/webhooks/:id/rotate-secret',
      operationId: 'rotateWebhookSecret',
      summary: 'Issue a new signing secret; the previous one also signs for grace_seconds (default 24 h)',
      tags,
      tenantAdmin: true,
      body: { schema: ADMIN_SCHEMAS.WebhookSecretRotation, optional: true },
      responses: { 200: { description: 'the new secret, shown once', schema: ref('WebhookSecretRotationResult') } },
      handler: async function rotateWebhookSecret(ctx, { body }) {
        const id = subscriptionId(ctx);
        ctx.set('Cache-Control', 'no-store');
        ctx.body = await inTenant(ctx, async (tx, tenant) => {
          const before = await findSubscription(tx, tenant, id, true);
          const rotated = await queries.rotateSecret(
            tx,
            tenant.id,
            id,
            (body.grace_seconds as number | undefined) ?? WEBHOOK_SECRET_GRACE_SECONDS,
          );
          if (!rotated) throw subscriptionNotFound();
          await audit(tx, ctx, {
            tenant,
            action: 'webhook.rotate_secret',
            target: { type: 'webhook', id },
            before,
            after: rotated.subscription,
          });
          return { subscription: rotated.subscription, secret: rotated.secret };
        });
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants/:slug/webhooks/:id/test',
      operationId: 'testWebhook',
      summary: 'Send a webhook.test event to this subscription',
      tags,
      tenantAdmin: true,
      responses: { 202: { description: 'the delivery, scheduled now', schema: ref('WebhookDelivery') }, 409: CONFLICT },
      handler: async function sendTestEvent(ctx) {
        const id = subscriptionId(ctx);
        const delivery = await inTenant(ctx, async (tx, tenant) => {
          const subscription = await findSubscription(tx, tenant, id);
          if (!subscription.enabled)
            throw new ApiError('conflict', 'The subscription is disabled: enable it first (PATCH {"enabled": true}).');
          const created = await queries.sendTestEvent(tx, tenant.id, id);
          await audit(tx, ctx, { tenant, action: 'webhook.test', target: { type: 'webhook', id }, after: created });
          return created;
        });
        ctx.status = 202;
        ctx.body = delivery;
      },
    }),

    adminRoute({
      method: 'get',
      path: '/tenants/:slug/webhooks/:id/deliveries',
      operationId: 'listWebhookDeliveries',
      summary: 'Deliveries to this subscription, newest first',
      tags,
      tenantAdmin: true,
      query: ADMIN_SCHEMAS.WebhookDeliveryQuery,
      responses: { 200: { description: 'a page', schema: list('WebhookDelivery') } },
      handler: async function listDeliveries(ctx, { query }) {
        const id = subscriptionId(ctx);
        const limit = query.limit as number;
        let before: { created_at: string; id: string } | undefined;
        if (typeof query.cursor === 'string') {
          const position = decodeCursor(query.cursor, DELIVERY_SORT);
          if (Number.isNaN(Date.parse(position.key))) throw new ApiError('invalid-query', 'The cursor is not valid: malformed cursor.');
          before = { created_at: position.key, id: position.id };
        }
        const { deliveries, sortKeys } = await inTenant(ctx, async (tx, tenant) => {
          await findSubscription(tx, tenant, id);
          return queries.listDeliveries(tx, tenant.id, id, {
            ...(query.status ? { status: query.status as DeliveryStatus } : {}),
            ...(before ? { before } : {}),
            limit: limit + 1,
          });
        });
        const keyOf = new Map(deliveries.map((d, i) => [d.id, sortKeys[i] ?? d.created_at]));
        ctx.body = page(ctx, deliveries, limit, (last) =>
          encodeCursor(DELIVERY_SORT, { key: keyOf.get(last.id) ?? last.created_at, id: last.id }),
        );
      },
    }),

    adminRoute({
      method: 'get',
      path: '/tenants/:slug/webhooks/:id/deliveries/:deliveryId',
      operationId: 'getWebhookDelivery',
      summary: 'Get a delivery and the event it carries',
      tags,
      tenantAdmin: true,
      query: NO_QUERY,
      responses: { 200: { description: 'the delivery', schema: ref('WebhookDeliveryWithEvent') } },
      handler: async function getDelivery(ctx) {
        const id = subscriptionId(ctx);
        const deliveryId = ctx.params.deliveryId ?? '';
        ctx.body = await inTenant(ctx, async (tx, tenant) => {
          const found = UUID.test(deliveryId) ? await queries.findDeliveryWithEvent(tx, tenant.id, id, deliveryId) : undefined;
          if (!found) throw new ApiError('not-found', 'No delivery with this id for this subscription.');
          return found;
        });
      },
    }),

    adminRoute({
      method: 'post',
      path: '/tenants/:slug/webhooks/:id/deliveries/:deliveryId/redeliver',
      operationId: 'redeliverWebhook',
      summary: 'Deliver the event of this delivery again (a new delivery, same webhook-id)',
      tags,
      tenantAdmin: true,
      responses: { 202: { description: 'the new delivery', schema: ref('WebhookDelivery') }, 409: CONFLICT },
      handler: async function redeliver(ctx) {
        const id = subscriptionId(ctx);
        const deliveryId = ctx.params.deliveryId ?? '';
        const delivery = await inTenant(ctx, async (tx, tenant) => {
          const subscription = await findSubscription(tx, tenant, id);
          const original = UUID.test(deliveryId) ? await queries.findDelivery(tx, tenant.id, id, deliveryId) : undefined;
          if (!original) throw new ApiError('not-found', 'No delivery with this id for this subscription.');
          if (!subscription.enabled)
            throw new ApiError('conflict', 'The subscription is disabled: enable it first (PATCH {"enabled": true}).');
          const created = await queries.scheduleDelivery(tx, tenant.id, id, original.event_id);
          await audit(tx, ctx, {
            tenant,
            action: 'webhook.redeliver',
            target: { type: 'webhook_delivery', id: deliveryId },
            after: created,
          });
          return created;
        });
        ctx.status = 202;
        ctx.body = delivery;
      },
    }),
  ];
}
