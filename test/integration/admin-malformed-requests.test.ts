/**
 * Bad input to the admin API gets a clear 4xx problem — never a 500, never a half-written row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdminClient, adminClient } from '../helpers/admin.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe('malformed admin API requests', () => {
  let server: TestServer;
  let admin: AdminClient;
  beforeAll(async () => {
    server = await startTestServer('pglite');
    admin = await adminClient(server);
    expect((await admin.call('POST', '/tenants', { slug: 'shapeco', name: 'Shape Co' })).status).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
  });

  const raw = (method: string, path: string, body: string, contentType = 'application/json') =>
    server.fetch(`${admin.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${admin.token}`, 'content-type': contentType },
      body,
    });

  it.each([
    ['POST', '/tenants', '{"slug":', 'application/json', 400, 'invalid-body'],
    ['POST', '/tenants', 'slug=x', 'application/x-www-form-urlencoded', 415, 'unsupported-media-type'],
    ['POST', '/tenants', '[]', 'application/json', 422, 'validation-failed'],
    ['POST', '/tenants', '{"slug":"UPPER","name":"x"}', 'application/json', 422, 'validation-failed'],
    ['POST', '/tenants', `{"slug":"${'a'.repeat(64)}","name":"x"}`, 'application/json', 422, 'validation-failed'],
    ['POST', '/tenants', '{"slug":"okslug","name":""}', 'application/json', 422, 'validation-failed'],
    ['POST', '/tenants', '{"slug":"okslug","name":"x","status":"DELETED"}', 'application/json', 422, 'validation-failed'],
    [
      'POST',
      '/tenants',
      '{"slug":"okslug","name":"x","settings":{"rate_limit":{"per_client":0}}}',
      'application/json',
      422,
      'validation-failed',
    ],
    [
      'POST',
      '/tenants',
      '{"slug":"okslug","name":"x","settings":{"webhooks":{"secret":"x"}}}',
      'application/json',
      422,
      'validation-failed',
    ],
    ['PATCH', '/tenants/shapeco', '{"slug":"renamed"}', 'application/json', 422, 'validation-failed'],
    ['PATCH', '/tenants/shapeco', '{"settings":{"scopes":"employees:read"}}', 'application/json', 422, 'validation-failed'],
    [
      'POST',
      '/tenants/shapeco/clients',
      '{"name":"x","scopes":["employees:read"],"access_token_ttl":59}',
      'application/json',
      422,
      'validation-failed',
    ],
    [
      'POST',
      '/tenants/shapeco/clients',
      '{"name":"x","scopes":["employees:read"],"client_id":"has space"}',
      'application/json',
      422,
      'validation-failed',
    ],
    [
      'POST',
      '/tenants/shapeco/clients',
      '{"name":"x","scopes":["employees:read"],"token_endpoint_auth_method":"none"}',
      'application/json',
      422,
      'validation-failed',
    ],
    ['POST', '/tenants/shapeco/clients/nobody/rotate-secret', '{"expires_in":-1}', 'application/json', 422, 'validation-failed'],
    ['POST', '/tenants/shapeco/clients/nobody/rotate-secret', '{}', 'application/json', 404, 'not-found'],
    ['PUT', '/tenants/shapeco', '{}', 'application/json', 405, 'method-not-allowed'],
    ['POST', '/nothing-here', '{}', 'application/json', 404, 'not-found'],
  ])('%s %s %s → %i %s', async (method, path, body, contentType, status, code) => {
    const response = await raw(method, path, body, contentType);
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await response.json()).toMatchObject({ type: `https://tenant-connect.dev/problems/${code}`, status });
  });

  it.each([
    ['/tenants?limit=0', 400],
    ['/tenants?limit=abc', 400],
    ['/tenants?status=GONE', 400],
    ['/tenants?cursor=not-a-cursor', 400],
    ['/tenants?include_deleted=maybe', 400],
    ['/audit-events?since=yesterday', 400],
    ['/audit-events?action=DROP TABLE', 400],
    ['/audit-events?cursor=eyJzIjoic2x1ZyJ9', 400],
    ['/tenants/shapeco/clients?x=1', 400],
  ])('GET %s → %i', async (path, status) => {
    const response = await admin.call('GET', path);
    expect(response.status).toBe(status);
    expect(response.body).toMatchObject({ status });
  });

  it('wrote no tenant for any refused request', async () => {
    const tenants = await admin.call<{ data: { slug: string }[] }>('GET', '/tenants?limit=200');
    expect(tenants.body.data.map((t) => t.slug)).toEqual(['acme', 'globex', 'shapeco']);
    const clients = await admin.call<{ data: unknown[] }>('GET', '/tenants/shapeco/clients');
    expect(clients.body.data).toHaveLength(0);
  });
});
