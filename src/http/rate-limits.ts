/**
 * Per-tenant and per-client request limits from the tenant's settings (requests per second), the
 * throttle of failed client authentications per (tenant, client id, source address), and token
 * quotas per client (per hour and per day), counted by rate-limiter-flexible in the counter store
 * (db/counter-store.ts): in Redis across the fleet with REDIS_URL, in this instance's memory
 * without it or while Redis does not answer. The limits protect the shared service from one
 * runaway integration; they are not a billing meter.
 *
 * Every count returns the limit's state, which the response reports in the RateLimit and
 * RateLimit-Policy header fields (reportLimits).
 */
import type { ServerResponse } from 'node:http';
import { LRUCache } from 'lru-cache';
import type { RateLimiterRes } from 'rate-limiter-flexible';
import { DEFAULT_TOKEN_QUOTA_MODE, type TokenQuota, type TokenQuotaMode } from '../catalog/token-quotas.ts';
import type { CounterStore } from '../db/counter-store.ts';
import type { Change } from '../tenancy/change-notifications.ts';
import type { Tenant } from '../tenancy/tenants.ts';
import { effectiveSettings, type EffectiveTenantSettings } from '../tenancy/tenant-settings.ts';
import {
  formatRateLimit,
  formatRateLimitPolicy,
  judgeQuota,
  type LimitState,
  limitState,
  quotaWindowAt,
  quotaWindowsOf,
} from './rate-limit-policy.ts';

export class RateLimitExceeded extends Error {
  override name = 'RateLimitExceeded';
  readonly retryAfterSeconds: number;
  readonly limit: number;
  /** tenant, client: requests per second; source: failed authentications per window */
  readonly scope: 'tenant' | 'client' | 'source';
  /** the limit's state, for the RateLimit header fields of the refusal */
  readonly state: LimitState | undefined;
  constructor(scope: 'tenant' | 'client' | 'source', limit: number, retryAfterMs: number, message: string, state?: LimitState) {
    super(message);
    this.scope = scope;
    this.limit = limit;
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    this.state = state;
  }
}

/** A client over an enforced token quota. */
export class TokenQuotaExceeded extends Error {
  override name = 'TokenQuotaExceeded';
  readonly retryAfterSeconds: number;
  readonly states: LimitState[];
  constructor(message: string, retryAfterSeconds: number, states: LimitState[]) {
    super(message);
    this.retryAfterSeconds = Math.max(1, retryAfterSeconds);
    this.states = states;
  }
}

/** A token request that went over its client's quota: refused (enforce) or issued and counted (log). */
export interface QuotaExceededEvent {
  readonly tenant: Tenant;
  readonly clientId: string;
  readonly mode: TokenQuotaMode;
  /** the windows it went over, e.g. ['per_hour'] */
  readonly windows: string[];
  /** the first excess of this client in these windows that this instance has seen: worth a log line (the rest are counted) */
  readonly first: boolean;
}

/**
 * What is counted apart: token issuance, the resource API, and revocation with introspection. The
 * last is a gateway checking the tokens of the tenant's API traffic, or a client revoking one: it
 * must not use up the token endpoint's limits (as Okta counts /introspect and /revoke in their own
 * buckets), and is charged to the tenant's per_tenant alone (one gateway speaks for every client,
 * so per_client, an integration's rate, would throttle it), never to a client's token quota.
 */
export type RateLimitSurface = 'token' | 'api' | 'revocation-introspection';

const isRejection = (value: unknown): value is RateLimiterRes => !(value instanceof Error);

export function createRateLimits(
  counters: CounterStore,
  options: { maxTenants: number; now?: () => number; onQuotaExceeded?: (event: QuotaExceededEvent) => void },
) {
  const now = options.now ?? Date.now;
  // (tenant, client, windows) whose excess this instance has reported, so a runaway client is one
  // log line per window, not one per request; bounded, as the keys come from clients
  const reportedExcess = new LRUCache<string, true>({ max: 10_000 });
  const consume = async (scope: 'tenant' | 'client', key: string, perSecond: number): Promise<LimitState> => {
    try {
      const counted = await counters.counter('rate', perSecond, 1).consume(key);
      return limitState(scope, perSecond, 1, counted.consumedPoints, counted.msBeforeNext);
    } catch (rejection) {
      if (!isRejection(rejection)) throw rejection;
      const state = limitState(scope, perSecond, 1, rejection.consumedPoints, rejection.msBeforeNext);
      const message = `more than ${perSecond} requests per second for this ${scope}`;
      throw new RateLimitExceeded(scope, perSecond, rejection.msBeforeNext, message, state);
    }
  };

  // What this instance keeps per tenant is its effective settings, made once per version of them:
  // the tenant runtime drops a tenant's on its change (and all on clear()), and at most maxTenants
  // are kept. The counts are not dropped: they are what a limit is measured against (in Redis,
  // shared by the fleet), not a copy of the database.
  const limitsOf = new LRUCache<string, { settings: Tenant['settings']; effective: EffectiveTenantSettings }>({
    max: options.maxTenants,
  });
  const settingsOf = (tenant: Tenant) => {
    let known = limitsOf.get(tenant.id);
    if (known?.settings !== tenant.settings) {
      known = { settings: tenant.settings, effective: effectiveSettings(tenant.settings) };
      limitsOf.set(tenant.id, known);
    }
    return known.effective;
  };
  const limitsFor = (tenant: Tenant) => settingsOf(tenant).rate_limit;
  const failuresOf = (tenant: Tenant) => {
    const { auth_failures: points, auth_failure_window: seconds } = limitsFor(tenant);
    return { points, seconds, limiter: counters.counter('auth-failures', points, seconds) };
  };
  const failureKey = (tenant: Tenant, clientId: string, source: string) => `${tenant.id}\u0000${clientId}\u0000${source}`;

  const consumeTenant = (surface: RateLimitSurface, tenant: Tenant) =>
    consume('tenant', `${surface}\u0000${tenant.id}`, limitsFor(tenant).per_tenant);
  const consumeClient = (surface: 'token' | 'api', tenant: Tenant, clientId: string) =>
    consume('client', `${surface}\u0000${tenant.id}\u0000${clientId}`, limitsFor(tenant).per_client);

  return {
    /**
     * Counts one request of the tenant (and of the client, when known) on one surface; throws
     * RateLimitExceeded. The token endpoint and the API are counted apart, so a client fetching
     * tokens too often is told so there, not by its API calls failing.
     */
    async consume(surface: 'token' | 'api', tenant: Tenant, clientId: string | undefined): Promise<LimitState[]> {
      const states = [await consumeTenant(surface, tenant)];
      if (clientId !== undefined) states.push(await consumeClient(surface, tenant, clientId));
      return states;
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
    /**
     * Counts one token for an authenticated client against its quota (its own token_quota, else
     * the tenant's), in fixed UTC hours and days. Over an enforced quota it throws
     * TokenQuotaExceeded and takes the count back, so refused requests do not use up the day's
     * allowance; in log mode the token goes ahead. Either way onQuotaExceeded is told. Returns the
     * windows' states for the RateLimit fields.
     */
    async chargeTokenQuota(tenant: Tenant, clientId: string, clientQuota: TokenQuota | null | undefined): Promise<LimitState[]> {
      const quota = clientQuota ?? settingsOf(tenant).token_quota;
      const windows = quotaWindowsOf(quota);
      if (windows.length === 0) return [];
      const at = now();
      const keys = windows.map(({ window }) => `${tenant.id}\u0000${clientId}\u0000${quotaWindowAt(at, window.seconds).index}`);
      // the limiter's points do not decide here (penalty never refuses); its window is the key's lifetime
      const limiters = windows.map(({ window }) => counters.counter(window.policy, 1, window.seconds));
      const counted = await Promise.all(limiters.map((limiter, i) => limiter.penalty(keys[i] as string)));
      const verdict = judgeQuota(
        windows,
        counted.map((c) => c.consumedPoints),
        at,
      );
      if (verdict.exceeded.length === 0) return verdict.states;
      const mode = quota.mode ?? DEFAULT_TOKEN_QUOTA_MODE;
      const over = verdict.exceeded.map((e) => e.window.setting);
      const exceededWindows = verdict.exceeded.map((e) => `${e.window.policy}@${quotaWindowAt(at, e.window.seconds).index}`);
      const excessKey = `${tenant.id}\u0000${clientId}\u0000${exceededWindows.join(',')}`;
      const first = !reportedExcess.has(excessKey);
      if (first) reportedExcess.set(excessKey, true);
      options.onQuotaExceeded?.({ tenant, clientId, mode, windows: over, first });
      if (mode === 'log') return verdict.states;
      await Promise.all(limiters.map((limiter, i) => limiter.reward(keys[i] as string)));
      const used = verdict.exceeded.map((e) => `${e.state.quota} tokens per ${e.window.unit}`).join(' and ');
      throw new TokenQuotaExceeded(
        `this client has used its quota of ${used}; cache access tokens and reuse each until shortly before it expires instead of requesting one per call`,
        verdict.retryAfterSeconds,
        verdict.states,
      );
    },
  };
}
export type RateLimits = ReturnType<typeof createRateLimits>;

/** The limits each response has reported so far (the token endpoint's are counted in two places). */
const reported = new WeakMap<ServerResponse, LimitState[]>();

/** Adds limit states to the response's RateLimit and RateLimit-Policy header fields (one item per policy). */
export function reportLimits(res: ServerResponse, states: readonly (LimitState | undefined)[]): void {
  if (res.headersSent) return;
  const all = reported.get(res) ?? [];
  for (const state of states) {
    if (!state) continue;
    const at = all.findIndex((s) => s.policy === state.policy);
    if (at >= 0) all[at] = state;
    else all.push(state);
  }
  if (all.length === 0) return;
  reported.set(res, all);
  res.setHeader('RateLimit-Policy', formatRateLimitPolicy(all));
  res.setHeader('RateLimit', formatRateLimit(all));
}
