/**
 * Isolation for every collection and verb: another tenant's id answers GET, PUT, PATCH and DELETE
 * with the 404 of an id that never existed, and used as a reference in a body, the 422 of a
 * reference to nothing. Their rows are untouched afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTIONS } from '../../src/catalog/collections.ts';
import { apiClient, type ApiClient } from '../helpers/api-client.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const NEVER = '00000000-0000-4000-8000-000000000000';

describe.each(testDatabaseKinds())('isolation of every collection on %s', (kind) => {
  let server: TestServer;
  let acme: ApiClient;
  let globex: ApiClient;
  let acmeProduction: ApiClient;
  beforeAll(async () => {
    server = await startTestServer(kind);
    [acme, globex, acmeProduction] = await Promise.all([
      apiClient(server, 'sandbox', 'acme'),
      apiClient(server, 'sandbox', 'globex'),
      apiClient(server, 'production', 'acme'),
    ]);
  });
  afterAll(async () => {
    await server?.close();
  });

  const snapshot = () =>
    server.booted.db.admin.query(
      `SELECT t.slug, t.environment, e.* FROM employees e JOIN tenants t ON t.id = e.tenant_id WHERE t.slug = 'globex' OR t.environment = 'production' ORDER BY e.id`,
    );

  it.each(COLLECTIONS.map((c) => c.path))('%s: another tenant’s id answers every verb like an id that never existed', async (path) => {
    for (const other of [globex, acmeProduction]) {
      const theirs = await other.first(`/${path}`);
      // PUT and PATCH send the resource's own fields, a body that is valid wherever the id exists
      const fields = Object.fromEntries(Object.entries(theirs).filter(([k]) => !['id', 'created_at', 'updated_at', 'version'].includes(k)));
      for (const method of ['GET', 'PUT', 'PATCH', 'DELETE'] as const) {
        const headers: Record<string, string> = method === 'GET' ? {} : { 'if-match': `"${theirs.version}"` };
        const payload = method === 'PUT' || method === 'PATCH' ? fields : undefined;
        const onTheirs = await acme.request(method, `/${path}/${theirs.id}`, { headers, ...(payload ? { body: payload } : {}) });
        const onNever = await acme.request(method, `/${path}/${NEVER}`, { headers, ...(payload ? { body: payload } : {}) });
        expect(onTheirs.status, `${method} ${path} of ${other.credential.environment}/${other.credential.tenant}`).toBe(onNever.status);
        expect(onTheirs.body).toEqual(onNever.body);
        expect(onTheirs.status).toBe(404);
      }
    }
  });

  it.each(
    COLLECTIONS.flatMap((c) =>
      Object.entries(c.fields)
        .filter(([, f]) => f.references)
        .map(([name, f]) => [c.path, name, f.references] as const),
    ),
  )('%s.%s: another tenant’s %s as a reference is refused like one that never existed', async (path, field, target) => {
    const targetPath = COLLECTIONS.find((c) => c.name === target)?.path as string;
    const template = await acme.first(`/${path}`);
    const body = Object.fromEntries(
      Object.entries(template).filter(([k]) => !['id', 'created_at', 'updated_at', 'version', 'code', 'employee_number'].includes(k)),
    );
    if ('code' in template) body.code = `ISO-${Date.now()}-${field}`;
    if ('employee_number' in template) body.employee_number = `ISO-${Date.now()}`;
    const theirs = (await globex.first(`/${targetPath}`)).id;
    const withTheirs = await acme.request('POST', `/${path}`, { body: { ...body, [field]: theirs } });
    const withNever = await acme.request('POST', `/${path}`, { body: { ...body, [field]: NEVER } });
    expect(withTheirs.status).toBe(422);
    expect(withTheirs.body).toEqual(withNever.body);
    const patched = await acme.request('PATCH', `/${path}/${template.id}`, { body: { [field]: theirs }, headers: { 'if-match': '*' } });
    expect(patched.status).toBe(422);
  });

  it('leaves other tenants’ and the other environment’s rows untouched', async () => {
    const before = await snapshot();
    const theirs = await globex.first('/employees');
    await acme.request('DELETE', `/employees/${theirs.id}`, { headers: { 'if-match': '*' } });
    await acme.request('PATCH', `/employees/${theirs.id}`, { body: { last_name: 'Changed' }, headers: { 'if-match': '*' } });
    expect(await snapshot()).toEqual(before);
  });
});
