/** Health, readiness and metrics: what operators and their probes and scrapers see. */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsServer } from '../../src/observability/metrics.ts';
import { accessToken, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';

describe('health and metrics', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('pglite');
  });
  afterAll(async () => {
    await server?.close();
  });

  it.each(['10.1.2.3:3000', 'acme.connect.localhost', 'authentication.connect.localhost', 'unknown.example.com'])(
    'answers /healthz and /readyz on any host name (%s), for probes',
    async (host) => {
      const live = await server.raw({ path: '/healthz', headers: { host } });
      expect(live.status).toBe(200);
      expect(JSON.parse(live.body)).toEqual({ status: 'ok' });
      expect(live.headers['cache-control']).toBe('no-store');
      const ready = await server.raw({ path: '/readyz', headers: { host } });
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.body)).toEqual({
        status: 'ready',
        database: 'pglite',
        rate_limits: { store: 'memory', shared: false, detail: 'REDIS_URL is not set: limits and quotas are counted per instance' },
      });
    },
  );

  it('counts requests by surface and status, and reports cache sizes, in the Prometheus format', async () => {
    const credential = server.credential('sandbox', 'acme');
    const token = await accessToken(server, credential);
    await server.fetch(`${credential.api_base}/employees?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    await requestToken(server, { ...credential, client_secret: 'wrong' });
    const text = await server.booted.app.metrics.registry.metrics();
    expect(text).toMatch(/^tenant_connect_http_requests_total\{surface="token",status="200"\} [1-9]\d*$/m);
    expect(text).toMatch(/^tenant_connect_http_requests_total\{surface="token",status="401"\} [1-9]\d*$/m);
    expect(text).toMatch(/^tenant_connect_http_requests_total\{surface="api",status="200"\} [1-9]\d*$/m);
    expect(text).toMatch(/^tenant_connect_http_request_duration_seconds_bucket\{le="0\.1",surface="token"\} [1-9]\d*$/m);
    expect(text).toMatch(/^tenant_connect_cache_entries\{cache="providers"\} [1-9]\d*$/m);
    expect(text).toMatch(/^tenant_connect_process_resident_memory_bytes \d+/m);
    // without REDIS_URL each instance counts alone (shared-limits.test.ts: with Redis, and without it)
    expect(text).toMatch(/^tenant_connect_rate_limits_shared 0$/m);
    expect(text).toMatch(/^tenant_connect_rate_limit_fallbacks_total 0$/m);
  });

  it('serves the metrics on their own listener only, at /metrics', async () => {
    const listener = createMetricsServer(server.booted.app.metrics);
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
      const scraped = await fetch(`${base}/metrics`);
      expect(scraped.status).toBe(200);
      expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await scraped.text()).toContain('tenant_connect_http_requests_total');
      expect((await fetch(`${base}/`)).status).toBe(404);
      const publicHost = await server.raw({ path: '/metrics', headers: { host: 'authentication.connect.localhost' } });
      expect(publicHost.status).toBe(404);
    } finally {
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    }
  });
});

describe('readiness without a database', () => {
  it('answers 503 with Retry-After while liveness stays 200', async () => {
    const server = await startTestServer('pglite');
    await server.booted.db.close();
    try {
      const ready = await server.raw({ path: '/readyz', headers: { host: 'authentication.connect.localhost' } });
      expect(ready.status).toBe(503);
      expect(ready.headers['retry-after']).toBe('1');
      expect(JSON.parse(ready.body)).toMatchObject({ type: 'https://tenant-connect.dev/problems/service-unavailable', status: 503 });
      expect((await server.raw({ path: '/healthz', headers: { host: 'x' } })).status).toBe(200);
    } finally {
      await server.close().catch(() => {});
    }
  });
});
