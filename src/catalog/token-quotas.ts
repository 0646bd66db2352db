/**
 * Token quotas: how many access tokens a client may get per hour and per day, and what happens
 * past them. The tenant setting `token_quota`, a client's override (the same object), the admin
 * API's schemas and the CLI share these.
 */

/** enforce: refuse past the quota (429); log: issue the token, log and count the excess. */
export const TOKEN_QUOTA_MODES = ['enforce', 'log'] as const;
export type TokenQuotaMode = (typeof TOKEN_QUOTA_MODES)[number];
export const DEFAULT_TOKEN_QUOTA_MODE: TokenQuotaMode = 'enforce';

/** A tenant's token_quota, or a client's override of it (which replaces the tenant's as a whole). */
export interface TokenQuota {
  readonly per_hour?: number;
  readonly per_day?: number;
  readonly mode?: TokenQuotaMode;
}

/** The JSON Schema of a token quota; a window left out has no limit. */
export const TOKEN_QUOTA_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    per_hour: { type: 'integer', minimum: 1, maximum: 100000000, description: 'access tokens per clock hour (UTC)' },
    per_day: { type: 'integer', minimum: 1, maximum: 100000000, description: 'access tokens per day (UTC)' },
    mode: {
      enum: [...TOKEN_QUOTA_MODES],
      description: 'enforce (the default): 429 past the quota; log: the token is issued, the excess logged and counted',
    },
  },
} as const;
