/**
 * Prometheus metrics (prom-client) in a registry of this app's own, so tests can build many apps
 * in one process. Counted per request: surface (token, discovery, jwks, api, admin, health, other)
 * and status; cache and pool sizes are read when scraped. Served on their own port
 * (METRICS_PORT), never on the public hosts.
 */
import http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type Surface = 'token' | 'discovery' | 'jwks' | 'api' | 'admin' | 'health' | 'other';

/** What the metrics read of the rate limits' counting when scraped. */
export interface RateLimitGauges {
  /** counted across the fleet (Redis answers) right now */
  readonly shared: () => boolean;
}

export function createMetrics(sizes: Record<string, () => number>, rateLimits?: RateLimitGauges) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tenant_connect_' });
  const requests = new Counter({
    name: 'tenant_connect_http_requests_total',
    help: 'HTTP requests by surface and status code',
    labelNames: ['surface', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'tenant_connect_http_request_duration_seconds',
    help: 'HTTP request duration by surface',
    labelNames: ['surface'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const cached = new Gauge({
    name: 'tenant_connect_cache_entries',
    help: 'entries in the in-memory caches and the Provider pool',
    labelNames: ['cache'] as const,
    registers: [registry],
    collect() {
      for (const [cache, size] of Object.entries(sizes)) this.set({ cache }, size());
    },
  });
  void cached;
  const authEventsDropped = new Counter({
    name: 'tenant_connect_auth_events_dropped_total',
    help: 'auth events not recorded: the buffer was full, or the database refused the batch',
    labelNames: ['cause'] as const,
    registers: [registry],
  });
  const retentionDeleted = new Counter({
    name: 'tenant_connect_retention_deleted_rows_total',
    help: 'rows the retention job deleted, by table',
    labelNames: ['table'] as const,
    registers: [registry],
  });
  const rateLimitsShared = new Gauge({
    name: 'tenant_connect_rate_limits_shared',
    help: '1 while rate limits and token quotas are counted across the fleet (Redis answers); 0 while each instance counts alone',
    registers: [registry],
    collect() {
      this.set(rateLimits?.shared() ? 1 : 0);
    },
  });
  void rateLimitsShared;
  const rateLimitFallbacks = new Counter({
    name: 'tenant_connect_rate_limit_fallbacks_total',
    help: 'limit and quota decisions counted in this instance alone because Redis did not answer',
    registers: [registry],
  });
  const dpopReplayFallbacks = new Counter({
    name: 'tenant_connect_dpop_replay_fallbacks_total',
    help: 'DPoP proof ids checked in this instance alone because Redis did not answer (a replay to another instance goes unseen)',
    registers: [registry],
  });
  const quotaExceeded = new Counter({
    name: 'tenant_connect_token_quota_exceeded_total',
    help: "token requests over their client's quota, by mode: enforce (refused with 429) or log (issued)",
    labelNames: ['mode'] as const,
    registers: [registry],
  });
  // usage totals without a tenant or client label, so their cardinality stays bounded: the admin
  // API's GET /v1/usage has the per-tenant detail
  const tokensIssued = new Counter({
    name: 'tenant_connect_tokens_issued_total',
    help: 'access tokens issued (client_credentials), all tenants',
    registers: [registry],
  });
  const apiCalls = new Counter({
    name: 'tenant_connect_api_calls_total',
    help: "resource API requests made with a valid client's token, by status class, all tenants",
    labelNames: ['class'] as const,
    registers: [registry],
  });
  const webhookDeliveries = new Counter({
    name: 'tenant_connect_webhook_deliveries_total',
    help: 'webhook delivery attempts sent by this process, all tenants',
    registers: [registry],
  });
  const usageDropped = new Counter({
    name: 'tenant_connect_usage_dropped_total',
    help: 'usage counts not recorded: the pending entries were at USAGE_BUFFER_SIZE (e.g. a long database outage)',
    registers: [registry],
  });
  const usageFlushFailures = new Counter({
    name: 'tenant_connect_usage_flush_failures_total',
    help: 'usage flushes the database refused; their counts are kept for the next flush',
    registers: [registry],
  });

  return {
    registry,
    countUsage(count: 'token' | 'api_call' | 'webhook_delivery', status?: number): void {
      if (count === 'token') tokensIssued.inc();
      else if (count === 'webhook_delivery') webhookDeliveries.inc();
      else apiCalls.inc({ class: `${Math.floor((status ?? 0) / 100)}xx` });
    },
    usageDropped(entries: number): void {
      usageDropped.inc(entries);
    },
    countUsageFlushFailure(): void {
      usageFlushFailures.inc();
    },
    observe(surface: Surface, status: number, seconds: number): void {
      requests.inc({ surface, status: String(status) });
      duration.observe({ surface }, seconds);
    },
    authEventsDropped(count: number, cause: 'buffer_full' | 'write_failed'): void {
      authEventsDropped.inc({ cause }, count);
    },
    retentionDeleted(table: string, rows: number): void {
      retentionDeleted.inc({ table }, rows);
    },
    countRateLimitFallback(): void {
      rateLimitFallbacks.inc();
    },
    countDpopReplayFallback(): void {
      dpopReplayFallbacks.inc();
    },
    countQuotaExceeded(mode: 'enforce' | 'log'): void {
      quotaExceeded.inc({ mode });
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;

/** GET /metrics on its own listener, in the Prometheus text format. */
export function createMetricsServer(metrics: Metrics): http.Server {
  return http.createServer(serveMetrics(metrics));
}

/** The metrics listener's requests, for a server bound before the metrics exist (src/main.ts). */
export function serveMetrics(metrics: Metrics): http.RequestListener {
  return (req, res) => {
    if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
    );
  };
}
