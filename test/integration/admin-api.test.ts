/**
 * The admin API over real HTTP: the platform issuer and its bootstrap client, tenant lifecycle
 * and its exact effects on the token endpoint, discovery and the resource API, clients and their
 * secrets, tenant self-service, the audit log and sandbox sync.
 */
import fs from 'node:fs';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminCredentialsPath } from '../../src/admin/operator/bootstrap.ts';
import { type AdminClient, adminClient, requestClientCredentials, platformCredential } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe.each(testDatabaseKinds())('admin API on %s', (kind) => {
  let server: TestServer;
  let admin: AdminClient;
  const issuer = (slug: string, env = 'connect') => `http://authentication.${env}.localhost:${server.port}/tenants/${slug}`;
  const apiBase = (slug: string, env = 'connect') => `http://${slug}.${env}.localhost:${server.port}/api/v1`;

  beforeAll(async () => {
    server = await startTestServer(kind);
    admin = await adminClient(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  async function createTenant(slug: string, settings: Record<string, unknown> = {}) {
    const created = await admin.call('POST', '/tenants', { slug, name: `${slug} Inc.`, settings });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body;
  }

  async function createClient(slug: string, scopes = ['employees:read'], caller: AdminClient = admin) {
    const created = await caller.call<{ client_id: string; client_secret: string }>('POST', `/tenants/${slug}/clients`, {
      name: 'HR sync',
      scopes,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body;
  }

  const tokenFor = (slug: string, client: { client_id: string; client_secret: string }, scope?: string, env = 'connect') =>
    requestClientCredentials(`${issuer(slug, env)}/connect/token`, client.client_id, client.client_secret, scope);

  const callApi = (slug: string, token: string, path = '/employees?limit=1', env = 'connect') =>
    server.fetch(`${apiBase(slug, env)}${path}`, { headers: { authorization: `Bearer ${token}` } });

  describe('platform issuer and bootstrap', () => {
    it('writes the bootstrap credentials of every environment to the data directory, mode 0600', () => {
      const file = adminCredentialsPath(server.config.dataDir);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      const content = JSON.parse(fs.readFileSync(file, 'utf8')) as { environments: Record<string, { admin_api: string }> };
      expect(Object.keys(content.environments).sort()).toEqual(['production', 'sandbox']);
      expect(content.environments.production?.admin_api).toBe(`http://admin.connect.localhost:${server.port}/v1`);
    });

    it('issues platform:admin tokens for the admin API from authentication.<domain>/platform', async () => {
      const credential = platformCredential(server);
      const discovery = await server.fetch(
        `http://authentication.connect.localhost:${server.port}/platform/.well-known/openid-configuration`,
      );
      expect(await discovery.json()).toMatchObject({
        issuer: `http://authentication.connect.localhost:${server.port}/platform`,
        token_endpoint: credential.token_endpoint,
        scopes_supported: ['platform:admin'],
      });
      expect(decodeJwt(admin.token)).toMatchObject({
        iss: `http://authentication.connect.localhost:${server.port}/platform`,
        aud: `http://admin.connect.localhost:${server.port}`,
        scope: 'platform:admin',
        client_id: credential.client_id,
      });
    });

    it('does not serve the platform issuer as a tenant, nor a tenant named platform', async () => {
      const asTenant = await server.fetch(`${issuer('platform')}/.well-known/openid-configuration`);
      expect(asTenant.status).toBe(404);
      const api = await server.fetch(`http://platform.connect.localhost:${server.port}/api/v1/employees`);
      expect(api.status).toBe(404);
    });

    it('refuses requests without a token, with a tenant API token, and with the other environment’s platform token', async () => {
      const none = await server.fetch(`${admin.base}/tenants`);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe(`Bearer realm="http://admin.connect.localhost:${server.port}"`);

      const demo = server.credential('production', 'acme');
      const apiToken = (await tokenFor('acme', demo)).body.access_token as string;
      const withApiToken = await adminClient(server, { token: apiToken });
      const refused = await withApiToken.call('GET', '/tenants');
      expect(refused.status).toBe(401);
      expect(refused.body).toMatchObject({ status: 401, detail: 'The access token was not issued for this tenant and environment.' });

      const sandboxAdmin = await adminClient(server, { environment: 'sandbox' });
      const crossed = await adminClient(server, { token: sandboxAdmin.token });
      expect((await crossed.call('GET', '/tenants')).status).toBe(401);
    });

    it('manages the platform admin clients themselves as /tenants/platform/clients, for platform admins only', async () => {
      const listed = await admin.call<{ data: { client_id: string; scopes: string[] }[] }>('GET', '/tenants/platform/clients');
      expect(listed.body.data).toEqual([
        expect.objectContaining({ client_id: platformCredential(server).client_id, scopes: ['platform:admin'] }),
      ]);
      const second = await admin.call<{ client_id: string; client_secret: string }>('POST', '/tenants/platform/clients', {
        name: 'Second operator',
        scopes: ['platform:admin'],
      });
      expect(second.status).toBe(201);
      const token = await requestClientCredentials(
        platformCredential(server).token_endpoint,
        second.body.client_id,
        second.body.client_secret,
      );
      const asSecond = await adminClient(server, { token: token.body.access_token as string });
      expect((await asSecond.call('GET', '/tenants')).status).toBe(200);
      expect((await admin.call('POST', '/tenants/platform/clients', { name: 'x', scopes: ['employees:read'] })).status).toBe(422);
      expect((await admin.call('GET', '/tenants/platform')).status).toBe(404);
      expect((await admin.call('POST', '/tenants/platform/suspend')).status).toBe(404);
      await admin.call('DELETE', `/tenants/platform/clients/${second.body.client_id}`);
      await eventually(async () => expect((await asSecond.call('GET', '/tenants')).status).toBe(401));
    });

    it('publishes its OpenAPI document without authentication', async () => {
      const response = await server.fetch(`${admin.base}/openapi.json`);
      expect(response.status).toBe(200);
      const doc = (await response.json()) as { openapi: string; servers: { url: string }[] };
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.servers[0]?.url).toBe(admin.base);
    });
  });

  describe('tenants', () => {
    it('provisions a tenant with effective default settings, and refuses taken and reserved slugs', async () => {
      const created = await createTenant('initech', { access_token_ttl: 900 });
      expect(created).toMatchObject({
        slug: 'initech',
        environment: 'production',
        status: 'ACTIVE',
        deleted_at: null,
        settings: { access_token_ttl: 900, signing_alg: 'ES256', rate_limit: { per_client: 100, per_tenant: 1000 } },
      });
      const keys = await server.fetch(`${issuer('initech')}/.well-known/jwks.json`);
      expect(((await keys.json()) as { keys: unknown[] }).keys).toHaveLength(1);

      const again = await admin.call('POST', '/tenants', { slug: 'initech', name: 'again' });
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ errors: [{ pointer: '/slug', detail: 'is taken' }] });
      const reserved = await admin.call('POST', '/tenants', { slug: 'admin', name: 'x' });
      expect(reserved.status).toBe(422);
      expect(reserved.body).toMatchObject({ errors: [{ pointer: '/slug', detail: 'is reserved' }] });
    });

    it('validates settings: ranges, algorithms, scopes and unknown keys, one pointer each', async () => {
      const bad = await admin.call('POST', '/tenants', {
        slug: 'badsettings',
        name: 'x',
        settings: { access_token_ttl: 30, signing_alg: 'HS256', scopes: ['nope'], colour: 'red' },
      });
      expect(bad.status).toBe(422);
      const pointers = (bad.body.errors as { pointer: string }[]).map((e) => e.pointer).sort();
      expect(pointers).toEqual(['/settings/access_token_ttl', '/settings/colour', '/settings/scopes/0', '/settings/signing_alg']);
      expect((await admin.call('GET', '/tenants/badsettings')).status).toBe(404);
    });

    it('merges settings on PATCH, null resetting a key to its default', async () => {
      await createTenant('umbrella', { access_token_ttl: 600 });
      const changed = await admin.call('PATCH', '/tenants/umbrella', { settings: { rate_limit: { per_client: 5 } } });
      expect(changed.status).toBe(200);
      expect(changed.body.settings).toMatchObject({ access_token_ttl: 600, rate_limit: { per_client: 5, per_tenant: 1000 } });
      const reset = await admin.call('PATCH', '/tenants/umbrella', { name: 'Umbrella Corp', settings: { access_token_ttl: null } });
      expect(reset.body).toMatchObject({ name: 'Umbrella Corp', settings: { access_token_ttl: 3600, rate_limit: { per_client: 5 } } });
      expect((await admin.call('PATCH', '/tenants/umbrella', { settings: { access_token_ttl: 100000 } })).status).toBe(422);
      expect((await admin.call('PATCH', '/tenants/umbrella', {})).status).toBe(422);
    });

    it('lists by slug with status and search filters and cursor pagination', async () => {
      await createTenant('list-a');
      await createTenant('list-b');
      await createTenant('list-c');
      await admin.call('POST', '/tenants/list-b/suspend');
      const first = await admin.call<{ data: { slug: string }[]; next: string }>('GET', '/tenants?q=list-&limit=2');
      expect(first.body.data.map((t) => t.slug)).toEqual(['list-a', 'list-b']);
      expect(first.headers.get('link')).toBe(`<${first.body.next}>; rel="next"`);
      const second = await admin.call<{ data: { slug: string }[]; next: string | null }>('GET', first.body.next);
      expect(second.body).toMatchObject({ data: [{ slug: 'list-c' }], next: null });
      const suspended = await admin.call<{ data: { slug: string }[] }>('GET', '/tenants?status=SUSPENDED&q=list');
      expect(suspended.body.data.map((t) => t.slug)).toEqual(['list-b']);
      expect((await admin.call('GET', '/tenants?colour=red')).status).toBe(400);
      const all = await admin.call<{ data: { slug: string }[] }>('GET', '/tenants?limit=200');
      expect(all.body.data.map((t) => t.slug)).not.toContain('platform');
    });

    it('suspends exactly: token endpoint 400 unauthorized_client, discovery still 200, the API 403 even for earlier tokens', async () => {
      await createTenant('suspendco');
      const client = await createClient('suspendco');
      const token = (await tokenFor('suspendco', client)).body.access_token as string;
      expect((await callApi('suspendco', token)).status).toBe(200);

      expect((await admin.call('POST', '/tenants/suspendco/suspend')).body).toMatchObject({ status: 'SUSPENDED' });
      await eventually(async () => {
        const refused = await tokenFor('suspendco', client);
        expect(refused).toEqual({ status: 400, body: { error: 'unauthorized_client', error_description: 'tenant is not active' } });
      });
      expect((await server.fetch(`${issuer('suspendco')}/.well-known/openid-configuration`)).status).toBe(200);
      const api = await callApi('suspendco', token);
      expect(api.status).toBe(403);
      expect(await api.json()).toMatchObject({ type: 'https://tenant-connect.dev/problems/tenant-suspended', status: 403 });

      await admin.call('POST', '/tenants/suspendco/activate');
      await eventually(async () => expect((await callApi('suspendco', token)).status).toBe(200));
    });

    it('soft-deletes into nothing (404 everywhere, slug kept), restores, and purges only after the retention', async () => {
      await createTenant('ghostco');
      const client = await createClient('ghostco');
      const token = (await tokenFor('ghostco', client)).body.access_token as string;

      const deleted = await admin.call('DELETE', '/tenants/ghostco');
      expect(deleted.body).toMatchObject({ status: 'SUSPENDED', deleted_at: expect.any(String) });
      const never = await server.fetch(`${issuer('nevercorp')}/.well-known/openid-configuration`);
      await eventually(async () => {
        const gone = await server.fetch(`${issuer('ghostco')}/.well-known/openid-configuration`);
        expect(gone.status).toBe(404);
        expect(await gone.text()).toBe(await never.clone().text());
      });
      expect((await tokenFor('ghostco', client)).status).toBe(404);
      expect((await callApi('ghostco', token)).status).toBe(404);
      expect((await admin.call('GET', '/tenants/ghostco')).status).toBe(404);
      expect((await admin.call<{ data: unknown[] }>('GET', '/tenants?q=ghostco')).body.data).toHaveLength(0);
      expect((await admin.call<{ data: unknown[] }>('GET', '/tenants?q=ghostco&include_deleted=true')).body.data).toHaveLength(1);
      expect((await admin.call('POST', '/tenants', { slug: 'ghostco', name: 'squatter' })).status).toBe(409);

      const tooEarly = await admin.call('POST', '/tenants/ghostco/purge', { confirm: 'ghostco' });
      expect(tooEarly.status).toBe(409);
      expect(tooEarly.body.detail).toMatch(/can be purged from .* \(30 days after its deletion; TENANT_PURGE_AFTER_DAYS\)/);

      const restored = await admin.call('POST', '/tenants/ghostco/restore');
      expect(restored.body).toMatchObject({ status: 'ACTIVE', deleted_at: null });
      await eventually(async () => expect((await callApi('ghostco', token)).status).toBe(200));
      expect((await admin.call('POST', '/tenants/ghostco/restore')).status).toBe(409);

      await admin.call('DELETE', '/tenants/ghostco');
      await server.booted.db.admin.query(`UPDATE tenants SET deleted_at = now() - interval '31 days' WHERE slug = 'ghostco'`);
      expect((await admin.call('POST', '/tenants/ghostco/purge', { confirm: 'wrong' })).status).toBe(422);
      expect((await admin.call('POST', '/tenants/ghostco/purge', { confirm: 'ghostco' })).status).toBe(204);
      expect((await admin.call('GET', '/tenants/ghostco?include_deleted=true')).status).toBe(404);
      const purged = await admin.call<{ data: { after: { removed: Record<string, number> } }[] }>(
        'GET',
        '/audit-events?tenant=ghostco&action=tenant.purge',
      );
      expect(purged.body.data[0]?.after.removed).toMatchObject({ clients: 1, client_secrets: 1, signing_keys: 1 });
      // the slug is free again after a purge
      await createTenant('ghostco');
    });
  });

  describe('rate limits from the tenant settings', () => {
    it('answers 429 with Retry-After past the per-client and per-tenant limits, token endpoint and API counted apart', async () => {
      await createTenant('throttleco', { rate_limit: { per_client: 3, per_tenant: 5 } });
      const first = await createClient('throttleco');
      const second = await createClient('throttleco');
      const tokens = [
        (await tokenFor('throttleco', first)).body.access_token as string,
        (await tokenFor('throttleco', second)).body.access_token as string,
      ];
      // aligned to the start of a second, so the one-second windows do not roll over mid-test
      await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000)));
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await callApi('throttleco', tokens[0] as string)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const limited = await callApi('throttleco', tokens[0] as string);
      expect(limited.headers.get('retry-after')).toBe('1');
      expect(await limited.json()).toMatchObject({
        type: 'https://tenant-connect.dev/problems/rate-limited',
        status: 429,
        detail: 'This client may make 3 requests per second; retry after the Retry-After delay.',
      });
      // the tenant's budget of 5 is spent by now (the client-limited calls counted too)
      const other = await callApi('throttleco', tokens[1] as string);
      expect(other.status).toBe(429);
      expect(await other.json()).toMatchObject({
        detail: 'This tenant may make 5 requests per second; retry after the Retry-After delay.',
      });
      // the token endpoint has its own budget
      expect((await tokenFor('throttleco', first)).status).toBe(200);
      await eventually(async () => expect((await callApi('throttleco', tokens[1] as string)).status).toBe(200), 1500);
    });

    it('answers the token endpoint past its limit with 429 too_many_requests and Retry-After', async () => {
      await createTenant('tokenflood', { rate_limit: { per_client: 2 } });
      const client = await createClient('tokenflood');
      await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000)));
      const answers = [];
      for (let i = 0; i < 3; i++) answers.push(await tokenFor('tokenflood', client));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
      expect(answers[2]?.body).toEqual({
        error: 'too_many_requests',
        error_description: 'more than 2 token requests per second for this client',
      });
    });
  });

  describe('clients', () => {
    beforeAll(async () => {
      await createTenant('clientco');
    });

    it('returns the secret once; reads never show a secret or its hash', async () => {
      const created = await createClient('clientco');
      expect(created.client_secret).toMatch(/^tcs_/);
      expect((await tokenFor('clientco', created)).status).toBe(200);
      const listed = await admin.call('GET', '/tenants/clientco/clients');
      const got = await admin.call('GET', `/tenants/clientco/clients/${created.client_id}`);
      for (const body of [JSON.stringify(listed.body), JSON.stringify(got.body)]) {
        expect(body).not.toContain(created.client_secret);
        expect(body).not.toContain('sha256:');
        expect(body).not.toContain('client_secret"');
      }
      expect(got.body).toMatchObject({
        client_id: created.client_id,
        status: 'enabled',
        scopes: ['employees:read'],
        secrets: [{ expires_at: null }],
      });
      expect((await admin.call('GET', '/tenants/clientco/clients/nope')).status).toBe(404);
      const badScope = await admin.call('POST', '/tenants/clientco/clients', { name: 'x', scopes: ['platform:admin'] });
      expect(badScope.status).toBe(422);
      expect(badScope.body).toMatchObject({ errors: [{ pointer: '/scopes/0' }] });
    });

    it('rotates: both secrets work until the old one expires, two at most, 0 ends the old one now', async () => {
      const client = await createClient('clientco');
      const rotated = await admin.call<{ client_secret: string; client: { secrets: { expires_at: string | null }[] } }>(
        'POST',
        `/tenants/clientco/clients/${client.client_id}/rotate-secret`,
      );
      expect(rotated.status).toBe(200);
      const [newest, previous] = rotated.body.client.secrets;
      expect(newest?.expires_at).toBeNull();
      const week = Date.parse(previous?.expires_at ?? '') - Date.now();
      expect(week).toBeGreaterThan(7 * 86400_000 - 60_000);
      expect(week).toBeLessThanOrEqual(7 * 86400_000);
      const fresh = { client_id: client.client_id, client_secret: rotated.body.client_secret };
      await eventually(async () => expect((await tokenFor('clientco', fresh)).status).toBe(200));
      expect((await tokenFor('clientco', client)).status).toBe(200);

      const third = await admin.call('POST', `/tenants/clientco/clients/${client.client_id}/rotate-secret`, { expires_in: 3600 });
      expect(third.status).toBe(409);
      expect(third.body.detail).toMatch(/two live secrets.*"expires_in": 0/);

      const now = await admin.call<{ client_secret: string }>('POST', `/tenants/clientco/clients/${client.client_id}/rotate-secret`, {
        expires_in: 0,
      });
      expect(now.status).toBe(200);
      await eventually(async () => {
        expect((await tokenFor('clientco', client)).body).toMatchObject({ error: 'invalid_client' });
        expect((await tokenFor('clientco', fresh)).body).toMatchObject({ error: 'invalid_client' });
      });
      expect((await tokenFor('clientco', { client_id: client.client_id, client_secret: now.body.client_secret })).status).toBe(200);
    });

    it('disables (tokens refused at the API within 1 s), enables, and deletes', async () => {
      const client = await createClient('clientco');
      const token = (await tokenFor('clientco', client)).body.access_token as string;
      expect((await callApi('clientco', token)).status).toBe(200);
      expect((await admin.call('POST', `/tenants/clientco/clients/${client.client_id}/disable`)).body).toMatchObject({
        status: 'disabled',
        disabled_at: expect.any(String),
      });
      await eventually(async () => expect((await callApi('clientco', token)).status).toBe(401));
      expect((await tokenFor('clientco', client)).body).toMatchObject({ error: 'invalid_client' });
      await admin.call('POST', `/tenants/clientco/clients/${client.client_id}/enable`);
      await eventually(async () => expect((await callApi('clientco', token)).status).toBe(200));
      expect((await admin.call('DELETE', `/tenants/clientco/clients/${client.client_id}`)).status).toBe(204);
      await eventually(async () => expect((await callApi('clientco', token)).status).toBe(401));
      expect((await admin.call('GET', `/tenants/clientco/clients/${client.client_id}`)).status).toBe(404);
    });

    it('records last_used_at per client and per secret, written in batches', async () => {
      const client = await createClient('clientco');
      const before = await admin.call<{ last_used_at: string | null }>('GET', `/tenants/clientco/clients/${client.client_id}`);
      expect(before.body.last_used_at).toBeNull();
      expect((await tokenFor('clientco', client)).status).toBe(200);
      await server.booted.app.usage.flush();
      const after = await admin.call<{ last_used_at: string; secrets: { last_used_at: string }[] }>(
        'GET',
        `/tenants/clientco/clients/${client.client_id}`,
      );
      expect(Date.now() - Date.parse(after.body.last_used_at)).toBeLessThan(60_000);
      expect(after.body.secrets[0]?.last_used_at).toBe(after.body.last_used_at);
    });
  });

  describe('tenant self-service (tenant:admin)', () => {
    let tenantAdmin: AdminClient;
    beforeAll(async () => {
      await createTenant('selfco');
      await createTenant('otherco');
      const adminClientRecord = await createClient('selfco', ['tenant:admin']);
      const token = await tokenFor('selfco', adminClientRecord, 'tenant:admin');
      expect(token.status).toBe(200);
      tenantAdmin = await adminClient(server, { token: token.body.access_token as string });
    });

    it('gets an admin-API token for tenant:admin, which the tenant API refuses', async () => {
      expect(decodeJwt(tenantAdmin.token)).toMatchObject({
        iss: issuer('selfco'),
        aud: `http://admin.connect.localhost:${server.port}`,
        scope: 'tenant:admin',
      });
      expect((await callApi('selfco', tenantAdmin.token)).status).toBe(401);
    });

    it('manages its own clients only', async () => {
      expect((await tenantAdmin.call('GET', '/tenants/selfco/clients')).status).toBe(200);
      const created = await createClient('selfco', ['employees:read'], tenantAdmin);
      expect((await tokenFor('selfco', created)).status).toBe(200);
      const foreign = await tenantAdmin.call('GET', '/tenants/otherco/clients');
      const missing = await tenantAdmin.call('GET', '/tenants/nosuchco/clients');
      expect(foreign.status).toBe(404);
      expect(foreign.body).toEqual({ ...(missing.body as object), detail: 'No tenant "otherco" in this environment.' });
      const platformOnly = await tenantAdmin.call('GET', '/tenants');
      expect(platformOnly.status).toBe(403);
      expect(platformOnly.body).toMatchObject({ required_scope: 'platform:admin' });
      expect((await tenantAdmin.call('POST', '/tenants/selfco/suspend')).status).toBe(403);
      expect((await tenantAdmin.call('GET', '/tenants/platform/clients')).status).toBe(404);
    });

    it('refuses tenant:admin mixed with API scopes in one token request', async () => {
      const mixed = await createClient('selfco', ['tenant:admin', 'employees:read']);
      const refused = await tokenFor('selfco', mixed, 'tenant:admin employees:read');
      expect(refused).toEqual({
        status: 400,
        body: { error: 'invalid_scope', error_description: 'tenant:admin is for the admin API: request it alone', scope: 'employees:read' },
      });
      const apiOnly = await tokenFor('selfco', mixed);
      expect(decodeJwt(apiOnly.body.access_token as string)).toMatchObject({
        scope: 'employees:read',
        aud: apiBase('selfco').replace('/api/v1', ''),
      });
    });
  });

  describe('signing keys', () => {
    type Key = { kid: string; alg: string; state: string; published: boolean; promote_at: string | null; not_after: string | null };

    it('stages a next key after the default delay, refuses a second or too short a rotation, and rotates immediately', async () => {
      await createTenant('keyco', { signing_alg: 'ES256' });
      const [original] = (await admin.call<{ data: Key[] }>('GET', '/tenants/keyco/keys')).body.data;
      expect(original).toMatchObject({ state: 'current', alg: 'ES256', published: true });

      const tooShort = await admin.call('POST', '/tenants/keyco/keys/rotate', { delay_seconds: 5 });
      expect(tooShort.status).toBe(422);
      expect(tooShort.body).toMatchObject({ errors: [{ pointer: '/delay_seconds', detail: 'must be at least 300' }] });

      await admin.call('PATCH', '/tenants/keyco', { settings: { signing_alg: 'EdDSA' } });
      const staged = await admin.call<{ key: Key; retired: Key[] }>('POST', '/tenants/keyco/keys/rotate');
      expect(staged.status).toBe(200);
      expect(staged.body.key).toMatchObject({ state: 'next', alg: 'EdDSA', published: true });
      const delay = Date.parse(staged.body.key.promote_at ?? '') - Date.now();
      expect(delay).toBeGreaterThan(590_000);
      expect(delay).toBeLessThanOrEqual(600_000);
      expect(staged.body.retired).toEqual([]);
      const jwks = (await (await server.fetch(`${issuer('keyco')}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
      expect(jwks.keys.map((k) => k.kid).sort()).toEqual([original?.kid, staged.body.key.kid].sort());

      const again = await admin.call('POST', '/tenants/keyco/keys/rotate');
      expect(again.status).toBe(409);
      expect(again.body.detail).toContain(`Key ${staged.body.key.kid} is already staged`);

      const emergency = await admin.call<{ key: Key; retired: Key[] }>('POST', '/tenants/keyco/keys/rotate', { immediate: true });
      expect(emergency.body.key).toMatchObject({ state: 'current', alg: 'EdDSA', published: true });
      expect(emergency.body.retired.map((k) => [k.kid, k.state, k.published]).sort()).toEqual(
        [
          [original?.kid, 'retired', false],
          [staged.body.key.kid, 'retired', false],
        ].sort(),
      );
      const events = await admin.call<{ data: { action: string }[] }>('GET', '/audit-events?tenant=keyco&action=keys.*');
      expect(events.body.data.map((e) => e.action)).toEqual(['keys.rotate_immediately', 'keys.rotate']);
    });

    it('re-encrypts every private key under the current key-encryption key, idempotently', async () => {
      const first = await admin.call<{ tenants: number; reencrypted: number; already_current: number }>(
        'POST',
        '/key-encryption-key/rotate',
      );
      expect(first.status).toBe(200);
      expect(first.body.tenants).toBeGreaterThan(0);
      const second = await admin.call<{ reencrypted: number; already_current: number }>('POST', '/key-encryption-key/rotate');
      expect(second.body).toMatchObject({ reencrypted: 0, already_current: first.body.reencrypted + first.body.already_current });
    });
  });

  describe('audit log', () => {
    it('records every change with actor, before/after without secrets, and the request id', async () => {
      await createTenant('auditco');
      const client = await createClient('auditco');
      const rotated = await admin.call('POST', `/tenants/auditco/clients/${client.client_id}/rotate-secret`, undefined, {
        'x-request-id': 'req-rotate-1',
      });
      expect(rotated.headers.get('x-request-id')).toBe('req-rotate-1');
      const events = await admin.call<{ data: { action: string; actor: object; request_id: string; before: unknown; after: unknown }[] }>(
        'GET',
        '/audit-events?tenant=auditco',
      );
      expect(events.body.data.map((e) => e.action)).toEqual(['client.rotate_secret', 'client.create', 'tenant.create']);
      expect(events.body.data[0]).toMatchObject({
        actor: {
          client_id: platformCredential(server).client_id,
          issuer: `http://authentication.connect.localhost:${server.port}/platform`,
        },
        request_id: 'req-rotate-1',
        target: { type: 'client', id: client.client_id },
      });
      const text = JSON.stringify(events.body);
      expect(text).not.toContain(client.client_secret);
      expect(text).not.toContain('sha256:');

      const clientEvents = await admin.call<{ data: { action: string }[]; next: string }>(
        'GET',
        '/audit-events?tenant=auditco&action=client.*&limit=1',
      );
      expect(clientEvents.body.data.map((e) => e.action)).toEqual(['client.rotate_secret']);
      const next = await admin.call<{ data: { action: string }[]; next: string | null }>('GET', clientEvents.body.next);
      expect(next.body).toMatchObject({ data: [{ action: 'client.create' }], next: null });
    });

    it('writes nothing when the change fails', async () => {
      const before = await admin.call<{ data: unknown[] }>('GET', '/audit-events?tenant=initech&limit=200');
      expect((await admin.call('POST', '/tenants', { slug: 'initech', name: 'dup' })).status).toBe(409);
      const after = await admin.call<{ data: unknown[] }>('GET', '/audit-events?tenant=initech&limit=200');
      expect(after.body.data).toHaveLength(before.body.data.length);
    });
  });

  describe('sandbox sync', () => {
    it('mirrors settings and clients (same id and secret) into the sandbox, never data, never backwards', async () => {
      await createTenant('mirrorco', { access_token_ttl: 1200 });
      const client = await createClient('mirrorco', ['employees:read', 'org-units:read', 'org-units:write']);
      const production = (await tokenFor('mirrorco', client)).body.access_token as string;
      const written = await server.fetch(`${apiBase('mirrorco')}/org-units`, {
        method: 'POST',
        headers: { authorization: `Bearer ${production}`, 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'HQ', name: 'Head office' }),
      });
      expect(written.status).toBe(201);

      const synced = await admin.call('POST', '/tenants/mirrorco/sandbox-sync');
      expect(synced.status).toBe(200);
      expect(synced.body).toMatchObject({
        created: true,
        clients_created: 1,
        clients_updated: 0,
        tenant: { slug: 'mirrorco', environment: 'sandbox', settings: { access_token_ttl: 1200 } },
      });
      const sandbox = await tokenFor('mirrorco', client, undefined, 'connect-sandbox');
      expect(sandbox.status).toBe(200);
      expect(sandbox.body.expires_in).toBe(1200);
      const sandboxToken = sandbox.body.access_token as string;
      expect((await callApi('mirrorco', sandboxToken, '/org-units', 'connect-sandbox')).status).toBe(200);
      expect(await (await callApi('mirrorco', sandboxToken, '/org-units', 'connect-sandbox')).json()).toMatchObject({ data: [] });
      expect((await callApi('mirrorco', sandboxToken)).status).toBe(401);

      const again = await admin.call('POST', '/tenants/mirrorco/sandbox-sync');
      expect(again.body).toMatchObject({ created: false, clients_created: 0, clients_updated: 1 });
      const sandboxAdmin = await adminClient(server, { environment: 'sandbox' });
      expect((await sandboxAdmin.call('POST', '/tenants/mirrorco/sandbox-sync')).status).toBe(409);
    });
  });
});

describe('without the bootstrap admin (production default)', () => {
  it('still runs the platform issuer, but creates no admin client and writes no credentials file', async () => {
    const server = await startTestServer('pglite', { env: { BOOTSTRAP_ADMIN: 'false' } });
    try {
      expect(server.booted.admin).toEqual({ credentials: {}, file: undefined, unknownToFile: [] });
      expect(fs.existsSync(adminCredentialsPath(server.config.dataDir))).toBe(false);
      const discovery = await server.fetch(
        `http://authentication.connect.localhost:${server.port}/platform/.well-known/openid-configuration`,
      );
      expect(discovery.status).toBe(200);
      const clients = await server.booted.db.admin.query(
        `SELECT 1 FROM clients c JOIN tenants t ON t.id = c.tenant_id WHERE t.kind = 'platform'`,
      );
      expect(clients).toHaveLength(0);
    } finally {
      await server.close();
    }
  });
});
