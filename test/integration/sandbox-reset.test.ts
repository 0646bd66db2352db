/**
 * POST /v1/tenants/{slug}/sandbox-reset: every resource row of the sandbox tenant deleted in one
 * transaction (and the demo organisation loaded on request), audited, with one sandbox.reset
 * event and no tombstones; an include_deleted sync from before it answers 410. The production
 * admin API refuses it with 409, and another tenant's data is never touched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, issuedAccessToken } from '../helpers/admin.ts';
import { apiClient } from '../helpers/api-client.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const COLLECTION_TABLES = ['clockings', 'absences', 'contracts', 'employees', 'activity_definitions', 'org_units'];

describe.each(testDatabaseKinds())('sandbox reset on %s', (kind) => {
  let server: TestServer;
  let ids: Record<string, string> = {};

  const rowCounts = async (tenantId: string) =>
    Object.fromEntries(
      await Promise.all(
        COLLECTION_TABLES.map(async (table) => {
          const [row] = await server.booted.db.admin.scoped(tenantId, (tx) =>
            tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1`, [tenantId]),
          );
          return [table, row?.n ?? 0] as const;
        }),
      ),
    );
  const outbox = (tenantId: string, type: string) =>
    server.booted.db.admin.scoped(tenantId, (tx) =>
      tx.query<{ id: string; data: Record<string, unknown> }>(`SELECT id, data FROM outbox_events WHERE tenant_id = $1 AND type = $2`, [
        tenantId,
        type,
      ]),
    );

  beforeAll(async () => {
    server = await startTestServer(kind);
    const tenants = await server.booted.db.admin.query<{ id: string; environment: string; slug: string }>(
      `SELECT id, environment, slug FROM tenants WHERE slug IN ('acme', 'globex')`,
    );
    ids = Object.fromEntries(tenants.map((t) => [`${t.environment}/${t.slug}`, t.id]));
  });

  afterAll(async () => {
    await server?.close();
  });

  it('answers 409 on the production admin API and touches nothing', async () => {
    const admin = await adminClient(server, { environment: 'production' });
    const before = await rowCounts(ids['production/acme'] ?? '');
    const response = await admin.call('POST', '/tenants/acme/sandbox-reset', { seed: 'demo' });
    expect(response.status).toBe(409);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(response.body).toEqual({
      type: 'https://tenant-connect.dev/problems/conflict',
      title: 'Conflict',
      status: 409,
      detail:
        'Sandbox reset deletes data, so it runs only on the sandbox admin API; this is the production admin API, whose data it never touches.',
    });
    expect(await rowCounts(ids['production/acme'] ?? '')).toEqual(before);
  });

  it('deletes every resource row of the sandbox tenant, with one event, an audit record and no tombstones', async () => {
    const acme = ids['sandbox/acme'] ?? '';
    const api = await apiClient(server, 'sandbox', 'acme');
    const syncFrom = new Date().toISOString();
    const before = await rowCounts(acme);
    const globexBefore = await rowCounts(ids['sandbox/globex'] ?? '');
    const productionBefore = await rowCounts(ids['production/acme'] ?? '');
    expect(before.employees).toBeGreaterThan(0);

    const admin = await adminClient(server, { environment: 'sandbox' });
    const response = await admin.call<Record<string, unknown>>('POST', '/tenants/acme/sandbox-reset');
    expect(response.status).toBe(200);
    const [event] = await outbox(acme, 'sandbox.reset');
    expect(response.body).toEqual({
      tenant: 'acme',
      environment: 'sandbox',
      seed: null,
      reset_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      deleted: before,
      loaded: Object.fromEntries(COLLECTION_TABLES.map((t) => [t, 0])),
      event_id: event?.id,
    });
    expect(await rowCounts(acme)).toEqual(Object.fromEntries(COLLECTION_TABLES.map((t) => [t, 0])));
    expect(await rowCounts(ids['sandbox/globex'] ?? '')).toEqual(globexBefore);
    expect(await rowCounts(ids['production/acme'] ?? '')).toEqual(productionBefore);

    // one event for the whole reset, none per row, and no tombstones
    expect(await outbox(acme, 'employee.deleted')).toEqual([]);
    const { event_id: _, ...withoutId } = response.body;
    expect(event?.data).toEqual(withoutId);
    const tombstones = await server.booted.db.admin.scoped(acme, (tx) => tx.query(`SELECT 1 FROM tombstones WHERE tenant_id = $1`, [acme]));
    expect(tombstones).toEqual([]);

    const [audit] = await server.booted.db.admin.query<{ action: string; tenant_slug: string; environment: string; after: unknown }>(
      `SELECT action, tenant_slug, environment, after FROM audit_events WHERE action = 'tenant.sandbox_reset'`,
    );
    expect(audit).toEqual({ action: 'tenant.sandbox_reset', tenant_slug: 'acme', environment: 'sandbox', after: response.body });

    // the API is empty, and a sync from before the reset must start over
    expect((await api.request('GET', '/employees')).body).toEqual({ data: [], next: null });
    const sync = await api.request('GET', `/employees?updated_since=${encodeURIComponent(syncFrom)}&include_deleted=true`);
    expect(sync.status).toBe(410);
    expect(sync.body).toMatchObject({
      type: 'https://tenant-connect.dev/problems/resync-required',
      detail: expect.stringMatching(/^A full resync is needed: the data was reset at \d{4}-[^ ]+Z, after updated_since\./),
    });
    const after = await api.request(
      'GET',
      `/employees?updated_since=${encodeURIComponent(String(response.body.reset_at))}&include_deleted=true`,
    );
    expect(after.status).toBe(200);
  });

  it('loads the demo organisation with {"seed":"demo"}', async () => {
    const globex = ids['sandbox/globex'] ?? '';
    const before = await rowCounts(globex);
    const admin = await adminClient(server, { environment: 'sandbox' });
    const response = await admin.call<{ deleted: Record<string, number>; loaded: Record<string, number>; seed: string }>(
      'POST',
      '/tenants/globex/sandbox-reset',
      { seed: 'demo' },
    );
    expect(response.status).toBe(200);
    expect(response.body.seed).toBe('demo');
    expect(response.body.deleted).toEqual(before);
    const now = await rowCounts(globex);
    expect(response.body.loaded).toEqual(now);
    // the same organisation a first start seeds (the same generator): the same people and units
    expect({ employees: now.employees, org_units: now.org_units, activity_definitions: now.activity_definitions }).toEqual({
      employees: before.employees,
      org_units: before.org_units,
      activity_definitions: before.activity_definitions,
    });
    const api = await apiClient(server, 'sandbox', 'globex');
    const employees = await api.request<{ data: { employee_number: string }[] }>('GET', '/employees?sort=employee_number&limit=1');
    expect(employees.body.data[0]?.employee_number).toBe('G-2001');
  });

  it('refuses a body other than {"seed":"demo"} with 422, and an unknown tenant with 404', async () => {
    const admin = await adminClient(server, { environment: 'sandbox' });
    const bad = await admin.call('POST', '/tenants/acme/sandbox-reset', { seed: 'production' });
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ type: 'https://tenant-connect.dev/problems/validation-failed', status: 422 });
    const missing = await admin.call('POST', '/tenants/nobody/sandbox-reset', {});
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({
      type: 'https://tenant-connect.dev/problems/not-found',
      title: 'Not Found',
      status: 404,
      detail: 'No tenant "nobody" in this environment.',
    });
  });

  it("lets a tenant's own tenant:admin client reset its sandbox, and no other tenant's", async () => {
    const platform = await adminClient(server, { environment: 'sandbox' });
    const created = await platform.call<{ client_id: string; client_secret: string }>('POST', '/tenants/acme/clients', {
      name: 'self-service',
      scopes: ['tenant:admin'],
    });
    expect(created.status).toBe(201);
    const credential = server.credential('sandbox', 'acme');
    const token = await issuedAccessToken(credential.token_endpoint, created.body.client_id, created.body.client_secret, 'tenant:admin');
    const self = await adminClient(server, { environment: 'sandbox', token });
    expect((await self.call('POST', '/tenants/acme/sandbox-reset')).status).toBe(200);
    const other = await self.call('POST', '/tenants/globex/sandbox-reset');
    expect(other.status).toBe(404);
    expect(other.body).toEqual({
      type: 'https://tenant-connect.dev/problems/not-found',
      title: 'Not Found',
      status: 404,
      detail: 'No tenant "globex" in this environment.',
    });
  });
});
