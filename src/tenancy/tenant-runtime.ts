/**
 * Everything this instance keeps per tenant, in one place: the tenant itself (by name), its keys
 * and clients, its lazily built Provider, and its revoked tokens. The last two are auth/'s (the only folder that may
 * know the Provider and decrypt keys), so they come in as parts that each know how to drop their
 * own stale entries; this runtime is what the change listener calls, once, for every change.
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
  readonly revocations: Revocations;
}) {
  const { tenants, credentials, providers, revocations } = parts;
  return {
    tenants,
    credentials,
    providers,
    revocations,
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
      credentials.onChange(change);
      providers.onChange(change);
      revocations.onChange(change);
    },
    /** After missed notifications (a reconnect): nothing cached can be trusted. */
    clear(): void {
      tenants.clear();
      credentials.clear();
      providers.clear();
      revocations.clear();
    },
  };
}
export type TenantRuntime<
  Credentials extends TenantStateHolder,
  Providers extends TenantStateHolder,
  Revocations extends TenantStateHolder = TenantStateHolder,
> = ReturnType<typeof createTenantRuntime<Credentials, Providers, Revocations>>;
