/**
 * What the admin API answers with, as its client (the CLI) reads it. Each type is the one the
 * route builds its answer from, not a copy: the server and the CLI share this one declaration,
 * and admin-schemas.ts holds the JSON schemas the document publishes for the same shapes.
 *
 * Import it type-only (`import type`): the CLI must not load server code at run time, and
 * everything here is erased at compile time.
 */
import type { AuthEvent } from '../auth/auth-events.ts';
import type { ClientRepresentation } from '../auth/clients.ts';
import type { ListedSigningKey } from '../auth/key-rotation.ts';
import type { DeliveryRepresentation, SubscriptionRepresentation } from '../webhooks/subscriptions.ts';
import type { AuditEvent } from './operator/audit-log.ts';
import type { ClientHealth } from './operator/client-health.ts';
import type { SandboxSyncResult } from './operator/sandbox-sync.ts';
import type { SandboxResetResult } from './operator/sandbox-reset.ts';
import type { TenantRepresentation } from './operator/tenant-lifecycle.ts';
import type { UsageRow } from './operator/usage-report.ts';

/** A list endpoint's answer: one page, and the next page's absolute URL (null on the last). */
export interface Page<T> {
  readonly data: T[];
  readonly next: string | null;
}

export type Tenant = TenantRepresentation;
export type { AuditEvent, AuthEvent, ClientHealth, SandboxSyncResult };
export type { SandboxResetResult, UsageRow };
export type Client = ClientRepresentation;
/** a private_key_jwt client is created without a secret */
export type ClientWithSecret = Client & { readonly client_secret?: string };
export interface SecretRotationResult {
  readonly client: Client;
  readonly client_secret: string;
}
export type SigningKey = ListedSigningKey;
export interface KeyRotationResult {
  readonly key: SigningKey;
  readonly retired: SigningKey[];
}
export type WebhookSubscription = SubscriptionRepresentation;
export type WebhookSubscriptionWithSecret = WebhookSubscription & { readonly secret: string };
export interface WebhookSecretRotationResult {
  readonly subscription: WebhookSubscription;
  readonly secret: string;
}
export type WebhookDelivery = DeliveryRepresentation;
export type WebhookDeliveryWithEvent = WebhookDelivery & { readonly event: unknown };
/** POST /tenants/{slug}/tokens/revoke */
export interface TokenRevocation {
  readonly jti: string;
  readonly revoked_until: string;
}
/** POST /tenants/{slug}/clients/{clientId}/revoke-tokens: the cutoff in force */
export interface ClientTokensRevocation {
  readonly client_id: string;
  readonly issued_before: string;
}
