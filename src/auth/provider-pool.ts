/**
 * Providers are built on demand from the database and kept in a bounded LRU pool, one per
 * (environment, tenant). Concurrent first requests for one tenant share one build.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { EnvironmentConfig } from '../config/config.ts';
import type { RateLimits } from '../http/rate-limits.ts';
import type { Change } from '../tenancy/change-notifications.ts';
import type { PublicUrls } from '../tenancy/hosts.ts';
import type { Tenant } from '../tenancy/tenants.ts';
import type { AssertionReplayStore } from './assertion-replay.ts';
import type { AuthEventLog } from './auth-events.ts';
import { createClientAssertionChecks } from './client-assertions.ts';
import type { RemoteJwks } from './client-jwks.ts';
import type { ClientUsageRecorder } from './client-usage.ts';
import type { AccessTokenState } from './access-token-endpoints.ts';
import type { ReplayDetection } from './replay-detection.ts';
import type { UsageCounter } from '../db/usage-counts.ts';
import { createTenantProvider, type SharedPrototypes, importSigningKey, type TenantProviderInput } from './provider.ts';
import type { TenantCredentials, TenantKeys } from './tenant-credentials.ts';

export interface PooledProvider {
  /** the tenant it was built for (its settings object: the newest seen with the same content) */
  tenant: Tenant;
  readonly settingsKey: string;
  readonly handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

export class TenantNotProvisionedError extends Error {
  override name = 'TenantNotProvisionedError';
}

export function createProviderPool(deps: {
  credentials: TenantCredentials;
  urls: PublicUrls;
  max: number;
  usage?: ClientUsageRecorder;
  authEvents?: AuthEventLog;
  /** tokens issued per tenant and client, for the usage counts */
  usageCounts?: Pick<UsageCounter, 'countToken'>;
  jwksCacheSeconds: number;
  rateLimits?: RateLimits;
  log?: Logger;
  /** for revocation and introspection of access tokens */
  accessTokens?: AccessTokenState;
  /** DPoP at the token endpoint: the shared replay detection, and each tenant's nonce secret */
  dpop: { replayDetection: ReplayDetection; nonceSecret: (tenantId: string) => Buffer };
  /** private_key_jwt: the jti records, the fetched jwks_uri sets, the longest assertion life */
  clientAssertions: { replay: AssertionReplayStore; remoteJwks: RemoteJwks; maxLifetimeSeconds: number };
}) {
  const pool = new LRUCache<string, PooledProvider>({ max: deps.max });
  const building = new Map<string, Promise<PooledProvider>>();
  // Bumped by every eviction: a build that started before a change (e.g. with the key that was
  // just retired) still answers its waiting requests but is not pooled.
  let generation = 0;
  // imported signing keys by key record (a rotation brings a new record), as many as Providers
  const sharedPrototypes: SharedPrototypes = {};
  const signingKeys = new LRUCache<TenantKeys['signingKey'], ReturnType<typeof importSigningKey>>({ max: deps.max });

  /** Each token request's outcome to the auth event log, and each token issued to a tenant's client to its usage. */
  function tokenOutcomeRecorder(tenant: Tenant): Pick<TenantProviderInput, 'onTokenOutcome'> {
    const { authEvents } = deps;
    // the platform issuer's admin tokens are not a tenant's usage
    const usageCounts = tenant.kind === 'platform' ? undefined : deps.usageCounts;
    if (!authEvents && !usageCounts) return {};
    return {
      onTokenOutcome(event) {
        authEvents?.record(event);
        if (usageCounts && event.outcome === 'issued' && event.clientId !== undefined) usageCounts.countToken(tenant.id, event.clientId);
      },
    };
  }

  async function build(environment: EnvironmentConfig, tenant: Tenant): Promise<PooledProvider> {
    const keys = await deps.credentials.getKeys(tenant.id);
    if (!keys) throw new TenantNotProvisionedError(`tenant ${tenant.environment}/${tenant.slug} has no current signing key`);
    const platform = tenant.kind === 'platform';
    let signingKey = signingKeys.get(keys.signingKey);
    if (!signingKey) signingKeys.set(keys.signingKey, (signingKey = importSigningKey(keys.signingKey)));
    const issuer = platform ? deps.urls.platformIssuer(environment) : deps.urls.issuer(environment, tenant.slug);
    const { replay, remoteJwks, maxLifetimeSeconds } = deps.clientAssertions;
    const provider = createTenantProvider({
      tenant,
      issuer,
      audience: platform ? deps.urls.adminOrigin(environment) : deps.urls.tenantOrigin(environment, tenant.slug),
      ...(platform ? {} : { adminAudience: deps.urls.adminOrigin(environment) }),
      keys,
      signingKey,
      findClient: (clientId) => deps.credentials.getClient(tenant.id, clientId),
      wasClientDisabled: (clientId) => deps.credentials.wasDisabled(tenant.id, clientId),
      ...tokenOutcomeRecorder(tenant),
      ...(deps.usage
        ? { onClientAuthenticated: (clientId: string, hash: string | undefined) => deps.usage?.record(tenant.id, clientId, hash) }
        : {}),
      clientAssertions: createClientAssertionChecks({
        issuer,
        maxLifetimeSeconds,
        recordOnce: (clientId, jtiHash, expiresIn) => replay.recordOnce(tenant.id, clientId, jtiHash, expiresIn),
        remoteKeys: (clientId, uri, kid) => remoteJwks.keysFor(tenant.id, clientId, uri, kid),
      }),
      findPublicKeys: async () => (await deps.credentials.getKeys(tenant.id))?.publicKeys ?? keys.publicKeys,
      jwksCacheSeconds: deps.jwksCacheSeconds,
      sharedPrototypes,
      rateLimits: deps.rateLimits,
      log: deps.log,
      ...(deps.accessTokens ? { accessTokens: deps.accessTokens } : {}),
      dpop: { replayDetection: deps.dpop.replayDetection, nonceSecret: deps.dpop.nonceSecret(tenant.id) },
    });
    const callback = provider.callback();
    return { tenant, settingsKey: JSON.stringify(tenant.settings), handle: (req, res) => callback(req, res) as unknown as Promise<void> };
  }

  function evict(tenantId: string): void {
    generation += 1;
    building.delete(tenantId);
    pool.delete(tenantId);
  }

  return {
    async getProvider(environment: EnvironmentConfig, tenant: Tenant): Promise<PooledProvider> {
      const key = tenant.id;
      const pooled = pool.get(key);
      // a tenant whose settings changed since the build gets a fresh Provider
      if (pooled && pooled.tenant.settings === tenant.settings) return pooled;
      if (pooled && pooled.settingsKey === JSON.stringify(tenant.settings)) {
        // the same settings re-read from the database: compare by identity from now on
        pooled.tenant = tenant;
        return pooled;
      }
      const started = generation;
      let pending = building.get(key);
      if (!pending) {
        const created = build(environment, tenant).finally(() => {
          if (building.get(key) === created) building.delete(key);
        });
        pending = created;
        building.set(key, pending);
      }
      const built = await pending;
      if (started === generation) pool.set(key, built);
      return built;
    },
    evict,
    /** A Provider is built from the tenant's settings and keys: a change of either rebuilds it (a
     * client's change does not: the Provider reads clients through the credentials, and a jwks_uri's
     * fetched set through remoteJwks, which drops it). */
    onChange(change: Change): void {
      if (change.kind === 'tenant' || change.kind === 'keys') evict(change.tenant);
      // a client's new keys (set-keys) are fetched again by the next request
      deps.clientAssertions.remoteJwks.onChange(change);
    },
    clear(): void {
      deps.clientAssertions.remoteJwks.clear();
      generation += 1;
      building.clear();
      pool.clear();
      signingKeys.clear();
    },
    get size(): number {
      return pool.size;
    },
  };
}
export type ProviderPool = ReturnType<typeof createProviderPool>;
