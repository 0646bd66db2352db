/**
 * DPoP proof ids shared by two instances through Redis (the machine's, under a random key prefix
 * per test): a proof accepted by one instance is refused, replayed, by the other with RFC 9449's
 * challenge. With Redis cut (a loopback TCP proxy: reset, then blackhole) requests are still served
 * without waiting, a replay to the same instance is still refused, and the metrics count the
 * proofs checked by one instance alone.
 *
 * The second instance is a second app (createApp, as boot builds it) on the same database and the
 * same configuration (so the same public URLs: a proof's htu is for both), on its own port.
 */
import { Redis } from 'ioredis';
import * as oauth from 'oauth4webapi';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../../src/auth/clients.ts';
import { DPOP_SIGNING_ALGORITHMS } from '../../src/catalog/dpop-algorithms.ts';
import { PROBLEM_TYPE_BASE } from '../../src/http/problem.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { startSecondInstance } from '../helpers/second-instance.ts';
import { eventually } from '../helpers/eventually.ts';
import { metricValue, provisionTenantWithClient, throughPort } from '../helpers/limits.ts';
import { deleteKeysUnder, keysUnder, randomKeyPrefix, skipWithoutRedis, TEST_REDIS, TEST_REDIS_URL } from '../helpers/redis.ts';
import { loopbackFetch, startTestServer } from '../helpers/server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

const skipReason = await skipWithoutRedis();
const insecure = { [oauth.customFetch]: loopbackFetch, [oauth.allowInsecureRequests]: true } as const;
const REPLAYED = 'This DPoP proof was used already; send a new proof with every request.';

/** RFC 9449 §7.1's challenge and the APIs' invalid-token problem, exactly. */
async function expectReplayRefused(response: Response, realm: string): Promise<void> {
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toBe(
    `DPoP realm="${realm}", error="invalid_dpop_proof", error_description="${REPLAYED}", algs="${DPOP_SIGNING_ALGORITHMS.join(' ')}"`,
  );
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  expect(await response.json()).toEqual({
    type: `${PROBLEM_TYPE_BASE}invalid-token`,
    title: 'Unauthorized',
    status: 401,
    detail: REPLAYED,
  });
}

describe.skipIf(skipReason !== undefined).each(testDatabaseKinds())(
  `DPoP proof ids shared through Redis on %s${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  (kind) => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    /** Two instances on one database with `redisUrl`, a tenant, a bound token, and a way to send (and record) calls. */
    async function twoInstances(redisUrl: string, timeoutMs: string) {
      const prefix = randomKeyPrefix();
      cleanups.push(() => deleteKeysUnder(prefix));
      const a = await startTestServer(kind, { env: { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix, REDIS_TIMEOUT_MS: timeoutMs } });
      cleanups.push(() => a.close());
      const b = await startSecondInstance(a);
      cleanups.push(() => b.close());
      const onA = await provisionTenantWithClient(a, `dpop-fleet-${kind}`);
      const onB = throughPort(onA, b.port);
      const created = await createClient(a.booted.db, onA.tenantId, {
        name: 'bound',
        scopes: ['employees:read'],
        dpopBoundAccessTokens: true,
      });
      const client: oauth.Client = { client_id: created.clientId };
      const issuer = new URL(onA.issuer);
      const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
      const handle = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
      const granted = await oauth.clientCredentialsGrantRequest(
        as,
        client,
        oauth.ClientSecretBasic(created.clientSecret),
        { scope: 'employees:read' },
        {
          ...insecure,
          DPoP: handle,
        },
      );
      const { access_token: token } = await oauth.processClientCredentialsResponse(as, client, granted);
      const realm = new URL(onA.api_base).origin;
      /** a call through oauth4webapi with a new proof (its htu is the public URL) to `to`'s port; the answer and the headers it sent */
      const call = async (to: typeof onA) => {
        let sent = new Headers();
        const url = new URL(`${onA.api_base}/employees?limit=1`);
        const response = await oauth.protectedResourceRequest(token, 'GET', url, undefined, undefined, {
          [oauth.customFetch]: ((_: string, init?: RequestInit) => {
            sent = new Headers(init?.headers);
            return loopbackFetch(`${to.api_base}/employees?limit=1`, init);
          }) as typeof fetch,
          [oauth.allowInsecureRequests]: true,
          DPoP: handle,
        });
        return { response, authorization: sent.get('authorization') ?? '', dpop: sent.get('dpop') ?? '' };
      };
      /** the same headers again, to `to`'s port */
      const replay = (to: typeof onA, sent: { authorization: string; dpop: string }) =>
        loopbackFetch(`${to.api_base}/employees?limit=1`, { headers: { authorization: sent.authorization, dpop: sent.dpop } });
      return { a, b, onA, onB, prefix, realm, call, replay };
    }

    it('refuses on the second instance, with the exact RFC 9449 challenge, a proof the first accepted', async () => {
      // a generous timeout: this test is about sharing while Redis answers
      const { a, b, onA, onB, prefix, realm, call, replay } = await twoInstances(TEST_REDIS_URL, '5000');
      const first = await call(onA);
      expect(first.response.status).toBe(200);
      await expectReplayRefused(await replay(onB, first), realm);
      await expectReplayRefused(await replay(onA, first), realm);
      // and the other way round
      const second = await call(onB);
      expect(second.response.status).toBe(200);
      await expectReplayRefused(await replay(onA, second), realm);

      // one key per proof in Redis under the prefix, namespaced by tenant, expiring with the proof's window (60 s + 5 s)
      const keys = (await keysUnder(prefix)).filter((key) => key.startsWith(`${prefix}dpop-proof:${onA.tenantId}.`));
      expect(keys).toHaveLength(2);
      const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        for (const key of keys) expect(await redis.pttl(key)).toBeGreaterThan(0);
        for (const key of keys) expect(await redis.pttl(key)).toBeLessThanOrEqual(65_000);
      } finally {
        redis.disconnect();
      }
      expect(await metricValue(a, 'tenant_connect_dpop_replay_fallbacks_total')).toBe(0);
      expect(await metricValue(b, 'tenant_connect_dpop_replay_fallbacks_total')).toBe(0);
    }, 60_000);

    it('with Redis cut, still serves at once and refuses a replay to the same instance; the metrics count it', async () => {
      const proxy = await startTcpProxy(TEST_REDIS);
      cleanups.push(() => proxy.close());
      const { a, b, onA, onB, realm, call, replay } = await twoInstances(`redis://127.0.0.1:${proxy.port}`, '500');
      const bothShared = () =>
        eventually(async () => {
          expect(await metricValue(a, 'tenant_connect_rate_limits_shared')).toBe(1);
          expect(await metricValue(b, 'tenant_connect_rate_limits_shared')).toBe(1);
        }, 10_000);
      await bothShared();
      for (const cut of ['reset', 'blackhole'] as const) {
        proxy.setMode(cut);
        const before = await metricValue(a, 'tenant_connect_dpop_replay_fallbacks_total');
        const started = performance.now();
        const first = await call(onA);
        expect(first.response.status).toBe(200);
        // at most a command timeout (500 ms) per Redis call on the way, never a hang
        expect(performance.now() - started).toBeLessThan(3000);
        await expectReplayRefused(await replay(onA, first), realm);
        // per instance only, as documented: B never saw it and Redis cannot tell it
        expect((await replay(onB, first)).status).toBe(200);
        expect(await metricValue(a, 'tenant_connect_dpop_replay_fallbacks_total')).toBeGreaterThan(before);

        proxy.setMode('forward');
        await bothShared();
        // shared again: A's proof is refused by B
        const again = await call(onA);
        expect(again.response.status).toBe(200);
        await expectReplayRefused(await replay(onB, again), realm);
      }
    }, 120_000);
  },
);
