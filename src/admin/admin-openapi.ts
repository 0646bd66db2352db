/**
 * The admin API's OpenAPI 3.1 document, from the same schemas its routes validate with. The
 * security scheme is the platform issuer's client_credentials flow (platform:admin); operations
 * a tenant's own client may call say so (tenant:admin, from the tenant's token endpoint).
 */
import { ADMIN_SCHEMAS } from './admin-schemas.ts';

type Operation = Record<string, unknown>;

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});
const json = (description: string, schema: Record<string, unknown>) => ({ description, content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const list = (name: string) => ({
  type: 'object',
  properties: { data: { type: 'array', items: ref(name) }, next: { type: ['string', 'null'], description: 'URL of the next page' } },
  required: ['data', 'next'],
});

const COMMON = {
  '400': problem('malformed request or query'),
  '401': problem('missing, invalid or expired access token'),
  '403': problem('the token lacks the scope, or the tenant admin is suspended'),
  '404': problem('no such tenant or client in this environment (or not yours)'),
  '422': problem('the body breaks the schema or a rule; `errors` has one JSON pointer per member'),
};

function op(
  summary: string,
  options: {
    operationId: string;
    tags: string[];
    body?: string;
    query?: keyof typeof ADMIN_SCHEMAS;
    ok: [status: string, description: string, schema?: Record<string, unknown>];
    tenantAdmin?: boolean;
    extra?: Record<string, unknown>;
  },
): Operation {
  const parameters = options.query
    ? Object.entries((ADMIN_SCHEMAS[options.query] as { properties: Record<string, unknown> }).properties).map(([name, schema]) => ({
        name,
        in: 'query',
        required: false,
        schema,
      }))
    : [];
  const [status, description, schema] = options.ok;
  return {
    summary,
    operationId: options.operationId,
    tags: options.tags,
    ...(parameters.length ? { parameters } : {}),
    ...(options.body ? { requestBody: { required: true, content: { 'application/json': { schema: ref(options.body) } } } } : {}),
    security: [{ platformAdmin: ['platform:admin'] }, ...(options.tenantAdmin ? [{ tenantAdmin: [] }] : [])],
    responses: { [status]: schema ? json(description, schema) : { description }, ...COMMON, ...options.extra },
  };
}

const slug = { name: 'slug', in: 'path', required: true, schema: { type: 'string' } };
const clientId = { name: 'clientId', in: 'path', required: true, schema: { type: 'string' } };
const deliveryId = { name: 'deliveryId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const webhookId = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const conflict = { '409': problem('conflicts with the current state (taken slug, not deleted, too early to purge, …)') };

export function buildAdminOpenApiDocument(input: { adminBase: string; platformTokenUrl: string; tenantTokenUrlTemplate: string }) {
  const T = ['Tenants'];
  const C = ['Clients'];
  const K = ['Signing keys'];
  const W = ['Webhooks'];
  return {
    openapi: '3.1.0',
    info: {
      title: 'tenant-connect admin API',
      version: '1.0.0',
      description:
        'Operate the platform: tenants, their integration clients and signing keys, and the audit log. ' +
        `Get a token from ${input.platformTokenUrl} (client_credentials, scope platform:admin). A tenant's own client with ` +
        `the scope tenant:admin (token from ${input.tenantTokenUrlTemplate}) may manage that tenant's clients.`,
    },
    servers: [{ url: input.adminBase }],
    components: {
      securitySchemes: {
        platformAdmin: {
          type: 'oauth2',
          flows: { clientCredentials: { tokenUrl: input.platformTokenUrl, scopes: { 'platform:admin': 'everything on this API' } } },
        },
        // OpenAPI has no templated token URL; the tenant's own endpoint is named in words
        tenantAdmin: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: `a token of the tenant's own client with the scope tenant:admin, from ${input.tenantTokenUrlTemplate}; only that tenant's clients`,
        },
      },
      schemas: {
        Problem: {
          type: 'object',
          properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' } },
          required: ['type', 'title', 'status', 'detail'],
        },
        ...ADMIN_SCHEMAS,
      },
    },
    paths: {
      '/tenants': {
        get: op('List tenants', { operationId: 'listTenants', tags: T, query: 'TenantListQuery', ok: ['200', 'a page', list('Tenant')] }),
        post: op('Provision a tenant (and its signing key)', {
          operationId: 'createTenant',
          tags: T,
          body: 'TenantCreate',
          ok: ['201', 'created', ref('Tenant')],
          extra: conflict,
        }),
      },
      '/tenants/{slug}': {
        parameters: [slug],
        get: op('Get a tenant', {
          operationId: 'getTenant',
          tags: T,
          query: 'TenantGetQuery',
          ok: ['200', 'the tenant', ref('Tenant')],
          tenantAdmin: true,
        }),
        patch: op('Change name or settings (JSON merge patch; null resets a setting)', {
          operationId: 'updateTenant',
          tags: T,
          body: 'TenantUpdate',
          ok: ['200', 'changed', ref('Tenant')],
        }),
        delete: op('Soft-delete: SUSPENDED, hidden, slug kept; restorable', {
          operationId: 'deleteTenant',
          tags: T,
          ok: ['200', 'deleted', ref('Tenant')],
        }),
      },
      ...Object.fromEntries(
        (
          [
            ['suspend', 'Suspend: tokens refused, API answers 403', undefined],
            ['activate', 'Activate', undefined],
            ['restore', 'Restore a soft-deleted tenant', 'TenantRestore'],
          ] as const
        ).map(([action, summary, body]) => [
          `/tenants/{slug}/${action}`,
          {
            parameters: [slug],
            post: op(summary, {
              operationId: `${action}Tenant`,
              tags: T,
              ...(body ? { body } : {}),
              ok: ['200', 'the tenant', ref('Tenant')],
              extra: conflict,
            }),
          },
        ]),
      ),
      '/tenants/{slug}/purge': {
        parameters: [slug],
        post: op('Delete a soft-deleted tenant and all its data for good (after TENANT_PURGE_AFTER_DAYS)', {
          operationId: 'purgeTenant',
          tags: T,
          body: 'TenantPurge',
          ok: ['204', 'purged'],
          extra: conflict,
        }),
      },
      '/tenants/{slug}/sandbox-sync': {
        parameters: [slug],
        post: op("Copy the tenant's settings and clients (same ids and secrets) into the sandbox", {
          operationId: 'syncSandbox',
          tags: T,
          ok: ['200', 'synced', ref('SandboxSyncResult')],
          extra: conflict,
        }),
      },
      '/tenants/{slug}/clients': {
        parameters: [slug],
        get: op('List clients (never secrets)', {
          operationId: 'listClients',
          tags: C,
          ok: ['200', 'all clients', list('Client')],
          tenantAdmin: true,
        }),
        post: op('Create a client; the secret is returned once', {
          operationId: 'createClient',
          tags: C,
          body: 'ClientCreate',
          ok: ['201', 'created', ref('ClientWithSecret')],
          tenantAdmin: true,
          extra: conflict,
        }),
      },
      '/tenants/{slug}/clients/{clientId}': {
        parameters: [slug, clientId],
        get: op('Get a client', { operationId: 'getClient', tags: C, ok: ['200', 'the client', ref('Client')], tenantAdmin: true }),
        patch: op('Change name, scopes, token lifetime or auth method', {
          operationId: 'updateClient',
          tags: C,
          body: 'ClientUpdate',
          ok: ['200', 'changed', ref('Client')],
          tenantAdmin: true,
        }),
        delete: op('Delete a client; its tokens stop working within a second', {
          operationId: 'deleteClient',
          tags: C,
          ok: ['204', 'deleted'],
          tenantAdmin: true,
        }),
      },
      '/tenants/{slug}/clients/{clientId}/rotate-secret': {
        parameters: [slug, clientId],
        post: op('Issue a new secret; the previous one works until expires_in (default 7 days)', {
          operationId: 'rotateClientSecret',
          tags: C,
          body: 'SecretRotation',
          ok: ['200', 'the new secret, shown once', ref('SecretRotationResult')],
          tenantAdmin: true,
          extra: conflict,
        }),
      },
      ...Object.fromEntries(
        (['disable', 'enable'] as const).map((action) => [
          `/tenants/{slug}/clients/{clientId}/${action}`,
          {
            parameters: [slug, clientId],
            post: op(action === 'disable' ? 'Disable: no tokens, existing tokens refused within a second' : 'Enable', {
              operationId: `${action}Client`,
              tags: C,
              ok: ['200', 'the client', ref('Client')],
              tenantAdmin: true,
            }),
          },
        ]),
      ),
      '/tenants/{slug}/keys': {
        parameters: [slug],
        get: op('List signing keys (next, current, retired)', { operationId: 'listKeys', tags: K, ok: ['200', 'the keys', list('Key')] }),
      },
      '/tenants/{slug}/keys/rotate': {
        parameters: [slug],
        post: op('Stage a next key, promoted after the delay; immediate: an emergency rotation that drops the old key', {
          operationId: 'rotateKeys',
          tags: K,
          body: 'KeyRotation',
          ok: ['200', 'what changed', { type: 'object', properties: { key: ref('Key'), retired: { type: 'array', items: ref('Key') } } }],
          extra: conflict,
        }),
      },
      '/key-encryption-key/rotate': {
        post: op('Re-encrypt every private signing key under the current key-encryption key', {
          operationId: 'rotateKeyEncryptionKey',
          tags: K,
          ok: [
            '200',
            'counts',
            {
              type: 'object',
              properties: { tenants: { type: 'integer' }, reencrypted: { type: 'integer' }, already_current: { type: 'integer' } },
            },
          ],
        }),
      },
      '/webhook-event-types': {
        get: op('Every event type a subscription may name (besides "<resource>.*" and "*")', {
          operationId: 'listWebhookEventTypes',
          tags: W,
          ok: ['200', 'all event types', list('WebhookEventType')],
          tenantAdmin: true,
        }),
      },
      '/tenants/{slug}/webhooks': {
        parameters: [slug],
        get: op('List webhook subscriptions (never secrets)', {
          operationId: 'listWebhooks',
          tags: W,
          ok: ['200', 'all subscriptions', list('WebhookSubscription')],
          tenantAdmin: true,
        }),
        post: op('Subscribe a URL to events; the signing secret is returned once (409 beyond settings.webhooks.max_subscriptions)', {
          operationId: 'createWebhook',
          tags: W,
          body: 'WebhookSubscriptionCreate',
          ok: ['201', 'created', ref('WebhookSubscriptionWithSecret')],
          tenantAdmin: true,
          extra: conflict,
        }),
      },
      '/tenants/{slug}/webhooks/{id}': {
        parameters: [slug, webhookId],
        get: op('Get a webhook subscription', {
          operationId: 'getWebhook',
          tags: W,
          ok: ['200', 'the subscription', ref('WebhookSubscription')],
          tenantAdmin: true,
        }),
        patch: op('Change URL, event types, description, or enable/disable', {
          operationId: 'updateWebhook',
          tags: W,
          body: 'WebhookSubscriptionUpdate',
          ok: ['200', 'changed', ref('WebhookSubscription')],
          tenantAdmin: true,
        }),
        delete: op('Delete a subscription and its deliveries', {
          operationId: 'deleteWebhook',
          tags: W,
          ok: ['204', 'deleted'],
          tenantAdmin: true,
        }),
      },
      '/tenants/{slug}/webhooks/{id}/rotate-secret': {
        parameters: [slug, webhookId],
        post: op('Issue a new signing secret; the previous one also signs for grace_seconds (default 24 h)', {
          operationId: 'rotateWebhookSecret',
          tags: W,
          body: 'WebhookSecretRotation',
          ok: ['200', 'the new secret, shown once', ref('WebhookSecretRotationResult')],
          tenantAdmin: true,
        }),
      },
      '/tenants/{slug}/webhooks/{id}/test': {
        parameters: [slug, webhookId],
        post: op('Send a webhook.test event to this subscription', {
          operationId: 'testWebhook',
          tags: W,
          ok: ['202', 'the delivery, scheduled now', ref('WebhookDelivery')],
          tenantAdmin: true,
          extra: conflict,
        }),
      },
      '/tenants/{slug}/webhooks/{id}/deliveries': {
        parameters: [slug, webhookId],
        get: op('Deliveries to this subscription, newest first', {
          operationId: 'listWebhookDeliveries',
          tags: W,
          query: 'WebhookDeliveryQuery',
          ok: ['200', 'a page', list('WebhookDelivery')],
          tenantAdmin: true,
        }),
      },
      '/tenants/{slug}/webhooks/{id}/deliveries/{deliveryId}': {
        parameters: [slug, webhookId, deliveryId],
        get: op('Get a delivery and the event it carries', {
          operationId: 'getWebhookDelivery',
          tags: W,
          ok: ['200', 'the delivery', ref('WebhookDeliveryWithEvent')],
          tenantAdmin: true,
        }),
      },
      '/tenants/{slug}/webhooks/{id}/deliveries/{deliveryId}/redeliver': {
        parameters: [slug, webhookId, deliveryId],
        post: op('Deliver the event of this delivery again (a new delivery, same webhook-id)', {
          operationId: 'redeliverWebhook',
          tags: W,
          ok: ['202', 'the new delivery', ref('WebhookDelivery')],
          tenantAdmin: true,
          extra: conflict,
        }),
      },
      '/audit-events': {
        get: op('The audit log, newest first', {
          operationId: 'listAuditEvents',
          tags: ['Audit'],
          query: 'AuditQuery',
          ok: ['200', 'a page', list('AuditEvent')],
          tenantAdmin: true,
        }),
      },
    },
  };
}
