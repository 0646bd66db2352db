/**
 * Limits and quotas counted across instances in Redis (the machine's, 127.0.0.1:6379, under a
 * random key prefix per test), and what happens when Redis goes away: requests are still served,
 * counted per instance, /readyz stays 200 and names Redis, the metrics show it, and counting is
 * shared again once Redis answers. Redis is cut with a loopback TCP proxy (reset, then blackhole).
 *
 * The second instance is a second app (createApp, as boot builds it) on the same database, with
 * its own HTTP server, caches and counters: only Redis can make the two agree.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { startSecondInstance } from '../helpers/second-instance.ts';
import { eventually } from '../helpers/eventually.ts';
import { metricValue, parseLimitFields, provisionTenantWithClient, throughPort, awayFromTheHourBoundary } from '../helpers/limits.ts';
import { deleteKeysUnder, keysUnder, randomKeyPrefix, skipWithoutRedis, TEST_REDIS, TEST_REDIS_URL } from '../helpers/redis.ts';
import { accessToken, loopbackFetch, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

const skipReason = await skipWithoutRedis();

const readiness = async (server: TestServer) => {
  const response = await server.fetch(server.url('127.0.0.1', '/readyz'));
  return { status: response.status, body: (await response.json()) as { rate_limits: { store: string; shared: boolean; detail: string } } };
};

/** A request's answer and how long it took. */
async function timed<T>(request: () => Promise<T>): Promise<{ answer: T; ms: number }> {
  const started = performance.now();
  const answer = await request();
  return { answer, ms: performance.now() - started };
}

describe.skipIf(skipReason !== undefined).each(testDatabaseKinds())(
  `limits shared through Redis on %s${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  (kind) => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function serverWithRedis(url: string, extra: Record<string, string> = {}) {
      const prefix = randomKeyPrefix();
      cleanups.push(() => deleteKeysUnder(prefix));
      const server = await startTestServer(kind, { env: { REDIS_URL: url, REDIS_KEY_PREFIX: prefix, ...extra } });
      cleanups.push(() => server.close());
      return { server, prefix };
    }

    it('two instances on one database share a per-client limit, a token quota and the failed-authentication throttle', async () => {
      // a generous timeout: this test is about counting together while Redis answers, and on a
      // loaded machine a slow answer would (rightly) be counted in memory instead
      const { server: a, prefix } = await serverWithRedis(TEST_REDIS_URL, { REDIS_TIMEOUT_MS: '5000' });
      const b = await startSecondInstance(a);
      cleanups.push(() => b.close());
      await awayFromTheHourBoundary();
      const onA = await provisionTenantWithClient(a, 'fleet-limits', {
        rate_limit: { per_client: 3, auth_failures: 2, auth_failure_window: 600 },
        token_quota: { per_hour: 4 },
      });
      const onB = throughPort(onA, b.port);

      // the token quota (4 per hour) across both: A, B, A, B, then refused on either
      const tokens = [];
      const aSecond = () => new Promise((resolve) => setTimeout(resolve, 1100)); // per_client (3/s) stays out of it
      for (const credential of [onA, onB, onA, onB]) {
        if (tokens.length === 2) await aSecond();
        tokens.push(await requestToken(a, credential));
      }
      expect(tokens.map((t) => t.status)).toEqual([200, 200, 200, 200]);
      expect(parseLimitFields(tokens[3]?.headers.get('ratelimit') ?? null)['tokens-hour']).toMatchObject({ r: 0 });
      const overQuota = await requestToken(a, onA);
      expect(overQuota.status).toBe(429);
      expect(((await overQuota.json()) as { error_description: string }).error_description).toContain('cache access tokens');
      await aSecond();
      expect((await requestToken(a, onB)).status).toBe(429);

      // the per-client limit (3 per second) across both: a burst of 8 API calls, 4 on each; a burst
      // that ends within the second it started in lets exactly 3 through (6 if counted apart)
      const bearer = ((await tokens[0]?.json()) as { access_token: string }).access_token;
      const call = (base: string) => loopbackFetch(`${base}/employees?limit=1`, { headers: { authorization: `Bearer ${bearer}` } });
      let statuses: number[] | undefined;
      for (let attempt = 0; attempt < 8 && !statuses; attempt++) {
        await aSecond(); // a fresh window
        const { answer, ms } = await timed(() => Promise.all([...Array(4)].flatMap(() => [call(onA.api_base), call(onB.api_base)])));
        if (ms > 900) continue; // the burst straddled two windows (a loaded machine): try again
        statuses = answer.map((r) => r.status);
        const refused = answer.find((r) => r.status === 429);
        expect(parseLimitFields(refused?.headers.get('ratelimit') ?? null).client).toMatchObject({ r: 0 });
      }
      if (!statuses) throw new Error('no burst of 8 requests completed within 900 ms in 8 attempts: the machine is too loaded to tell');
      expect(statuses.filter((s) => s === 200)).toHaveLength(3);
      expect(statuses.filter((s) => s === 429)).toHaveLength(5);

      // the failed-authentication throttle (2 per source and client id) across both
      const wrong = { ...onA, client_secret: 'tcs_wrong' };
      expect((await requestToken(a, wrong)).status).toBe(401);
      expect((await requestToken(a, throughPort(wrong, b.port))).status).toBe(401);
      const throttled = await requestToken(a, onA);
      expect(throttled.status).toBe(429);
      expect(await throttled.json()).toEqual({
        error: 'too_many_requests',
        error_description: '2 failed authentications of this client from this address within 600 s',
      });

      // and it was Redis that counted, every time
      expect((await keysUnder(prefix)).length).toBeGreaterThan(0);
      expect(await metricValue(a, 'tenant_connect_rate_limit_fallbacks_total')).toBe(0);
      expect(await metricValue(b, 'tenant_connect_rate_limit_fallbacks_total')).toBe(0);
      expect((await readiness(a)).body.rate_limits).toMatchObject({ store: 'redis', shared: true });
    }, 120_000);

    it('without Redis a request is still served and counted per instance; /readyz stays 200 naming Redis; the metrics show it; sharing resumes when Redis answers', async () => {
      const proxy: TcpProxy = await startTcpProxy(TEST_REDIS);
      cleanups.push(() => proxy.close());
      const { server } = await serverWithRedis(`redis://127.0.0.1:${proxy.port}`, { REDIS_TIMEOUT_MS: '500' });
      const credential = await provisionTenantWithClient(server, 'redis-outage', { rate_limit: { per_client: 2 } });
      await eventually(async () => expect((await readiness(server)).body.rate_limits.shared).toBe(true), 5000);
      expect(await metricValue(server, 'tenant_connect_rate_limits_shared')).toBe(1);
      const bearer = await accessToken(server, credential);
      const api = () => server.fetch(`${credential.api_base}/employees?limit=1`, { headers: { authorization: `Bearer ${bearer}` } });
      const fallbacksBefore = await metricValue(server, 'tenant_connect_rate_limit_fallbacks_total');

      for (const cut of ['reset', 'blackhole'] as const) {
        await new Promise((resolve) => setTimeout(resolve, 1100)); // the previous round's counts have expired
        proxy.setMode(cut);
        // served without waiting on Redis: at most one command timeout (500 ms), never a hang
        const token = await timed(() => requestToken(server, credential));
        expect(token.answer.status).toBe(200);
        expect(token.answer.headers.get('ratelimit-policy')).toBe('"tenant";q=1000;w=1, "client";q=2;w=1');
        expect(token.ms).toBeLessThan(3000);
        const read = await timed(api);
        expect(read.answer.status).toBe(200);
        expect(read.ms).toBeLessThan(3000);

        // counted per instance meanwhile: the limit still holds in this instance
        await new Promise((resolve) => setTimeout(resolve, 1100));
        const burst = await Promise.all([api(), api(), api()]);
        expect(burst.map((r) => r.status)).toContain(429);

        const ready = await readiness(server);
        expect(ready.status).toBe(200);
        expect(ready.body.rate_limits).toEqual({
          store: 'redis',
          shared: false,
          detail: `Redis at redis://127.0.0.1:${proxy.port} is not answering: limits and quotas are counted per instance until it does`,
        });
        expect(await metricValue(server, 'tenant_connect_rate_limits_shared')).toBe(0);
        expect(await metricValue(server, 'tenant_connect_rate_limit_fallbacks_total')).toBeGreaterThan(fallbacksBefore);

        proxy.setMode('forward');
        // reconnects with backoff (at most 2 s between attempts)
        await eventually(async () => expect((await readiness(server)).body.rate_limits.shared).toBe(true), 10_000);
        expect(await metricValue(server, 'tenant_connect_rate_limits_shared')).toBe(1);
        expect((await requestToken(server, credential)).status).toBe(200);
      }
    }, 120_000);
  },
);
