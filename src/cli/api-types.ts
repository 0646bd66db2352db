/** The admin API's resources as the CLI reads them (only what it prints is relied on). */

export interface TenantSettings {
  readonly access_token_ttl?: number;
  readonly signing_alg?: string;
  readonly scopes?: string[];
  readonly rate_limit?: { readonly per_client?: number | null; readonly per_tenant?: number | null };
  readonly [key: string]: unknown;
}

export interface Tenant {
  readonly id: string;
  readonly slug: string;
  readonly environment: string;
  readonly name: string;
  readonly status: string;
  readonly settings: TenantSettings;
  readonly created_at: string;
  readonly updated_at: string;
  readonly deleted_at: string | null;
}

export interface ClientSecretInfo {
  readonly id: string;
  readonly created_at: string;
  readonly expires_at: string | null;
  readonly last_used_at: string | null;
}

export interface Client {
  readonly client_id: string;
  readonly name: string;
  readonly scopes: string[];
  readonly access_token_ttl: number | null;
  readonly token_endpoint_auth_method: string;
  readonly status: string;
  readonly disabled_at: string | null;
  readonly last_used_at: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly secrets?: ClientSecretInfo[];
}

export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly state: string;
  readonly published: boolean;
  readonly created_at: string;
  readonly promote_at: string | null;
  readonly retired_at: string | null;
  readonly not_after: string | null;
}

export interface AuditEvent {
  readonly id: string;
  readonly occurred_at: string;
  readonly environment: string;
  readonly tenant: { readonly id: string; readonly slug: string } | null;
  readonly actor: { readonly client_id: string; readonly issuer: string };
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string };
  readonly request_id: string | null;
}

export interface WebhookSubscription {
  readonly id: string;
  readonly url: string;
  readonly event_types: string[];
  readonly description: string;
  readonly enabled: boolean;
  readonly disabled_reason: string | null;
  readonly previous_secret_expires_at: string | null;
  readonly created_at: string;
  readonly updated_at: string;
}

export interface WebhookDelivery {
  readonly id: string;
  readonly subscription_id: string;
  readonly event_id: string;
  readonly event_type: string;
  readonly status: string;
  readonly attempts: number;
  readonly next_attempt_at: string | null;
  readonly last_attempt_at: string | null;
  readonly last_status_code: number | null;
  readonly last_error: string | null;
  readonly delivered_at: string | null;
  readonly created_at: string;
}
