/**
 * Everything this instance keeps per tenant, in one place: the tenant itself (by name), its keys
 * and clients, its lazily built Provider, the access tokens verified for it, its revoked tokens and
 * its effective rate limits. Those parts belong to the folders that use them (auth/ alone may know the Provider
 * and decrypt keys; http/ verifies tokens and counts requests), so they come in as holders that
 * each know how to drop their own stale entries; this runtime is what the change listener calls,
 * once, for every change.
 */
import type { Change } from './change-notifications.ts';
import type { Tenant, TenantCache } from './tenants.ts';

/** A holder of per-tenant state: drops what a change makes stale (and everything on a reset). */
export interface TenantStateHolder {
  onChange(change: Change): void;
  clear(): void;
}

export function createTenantRuntime<
  Credentials extends TenantStateHolder,
  Providers extends TenantStateHolder,
  Revocations extends TenantStateHolder,
>(parts: {
  readonly tenants: TenantCache;
  readonly credentials: Credentials;
  readonly providers: Providers;
  /** http/'s: the access tokens verified, and the effective rate limits */
  readonly verifiedTokens: TenantStateHolder;
  readonly rateLimits: TenantStateHolder;
  /** tenancy/token-revocations.ts: the revoked tokens and client cutoffs */
  readonly revocations: Revocations;
}) {
  const { tenants, credentials, providers } = parts;
  const holders = [credentials, providers, parts.verifiedTokens, parts.rateLimits, parts.revocations];
  return {
    tenants,
    credentials,
    providers,
    revocations: parts.revocations,
    getTenant(environment: string, slug: string): Promise<Tenant | undefined> {
      return tenants.getTenant(environment, slug);
    },
    /**
     * Drops exactly what a change affects (a client's change keeps the tenant's Provider and keys):
     * the one entry point of the change listener.
     */
    evict(change: Change): void {
      // by name: a cached "no such tenant" is dropped too when the tenant is created
      if (change.kind === 'tenant') tenants.invalidate(change.environment, change.slug);
      for (const holder of holders) holder.onChange(change);
    },
    /** After missed notifications (a reconnect): nothing cached can be trusted. */
    clear(): void {
      tenants.clear();
      for (const holder of holders) holder.clear();
    },
  };
}
export type TenantRuntime<
  Credentials extends TenantStateHolder,
  Providers extends TenantStateHolder,
  Revocations extends TenantStateHolder = TenantStateHolder,
> = ReturnType<typeof createTenantRuntime<Credentials, Providers, Revocations>>;
