/**
 * Usage per tenant, client and day, fed by real token requests, API calls and webhook deliveries
 * over HTTP: nothing reaches the database until a flush, then GET /v1/usage shows each count once;
 * two instances on one database add up; a flush the database refuses keeps its counts and writes
 * them when it answers again; a tenant admin reads its own tenant only; bad dates answer 400.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientHealth, Page, UsageRow } from '../../src/admin/admin-contract.ts';
import { createClient } from '../../src/auth/clients.ts';
import { TENANT_ADMIN_SCOPE } from '../../src/catalog/scopes.ts';
import { adminClient, type AdminClient, issuedAccessToken } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { awayFromTheHourBoundary, provisionTenantWithClient, type TenantCredential, throughPort } from '../helpers/limits.ts';
import { startSecondInstance } from '../helpers/second-instance.ts';
import { accessToken, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

const DAY_MS = 86_400_000;
const dateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

describe.each(testDatabaseKinds())('usage per tenant on %s', (kind) => {
  let server: TestServer;
  let admin: AdminClient;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    // flushed only when a test says so
    server = await startTestServer(kind, { env: { USAGE_FLUSH_MS: '600000', WEBHOOK_WORKER: 'false', WEBHOOK_ALLOW_LOOPBACK: 'true' } });
    admin = await adminClient(server, { environment: 'sandbox' });
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await server?.close();
  });

  /** yesterday and today (UTC), so a test that crosses midnight still sees all its counts */
  const recent = () => ({ from: dateOf(Date.now() - DAY_MS), to: dateOf(Date.now()) });
  const usage = (query: Record<string, string>, as: AdminClient = admin) =>
    as.call<Page<UsageRow>>('GET', `/usage?${new URLSearchParams(query)}`);
  /** a tenant's counts per client over the recent days, after a flush */
  const totals = async (slug: string, flush: () => Promise<void> = () => server.booted.app.usageCounts.flush()) => {
    await flush();
    const listed = await usage({ tenant: slug, ...recent() });
    expect(listed.status).toBe(200);
    const byClient: Record<string, { tokens: number; api_calls: number; webhook_deliveries: number }> = {};
    for (const row of listed.body.data) {
      expect(row.tenant).toBe(slug);
      const sum = (byClient[row.client_id ?? 'none'] ??= { tokens: 0, api_calls: 0, webhook_deliveries: 0 });
      sum.tokens += row.tokens;
      sum.api_calls += row.api_calls;
      sum.webhook_deliveries += row.webhook_deliveries;
    }
    return byClient;
  };
  const get = (credential: TenantCredential, token: string, path: string) =>
    server.fetch(`${credential.api_base}${path}`, { headers: { authorization: `Bearer ${token}` } });

  it('counts tokens, API calls and webhook deliveries made over HTTP, and shows them once flushed', async () => {
    const reader = await provisionTenantWithClient(server, 'usage-counted', { scopes: ['employees:read', 'employees:write'] });
    const writer = await createClient(server.booted.db, reader.tenantId, { name: 'writer', scopes: ['employees:write'] });
    const hook = await admin.call('POST', '/tenants/usage-counted/webhooks', { url: receiver.url, event_types: ['employee.*'] });
    expect(hook.status).toBe(201);

    for (let i = 0; i < 3; i += 1) expect((await requestToken(server, reader)).status).toBe(200);
    const token = await accessToken(server, reader);
    expect((await get(reader, token, '/employees')).status).toBe(200);
    expect((await get(reader, token, '/employees')).status).toBe(200);
    expect((await get(reader, token, '/employees/00000000-0000-7000-8000-000000000000')).status).toBe(404);
    // a token that proves no client is nobody's usage
    expect((await get(reader, 'not-a-token', '/employees')).status).toBe(401);
    const writerToken = await issuedAccessToken(reader.token_endpoint, writer.clientId, writer.clientSecret);
    const created = await server.fetch(`${reader.api_base}/employees`, {
      method: 'POST',
      headers: { authorization: `Bearer ${writerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ employee_number: 'U-1', first_name: 'Use', last_name: 'Age' }),
    });
    expect(created.status).toBe(201);
    for (let n = await server.booted.webhooks.runOnce(); n > 0; n = await server.booted.webhooks.runOnce());
    expect(receiver.received).toHaveLength(1);

    // counted in memory only, until a flush
    expect((await usage({ tenant: 'usage-counted' })).body.data).toEqual([]);
    expect(await totals('usage-counted')).toEqual({
      [reader.client_id]: { tokens: 4, api_calls: 3, webhook_deliveries: 0 },
      [writer.clientId]: { tokens: 1, api_calls: 1, webhook_deliveries: 0 },
      none: { tokens: 0, api_calls: 0, webhook_deliveries: 1 },
    });
    // a second flush with nothing new adds nothing
    expect(await totals('usage-counted')).toMatchObject({ [reader.client_id]: { tokens: 4, api_calls: 3 } });

    // Prometheus has the totals, without a tenant or client label
    const metrics = await server.booted.app.metrics.registry.metrics();
    expect(metrics).toMatch(/^tenant_connect_tokens_issued_total \d+$/m);
    expect(metrics).toMatch(/^tenant_connect_api_calls_total\{class="4xx"\} \d+$/m);
    expect(metrics).toMatch(/^tenant_connect_webhook_deliveries_total [1-9]\d*$/m);
  });

  it('adds up the counts of two instances on one database', async () => {
    const credential = await provisionTenantWithClient(server, 'usage-fleet');
    const second = await startSecondInstance(server);
    try {
      for (let i = 0; i < 2; i += 1) expect((await requestToken(server, credential)).status).toBe(200);
      for (let i = 0; i < 3; i += 1) expect((await requestToken(server, throughPort(credential, second.port))).status).toBe(200);
      // both flush into the same rows
      expect(
        await totals('usage-fleet', async () => {
          await Promise.all([server.booted.app.usageCounts.flush(), second.booted.app.usageCounts.flush()]);
        }),
      ).toEqual({ [credential.client_id]: { tokens: 5, api_calls: 0, webhook_deliveries: 0 } });
    } finally {
      await second.close();
    }
  });

  it('keeps the counts of a flush the database refuses, and writes them once when it answers again', async () => {
    const credential = await provisionTenantWithClient(server, 'usage-outage');
    const counter = server.booted.app.usageCounts;
    await counter.flush();
    const failures = async () =>
      Number(/^tenant_connect_usage_flush_failures_total (\d+)$/m.exec(await server.booted.app.metrics.registry.metrics())?.[1]);
    const failedBefore = await failures();
    // the table goes away: the flush's one statement fails as a whole
    await server.booted.db.admin.query('ALTER TABLE usage_daily RENAME TO usage_daily_away');
    try {
      for (let i = 0; i < 2; i += 1) expect((await requestToken(server, credential)).status).toBe(200);
      await counter.flush();
      expect(await failures()).toBe(failedBefore + 1);
      expect(counter.pending).toBeGreaterThan(0);
      // counting goes on while the database refuses
      expect((await requestToken(server, credential)).status).toBe(200);
      await counter.flush();
      expect(await failures()).toBe(failedBefore + 2);
      expect(await server.booted.db.admin.query('SELECT 1 FROM usage_hourly WHERE client_id = $1', [credential.client_id])).toEqual([]);
    } finally {
      await server.booted.db.admin.query('ALTER TABLE usage_daily_away RENAME TO usage_daily');
    }
    expect(await totals('usage-outage')).toEqual({ [credential.client_id]: { tokens: 3, api_calls: 0, webhook_deliveries: 0 } });
    expect(counter.pending).toBe(0);
  });

  it('answers a malformed date, a reversed range and too wide a range with 400 problem+json naming the parameter', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ from: '2026-13-01' }, '/query/from'],
      [{ to: '29-11-2026' }, '/query/to'],
      [{ from: '2026-02-30' }, '/query/from'],
      [{ from: '2026-11-29', to: '2026-11-28' }, '/query/from'],
      [{ from: '2025-01-01', to: '2026-01-02' }, '/query/from'],
    ];
    for (const [query, pointer] of cases) {
      const response = await usage(query);
      expect(response.status, JSON.stringify(query)).toBe(400);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      const body = response.body as unknown as { type: string; errors: { pointer: string }[] };
      expect(body.type).toBe('https://tenant-connect.dev/problems/invalid-query');
      expect(body.errors[0]?.pointer, JSON.stringify(query)).toBe(pointer);
    }
    // 366 days, both ends included, is the widest range
    expect((await usage({ from: '2025-01-01', to: '2026-01-01' })).status).toBe(200);
  });

  it("shows a tenant admin its own tenant's usage only, and answers another tenant like one that does not exist", async () => {
    const credential = await provisionTenantWithClient(server, 'usage-own', { scopes: ['employees:read', TENANT_ADMIN_SCOPE] });
    expect((await requestToken(server, credential)).status).toBe(200);
    const own = await createClient(server.booted.db, credential.tenantId, { name: 'own admin', scopes: [TENANT_ADMIN_SCOPE] });
    const token = await issuedAccessToken(credential.token_endpoint, own.clientId, own.clientSecret, TENANT_ADMIN_SCOPE);
    const asOwn = await adminClient(server, { environment: 'sandbox', token });
    await server.booted.app.usageCounts.flush();

    const mine = await usage(recent(), asOwn);
    expect(mine.status).toBe(200);
    expect(new Set(mine.body.data.map((r) => r.tenant))).toEqual(new Set(['usage-own']));
    expect(mine.body.data.map((r) => r.client_id).sort()).toEqual([credential.client_id, own.clientId].sort());
    expect((await usage({ tenant: 'usage-own', ...recent() }, asOwn)).body).toEqual(mine.body);

    const other = await usage({ tenant: 'usage-counted' }, asOwn);
    const missing = await usage({ tenant: 'no-such-tenant' });
    expect(other.status).toBe(404);
    expect(other.body).toEqual({ ...(missing.body as object), detail: 'No tenant "usage-counted" in this environment.' });
  });

  it("answers in a client's health its last API call, its API calls, 4xx and 429 of the last 24 hours, and its quota use", async () => {
    await awayFromTheHourBoundary();
    // one request per second per client: a burst of API calls meets 429s
    const credential = await provisionTenantWithClient(server, 'usage-health', {
      token_quota: { per_hour: 10, per_day: 100, mode: 'log' },
      rate_limit: { per_client: 1 },
    });
    const token = await accessToken(server, credential);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const statuses: number[] = [];
    for (const path of ['/employees', '/employees', '/employees/00000000-0000-7000-8000-000000000000', '/employees'])
      statuses.push((await get(credential, token, path)).status);
    expect(statuses[0]).toBe(200);
    expect(statuses).toContain(429);
    const health = async (clientId: string) => {
      await Promise.all([server.booted.app.usageCounts.flush(), server.booted.app.authEvents.flush()]);
      const answer = await admin.call<ClientHealth>('GET', `/tenants/usage-health/clients/${clientId}/health`);
      expect(answer.status).toBe(200);
      return answer.body;
    };
    const watched = await health(credential.client_id);
    expect(watched.last_24h).toMatchObject({
      tokens_issued: 1,
      api_calls: 4,
      api_4xx: statuses.filter((s) => s >= 400 && s < 500).length,
      api_429: statuses.filter((s) => s === 429).length,
    });
    expect(Date.now() - Date.parse(watched.last_api_call ?? '')).toBeLessThan(60_000);
    expect(watched.quota).toEqual({ source: 'tenant', per_hour: 10, per_day: 100, mode: 'log', used: { this_hour: 1, today: 1 } });

    // a client's own quota replaces the tenant's; a client that never called has no last call
    const own = await createClient(server.booted.db, credential.tenantId, {
      name: 'own quota',
      scopes: ['employees:read'],
      tokenQuota: { per_hour: 5 },
    });
    expect((await requestToken(server, { ...credential, client_id: own.clientId, client_secret: own.clientSecret })).status).toBe(200);
    expect(await health(own.clientId)).toMatchObject({
      last_api_call: null,
      last_24h: { tokens_issued: 1, api_calls: 0, api_4xx: 0, api_429: 0 },
      quota: { source: 'client', per_hour: 5, per_day: null, mode: 'enforce', used: { this_hour: 1, today: 1 } },
    });
    // without a quota: null
    const unlimited = await provisionTenantWithClient(server, 'usage-unlimited');
    const answer = await admin.call<ClientHealth>('GET', `/tenants/usage-unlimited/clients/${unlimited.client_id}/health`);
    expect(answer.body).toMatchObject({ quota: null, last_api_call: null, last_24h: { api_calls: 0 } });
  });

  it('lists every tenant of the environment for a platform admin, paged by day, tenant and client', async () => {
    const all: UsageRow[] = [];
    let page = await usage({ ...recent(), limit: '2' });
    for (let pages = 0; pages < 50; pages += 1) {
      expect(page.status).toBe(200);
      all.push(...page.body.data);
      if (!page.body.next) break;
      page = await admin.call<Page<UsageRow>>('GET', page.body.next);
    }
    expect(page.body.next).toBeNull();
    expect(new Set(all.map((r) => r.tenant))).toEqual(
      new Set(['usage-counted', 'usage-fleet', 'usage-outage', 'usage-own', 'usage-health']),
    );
    const keys = all.map((r) => `${r.date} ${r.tenant} ${r.client_id}`);
    expect(new Set(keys).size).toBe(keys.length);
    // the production admin host sees none of the sandbox's tenants
    const production = await adminClient(server, { environment: 'production' });
    expect((await usage(recent(), production)).body.data.every((r) => !r.tenant.startsWith('usage-'))).toBe(true);
  });
});
