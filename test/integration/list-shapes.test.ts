/**
 * A collection's list statement is compiled once per shape (sort, direction, which filters, after a
 * cursor or not) and kept; a request only binds its values. So each request of a shape reads with
 * its own tenant, filter values, cursor and limit, never those of the request that compiled it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCollectionQueries, type ListRequest } from '../../src/api/collections/collection-queries.ts';
import { collectionByName } from '../../src/catalog/collections.ts';
import type { Database } from '../../src/db/database.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const byLastName = { field: 'last_name', descending: false };

describe.each(testDatabaseKinds())('list shapes on %s', (kind) => {
  let server: TestServer;
  let db: Database;
  let acme: string;
  let globex: string;
  const employees = createCollectionQueries(collectionByName('employees'));

  /** The tenant's employee ids in (last_name, id) order, read without the list statement. */
  const idsInOrder = (tenantId: string, where = 'TRUE') =>
    db
      .scoped(tenantId, (tx) => tx.query<{ id: string }>(`SELECT id FROM employees WHERE ${where} ORDER BY last_name, id`))
      .then((rows) => rows.map((r) => r.id));
  const list = (tenantId: string, request: Partial<ListRequest>) =>
    employees.list(db.reader(tenantId), { filters: [], sort: byLastName, after: null, limit: 5, ...request });

  beforeAll(async () => {
    server = await startTestServer(kind);
    db = server.booted.db;
    const ids = await db.admin.query<{ id: string; slug: string }>(`SELECT id, slug FROM tenants WHERE environment = 'sandbox'`);
    acme = ids.find((t) => t.slug === 'acme')?.id ?? '';
    globex = ids.find((t) => t.slug === 'globex')?.id ?? '';
  });
  afterAll(async () => {
    await server?.close();
  });

  it('reads each tenant’s own rows with the shape another tenant compiled', async () => {
    const first = await list(acme, {});
    const second = await list(globex, {});
    expect(first.resources.map((r) => r.id)).toEqual((await idsInOrder(acme)).slice(0, 5));
    expect(second.resources.map((r) => r.id)).toEqual((await idsInOrder(globex)).slice(0, 5));
    expect(second.resources.every((r) => String(r.employee_number).startsWith('G-'))).toBe(true);
  });

  it('binds each request’s own filter value and limit', async () => {
    const units = await db.scoped(acme, (tx) =>
      tx.query<{ org_unit_id: string }>(
        'SELECT org_unit_id FROM employees WHERE org_unit_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 2',
      ),
    );
    expect(units).toHaveLength(2);
    const filter = collectionByName('employees').filters.find((f) => f.name === 'org_unit_id');
    for (const [index, { org_unit_id: unit }] of units.entries()) {
      const page = await list(acme, { filters: [{ condition: filter?.condition ?? '', value: unit }], limit: index + 1 });
      const expected = await idsInOrder(acme, `org_unit_id = '${unit}'`);
      expect(page.resources.map((r) => r.id)).toEqual(expected.slice(0, index + 1));
    }
  });

  it('continues after each request’s own cursor', async () => {
    const order = await idsInOrder(acme);
    const page = await list(acme, { limit: 6 });
    for (const position of [0, 3]) {
      const after = { key: page.sortKeys[position] ?? '', id: page.resources[position]?.id ?? '' };
      const next = await list(acme, { after, limit: 2 });
      expect(next.resources.map((r) => r.id)).toEqual(order.slice(position + 1, position + 3));
    }
  });
});
