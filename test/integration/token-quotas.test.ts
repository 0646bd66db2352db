/**
 * Token quotas (tenant setting token_quota, a client's own override) and the RateLimit /
 * RateLimit-Policy fields on the token endpoint's and the resource API's answers, counted in the
 * instance's memory (no REDIS_URL; shared-limits.test.ts runs the same machinery on Redis).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { awayFromTheHourBoundary, metricValue, parseLimitFields, provisionTenantWithClient, secondsToTheHour } from '../helpers/limits.ts';
import { eventually } from '../helpers/eventually.ts';
import { accessToken, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';

const CACHE_ADVICE = 'cache access tokens and reuse each until shortly before it expires instead of requesting one per call';

describe.each(testDatabaseKinds())('token quotas and RateLimit fields on %s', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(kind);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('enforce: past the hourly quota a client gets 429, Retry-After to the end of the hour and a description that says to cache tokens', async () => {
    await awayFromTheHourBoundary();
    const credential = await provisionTenantWithClient(server, 'quota-enforce', { token_quota: { per_hour: 2 } });
    const refusedBefore = await metricValue(server, 'tenant_connect_token_quota_exceeded_total{mode="enforce"}');
    const issued = [await requestToken(server, credential), await requestToken(server, credential)];
    expect(issued.map((r) => r.status)).toEqual([200, 200]);
    expect(parseLimitFields(issued[1]?.headers.get('ratelimit') ?? null)['tokens-hour']).toMatchObject({ r: 0 });

    const refused = await requestToken(server, credential);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({
      error: 'too_many_requests',
      error_description: `this client has used its quota of 2 tokens per hour; ${CACHE_ADVICE}`,
    });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(Math.abs(retryAfter - secondsToTheHour())).toBeLessThanOrEqual(2);
    expect(refused.headers.get('ratelimit-policy')).toContain('"tokens-hour";q=2;w=3600');
    expect(parseLimitFields(refused.headers.get('ratelimit'))['tokens-hour']).toEqual({ r: 0, t: retryAfter });
    // a refusal takes its count back: still refused, still counted as one more refusal each
    expect((await requestToken(server, credential)).status).toBe(429);
    expect(await metricValue(server, 'tenant_connect_token_quota_exceeded_total{mode="enforce"}')).toBe(refusedBefore + 2);
  });

  it('counts per client: another client of the tenant keeps its own quota', async () => {
    await awayFromTheHourBoundary();
    const first = await provisionTenantWithClient(server, 'quota-perclient', { token_quota: { per_hour: 1 } });
    const admin = await adminClient(server, { environment: 'sandbox' });
    const created = await admin.call<{ client_id: string; client_secret: string }>('POST', '/tenants/quota-perclient/clients', {
      name: 'second',
      scopes: ['employees:read'],
    });
    expect(created.status).toBe(201);
    const second = { ...first, client_id: created.body.client_id, client_secret: created.body.client_secret };
    expect((await requestToken(server, first)).status).toBe(200);
    expect((await requestToken(server, first)).status).toBe(429);
    expect((await requestToken(server, second)).status).toBe(200);
  });

  it("log: a client's own quota in log mode replaces the tenant's; past it the token is issued and the excess counted", async () => {
    await awayFromTheHourBoundary();
    const tenantClient = await provisionTenantWithClient(server, 'quota-log', { token_quota: { per_hour: 1 } });
    const admin = await adminClient(server, { environment: 'sandbox' });
    const created = await admin.call<{ client_id: string; client_secret: string; token_quota: unknown }>(
      'POST',
      '/tenants/quota-log/clients',
      {
        name: 'logged',
        scopes: ['employees:read'],
        token_quota: { per_hour: 2, mode: 'log' },
      },
    );
    expect(created.status).toBe(201);
    expect(created.body.token_quota).toEqual({ per_hour: 2, mode: 'log' });
    const credential = { ...tenantClient, client_id: created.body.client_id, client_secret: created.body.client_secret };

    const loggedBefore = await metricValue(server, 'tenant_connect_token_quota_exceeded_total{mode="log"}');
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await requestToken(server, credential));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(parseLimitFields(answers[3]?.headers.get('ratelimit') ?? null)['tokens-hour']).toMatchObject({ r: 0 });
    expect(await metricValue(server, 'tenant_connect_token_quota_exceeded_total{mode="log"}')).toBe(loggedBefore + 2);

    // null: back to the tenant's quota (1 per hour, enforced), used up by the 4 tokens of this hour
    const reset = await admin.call('PATCH', `/tenants/quota-log/clients/${credential.client_id}`, { token_quota: null });
    expect(reset.status).toBe(200);
    expect(reset.body.token_quota).toBeNull();
    // the change reaches the cached client record through its notification
    await eventually(async () => expect((await requestToken(server, credential)).status).toBe(429));
  });

  it('refuses a malformed token_quota on a client and in the tenant settings, naming each member', async () => {
    await provisionTenantWithClient(server, 'quota-bad');
    const admin = await adminClient(server, { environment: 'sandbox' });
    const client = await admin.call('POST', '/tenants/quota-bad/clients', {
      name: 'x',
      scopes: ['employees:read'],
      token_quota: { per_hour: 0, mode: 'strict', per_minute: 5 },
    });
    expect(client.status).toBe(422);
    expect((client.body.errors as { pointer: string }[]).map((e) => e.pointer).sort()).toEqual([
      '/token_quota/mode',
      '/token_quota/per_hour',
      '/token_quota/per_minute',
    ]);
    const tenant = await admin.call('PATCH', '/tenants/quota-bad', { settings: { token_quota: { per_day: -1 } } });
    expect(tenant.status).toBe(422);
    expect((tenant.body.errors as { pointer: string }[]).map((e) => e.pointer)).toContain('/settings/token_quota/per_day');
  });

  it('reports the tenant and client limits in RateLimit-Policy and RateLimit on the token endpoint and the API', async () => {
    const credential = await provisionTenantWithClient(server, 'ratelimit-fields');
    const token = await requestToken(server, credential);
    expect(token.status).toBe(200);
    expect(token.headers.get('ratelimit-policy')).toBe('"tenant";q=1000;w=1, "client";q=100;w=1');
    const tokenLimits = parseLimitFields(token.headers.get('ratelimit'));
    expect(Object.keys(tokenLimits)).toEqual(['tenant', 'client']);
    expect(tokenLimits.tenant?.r).toBe(999);
    expect(tokenLimits.client?.r).toBe(99);
    for (const limit of Object.values(tokenLimits)) expect([0, 1]).toContain(limit.t);

    const bearer = ((await token.json()) as { access_token: string }).access_token;
    const api = await server.fetch(`${credential.api_base}/employees`, { headers: { authorization: `Bearer ${bearer}` } });
    expect(api.status).toBe(200);
    expect(api.headers.get('ratelimit-policy')).toBe('"tenant";q=1000;w=1, "client";q=100;w=1');
    // the API is counted apart from the token endpoint: its first call leaves 999 and 99
    expect(parseLimitFields(api.headers.get('ratelimit'))).toMatchObject({ tenant: { r: 999 }, client: { r: 99 } });
  });

  it('reports the exhausted limit on a 429 of the API, with Retry-After', async () => {
    const credential = await provisionTenantWithClient(server, 'ratelimit-api', { rate_limit: { per_client: 1 } });
    const bearer = await accessToken(server, credential);
    const answers = await Promise.all(
      [1, 2, 3].map(() => server.fetch(`${credential.api_base}/employees`, { headers: { authorization: `Bearer ${bearer}` } })),
    );
    const refused = answers.find((a) => a.status === 429);
    expect(refused).toBeDefined();
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect(refused?.headers.get('ratelimit-policy')).toContain('"client";q=1;w=1');
    expect(parseLimitFields(refused?.headers.get('ratelimit') ?? null).client).toMatchObject({ r: 0 });
  });
});
