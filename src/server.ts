/**
 * Composes the HTTP application: the process edge → tenancy (which host is this?) → the
 * authorization server or the resource API → the database. Everything arrives through one small
 * context object, so a test can build a whole app on a fresh database in one call.
 */
import Koa from 'koa';
import type { Logger } from 'pino';
import { createAdminApi } from './admin/admin-api.ts';
import type { DemoOrganisationLoader } from './admin/operator/sandbox-reset.ts';
import { createAccessTokenVerifier, createBearerAuthentication } from './http/bearer.ts';
import { createDpopNonces } from './http/dpop-nonces.ts';
import { createDpopVerifier, createFleetReplayStore, createMemoryReplayStore } from './http/dpop-proof.ts';
import { type ApiCaller, createResourceApi } from './api/resource-api.ts';
import { createAuthenticationHost } from './auth/authentication-host.ts';
import { createAssertionReplayStore } from './auth/assertion-replay.ts';
import { createAuthEventLog } from './auth/auth-events.ts';
import { createRemoteJwks, remoteJwksOptions } from './auth/client-jwks.ts';
import { createClientUsageRecorder } from './auth/client-usage.ts';
import { answerTemporarilyUnavailable } from './auth/provider.ts';
import type { KeyEncryption } from './auth/key-encryption.ts';
import { createProviderPool } from './auth/provider-pool.ts';
import { createReplayDetection } from './auth/replay-detection.ts';
import { createTenantCredentials } from './auth/tenant-credentials.ts';
import type { Config } from './config/config.ts';
import type { Database } from './db/database.ts';
import { closeConnectionIfBodyUnread } from './http/connection.ts';
import { describeHost, respondWithHostIndex } from './http/host-index.ts';
import { ApiError, problemMiddleware } from './http/problem.ts';
import { createCounterStore } from './db/counter-store.ts';
import { createUsageCounter } from './db/usage-counts.ts';
import { createRateLimits } from './http/rate-limits.ts';
import { createMetrics, type Surface } from './observability/metrics.ts';
import { createPublicUrls, resolveHostTarget } from './tenancy/hosts.ts';
import { CHANGES_CHANNEL, listenForChanges } from './tenancy/change-notifications.ts';
import { createTenantRuntime } from './tenancy/tenant-runtime.ts';
import { createTenantCache, createTenantQueries } from './tenancy/tenants.ts';
import { createTokenRevocations } from './tenancy/token-revocations.ts';

export interface AppContext {
  readonly config: Config;
  readonly db: Database;
  readonly log: Logger;
  readonly keyEncryption: KeyEncryption;
  /** milliseconds since the epoch; tests freeze it */
  readonly now?: () => number;
  /** the demo organisation, for sandbox resets with {"seed":"demo"} (passed in by the process edge) */
  readonly loadDemoOrganisation?: DemoOrganisationLoader;
}

/** Readiness: the database answers within a second, or 503 with Retry-After. */
async function checkDatabase(db: Database): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('database check timed out'), { code: 'ETIMEDOUT' })), 1000);
  });
  try {
    await Promise.race([db.admin.query('SELECT 1'), timeout]);
  } catch (error) {
    throw new ApiError('service-unavailable', `The database is not reachable: ${(error as Error).message}.`, {
      headers: { 'Retry-After': '1' },
    });
  } finally {
    clearTimeout(timer);
  }
}

/** Readiness: changes are heard. While the change listener is down, a change made through another
 * instance leaves this one's caches stale, so it leaves the load balancer until the reconnect (which
 * drops every cache). */
function checkChangeListener(state: ChangeListenerState): void {
  if (state !== 'lost') return;
  throw new ApiError(
    'service-unavailable',
    `The change listener (LISTEN ${CHANGES_CHANNEL}) is disconnected: cached tenants, clients and keys may be stale until it reconnects.`,
    { headers: { 'Retry-After': '1' } },
  );
}

/** 'idle' until startInvalidation (an app built without it, in tests, is not held back). */
type ChangeListenerState = 'idle' | 'listening' | 'lost';

export function createApp(context: AppContext) {
  const { config, db, log } = context;
  const urls = createPublicUrls(config.publicProtocol, config.publicPort);
  const tenants = createTenantCache(createTenantQueries(db), { max: config.tenantCacheSize, ttlMs: config.tenantCacheTtlMs });
  const credentials = createTenantCredentials(db, context.keyEncryption, {
    clientCacheSize: config.tenantCacheSize,
    keyCacheSize: config.tenantCacheSize,
    ttlMs: config.tenantCacheTtlMs,
  });
  const usage = createClientUsageRecorder(db, log, { flushIntervalMs: config.lastUsedFlushMs });
  // scraped only after the app is built, so the sizes may name what is declared below
  const metrics = createMetrics(
    { tenants: () => tenants.size, providers: () => providers.size },
    { shared: () => counters.state().shared },
  );
  const authEvents = createAuthEventLog(db, log, {
    flushIntervalMs: config.authEvents.flushMs,
    bufferSize: config.authEvents.bufferSize,
    onDropped: metrics.authEventsDropped,
    ...(context.now ? { now: context.now } : {}),
  });
  const recordAuthEvents = config.authEvents.enabled ? { authEvents } : {};
  const usageCounts = createUsageCounter(db, log, {
    flushIntervalMs: config.usage.flushMs,
    maxPending: config.usage.bufferSize,
    onCounted: metrics.countUsage,
    onDropped: metrics.usageDropped,
    onFlushFailed: metrics.countUsageFlushFailure,
    ...(context.now ? { now: context.now } : {}),
  });
  const counters = createCounterStore({ redis: config.redis, log, onFallback: () => metrics.countRateLimitFallback() });
  const rateLimits = createRateLimits(counters, {
    maxTenants: config.tenantCacheSize,
    onQuotaExceeded({ tenant, clientId, mode, windows, first }) {
      metrics.countQuotaExceeded(mode);
      if (first)
        log.warn({ tenant: tenant.slug, environment: tenant.environment, client_id: clientId, mode, windows }, 'token quota exceeded');
    },
  });
  const now = context.now ? { now: context.now } : {};
  const verifyAccessToken = createAccessTokenVerifier({ cacheSize: config.tokenCacheSize, ...now });
  const revocations = createTokenRevocations(db, { maxTenants: config.tenantCacheSize, ...now });
  // the same in every instance that shares the key-encryption key, different per tenant; the token
  // endpoint's nonces (oidc-provider) and the APIs' (http/dpop-nonces.ts) derive from it alike
  const dpopNonceSecret = (tenantId: string) => context.keyEncryption.deriveSecret(`dpop-nonce ${tenantId}`);
  const providers = createProviderPool({
    ...recordAuthEvents,
    credentials,
    urls,
    max: config.providerPoolSize,
    usage,
    usageCounts,
    jwksCacheSeconds: config.jwksCacheSeconds,
    rateLimits,
    log,
    accessTokens: { verifyAccessToken, revocations },
    dpop: {
      replayDetection: createReplayDetection(db, { tenants: config.tenantCacheSize }),
      nonceSecret: dpopNonceSecret,
    },
    clientAssertions: {
      replay: createAssertionReplayStore(db),
      remoteJwks: createRemoteJwks({
        ...remoteJwksOptions(config.webhooks.allowLoopback, config.tenantCacheSize),
        ...(context.now ? { now: context.now } : {}),
      }),
      maxLifetimeSeconds: config.clientAssertionMaxLifetimeSeconds,
    },
  });
  const runtime = createTenantRuntime({ tenants, credentials, providers, verifiedTokens: verifyAccessToken, rateLimits, revocations });
  // proof ids seen by this instance; with REDIS_URL, by the fleet too (this instance alone while Redis is away)
  const dpopReplayStore = () => {
    const local = createMemoryReplayStore({ max: config.dpopReplayCacheSize });
    if (!config.redis) return local;
    return createFleetReplayStore({ shared: counters, local, onUnanswered: () => metrics.countDpopReplayFallback() });
  };
  const checkSenderConstraint = createDpopVerifier({
    replayStore: dpopReplayStore(),
    keyCacheSize: config.tenantCacheSize,
    ...now,
  });
  const dpopNonces = createDpopNonces({ secretOf: dpopNonceSecret, maxTenants: config.tenantCacheSize, ...now });
  const bearer = createBearerAuthentication({ runtime, verifyAccessToken, rateLimits, revocations, checkSenderConstraint, dpopNonces });
  const serveAuthenticationHost = createAuthenticationHost({
    runtime,
    urls,
    protocol: config.publicProtocol,
    rateLimits,
    ...recordAuthEvents,
  });
  const serveResourceApi = createResourceApi({ db, bearer, urls, retention: config.retention, now: context.now ?? Date.now });
  const serveAdminApi = createAdminApi({
    config,
    db,
    bearer,
    urls,
    keyEncryption: context.keyEncryption,
    loadDemoOrganisation: context.loadDemoOrganisation,
  });

  let changeListener: ChangeListenerState = 'idle';

  // behind the proxy, ctx.ip is the address that proxy appended to X-Forwarded-For (the last one):
  // the ones before it are whatever the caller sent
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: 1 });
  app.silent = true; // errors are logged once, by the problem middleware

  app.use(function closeWhenBodyUnread(ctx, next) {
    closeConnectionIfBodyUnread(ctx.req, ctx.res);
    return next();
  });
  app.use(async function countRequest(ctx, next) {
    const started = performance.now();
    try {
      await next();
    } finally {
      // the Provider writes its own response (ctx.respond = false): its status is on the raw response
      const status = ctx.respond === false ? ctx.res.statusCode : ctx.status;
      // a resource API answer to a known client counts in its usage, with the status it got
      const caller = (ctx.state as { apiCaller?: ApiCaller }).apiCaller;
      if (caller) usageCounts.countApiCall(caller.tenantId, caller.clientId, status);
      metrics.observe((ctx.state as { surface?: Surface }).surface ?? 'other', status, (performance.now() - started) / 1000);
    }
  });
  app.use(problemMiddleware(log));
  app.use(async function serveHealth(ctx, next) {
    // on every host name (probes use the pod's address), before host routing
    if (ctx.path !== '/healthz' && ctx.path !== '/readyz') return next();
    (ctx.state as { surface?: Surface }).surface = 'health';
    ctx.set('Cache-Control', 'no-store');
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' };
      return;
    }
    await checkDatabase(db);
    checkChangeListener(changeListener);
    // Redis down is no reason to leave the load balancer: limits are then counted per instance
    ctx.body = { status: 'ready', database: db.kind, rate_limits: counters.state() };
  });
  app.use(async function logRequest(ctx, next) {
    if (!log.isLevelEnabled('debug')) return next(); // the hot path builds no log record
    const started = performance.now();
    await next();
    log.debug(
      { method: ctx.method, host: ctx.get('host'), path: ctx.path, status: ctx.status, ms: +(performance.now() - started).toFixed(2) },
      'request',
    );
  });
  app.use(async function routeByHost(ctx) {
    // Behind a trusted proxy the public host arrives in X-Forwarded-Host; otherwise it is ignored.
    const hostHeader = (config.trustProxy && ctx.get('x-forwarded-host').split(',')[0]?.trim()) || ctx.get('host');
    const target = resolveHostTarget(hostHeader, config.environments);
    if (!target) throw new ApiError('not-found', 'Nothing is served at this address.');
    const state = ctx.state as { surface?: Surface };
    if (ctx.path === '/') {
      // a tenant's index names it: one that does not exist (or is deleted) stays 404
      const tenant = target.kind === 'tenant' ? await runtime.getTenant(target.environment.name, target.slug) : undefined;
      if (target.kind === 'tenant' && !tenant) throw new ApiError('not-found', 'Nothing is served at this address.');
      respondWithHostIndex(ctx, describeHost(target, urls, tenant?.name));
      return;
    }
    if (target.kind === 'authentication') {
      // the endpoints where clients authenticate (token, revocation, introspection) count as 'token'
      state.surface = /\/connect\/[a-z]+$/.test(ctx.path) ? 'token' : ctx.path.endsWith('/jwks.json') ? 'jwks' : 'discovery';
      // OAuth endpoints answer a database outage the RFC 6749 way (temporarily_unavailable), not with a problem document
      await answerTemporarilyUnavailable(ctx, () => serveAuthenticationHost(ctx, target.environment));
    } else if (target.kind === 'admin') {
      state.surface = 'admin';
      await serveAdminApi(ctx, target.environment);
    } else {
      state.surface = 'api';
      await serveResourceApi(ctx, target.environment, target.slug);
    }
  });

  /** Drops exactly what a change in the database affects, in this instance. */
  const startInvalidation = async () => {
    const stop = await listenForChanges(db, log, {
      onChange: runtime.evict,
      onReset() {
        runtime.clear();
        changeListener = 'listening';
      },
      onLost: () => (changeListener = 'lost'),
    });
    changeListener = 'listening';
    return stop;
  };

  return {
    app,
    urls,
    runtime,
    tenants,
    credentials,
    providers,
    usage,
    usageCounts,
    authEvents,
    metrics,
    counters,
    serveAdminApi,
    startInvalidation,
  };
}
export type App = ReturnType<typeof createApp>;
