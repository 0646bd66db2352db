/**
 * The admin API's request and response schemas: ajv validates requests with them and the OpenAPI
 * document publishes the very same objects.
 */
import { CLIENT_ID_PATTERN, DEFAULT_SECRET_GRACE_SECONDS } from '../auth/clients.ts';
import { CLIENT_AUTH_METHODS, DEFAULT_CLIENT_AUTH_METHOD, MAX_CLIENT_KEYS } from '../catalog/client-auth-methods.ts';
import { AUTH_EVENT_OUTCOMES, AUTH_REFUSAL_REASONS } from '../catalog/auth-event-reasons.ts';
import { DELIVERY_STATUSES } from '../catalog/delivery-statuses.ts';
import { TENANT_STATUSES } from '../catalog/tenant-statuses.ts';
import { TOKEN_QUOTA_MODES, TOKEN_QUOTA_SCHEMA } from '../catalog/token-quotas.ts';
import { PAGE_LIMIT } from '../catalog/page-limits.ts';
import { SIGNING_ALGORITHMS } from '../catalog/signing-algorithms.ts';
import { TENANT_SLUG } from '../tenancy/hosts.ts';
import { USAGE_DEFAULT_RANGE_DAYS, USAGE_MAX_RANGE_DAYS } from './operator/usage-report.ts';
import { TENANT_SETTINGS_SCHEMA } from '../tenancy/tenant-settings.ts';
import type { JsonSchema } from '../catalog/collections.ts';
import { EVENT_PATTERN } from '../webhooks/events.ts';

/** default and maximum grace period of a rotated webhook signing secret */
export const WEBHOOK_SECRET_GRACE_SECONDS = 86400;
const eventTypes = {
  type: 'array',
  minItems: 1,
  maxItems: 64,
  uniqueItems: true,
  items: { type: 'string', pattern: EVENT_PATTERN.source },
  description: 'event types ("employee.created"), a resource\'s wildcard ("employee.*") or "*"',
};
const webhookUrl = { type: 'string', minLength: 1, maxLength: 2048, description: 'https (http://localhost only in development)' };

const timestamp = { type: 'string', format: 'date-time' };
const nullableTimestamp = { type: ['string', 'null'], format: 'date-time' };
const name = { type: 'string', minLength: 1, maxLength: 200 };
/** private_key_jwt: a public JWK Set (checked further by clientJwksProblem), or the https URL of one */
const clientJwks = {
  type: 'object',
  properties: { keys: { type: 'array', minItems: 1, maxItems: MAX_CLIENT_KEYS, items: { type: 'object' } } },
  required: ['keys'],
  description: 'the public JWK Set the client signs its assertions for (public members only)',
};
const clientJwksUri = {
  type: 'string',
  minLength: 1,
  maxLength: 2000,
  description: 'https URL of the public JWK Set (fetched at most every 10 minutes; http://localhost only in development)',
};
const clientTokenQuota = {
  ...TOKEN_QUOTA_SCHEMA,
  description: "this client's token quota, replacing the tenant's token_quota setting as a whole",
};
const scopeList = { type: 'array', items: { type: 'string', pattern: '^[a-z][a-z0-9:_-]{0,63}$' }, uniqueItems: true, maxItems: 64 };

/** Settings in a PATCH: any key may be null (back to its default). */
function nullableMembers(schema: typeof TENANT_SETTINGS_SCHEMA): JsonSchema {
  const properties: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(schema.properties)) {
    const m = member as Record<string, unknown>;
    const inner =
      m.type === 'object'
        ? {
            ...m,
            properties: Object.fromEntries(
              Object.entries(m.properties as Record<string, Record<string, unknown>>).map(([k, v]) => [
                k,
                { anyOf: [v, { type: 'null' }] },
              ]),
            ),
          }
        : m;
    properties[key] = { anyOf: [inner, { type: 'null' }] };
  }
  return { type: 'object', additionalProperties: false, properties };
}

/** The query of a route that takes no parameter: any one answers 400. */
export const NO_QUERY: JsonSchema = { type: 'object', additionalProperties: false, properties: {} };

export const ADMIN_SCHEMAS = {
  TenantSettings: TENANT_SETTINGS_SCHEMA as unknown as JsonSchema,
  Tenant: {
    type: 'object',
    properties: {
      id: { type: 'string', format: 'uuid' },
      slug: { type: 'string' },
      environment: { type: 'string' },
      name: { type: 'string' },
      status: { enum: [...TENANT_STATUSES] },
      settings: { $ref: '#/components/schemas/TenantSettings' },
      created_at: timestamp,
      updated_at: timestamp,
      deleted_at: { ...nullableTimestamp, description: 'set when soft-deleted' },
    },
    required: ['id', 'slug', 'environment', 'name', 'status', 'settings', 'created_at', 'updated_at', 'deleted_at'],
  },
  TenantCreate: {
    type: 'object',
    additionalProperties: false,
    properties: {
      slug: { type: 'string', pattern: TENANT_SLUG.source, description: 'the tenant API host name label; not one of the reserved names' },
      name,
      status: { enum: [...TENANT_STATUSES], default: 'ACTIVE' },
      settings: TENANT_SETTINGS_SCHEMA,
    },
    required: ['slug', 'name'],
  },
  TenantUpdate: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: { name, settings: nullableMembers(TENANT_SETTINGS_SCHEMA) },
  },
  TenantRestore: {
    type: 'object',
    additionalProperties: false,
    properties: { status: { enum: [...TENANT_STATUSES], default: 'ACTIVE', description: 'status after the restore' } },
  },
  TenantPurge: {
    type: 'object',
    additionalProperties: false,
    properties: { confirm: { type: 'string', description: 'the slug again' } },
    required: ['confirm'],
  },
  SandboxResetRequest: {
    type: 'object',
    additionalProperties: false,
    properties: { seed: { enum: ['demo'], description: 'load the demo organisation after the reset; omitted: leave the tenant empty' } },
  },
  SandboxResetResult: {
    type: 'object',
    properties: {
      tenant: { type: 'string', description: "the tenant's slug" },
      environment: { type: 'string' },
      seed: { enum: ['demo', null] },
      reset_at: { type: 'string', format: 'date-time', description: 'an include_deleted sync from before this instant answers 410' },
      deleted: { type: 'object', additionalProperties: { type: 'integer' }, description: 'rows deleted, per collection' },
      loaded: { type: 'object', additionalProperties: { type: 'integer' }, description: 'rows loaded, per collection' },
      event_id: { type: 'string', format: 'uuid', description: 'the one sandbox.reset event' },
    },
    required: ['tenant', 'environment', 'seed', 'reset_at', 'deleted', 'loaded', 'event_id'],
  },
  SandboxSyncResult: {
    type: 'object',
    properties: {
      tenant: { $ref: '#/components/schemas/Tenant' },
      created: { type: 'boolean', description: 'whether the sandbox tenant was created by this sync' },
      clients_created: { type: 'integer' },
      clients_updated: { type: 'integer' },
    },
    required: ['tenant', 'created', 'clients_created', 'clients_updated'],
  },
  Client: {
    type: 'object',
    properties: {
      client_id: { type: 'string' },
      name: { type: 'string' },
      scopes: { type: 'array', items: { type: 'string' } },
      access_token_ttl: { type: ['integer', 'null'] },
      token_quota: { anyOf: [clientTokenQuota, { type: 'null' }], description: "null: the tenant's token_quota applies" },
      token_endpoint_auth_method: { enum: [...CLIENT_AUTH_METHODS] },
      dpop_bound_access_tokens: {
        type: 'boolean',
        description: 'RFC 9449: every token request must carry a DPoP proof, so every token is bound to a key',
      },
      jwks: { anyOf: [clientJwks, { type: 'null' }] },
      jwks_uri: { anyOf: [clientJwksUri, { type: 'null' }] },
      status: { enum: ['enabled', 'disabled'] },
      disabled_at: nullableTimestamp,
      last_used_at: { ...nullableTimestamp, description: 'last successful authentication (recorded at most once per interval)' },
      created_at: timestamp,
      updated_at: timestamp,
      secrets: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            created_at: timestamp,
            expires_at: nullableTimestamp,
            last_used_at: nullableTimestamp,
          },
          required: ['id', 'created_at', 'expires_at', 'last_used_at'],
        },
      },
    },
    required: [
      'client_id',
      'name',
      'scopes',
      'access_token_ttl',
      'token_endpoint_auth_method',
      'dpop_bound_access_tokens',
      'token_quota',
      'status',
      'created_at',
      'secrets',
    ],
  },
  ClientWithSecret: {
    allOf: [
      { $ref: '#/components/schemas/Client' },
      {
        type: 'object',
        properties: { client_secret: { type: 'string', description: 'shown once; a private_key_jwt client has none' } },
      },
    ],
  },
  ClientCreate: {
    type: 'object',
    additionalProperties: false,
    properties: {
      name,
      scopes: scopeList,
      access_token_ttl: { type: 'integer', minimum: 60, maximum: 86400 },
      token_quota: clientTokenQuota,
      token_endpoint_auth_method: { enum: [...CLIENT_AUTH_METHODS], default: DEFAULT_CLIENT_AUTH_METHOD },
      dpop_bound_access_tokens: {
        type: 'boolean',
        default: false,
        description: 'RFC 9449: every token request must carry a DPoP proof, so every token is bound to a key',
      },
      client_id: { type: 'string', pattern: CLIENT_ID_PATTERN, description: 'default: generated' },
      jwks: { ...clientJwks, description: 'private_key_jwt: the public JWK Set (or jwks_uri)' },
      jwks_uri: { ...clientJwksUri, description: 'private_key_jwt: the https URL of the public JWK Set (or jwks)' },
    },
    required: ['name', 'scopes'],
  },
  ClientKeys: {
    description: "replaces a private_key_jwt client's public keys: an inline JWK Set or the URL of one",
    oneOf: [
      { type: 'object', additionalProperties: false, properties: { jwks: clientJwks }, required: ['jwks'] },
      { type: 'object', additionalProperties: false, properties: { jwks_uri: clientJwksUri }, required: ['jwks_uri'] },
    ],
  },
  ClientUpdate: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: {
      name,
      scopes: scopeList,
      access_token_ttl: { anyOf: [{ type: 'integer', minimum: 60, maximum: 86400 }, { type: 'null' }] },
      token_quota: { anyOf: [clientTokenQuota, { type: 'null' }], description: "null: back to the tenant's token_quota" },
      token_endpoint_auth_method: { enum: [...CLIENT_AUTH_METHODS] },
      dpop_bound_access_tokens: {
        type: 'boolean',
        description: 'RFC 9449: every token request must carry a DPoP proof, so every token is bound to a key',
      },
    },
  },
  SecretRotation: {
    type: 'object',
    additionalProperties: false,
    properties: {
      expires_in: {
        type: 'integer',
        minimum: 0,
        maximum: 90 * 86400,
        default: DEFAULT_SECRET_GRACE_SECONDS,
        description: 'seconds the previous secret keeps working; 0 ends it now',
      },
    },
  },
  SecretRotationResult: {
    type: 'object',
    properties: { client: { $ref: '#/components/schemas/Client' }, client_secret: { type: 'string', description: 'shown once' } },
    required: ['client', 'client_secret'],
  },
  KeyRotation: {
    type: 'object',
    additionalProperties: false,
    properties: {
      delay_seconds: { type: 'integer', minimum: 0, maximum: 30 * 86400, description: 'default: KEY_ROTATION_DELAY_SECONDS' },
      immediate: { type: 'boolean', default: false, description: 'emergency: sign with the new key now and drop the old one' },
      alg: { enum: [...SIGNING_ALGORITHMS], description: "default: the tenant's signing_alg" },
    },
  },
  ListQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: PAGE_LIMIT,
      cursor: { type: 'string', minLength: 1, maxLength: 512 },
    },
  },
  TenantListQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status: { enum: [...TENANT_STATUSES] },
      q: { type: 'string', minLength: 1, maxLength: 200, description: 'substring of slug or name' },
      include_deleted: { type: 'boolean', default: false },
      limit: PAGE_LIMIT,
      cursor: { type: 'string', minLength: 1, maxLength: 512 },
    },
  },
  TenantGetQuery: {
    type: 'object',
    additionalProperties: false,
    properties: { include_deleted: { type: 'boolean', default: false } },
  },
  AuthEventQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      client_id: { type: 'string', pattern: CLIENT_ID_PATTERN },
      outcome: { type: 'string', enum: [...AUTH_EVENT_OUTCOMES] },
      reason: { type: 'string', enum: [...AUTH_REFUSAL_REASONS] },
      since: { type: 'string', format: 'date-time' },
      until: { type: 'string', format: 'date-time' },
      limit: PAGE_LIMIT,
      cursor: { type: 'string', minLength: 1, maxLength: 512 },
    },
  },
  AuthEvent: {
    type: 'object',
    description: 'One token request: issued, or refused with a stable reason. Never a secret or a token.',
    properties: {
      id: { type: 'string', format: 'uuid' },
      time: timestamp,
      client_id: { type: ['string', 'null'], description: 'as presented; null when none had the shape of a client id' },
      outcome: { type: 'string', enum: [...AUTH_EVENT_OUTCOMES] },
      reason: { type: ['string', 'null'], enum: [...AUTH_REFUSAL_REASONS, null], description: 'null when issued' },
      source_ip: { type: ['string', 'null'] },
      scopes: { type: 'array', items: { type: 'string' }, description: 'granted (issued) or requested (refused)' },
      jti: { type: ['string', 'null'], description: "the issued token's jti" },
    },
  },
  ClientHealth: {
    type: 'object',
    description: "One client's integration health: what the first support question needs, in one answer.",
    properties: {
      client_id: { type: 'string' },
      status: { enum: ['enabled', 'disabled'] },
      last_token_issued: {
        type: ['object', 'null'],
        properties: { time: timestamp, jti: { type: ['string', 'null'] }, scopes: { type: 'array', items: { type: 'string' } } },
      },
      last_refusal: {
        type: ['object', 'null'],
        properties: { time: timestamp, reason: { enum: [...AUTH_REFUSAL_REASONS] }, source_ip: { type: ['string', 'null'] } },
      },
      last_used_at: { ...nullableTimestamp, description: 'last successful authentication (written at most every LAST_USED_FLUSH_MS)' },
      last_api_call: {
        ...nullableTimestamp,
        description: "the client's last resource API request, whatever its answer (usage counts: up to USAGE_FLUSH_MS behind)",
      },
      last_24h: {
        type: 'object',
        description: 'tokens and refusals: the last 24 hours (auth event log); API calls: the current UTC hour and the 24 before it',
        properties: {
          tokens_issued: { type: 'integer' },
          refusals: { type: 'integer' },
          refusals_by_reason: { type: 'object', additionalProperties: { type: 'integer' } },
          api_calls: { type: 'integer', description: "resource API requests with the client's valid token" },
          api_4xx: { type: 'integer', description: 'of those, answered with a 4xx status (429 included)' },
          api_429: { type: 'integer', description: 'of those, answered 429 (a rate limit)' },
        },
        required: ['tokens_issued', 'refusals', 'refusals_by_reason', 'api_calls', 'api_4xx', 'api_429'],
      },
      quota: {
        type: ['object', 'null'],
        description: "the token quota that applies to the client (its own token_quota, else the tenant's) and its use; null: none applies",
        properties: {
          source: { enum: ['client', 'tenant'] },
          per_hour: { type: ['integer', 'null'] },
          per_day: { type: ['integer', 'null'] },
          mode: { enum: [...TOKEN_QUOTA_MODES] },
          used: {
            type: 'object',
            description: 'tokens issued in the current UTC hour and day (usage counts: up to USAGE_FLUSH_MS behind)',
            properties: { this_hour: { type: 'integer' }, today: { type: 'integer' } },
            required: ['this_hour', 'today'],
          },
        },
        required: ['source', 'per_hour', 'per_day', 'mode', 'used'],
      },
      webhook_deliveries_failing: {
        type: 'object',
        description: "the tenant's deliveries that gave up (failed) or are retried after a failed attempt",
        properties: { failed: { type: 'integer' }, retrying: { type: 'integer' } },
      },
      secrets_expiring: {
        type: 'array',
        description: 'live secrets of the client that expire within 14 days',
        items: { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, expires_at: timestamp } },
      },
    },
    required: [
      'client_id',
      'status',
      'last_token_issued',
      'last_refusal',
      'last_used_at',
      'last_api_call',
      'last_24h',
      'quota',
      'webhook_deliveries_failing',
      'secrets_expiring',
    ],
  },
  UsageQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      tenant: {
        type: 'string',
        pattern: TENANT_SLUG.source,
        description: "one tenant's usage (a tenant admin: its own, the default); platform admins without it: every tenant",
      },
      from: {
        type: 'string',
        format: 'date',
        description: `first UTC day, YYYY-MM-DD (default: ${USAGE_DEFAULT_RANGE_DAYS - 1} days before to)`,
      },
      to: {
        type: 'string',
        format: 'date',
        description: `last UTC day, YYYY-MM-DD, included (default: today); at most ${USAGE_MAX_RANGE_DAYS} days from from`,
      },
      limit: PAGE_LIMIT,
      cursor: { type: 'string', minLength: 1, maxLength: 512 },
    },
  },
  UsageRow: {
    type: 'object',
    description:
      "One tenant's and client's usage on one UTC day, added up across every instance; up to USAGE_FLUSH_MS behind the requests it counts.",
    properties: {
      date: { type: 'string', format: 'date' },
      tenant: { type: 'string', description: "the tenant's slug" },
      client_id: { type: ['string', 'null'], description: 'null for webhook deliveries, which have no client' },
      tokens: { type: 'integer', description: 'access tokens issued' },
      api_calls: { type: 'integer', description: "resource API requests made with the client's valid token, whatever their status" },
      webhook_deliveries: { type: 'integer', description: 'webhook delivery attempts sent (retries included)' },
    },
    required: ['date', 'tenant', 'client_id', 'tokens', 'api_calls', 'webhook_deliveries'],
  },
  AuditQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      tenant: { type: 'string', pattern: TENANT_SLUG.source },
      action: { type: 'string', pattern: '^[a-z_]+(\\.[a-z_]+|\\.\\*)?$', description: 'e.g. client.rotate_secret, or client.*' },
      actor: { type: 'string', minLength: 1, maxLength: 128, description: 'client_id of the actor' },
      since: { type: 'string', format: 'date-time' },
      until: { type: 'string', format: 'date-time' },
      limit: PAGE_LIMIT,
      cursor: { type: 'string', minLength: 1, maxLength: 512 },
    },
  },
  AuditEvent: {
    type: 'object',
    properties: {
      id: { type: 'string', format: 'uuid' },
      occurred_at: timestamp,
      environment: { type: 'string' },
      tenant: { type: ['object', 'null'], properties: { id: { type: 'string' }, slug: { type: 'string' } } },
      actor: { type: 'object', properties: { client_id: { type: 'string' }, issuer: { type: 'string' } } },
      action: { type: 'string' },
      target: { type: 'object', properties: { type: { type: 'string' }, id: { type: 'string' } } },
      before: {},
      after: {},
      request_id: { type: 'string' },
    },
    required: ['id', 'occurred_at', 'environment', 'tenant', 'actor', 'action', 'target', 'request_id'],
  },
  Key: {
    type: 'object',
    properties: {
      kid: { type: 'string' },
      alg: { enum: [...SIGNING_ALGORITHMS] },
      state: { enum: ['next', 'current', 'retired'] },
      published: { type: 'boolean', description: 'listed in the JWKS' },
      created_at: timestamp,
      promote_at: nullableTimestamp,
      retired_at: nullableTimestamp,
      not_after: nullableTimestamp,
    },
    required: ['kid', 'alg', 'state', 'published', 'created_at'],
  },
  WebhookSubscription: {
    type: 'object',
    properties: {
      id: { type: 'string', format: 'uuid' },
      url: { type: 'string' },
      event_types: { type: 'array', items: { type: 'string' } },
      description: { type: 'string' },
      enabled: { type: 'boolean' },
      disabled_reason: { type: ['string', 'null'], description: 'set when the platform disabled it (410 Gone)' },
      previous_secret_expires_at: { ...nullableTimestamp, description: 'the previous secret also signs until then' },
      created_at: timestamp,
      updated_at: timestamp,
    },
    required: [
      'id',
      'url',
      'event_types',
      'description',
      'enabled',
      'disabled_reason',
      'previous_secret_expires_at',
      'created_at',
      'updated_at',
    ],
  },
  WebhookSubscriptionWithSecret: {
    allOf: [
      { $ref: '#/components/schemas/WebhookSubscription' },
      {
        type: 'object',
        properties: { secret: { type: 'string', description: 'whsec_…, the Standard Webhooks signing secret; shown once' } },
        required: ['secret'],
      },
    ],
  },
  WebhookSubscriptionCreate: {
    type: 'object',
    additionalProperties: false,
    properties: {
      url: webhookUrl,
      event_types: eventTypes,
      description: { type: 'string', maxLength: 500, default: '' },
      enabled: { type: 'boolean', default: true },
    },
    required: ['url', 'event_types'],
  },
  WebhookSubscriptionUpdate: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: {
      url: webhookUrl,
      event_types: eventTypes,
      description: { type: 'string', maxLength: 500 },
      enabled: { type: 'boolean' },
    },
  },
  WebhookSecretRotation: {
    type: 'object',
    additionalProperties: false,
    properties: {
      grace_seconds: {
        type: 'integer',
        minimum: 0,
        maximum: 7 * 86400,
        default: WEBHOOK_SECRET_GRACE_SECONDS,
        description: 'seconds the previous secret keeps signing alongside the new one; 0 ends it now',
      },
    },
  },
  WebhookSecretRotationResult: {
    type: 'object',
    properties: {
      subscription: { $ref: '#/components/schemas/WebhookSubscription' },
      secret: { type: 'string', description: 'the new whsec_… secret, shown once' },
    },
    required: ['subscription', 'secret'],
  },
  WebhookDelivery: {
    type: 'object',
    properties: {
      id: { type: 'string', format: 'uuid' },
      subscription_id: { type: 'string', format: 'uuid' },
      event_id: { type: 'string', format: 'uuid', description: 'the webhook-id header' },
      event_type: { type: 'string' },
      status: { enum: [...DELIVERY_STATUSES] },
      attempts: { type: 'integer' },
      next_attempt_at: nullableTimestamp,
      last_attempt_at: nullableTimestamp,
      last_status_code: { type: ['integer', 'null'] },
      last_error: { type: ['string', 'null'] },
      delivered_at: nullableTimestamp,
      created_at: timestamp,
    },
    required: ['id', 'subscription_id', 'event_id', 'event_type', 'status', 'attempts', 'created_at'],
  },
  WebhookDeliveryWithEvent: {
    allOf: [
      { $ref: '#/components/schemas/WebhookDelivery' },
      {
        type: 'object',
        properties: {
          attempt_history: {
            type: 'array',
            description: 'every attempt, oldest first',
            items: {
              type: 'object',
              properties: {
                attempted_at: timestamp,
                duration_ms: { type: 'integer' },
                status_code: { type: ['integer', 'null'] },
                error: { type: ['string', 'null'] },
                response_body: { type: ['string', 'null'], description: 'the first KiB of the response' },
              },
              required: ['attempted_at', 'duration_ms', 'status_code', 'error', 'response_body'],
            },
          },
          event: {
            type: 'object',
            description: 'the body every attempt sends',
            properties: {
              id: { type: 'string', format: 'uuid' },
              type: { type: 'string' },
              tenant: { type: 'string' },
              environment: { type: 'string' },
              occurred_at: timestamp,
              data: {},
            },
            required: ['id', 'type', 'tenant', 'environment', 'occurred_at', 'data'],
          },
        },
        required: ['event'],
      },
    ],
  },
  WebhookEventType: {
    type: 'object',
    properties: { type: { type: 'string', description: 'e.g. employee.created' } },
    required: ['type'],
  },
  WebhookDeliveryQuery: {
    type: 'object',
    additionalProperties: false,
    properties: {
      status: { enum: [...DELIVERY_STATUSES] },
      limit: PAGE_LIMIT,
      cursor: { type: 'string', minLength: 1, maxLength: 512 },
    },
  },
} satisfies Record<string, JsonSchema>;
