/**
 * Per-tenant and per-client request limits from the tenant's settings (requests per second), and
 * the throttle of failed client authentications per (tenant, client id, source address), counted
 * in this instance's memory by rate-limiter-flexible. With N instances behind a load balancer a
 * tenant can reach N times its limit: the limits protect the shared service from one runaway
 * integration, they are not a billing meter.
 */
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import type { Tenant } from '../tenancy/tenants.ts';
import type { Change } from '../tenancy/change-notifications.ts';
import { effectiveSettings } from '../tenancy/tenant-settings.ts';

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

/** One tenant's limiters, made from its effective settings (requests per second; failures per window). */
interface TenantLimiters {
  readonly settings: Tenant['settings'];
  /** per_tenant, keyed by surface */
  readonly tenant: RateLimiterMemory;
  /** per_client, keyed by surface and client id */
  readonly client: RateLimiterMemory;
  /** auth_failures per auth_failure_window, keyed by client id and source */
  readonly failures: RateLimiterMemory;
}

/**
 * The counters are per tenant, and the tenant runtime evicts them as it does the rest of the
 * tenant's state: a change of the tenant drops its limiters, so they are made again from its new
 * settings on its next request (its counts restart, as they do whenever its limits change);
 * `clear()` drops every tenant's. At most `maxTenants` tenants' limiters are kept, the least
 * recently used dropped first.
 */
export function createRateLimits(options: { maxTenants: number }) {
  const byTenant = new LRUCache<string, TenantLimiters>({ max: options.maxTenants });
  // a limiter is kept while its limit is: a tenant cache reload with the same limits keeps the counts
  const limiter = (current: RateLimiterMemory | undefined, points: number, duration: number) =>
    current?.points === points && current.duration === duration ? current : new RateLimiterMemory({ points, duration });
  const limitersOf = (tenant: Tenant): TenantLimiters => {
    const known = byTenant.get(tenant.id);
    if (known?.settings === tenant.settings) return known;
    const limits = effectiveSettings(tenant.settings).rate_limit;
    const limiters = {
      settings: tenant.settings,
      tenant: limiter(known?.tenant, limits.per_tenant, 1),
      client: limiter(known?.client, limits.per_client, 1),
      failures: limiter(known?.failures, limits.auth_failures, limits.auth_failure_window),
    };
    byTenant.set(tenant.id, limiters);
    return limiters;
  };
  const consume = async (scope: 'tenant' | 'client', limiter: RateLimiterMemory, key: string) => {
    try {
      await limiter.consume(key);
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      const message = `more than ${limiter.points} requests per second for this ${scope}`;
      throw new RateLimitExceeded(scope, limiter.points, (rejection as RateLimiterRes).msBeforeNext, message);
    }
  };
  const failureKey = (clientId: string, source: string) => `${clientId}\u0000${source}`;

  const consumeTenant = (surface: 'token' | 'api', tenant: Tenant) => consume('tenant', limitersOf(tenant).tenant, surface);
  const consumeClient = (surface: 'token' | 'api', tenant: Tenant, clientId: string) =>
    consume('client', limitersOf(tenant).client, `${surface}\u0000${clientId}`);

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
      const { failures } = limitersOf(tenant);
      const counted = await failures.get(failureKey(clientId, source));
      if (counted && counted.consumedPoints >= failures.points) {
        const message = `${failures.points} failed authentications of this client from this address within ${failures.duration} s`;
        throw new RateLimitExceeded('source', failures.points, counted.msBeforeNext, message);
      }
    },
    async countAuthFailure(tenant: Tenant, clientId: string, source: string): Promise<void> {
      await limitersOf(tenant).failures.penalty(failureKey(clientId, source));
    },
    onChange(change: Change): void {
      if (change.kind === 'tenant') byTenant.delete(change.tenant);
    },
    clear(): void {
      byTenant.clear();
    },
  };
}
export type RateLimits = ReturnType<typeof createRateLimits>;
