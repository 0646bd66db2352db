/**
 * Per-tenant and per-client request limits from the tenant's settings (requests per second), and
 * the throttle of failed client authentications per (tenant, client id, source address), counted
 * in this instance's memory by rate-limiter-flexible. With N instances behind a load balancer a
 * tenant can reach N times its limit: the limits protect the shared service from one runaway
 * integration, they are not a billing meter.
 */
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import type { Change } from '../tenancy/change-notifications.ts';
import type { Tenant } from '../tenancy/tenants.ts';
import { effectiveSettings, type EffectiveTenantSettings } from '../tenancy/tenant-settings.ts';

export class RateLimitExceeded extends Error {
  override name = 'RateLimitExceeded';
  readonly retryAfterSeconds: number;
  readonly limit: number;
  /** tenant, client: requests per second; source: failed authentications per window */
  readonly scope: 'tenant' | 'client' | 'source';
  constructor(scope: 'tenant' | 'client' | 'source', limit: number, retryAfterMs: number, message: string) {
    super(message);
    this.scope = scope;
    this.limit = limit;
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  }
}

/**
 * What this instance keeps per tenant is its effective limits, made from its settings once per
 * version of them: the tenant runtime drops a tenant's on its change (and all on `clear()`), and
 * at most `maxTenants` are kept. The counts are not dropped: they are what a limit is measured
 * against, not a copy of the database.
 */
export function createRateLimits(options: { maxTenants: number }) {
  // one limiter per distinct (points, seconds): the limit is the limiter's, the key is what it counts
  const limiters = new Map<string, RateLimiterMemory>();
  const limiterFor = (points: number, seconds: number) => {
    let limiter = limiters.get(`${points}/${seconds}`);
    if (!limiter) limiters.set(`${points}/${seconds}`, (limiter = new RateLimiterMemory({ points, duration: seconds })));
    return limiter;
  };
  const consume = async (scope: 'tenant' | 'client', key: string, perSecond: number) => {
    try {
      await limiterFor(perSecond, 1).consume(key);
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      const message = `more than ${perSecond} requests per second for this ${scope}`;
      throw new RateLimitExceeded(scope, perSecond, (rejection as RateLimiterRes).msBeforeNext, message);
    }
  };

  const limitsOf = new LRUCache<string, { settings: Tenant['settings']; limits: EffectiveTenantSettings['rate_limit'] }>({
    max: options.maxTenants,
  });
  const limitsFor = (tenant: Tenant) => {
    let known = limitsOf.get(tenant.id);
    if (known?.settings !== tenant.settings) {
      known = { settings: tenant.settings, limits: effectiveSettings(tenant.settings).rate_limit };
      limitsOf.set(tenant.id, known);
    }
    return known.limits;
  };
  const failuresOf = (tenant: Tenant) => {
    const { auth_failures: points, auth_failure_window: seconds } = limitsFor(tenant);
    return { points, seconds, limiter: limiterFor(points, seconds) };
  };
  const failureKey = (tenant: Tenant, clientId: string, source: string) => `auth\u0000${tenant.id}\u0000${clientId}\u0000${source}`;

  const consumeTenant = (surface: 'token' | 'api', tenant: Tenant) =>
    consume('tenant', `${surface}\u0000${tenant.id}`, limitsFor(tenant).per_tenant);
  const consumeClient = (surface: 'token' | 'api', tenant: Tenant, clientId: string) =>
    consume('client', `${surface}\u0000${tenant.id}\u0000${clientId}`, limitsFor(tenant).per_client);

  return {
    /**
     * Counts one request of the tenant (and of the client, when known) on one surface; throws
     * RateLimitExceeded. The token endpoint and the API are counted apart, so a client fetching
     * tokens too often is told so there, not by its API calls failing.
     */
    async consume(surface: 'token' | 'api', tenant: Tenant, clientId: string | undefined): Promise<void> {
      await consumeTenant(surface, tenant);
      if (clientId !== undefined) await consumeClient(surface, tenant, clientId);
    },
    consumeTenant,
    /** Only for a client that has authenticated: a client id is not a secret. */
    consumeClient,
    /**
     * Throws RateLimitExceeded while `source` has failed to authenticate as `clientId` auth_failures
     * times in the current window (which starts at its first failure). Counts nothing itself.
     */
    async checkAuthFailures(tenant: Tenant, clientId: string, source: string): Promise<void> {
      const { points, seconds, limiter } = failuresOf(tenant);
      const counted = await limiter.get(failureKey(tenant, clientId, source));
      if (counted && counted.consumedPoints >= points) {
        const message = `${points} failed authentications of this client from this address within ${seconds} s`;
        throw new RateLimitExceeded('source', points, counted.msBeforeNext, message);
      }
    },
    async countAuthFailure(tenant: Tenant, clientId: string, source: string): Promise<void> {
      await failuresOf(tenant).limiter.penalty(failureKey(tenant, clientId, source));
    },
    /** the tenants whose effective limits are kept */
    get tenants(): number {
      return limitsOf.size;
    },
    onChange(change: Change): void {
      if (change.kind === 'tenant') limitsOf.delete(change.tenant);
    },
    clear(): void {
      limitsOf.clear();
    },
  };
}
export type RateLimits = ReturnType<typeof createRateLimits>;
