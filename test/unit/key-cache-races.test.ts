/**
 * A key set or Provider whose load started before a change notification must not be stored after
 * it: the eviction would be undone and, after a key rotation, an instance would keep the old
 * signing key until the next change. Deterministic: the database (or credentials) answer only
 * when the test says so.
 */
import { describe, expect, it } from 'vitest';
import { createRemoteJwks, remoteJwksOptions } from '../../src/auth/client-jwks.ts';
import { createKeyEncryption } from '../../src/auth/key-encryption.ts';
import { createProviderPool } from '../../src/auth/provider-pool.ts';
import { generateSigningKey } from '../../src/auth/signing-keys.ts';
import { createTenantCredentials, type TenantCredentials, type TenantKeys } from '../../src/auth/tenant-credentials.ts';
import type { Database } from '../../src/db/database.ts';
import { createPublicUrls } from '../../src/tenancy/hosts.ts';
import type { Tenant } from '../../src/tenancy/tenants.ts';

const TENANT_ID = '00000000-0000-4000-8000-000000000001';

function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('key set cache', () => {
  it('does not store a key set whose load overlapped an invalidation', async () => {
    const encryption = createKeyEncryption(Buffer.alloc(32, 7));
    const key = await generateSigningKey('ES256');
    const row = {
      kid: key.kid,
      alg: key.alg,
      state: 'current',
      public_jwk: key.publicJwk,
      private_jwk_encrypted: encryption.encrypt(JSON.stringify(key.privateJwk)),
      not_after: null,
    };
    let loads = 0;
    let pending: ReturnType<typeof gate> | undefined;
    const db = {
      scoped: async (_tenantId: string, work: (tx: unknown) => Promise<unknown>) =>
        work({
          tenantId: TENANT_ID,
          query: async () => {
            loads += 1;
            await pending?.opened;
            return [row];
          },
        }),
    } as unknown as Database;
    const credentials = createTenantCredentials(db, encryption, { clientCacheSize: 10, keyCacheSize: 10, ttlMs: 60_000 });

    await credentials.getKeys(TENANT_ID);
    await credentials.getKeys(TENANT_ID);
    expect(loads).toBe(1); // cached

    credentials.invalidateKeys(TENANT_ID);
    pending = gate();
    const overlapping = credentials.getKeys(TENANT_ID);
    credentials.invalidateKeys(TENANT_ID); // the notification arrives while the load runs
    pending.open();
    expect((await overlapping)?.signingKey.kid).toBe(key.kid); // answers its caller…
    pending = undefined;
    await credentials.getKeys(TENANT_ID);
    expect(loads).toBe(3); // …but was not kept
    await credentials.getKeys(TENANT_ID);
    expect(loads).toBe(3);
  });
});

describe('Provider pool', () => {
  it('neither pools nor shares a build that overlapped an eviction', async () => {
    const key = await generateSigningKey('ES256');
    const keys: TenantKeys = { signingKey: key.privateJwk as TenantKeys['signingKey'], publicKeys: [key.publicJwk] };
    let loads = 0;
    let pending: ReturnType<typeof gate> | undefined;
    const credentials = {
      async getKeys() {
        loads += 1;
        await pending?.opened;
        return keys;
      },
      getClient: async () => undefined,
    } as unknown as TenantCredentials;
    const pool = createProviderPool({
      credentials,
      urls: createPublicUrls('http', 3000),
      max: 10,
      jwksCacheSeconds: 300,
      dpop: { replayDetection: { claim: async () => true }, nonceSecret: () => Buffer.alloc(32) },
      clientAssertions: {
        replay: { recordOnce: async () => true },
        remoteJwks: createRemoteJwks(remoteJwksOptions(false, 10)),
        maxLifetimeSeconds: 60,
      },
    });
    const environment = { name: 'production', domain: 'connect.localhost' };
    const tenant: Tenant = {
      id: TENANT_ID,
      kind: 'tenant',
      environment: 'production',
      slug: 'acme',
      name: 'Acme',
      status: 'ACTIVE',
      settings: {},
    };

    const first = await pool.getProvider(environment, tenant);
    expect(await pool.getProvider(environment, tenant)).toBe(first);
    expect(loads).toBe(1);

    pool.evict(TENANT_ID);
    pending = gate();
    const stale = pool.getProvider(environment, tenant);
    pool.evict(TENANT_ID); // the key changed while the Provider was being built
    const afterChange = pool.getProvider(environment, tenant); // must not join the stale build
    pending.open();
    const [staleBuilt, freshBuilt] = await Promise.all([stale, afterChange]);
    expect(freshBuilt).not.toBe(staleBuilt);
    expect(loads).toBe(3);
    pending = undefined;
    expect(await pool.getProvider(environment, tenant)).toBe(freshBuilt);
    expect(loads).toBe(3);
  });
});
