/**
 * The change listener's one entry point: each change reaches every holder of per-tenant state,
 * and the tenant cache drops the named tenant (a cached "no such tenant" included) only for a
 * tenant's change. What each holder drops is its own (see cache-invalidation.test.ts end to end).
 */
import { describe, expect, it } from 'vitest';
import type { Change } from '../../src/tenancy/change-notifications.ts';
import { createTenantRuntime, type TenantStateHolder } from '../../src/tenancy/tenant-runtime.ts';
import { createTenantCache, type Tenant } from '../../src/tenancy/tenants.ts';

function recordingHolder() {
  const seen: string[] = [];
  const holder: TenantStateHolder = {
    onChange: (change) => seen.push(`${change.kind} ${change.tenant}`),
    clear: () => seen.push('clear'),
  };
  return { holder, seen };
}

describe('tenant runtime', () => {
  it('hands every change to every holder, and drops a tenant by name only for its own change', async () => {
    let lookups = 0;
    const acme: Tenant = { id: 't1', kind: 'tenant', environment: 'production', slug: 'acme', name: 'A', status: 'ACTIVE', settings: {} };
    const tenants = createTenantCache(
      {
        findTenantBySlug: async () => {
          lookups += 1;
          return lookups === 1 ? undefined : acme;
        },
      },
      { max: 10, ttlMs: 60_000 },
    );
    const credentials = recordingHolder();
    const providers = recordingHolder();
    const verifiedTokens = recordingHolder();
    const rateLimits = recordingHolder();
    const revocations = recordingHolder();
    const runtime = createTenantRuntime({
      tenants,
      credentials: credentials.holder,
      providers: providers.holder,
      verifiedTokens: verifiedTokens.holder,
      rateLimits: rateLimits.holder,
      revocations: revocations.holder,
    });

    expect(await runtime.getTenant('production', 'acme')).toBeUndefined();
    const changes: Change[] = [
      { kind: 'client', tenant: 't1', id: 'c1' },
      { kind: 'keys', tenant: 't1', id: null },
    ];
    for (const change of changes) runtime.evict(change);
    expect(await runtime.getTenant('production', 'acme')).toBeUndefined(); // still the cached answer
    runtime.evict({ kind: 'tenant', tenant: 't1', environment: 'production', slug: 'acme' });
    expect(await runtime.getTenant('production', 'acme')).toBe(acme);
    expect(lookups).toBe(2);

    runtime.clear();
    expect(credentials.seen).toEqual(['client t1', 'keys t1', 'tenant t1', 'clear']);
    expect(providers.seen).toEqual(credentials.seen);
    expect(verifiedTokens.seen).toEqual(credentials.seen);
    expect(rateLimits.seen).toEqual(credentials.seen);
    expect(revocations.seen).toEqual(credentials.seen);
    expect(tenants.size).toBe(0);
  });
});
