/**
 * What a tenant's row decides: token lifetime from its settings, and what its status does to the
 * token endpoint, discovery and the API. Soft-deleted tenants do not exist for anyone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/auth/clients.ts';
import { createKeyEncryption, loadKeyEncryptionKey } from '../../src/auth/key-encryption.ts';
import { provisionTenant } from '../../src/admin/operator/provisioning.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';
import { accessToken, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';

describe.each(testDatabaseKinds())('tenant settings and status on %s', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(kind);
  });
  afterAll(async () => {
    await server?.close();
  });

  async function newTenant(slug: string, settings: Record<string, unknown> = {}) {
    const encryption = createKeyEncryption(loadKeyEncryptionKey(undefined, server.config.dataDir).key);
    const { id } = await provisionTenant(server.booted.db, encryption, {
      environment: 'sandbox',
      slug,
      name: slug,
      settings: { scopes: ['employees:read'], ...settings },
    });
    const { clientId, clientSecret } = await createClient(server.booted.db, id, { name: 'test', scopes: ['employees:read'] });
    const issuer = `http://authentication.connect-sandbox.localhost:${server.port}/tenants/${slug}`;
    const credential = {
      environment: 'sandbox',
      tenant: slug,
      client_id: clientId,
      client_secret: clientSecret,
      scope: 'employees:read',
      issuer,
      token_endpoint: `${issuer}/connect/token`,
      api_base: `http://${slug}.connect-sandbox.localhost:${server.port}/api/v1`,
    };
    return { id, credential };
  }

  const setStatus = (id: string, status: string, deleted = false) =>
    server.booted.db.owner.query(`UPDATE tenants SET status = $2, deleted_at = ${deleted ? 'now()' : 'NULL'} WHERE id = $1`, [id, status]);

  it('issues tokens with the tenant’s own lifetime', async () => {
    const { credential } = await newTenant('initech', { access_token_ttl: 600 });
    const response = await requestToken(server, credential);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { expires_in: number }).expires_in).toBe(600);
  });

  it('signs with the tenant’s algorithm when it chose another (EdDSA)', async () => {
    const { credential } = await newTenant('hooli', { signing_alg: 'EdDSA' });
    const token = await accessToken(server, credential);
    expect(JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString())).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    const response = await server.fetch(`${credential.api_base}/employees`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
  });

  it('suspended: token endpoint 400 unauthorized_client, discovery still served, API 403 even for earlier tokens', async () => {
    const { id, credential } = await newTenant('umbrella');
    const earlier = await accessToken(server, credential);
    await setStatus(id, 'SUSPENDED');
    // the change reaches the caches through its notification: within a second
    await eventually(async () => expect((await requestToken(server, credential)).status).toBe(400));
    const token = await requestToken(server, credential);
    expect(token.status).toBe(400);
    expect(await token.json()).toEqual({ error: 'unauthorized_client', error_description: 'tenant is not active' });
    expect((await server.fetch(`${credential.issuer}/.well-known/openid-configuration`)).status).toBe(200);
    const api = await server.fetch(`${credential.api_base}/employees`, { headers: { authorization: `Bearer ${earlier}` } });
    expect(api.status).toBe(403);
    expect(await api.json()).toMatchObject({ type: 'https://tenant-connect.dev/problems/tenant-suspended', status: 403 });

    await setStatus(id, 'ACTIVE');
    await eventually(async () =>
      expect((await server.fetch(`${credential.api_base}/employees`, { headers: { authorization: `Bearer ${earlier}` } })).status).toBe(
        200,
      ),
    );
  });

  it('pending: the token endpoint refuses like suspended', async () => {
    const { id, credential } = await newTenant('cyberdyne');
    await setStatus(id, 'PENDING');
    await eventually(async () => expect((await requestToken(server, credential)).status).toBe(400));
    const response = await requestToken(server, credential);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe('unauthorized_client');
  });

  it('soft-deleted: 404 everywhere, like a tenant that never existed', async () => {
    const { id, credential } = await newTenant('tyrell');
    const token = await accessToken(server, credential);
    await setStatus(id, 'SUSPENDED', true);
    await eventually(async () => expect((await server.fetch(`${credential.issuer}/.well-known/openid-configuration`)).status).toBe(404));
    const never = await server.fetch(
      `http://authentication.connect-sandbox.localhost:${server.port}/tenants/neverexisted/.well-known/openid-configuration`,
    );
    const neverBody = await never.text();
    for (const url of [`${credential.issuer}/.well-known/openid-configuration`, `${credential.issuer}/.well-known/jwks.json`]) {
      const response = await server.fetch(url);
      expect(response.status).toBe(404);
      expect(await response.text()).toBe(neverBody);
    }
    expect((await requestToken(server, credential)).status).toBe(404);
    expect((await server.fetch(`${credential.api_base}/employees`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
  });
});

describe('TRUST_PROXY', () => {
  let trusting: TestServer;
  let plain: TestServer;
  beforeAll(async () => {
    [trusting, plain] = await Promise.all([startTestServer('pglite', { env: { TRUST_PROXY: 'true' } }), startTestServer('pglite')]);
  });
  afterAll(async () => {
    await Promise.all([trusting?.close(), plain?.close()]);
  });

  const viaProxy = (server: TestServer) =>
    server.raw({
      path: '/tenants/acme/.well-known/openid-configuration',
      headers: {
        host: `10.0.0.5:${server.port}`,
        'x-forwarded-host': 'authentication.connect-sandbox.localhost',
        'x-forwarded-proto': 'https',
      },
    });

  it('honours X-Forwarded-Host when set, still answering with the configured URLs', async () => {
    const response = await viaProxy(trusting);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).issuer).toBe(trusting.credential('sandbox', 'acme').issuer);
  });

  it('ignores X-Forwarded-Host when not set', async () => {
    const response = await viaProxy(plain);
    expect(response.status).toBe(404);
  });
});
