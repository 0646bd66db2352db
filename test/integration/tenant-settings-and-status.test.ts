/**
 * What a tenant's row decides: token lifetime from its settings, and what its status does to the
 * token endpoint, discovery and the API. Soft-deleted tenants do not exist for anyone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/auth/clients.ts';
import { createKeyEncryption, loadKeyEncryptionKey } from '../../src/auth/key-encryption.ts';
import { provisionTenant } from '../../src/admin/operator/provisioning.ts';
import { adminClient } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';
import { accessToken, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';

interface Credential {
  readonly token_endpoint: string;
  readonly client_id: string;
  readonly client_secret: string;
}

/** One token request from a loopback source address of our choosing, as a standard client sends it. */
async function tokenFrom(
  server: TestServer,
  source: string,
  credential: Credential,
  options: { secret?: string; post?: boolean; forwardedFor?: string } = {},
) {
  const secret = options.secret ?? credential.client_secret;
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  const headers: Record<string, string> = {
    host: new URL(credential.token_endpoint).host,
    'content-type': 'application/x-www-form-urlencoded',
    ...(options.forwardedFor ? { 'x-forwarded-for': options.forwardedFor } : {}),
  };
  if (options.post) {
    body.set('client_id', credential.client_id);
    body.set('client_secret', secret);
  } else headers.authorization = `Basic ${Buffer.from(`${credential.client_id}:${secret}`).toString('base64')}`;
  const response = await server.raw({
    method: 'POST',
    path: new URL(credential.token_endpoint).pathname,
    headers,
    setHost: false,
    localAddress: source,
    body: body.toString(),
  });
  return {
    status: response.status,
    retryAfter: response.headers['retry-after'],
    body: JSON.parse(response.body) as Record<string, unknown>,
  };
}

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
    server.booted.db.admin.query(`UPDATE tenants SET status = $2, deleted_at = ${deleted ? 'now()' : 'NULL'} WHERE id = $1`, [id, status]);

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

  describe('token endpoint limits', () => {
    it('gives a source 429 for a client id after 10 failed authentications, never locking out that client elsewhere', async () => {
      const { id, credential } = await newTenant('bruteforced');
      const other = await createClient(server.booted.db, id, { name: 'other', scopes: ['employees:read'] });
      const attacker = '127.0.0.2';
      for (let i = 0; i < 10; i += 1) {
        const failed = await tokenFrom(server, attacker, credential, { secret: `tcs_guess${i}`, post: i % 2 === 1 });
        expect(failed).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
      }
      // the attacker's source is refused for this client id, even with the right secret
      const refused = await tokenFrom(server, attacker, credential);
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({
        error: 'too_many_requests',
        error_description: '10 failed authentications of this client from this address within 60 s',
      });
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
      // the real client, from any other address
      expect((await tokenFrom(server, '127.0.0.1', credential)).status).toBe(200);
      expect((await tokenFrom(server, '127.0.0.3', credential)).status).toBe(200);
      // the same source is not refused for another client id
      const otherCredential = { ...credential, client_id: other.clientId, client_secret: other.clientSecret };
      expect((await tokenFrom(server, attacker, otherCredential)).status).toBe(200);
    });

    it('takes the failure throttle from the tenant settings, and lifts it when its window ends', async () => {
      const { credential } = await newTenant('throttled', { rate_limit: { auth_failures: 2, auth_failure_window: 1 } });
      const source = '127.0.0.4';
      expect((await tokenFrom(server, source, credential, { secret: 'tcs_wrong' })).status).toBe(401);
      expect((await tokenFrom(server, source, credential, { secret: 'tcs_wrong' })).status).toBe(401);
      const refused = await tokenFrom(server, source, credential);
      expect(refused).toMatchObject({ status: 429, retryAfter: '1' });
      // the window started at the first failure, before the polling: it ends within a second of it
      const waited = await eventually(async () => expect((await tokenFrom(server, source, credential)).status).toBe(200), 3000);
      expect(waited).toBeLessThan(2000);
    });

    it('charges per_client only once the client has authenticated, with client_secret_post too', async () => {
      const { id, credential: basic } = await newTenant('perclient', { rate_limit: { per_client: 2 } });
      const created = await createClient(server.booted.db, id, {
        name: 'post',
        scopes: ['employees:read'],
        authMethod: 'client_secret_post',
      });
      const post = { ...basic, client_id: created.clientId, client_secret: created.clientSecret };
      // wrong secrets with the client's id (a client id is not a secret) charge nothing of its limit
      for (const secret of ['tcs_a', 'tcs_b', 'tcs_c']) {
        expect((await tokenFrom(server, '127.0.0.5', post, { secret, post: true })).status).toBe(401);
      }
      const answers = await Promise.all([1, 2, 3].map(() => tokenFrom(server, '127.0.0.1', post, { post: true })));
      expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 429]);
      const limited = answers.find((a) => a.status === 429);
      expect(limited?.retryAfter).toBe('1');
      expect(limited?.body).toEqual({
        error: 'too_many_requests',
        error_description: 'more than 2 token requests per second for this client',
      });
    });

    it('refuses failure-throttle settings out of range, naming each', async () => {
      const admin = await adminClient(server);
      const bad = await admin.call('POST', '/tenants', {
        slug: 'badlimits',
        name: 'x',
        settings: { rate_limit: { auth_failures: 0, auth_failure_window: 3601, failures: 3 } },
      });
      expect(bad.status).toBe(422);
      const pointers = (bad.body.errors as { pointer: string }[]).map((e) => e.pointer).sort();
      expect(pointers).toEqual([
        '/settings/rate_limit/auth_failure_window',
        '/settings/rate_limit/auth_failures',
        '/settings/rate_limit/failures',
      ]);
      const good = await admin.call('POST', '/tenants', { slug: 'goodlimits', name: 'x' });
      expect(good.body.settings).toMatchObject({
        rate_limit: { per_client: 100, per_tenant: 1000, auth_failures: 10, auth_failure_window: 60 },
      });
    });
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

  it('throttles failed authentications per address the proxy saw (the last X-Forwarded-For entry) when set', async () => {
    const credential = trusting.credential('sandbox', 'acme');
    // what a proxy that appends sends: whatever the caller claimed, then the caller's address
    for (let i = 0; i < 10; i += 1) {
      const failed = await tokenFrom(trusting, '127.0.0.1', credential, { secret: 'tcs_wrong', forwardedFor: `10.9.9.${i}, 203.0.113.7` });
      expect(failed.status).toBe(401);
    }
    const refused = await tokenFrom(trusting, '127.0.0.1', credential, { forwardedFor: '10.9.9.99, 203.0.113.7' });
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    // the real client behind the same proxy, from its own address
    expect((await tokenFrom(trusting, '127.0.0.1', credential, { forwardedFor: '198.51.100.9' })).status).toBe(200);
  });

  it('throttles by the connection’s address when not set, whatever X-Forwarded-For claims', async () => {
    const credential = plain.credential('sandbox', 'acme');
    for (let i = 0; i < 10; i += 1) {
      const failed = await tokenFrom(plain, '127.0.0.6', credential, { secret: 'tcs_wrong', forwardedFor: `198.51.100.${i}` });
      expect(failed.status).toBe(401);
    }
    expect((await tokenFrom(plain, '127.0.0.6', credential, { forwardedFor: '198.51.100.200' })).status).toBe(429);
    expect((await tokenFrom(plain, '127.0.0.1', credential, { forwardedFor: '127.0.0.6' })).status).toBe(200);
  });
});
