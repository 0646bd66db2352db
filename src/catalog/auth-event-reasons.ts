/**
 * The auth event log's vocabulary: every token request ends `issued` or `refused`, and a refusal
 * carries one of these stable codes (docs/operating.md, "What happened to my client?", lists them
 * for integrators). New codes are added at the end; a code never changes meaning.
 */
export const AUTH_EVENT_OUTCOMES = ['issued', 'refused'] as const;
export type AuthEventOutcome = (typeof AUTH_EVENT_OUTCOMES)[number];

export const AUTH_REFUSAL_REASONS = [
  /** no client with the presented id in this tenant and environment (or no client id at all) */
  'unknown_client',
  /** the client exists; the secret matches none of its live secrets */
  'wrong_secret',
  /** the client exists and authenticates with a secret, but every secret it has is expired */
  'expired_secret',
  /** the client exists but is disabled */
  'client_disabled',
  /** a secret sent by the other method than the one registered (or a method this server does not offer) */
  'wrong_auth_method',
  /** the tenant is suspended or pending */
  'tenant_not_active',
  /** a scope the client may not have, or the tenant does not define */
  'invalid_scope',
  /** a `resource` this issuer issues no tokens for */
  'invalid_target',
  /** a limit (tenant, client, or failed authentications from one source) refused the request */
  'rate_limited',
  /** the client's token quota (or its tenant's token_quota setting) is used up, in enforce mode */
  'quota_exceeded',
  /** a private_key_jwt client's assertion refused (its keys, signature, audience, lifetime, replay) */
  'assertion_refused',
  /** grant_type is not client_credentials */
  'unsupported_grant_type',
  /** the client may not use the grant it asked for */
  'unauthorized_client',
  /** a malformed request (missing or repeated parameters) */
  'invalid_request',
  /** the database could not answer (503) */
  'temporarily_unavailable',
  /** anything else oidc-provider refused with; the server log carries the detail */
  'other',
] as const;
export type AuthRefusalReason = (typeof AUTH_REFUSAL_REASONS)[number];
