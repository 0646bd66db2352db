/**
 * Per-tenant and per-client request limits from the tenant's settings (requests per second),
 * counted in this instance's memory by rate-limiter-flexible. With N instances behind a load
 * balancer a tenant can reach N times its limit: the limits protect the shared service from one
 * runaway integration, they are not a billing meter.
 */
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import type { Tenant } from '../tenancy/tenants.ts';
import { effectiveSettings } from '../tenancy/tenant-settings.ts';

export class RateLimitExceeded extends Error {
  override name = 'RateLimitExceeded';
  readonly retryAfterSeconds: number;
  readonly limit: number;
  readonly scope: 'tenant' | 'client';
  constructor(scope: 'tenant' | 'client', limit: number, retryAfterMs: number) {
    super(`more than ${limit} requests per second for this ${scope}`);
    this.scope = scope;
    this.limit = limit;
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  }
}

export function createRateLimits() {
  // one limiter per distinct limit: the limit is the limiter's, the key is the tenant's or client's
  const limiters = new Map<number, RateLimiterMemory>();
  const limiterFor = (perSecond: number) => {
    let limiter = limiters.get(perSecond);
    if (!limiter) limiters.set(perSecond, (limiter = new RateLimiterMemory({ points: perSecond, duration: 1 })));
    return limiter;
  };
  const consume = async (scope: 'tenant' | 'client', key: string, perSecond: number) => {
    try {
      await limiterFor(perSecond).consume(key);
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      throw new RateLimitExceeded(scope, perSecond, (rejection as RateLimiterRes).msBeforeNext);
    }
  };

  const limitsOf = new WeakMap<Tenant['settings'], { per_tenant: number; per_client: number }>();
  const limitsFor = (tenant: Tenant) => {
    let limits = limitsOf.get(tenant.settings);
    if (!limits) limitsOf.set(tenant.settings, (limits = effectiveSettings(tenant.settings).rate_limit));
    return limits;
  };

  return {
    /**
     * Counts one request of the tenant (and of the client, when known) on one surface; throws
     * RateLimitExceeded. The token endpoint and the API are counted apart, so a client fetching
     * tokens too often is told so there, not by its API calls failing.
     */
    async consume(surface: 'token' | 'api', tenant: Tenant, clientId: string | undefined): Promise<void> {
      const limits = limitsFor(tenant);
      await consume('tenant', `${surface}\u0000${tenant.id}`, limits.per_tenant);
      if (clientId !== undefined) await consume('client', `${surface}\u0000${tenant.id}\u0000${clientId}`, limits.per_client);
    },
  };
}
export type RateLimits = ReturnType<typeof createRateLimits>;
