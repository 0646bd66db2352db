/** POST /api/v1/clockings/batch: all or nothing, up to 1,000 items, per-item errors. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, type ApiClient } from '../helpers/api-client.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe.each(testDatabaseKinds())('clocking batches on %s', (kind) => {
  let server: TestServer;
  let acme: ApiClient;
  let employees: string[];

  beforeAll(async () => {
    server = await startTestServer(kind);
    acme = await apiClient(server, 'sandbox', 'acme');
    const list = await acme.request<{ data: { id: string }[] }>('GET', '/employees?limit=200');
    employees = list.body.data.map((e) => e.id);
  });
  afterAll(async () => {
    await server?.close();
  });

  const count = async () => (await server.booted.db.admin.query<{ n: number }>('SELECT count(*)::int AS n FROM clockings'))[0]?.n ?? 0;
  const item = (i: number) => ({
    employee_id: employees[i % employees.length],
    timestamp: new Date(Date.UTC(2026, 10, 1, 6, 0, i)).toISOString().replace('Z', '+00:00'),
    direction: i % 2 ? 'out' : 'in',
    source_device: 'importer',
  });

  it('creates 1,000 clockings in one request and answers their ids in item order', async () => {
    const before = await count();
    const items = Array.from({ length: 1000 }, (_, i) => item(i));
    const response = await acme.request<{ ids: string[] }>('POST', '/clockings/batch', { body: { items } });
    expect(response.status).toBe(201);
    expect(response.body.ids).toHaveLength(1000);
    expect(await count()).toBe(before + 1000);
    const sample = await acme.request<{ timestamp: string; employee_id: string }>('GET', `/clockings/${response.body.ids[999]}`);
    expect(sample.body).toMatchObject({ employee_id: items[999]?.employee_id, timestamp: '2026-11-01T06:16:39Z' });
  });

  it('writes nothing and names every failing item when some are invalid', async () => {
    const before = await count();
    const items = Array.from({ length: 10 }, (_, i) => item(i));
    items[3] = { ...item(3), direction: 'sideways' };
    items[7] = { ...item(7), employee_id: '00000000-0000-4000-8000-000000000000' };
    const response = await acme.request('POST', '/clockings/batch', { body: { items } });
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({ failed_items: [3], errors: [{ pointer: '/items/3/direction' }] });
    items[3] = item(3);
    const references = await acme.request('POST', '/clockings/batch', { body: { items } });
    expect(references.status).toBe(422);
    expect(references.body).toEqual({
      type: 'https://tenant-connect.dev/problems/validation-failed',
      title: 'Validation Failed',
      status: 422,
      detail: '1 of 10 clockings are invalid; nothing was written.',
      failed_items: [7],
      errors: [{ pointer: '/items/7/employee_id', detail: 'employee_id does not refer to an existing employee' }],
    });
    expect(await count()).toBe(before);
  });

  it('refuses another tenant’s employee exactly like one that never existed', async () => {
    const globex = await apiClient(server, 'sandbox', 'globex');
    const theirs = (await globex.first('/employees')).id;
    const withTheirs = await acme.request('POST', '/clockings/batch', { body: { items: [{ ...item(0), employee_id: theirs }] } });
    const withNobody = await acme.request('POST', '/clockings/batch', {
      body: { items: [{ ...item(0), employee_id: '00000000-0000-4000-8000-000000000000' }] },
    });
    expect(withTheirs.status).toBe(422);
    expect(withTheirs.body).toEqual(withNobody.body);
  });

  it('refuses an empty batch and more than 1,000 items', async () => {
    expect((await acme.request('POST', '/clockings/batch', { body: { items: [] } })).status).toBe(422);
    const tooMany = await acme.request('POST', '/clockings/batch', { body: { items: Array.from({ length: 1001 }, (_, i) => item(i)) } });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body).toMatchObject({ errors: [{ pointer: '/items', detail: 'must NOT have more than 1000 items' }] });
  });

  it('replays a retried batch with the same Idempotency-Key instead of writing it twice', async () => {
    const before = await count();
    const body = { items: [item(1), item(2)] };
    const first = await acme.request<{ ids: string[] }>('POST', '/clockings/batch', {
      body,
      headers: { 'idempotency-key': 'batch-retry-1' },
    });
    const retry = await acme.request<{ ids: string[] }>('POST', '/clockings/batch', {
      body,
      headers: { 'idempotency-key': 'batch-retry-1' },
    });
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.body.ids).toEqual(first.body.ids);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await count()).toBe(before + 2);
  });

  it('lets concurrent retries of one key write once', async () => {
    const before = await count();
    const body = { items: [item(5)] };
    const responses = await Promise.all(
      Array.from({ length: 4 }, () =>
        acme.request<{ ids: string[] }>('POST', '/clockings/batch', { body, headers: { 'idempotency-key': 'batch-race' } }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    expect(new Set(responses.map((r) => r.body.ids[0])).size).toBe(1);
    expect(await count()).toBe(before + 1);
  });
});
