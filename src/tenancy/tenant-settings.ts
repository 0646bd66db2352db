/**
 * A tenant's settings: one JSON Schema (validated by ajv on the admin API, published in its
 * OpenAPI document) and the defaults that apply to every key a tenant leaves unset. Unknown keys
 * are refused, so a typo never silently does nothing.
 */
import { SIGNING_ALGORITHMS } from '../catalog/signing-algorithms.ts';
import { PLATFORM_ADMIN_SCOPE, TENANT_SCOPES } from '../catalog/scopes.ts';
import { DEFAULT_TOKEN_QUOTA_MODE, TOKEN_QUOTA_SCHEMA, type TokenQuota } from '../catalog/token-quotas.ts';
import type { Tenant, TenantSettings } from './tenants.ts';

/** The longest an access token may live (a tenant's or a client's access_token_ttl). */
export const MAX_ACCESS_TOKEN_TTL_SECONDS = 86400;

export const TENANT_SETTINGS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    access_token_ttl: {
      type: 'integer',
      minimum: 60,
      maximum: MAX_ACCESS_TOKEN_TTL_SECONDS,
      description: 'lifetime of access tokens in seconds (60 s – 24 h); a client may override it',
    },
    signing_alg: { enum: [...SIGNING_ALGORITHMS], description: 'algorithm of the signing key; a change takes effect by key rotation' },
    scopes: {
      type: 'array',
      items: { enum: [...TENANT_SCOPES] },
      uniqueItems: true,
      description: 'scopes this tenant offers; tenant:admin enables self-service administration',
    },
    rate_limit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        per_client: { type: 'integer', minimum: 1, maximum: 100000, description: 'requests per second per client' },
        per_tenant: { type: 'integer', minimum: 1, maximum: 1000000, description: 'requests per second for the whole tenant' },
        auth_failures: {
          type: 'integer',
          minimum: 1,
          maximum: 1000,
          description:
            'failed client authentications per client id and source address within auth_failure_window; past them that source gets 429 for that client id',
        },
        auth_failure_window: { type: 'integer', minimum: 1, maximum: 3600, description: 'seconds over which auth_failures are counted' },
      },
    },
    token_quota: {
      ...TOKEN_QUOTA_SCHEMA,
      description: "access tokens each client may get per hour and per day (none by default); a client's own token_quota replaces it",
    },
    webhooks: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', description: 'whether events are delivered to subscriptions' },
        max_subscriptions: { type: 'integer', minimum: 0, maximum: 100 },
      },
    },
    dpop: {
      type: 'object',
      additionalProperties: false,
      properties: {
        require_nonce: {
          type: 'boolean',
          description:
            "a DPoP proof must carry a nonce this server issued (DPoP-Nonce header, use_dpop_nonce error; RFC 9449 §8, §9): at the tenant's token endpoint, its resource API, and the admin API for its tenant:admin tokens",
        },
      },
    },
  },
} as const;

export const DEFAULT_TENANT_SETTINGS = {
  access_token_ttl: 3600,
  signing_alg: 'ES256',
  scopes: [...TENANT_SCOPES],
  rate_limit: { per_client: 100, per_tenant: 1000, auth_failures: 10, auth_failure_window: 60 },
  webhooks: { enabled: true, max_subscriptions: 10 },
  dpop: { require_nonce: false },
  token_quota: { mode: DEFAULT_TOKEN_QUOTA_MODE },
} as const satisfies Required<TenantSettings>;

/** token_quota's windows have no default: a tenant without one has no quota */
export type EffectiveTenantSettings = Omit<typeof DEFAULT_TENANT_SETTINGS, 'token_quota'> & { readonly token_quota: TokenQuota };

/** What applies: stored values over defaults (nested objects merged key by key). */
export function effectiveSettings(stored: TenantSettings): EffectiveTenantSettings {
  return {
    ...DEFAULT_TENANT_SETTINGS,
    ...stored,
    rate_limit: { ...DEFAULT_TENANT_SETTINGS.rate_limit, ...stored.rate_limit },
    webhooks: { ...DEFAULT_TENANT_SETTINGS.webhooks, ...stored.webhooks },
    dpop: { ...DEFAULT_TENANT_SETTINGS.dpop, ...stored.dpop },
    token_quota: { ...DEFAULT_TENANT_SETTINGS.token_quota, ...stored.token_quota },
  } as EffectiveTenantSettings;
}

/**
 * Every scope the tenant's issuer can grant, and so every scope its clients may hold: what its
 * settings offer (by default all a tenant may offer); the platform's issuer grants platform:admin alone.
 */
export function tenantScopes(tenant: Pick<Tenant, 'kind' | 'settings'>): string[] {
  if (tenant.kind === 'platform') return [PLATFORM_ADMIN_SCOPE];
  return [...effectiveSettings(tenant.settings).scopes];
}

/**
 * JSON merge patch (RFC 7396) of stored settings: a given key replaces, null removes (back to the
 * default), nested objects merge the same way.
 */
export function mergeSettings(stored: TenantSettings, patch: Record<string, unknown>): TenantSettings {
  const merge = (target: Record<string, unknown>, changes: Record<string, unknown>): Record<string, unknown> => {
    const result: Record<string, unknown> = { ...target };
    for (const [key, value] of Object.entries(changes)) {
      if (value === null) delete result[key];
      else if (typeof value === 'object' && !Array.isArray(value)) {
        const nested = merge((result[key] as Record<string, unknown> | undefined) ?? {}, value as Record<string, unknown>);
        if (Object.keys(nested).length) result[key] = nested;
        else delete result[key];
      } else result[key] = value;
    }
    return result;
  };
  return merge(stored as Record<string, unknown>, patch) as TenantSettings;
}
