/**
 * http/'s per-tenant state, as the tenant runtime evicts it: the verified-token cache drops a
 * tenant's tokens on its change or its keys' change and one client's on that client's change, and
 * nothing of another tenant; the rate limits drop a tenant's effective limits on the tenant's
 * change only, and keep the counts.
 */
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import pino from 'pino';
import { createCounterStore } from '../../src/db/counter-store.ts';
import { describe, expect, it } from 'vitest';
import { createAccessTokenVerifier } from '../../src/http/bearer.ts';
import { createRateLimits, RateLimitExceeded } from '../../src/http/rate-limits.ts';
import type { Tenant } from '../../src/tenancy/tenants.ts';

const ISSUER = 'https://authentication.example.test/tenants/acme';
const AUDIENCE = 'https://acme.example.test';

async function signingKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } as JWK };
}

async function token(key: Awaited<ReturnType<typeof signingKey>>, clientId: string): Promise<string> {
  return new SignJWT({ client_id: clientId, scope: 'employees:read' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: key.publicJwk.kid ?? '' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(clientId)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key.privateKey);
}

describe('the verified-token cache as a holder of per-tenant state', () => {
  /**
   * A cached verdict needs only its kid among the published keys; a fresh verification needs the
   * key itself. Offering a different key under the same kid tells the two apart.
   */
  async function setup() {
    const key = await signingKey('k1');
    const impostor = await signingKey('k1');
    const verify = createAccessTokenVerifier({ cacheSize: 100 });
    const expect_ = (tenantId: string, publicKeys: JWK[]) => ({ tenantId, issuer: ISSUER, audience: AUDIENCE, publicKeys });
    const tokens = { a1: await token(key, 'client-1'), a2: await token(key, 'client-2'), b1: await token(key, 'client-1') };
    await verify(tokens.a1, expect_('tenant-a', [key.publicJwk]));
    await verify(tokens.a2, expect_('tenant-a', [key.publicJwk]));
    await verify(tokens.b1, expect_('tenant-b', [key.publicJwk]));
    /** whether the token is still answered from the cache (a fresh verification would fail) */
    const cached = (name: keyof typeof tokens, tenantId: string) =>
      verify(tokens[name], expect_(tenantId, [impostor.publicJwk])).then(
        () => true,
        () => false,
      );
    return { verify, cached };
  }

  it('keeps every verdict until a change', async () => {
    const { cached } = await setup();
    expect([await cached('a1', 'tenant-a'), await cached('a2', 'tenant-a'), await cached('b1', 'tenant-b')]).toEqual([true, true, true]);
  });

  it('drops one client’s tokens on that client’s change', async () => {
    const { verify, cached } = await setup();
    verify.onChange({ kind: 'client', tenant: 'tenant-a', id: 'client-1' });
    expect([await cached('a1', 'tenant-a'), await cached('a2', 'tenant-a'), await cached('b1', 'tenant-b')]).toEqual([false, true, true]);
  });

  it('drops all of a tenant’s tokens on its keys’ change, a tenant’s change, or a client change it cannot name', async () => {
    for (const change of [
      { kind: 'keys', tenant: 'tenant-a', id: 'k1' },
      { kind: 'tenant', tenant: 'tenant-a', environment: 'production', slug: 'acme' },
      { kind: 'client', tenant: 'tenant-a', id: null },
    ] as const) {
      const { verify, cached } = await setup();
      verify.onChange(change);
      expect([await cached('a1', 'tenant-a'), await cached('a2', 'tenant-a'), await cached('b1', 'tenant-b')]).toEqual([
        false,
        false,
        true,
      ]);
    }
  });

  it('drops everything on clear', async () => {
    const { verify, cached } = await setup();
    verify.clear();
    expect([await cached('a1', 'tenant-a'), await cached('a2', 'tenant-a'), await cached('b1', 'tenant-b')]).toEqual([false, false, false]);
  });
});

describe('the rate limits as a holder of per-tenant state', () => {
  // the failure throttle, with a window of an hour: nothing here depends on how fast the test runs
  const throttle = { auth_failures: 1, auth_failure_window: 3600 };
  const tenant = (id: string, rateLimit: Record<string, number> = throttle): Tenant => ({
    id,
    kind: 'tenant',
    environment: 'production',
    slug: id,
    name: id,
    status: 'ACTIVE',
    settings: { rate_limit: rateLimit },
  });
  /** whether client-1 may still try to authenticate from 192.0.2.1 */
  const allowed = (limits: ReturnType<typeof createRateLimits>, t: Tenant) =>
    limits.checkAuthFailures(t, 'client-1', '192.0.2.1').then(
      () => true,
      (error: unknown) => {
        if (error instanceof RateLimitExceeded) return false;
        throw error;
      },
    );
  const fail = (limits: ReturnType<typeof createRateLimits>, t: Tenant) => limits.countAuthFailure(t, 'client-1', '192.0.2.1');

  it('drops a tenant’s limits on its own change only, all of them on clear, and keeps the counts', async () => {
    const limits = createRateLimits(createCounterStore({ redis: undefined, log: pino({ level: 'silent' }) }), { maxTenants: 10 });
    const [a, b] = [tenant('tenant-a'), tenant('tenant-b')];
    await fail(limits, a);
    await fail(limits, b);
    expect(limits.tenants).toBe(2);
    limits.onChange({ kind: 'client', tenant: 'tenant-a', id: 'client-1' });
    limits.onChange({ kind: 'keys', tenant: 'tenant-a', id: 'k1' });
    expect(limits.tenants).toBe(2);
    limits.onChange({ kind: 'tenant', tenant: 'tenant-a', environment: 'production', slug: 'tenant-a' });
    expect(limits.tenants).toBe(1);
    expect([await allowed(limits, a), await allowed(limits, b)]).toEqual([false, false]);
    limits.clear();
    expect(limits.tenants).toBe(0);
    expect(await allowed(limits, b)).toBe(false);
  });

  it('applies a tenant’s new limits at once, even before its change arrives', async () => {
    const limits = createRateLimits(createCounterStore({ redis: undefined, log: pino({ level: 'silent' }) }), { maxTenants: 10 });
    const a = tenant('tenant-a');
    await fail(limits, a);
    expect(await allowed(limits, a)).toBe(false);
    expect(await allowed(limits, tenant('tenant-a', { ...throttle, auth_failures: 2 }))).toBe(true);
  });

  it('keeps at most maxTenants tenants’ limits', async () => {
    const limits = createRateLimits(createCounterStore({ redis: undefined, log: pino({ level: 'silent' }) }), { maxTenants: 2 });
    for (const id of ['tenant-a', 'tenant-b', 'tenant-c']) await allowed(limits, tenant(id));
    expect(limits.tenants).toBe(2);
  });
});
