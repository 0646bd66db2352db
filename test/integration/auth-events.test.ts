/**
 * The auth event log, fed by real token requests: each outcome and refusal reason recorded with
 * the client id, never a secret or a token; read back through the admin API, filtered and paged;
 * a tenant admin reads only its own tenant; a full buffer drops and counts instead of waiting; and
 * stopping writes what is still buffered.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthEvent, ClientHealth, Page } from '../../src/admin/admin-contract.ts';
import { createClient } from '../../src/auth/clients.ts';
import { ALL_SCOPES, TENANT_ADMIN_SCOPE } from '../../src/catalog/scopes.ts';
import { adminClient, type AdminClient, issuedAccessToken } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { awayFromTheHourBoundary, provisionTenantWithClient } from '../helpers/limits.ts';
import { requestToken, startTestServer, type TestServer } from '../helpers/server.ts';
import { claimsOf } from '../helpers/tokens.ts';

const basic = (clientId: string, secret: string) => `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;

describe.each(testDatabaseKinds())('auth event log on %s', (kind) => {
  let server: TestServer;
  let admin: AdminClient;
  const acme = () => server.credential('sandbox', 'acme');

  const tenantId = async (environment: string, slug: string) =>
    (
      await server.booted.db.admin.query<{ id: string }>(`SELECT id FROM tenants WHERE environment = $1 AND slug = $2`, [environment, slug])
    )[0]?.id ?? '';

  const post = (endpoint: string, headers: Record<string, string>, body: Record<string, string>) =>
    server.fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ grant_type: 'client_credentials', ...body }).toString(),
    });

  const events = async (slug: string, query: Record<string, string> = {}, as: AdminClient = admin) => {
    await server.booted.app.authEvents.flush();
    return as.call<Page<AuthEvent>>('GET', `/tenants/${slug}/auth-events?${new URLSearchParams(query)}`);
  };

  beforeAll(async () => {
    server = await startTestServer(kind, { env: { AUTH_EVENTS_FLUSH_MS: '600000' } });
    admin = await adminClient(server, { environment: 'sandbox' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('records an issued token with its client, scopes and jti, and no secret or token', async () => {
    const response = await requestToken(server, acme());
    expect(response.status).toBe(200);
    const token = ((await response.json()) as { access_token: string }).access_token;
    const claims = claimsOf(token);

    const listed = await events('acme', { client_id: acme().client_id, outcome: 'issued' });
    expect(listed.status).toBe(200);
    const [event] = listed.body.data;
    expect(event).toMatchObject({
      client_id: acme().client_id,
      outcome: 'issued',
      reason: null,
      source_ip: expect.stringContaining('127.0.0.1'),
      scopes: String(claims.scope).split(' '),
      jti: claims.jti,
    });
    // the id was made from the event's time at flush (uuidv7s): version 7, the time in its first 48 bits
    const id = String(event?.id);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16)).toBe(Date.parse(String(event?.time)));
    const stored = JSON.stringify(
      await server.booted.db.admin.scoped(await tenantId('sandbox', 'acme'), (tx) => tx.query('SELECT * FROM auth_events')),
    );
    expect(stored).not.toContain(acme().client_secret);
    expect(stored).not.toContain(token);
  });

  it('records each refusal with its stable reason', async () => {
    const acmeId = await tenantId('sandbox', 'acme');
    const newClient = (name: string, authMethod: 'client_secret_basic' | 'client_secret_post' = 'client_secret_basic') =>
      createClient(server.booted.db, acmeId, { name, scopes: ALL_SCOPES.filter((s) => s !== TENANT_ADMIN_SCOPE), authMethod });
    // changed in the database before their first use, so no cache holds them yet
    const expired = await newClient('expired');
    await server.booted.db.admin.scoped(acmeId, (tx) =>
      tx.query(
        `UPDATE client_secrets s SET expires_at = now() - interval '1 minute', created_at = now() - interval '1 hour'
           FROM clients c WHERE c.tenant_id = s.tenant_id AND c.id = s.client_id AND c.client_id = $1`,
        [expired.clientId],
      ),
    );
    const disabled = await newClient('disabled');
    await server.booted.db.admin.scoped(acmeId, (tx) =>
      tx.query(`UPDATE clients SET disabled_at = now() WHERE client_id = $1`, [disabled.clientId]),
    );
    const postOnly = await newClient('post only', 'client_secret_post');
    const endpoint = acme().token_endpoint;

    const cases: [clientId: string, reason: string, status: number, Promise<Response>][] = [
      [acme().client_id, 'wrong_secret', 401, post(endpoint, { authorization: basic(acme().client_id, 'not-the-secret') }, {})],
      ['no-such-client', 'unknown_client', 401, post(endpoint, { authorization: basic('no-such-client', 'whatever') }, {})],
      [expired.clientId, 'expired_secret', 401, post(endpoint, { authorization: basic(expired.clientId, expired.clientSecret) }, {})],
      [disabled.clientId, 'client_disabled', 401, post(endpoint, { authorization: basic(disabled.clientId, disabled.clientSecret) }, {})],
      [postOnly.clientId, 'wrong_auth_method', 401, post(endpoint, { authorization: basic(postOnly.clientId, postOnly.clientSecret) }, {})],
      [acme().client_id, 'invalid_scope', 400, requestToken(server, acme(), { scope: 'no-such:scope' })],
    ];
    for (const [clientId, reason, status, request] of cases) {
      const response = await request;
      expect(response.status, reason).toBe(status);
      const listed = await events('acme', { client_id: clientId, reason });
      expect(listed.body.data, reason).toHaveLength(1);
      expect(listed.body.data[0], reason).toMatchObject({ client_id: clientId, outcome: 'refused', reason, jti: null });
    }
    const wrongSecretEvents = JSON.stringify((await events('acme', { outcome: 'refused' })).body);
    expect(wrongSecretEvents).not.toContain('not-the-secret');
    expect(wrongSecretEvents).not.toContain(expired.clientSecret);
  });

  it('records the failed-authentication throttle as rate_limited', async () => {
    const acmeId = await tenantId('sandbox', 'acme');
    const target = await createClient(server.booted.db, acmeId, { name: 'throttled', scopes: ['employees:read'] });
    const statuses: number[] = [];
    // the demo tenants allow 10 failures per client and source in the window: the 11th is refused before any secret is compared
    for (let i = 0; i < 11; i += 1) {
      statuses.push((await post(acme().token_endpoint, { authorization: basic(target.clientId, 'wrong') }, {})).status);
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses[10]).toBe(429);
    const listed = await events('acme', { client_id: target.clientId });
    expect(listed.body.data.map((e) => e.reason)).toEqual(['rate_limited', ...Array(10).fill('wrong_secret')]);
  });

  it('records a token request over an enforced token quota as quota_exceeded, and the ones before it as issued', async () => {
    await awayFromTheHourBoundary();
    const credential = await provisionTenantWithClient(server, 'quota-events', { token_quota: { per_hour: 1, mode: 'enforce' } });
    expect((await requestToken(server, credential)).status).toBe(200);
    const refused = await requestToken(server, credential);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: string }).error).toBe('too_many_requests');
    const listed = await events('quota-events', { client_id: credential.client_id });
    expect(listed.body.data.map((e) => [e.outcome, e.reason])).toEqual([
      ['refused', 'quota_exceeded'],
      ['issued', null],
    ]);
  });

  it('records a private_key_jwt assertion refused by any check as assertion_refused, and an accepted one as issued', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const other = await generateKeyPair('ES256', { extractable: true });
    const kid = randomUUID();
    const created = await admin.call<{ client_id: string }>('POST', '/tenants/acme/clients', {
      name: 'signed assertions',
      scopes: ['employees:read'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] },
    });
    expect(created.status).toBe(201);
    const clientId = created.body.client_id;
    const issuer = acme().issuer;
    const sign = (claims: Record<string, unknown> = {}, key = privateKey) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: clientId, sub: clientId, aud: issuer, jti: randomUUID(), iat: now, exp: now + 30, ...claims })
        .setProtectedHeader({ alg: 'ES256', kid })
        .sign(key);
    };
    const present = (jwt: string) =>
      post(
        acme().token_endpoint,
        {},
        { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt, scope: 'employees:read' },
      );

    const accepted = await sign();
    expect((await present(accepted)).status).toBe(200);
    // client-assertions.ts's checks (audience, lifetime), its jti record, and oidc-provider's signature check
    const refusals = [
      await sign({ aud: acme().token_endpoint }),
      await sign({ exp: Math.floor(Date.now() / 1000) + 3600 }),
      accepted,
      await sign({}, other.privateKey),
    ];
    for (const jwt of refusals) {
      const response = await present(jwt);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    }
    // a secret instead of an assertion is the other method, not a refused assertion
    expect((await post(acme().token_endpoint, { authorization: basic(clientId, 'a-secret') }, {})).status).toBe(401);
    const listed = await events('acme', { client_id: clientId });
    expect(listed.body.data.map((e) => [e.outcome, e.reason])).toEqual([
      ['refused', 'wrong_auth_method'],
      ...refusals.map(() => ['refused', 'assertion_refused']),
      ['issued', null],
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(accepted);
  });

  it('records a token request to a suspended tenant as tenant_not_active, with the client id of the Basic header', async () => {
    const created = await admin.call('POST', '/tenants', { slug: 'dormant', name: 'Dormant', status: 'SUSPENDED' });
    expect(created.status).toBe(201);
    const response = await post(acme().token_endpoint.replace('/acme/', '/dormant/'), { authorization: basic('some-client', 'x') }, {});
    expect(response.status).toBe(400);
    const listed = await events('dormant');
    expect(listed.body.data).toEqual([
      expect.objectContaining({ client_id: 'some-client', outcome: 'refused', reason: 'tenant_not_active' }),
    ]);
  });

  it('pages newest first with a cursor and filters by time', async () => {
    const first = await events('acme', { limit: '2' });
    expect(first.body.data).toHaveLength(2);
    expect(first.body.next).toMatch(/cursor=/);
    const second = await admin.call<Page<AuthEvent>>('GET', first.body.next ?? '');
    expect(second.status).toBe(200);
    const ids = [...first.body.data, ...second.body.data].map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort().reverse()).toEqual(ids);
    const future = await events('acme', { since: new Date(Date.now() + 60_000).toISOString() });
    expect(future.body.data).toEqual([]);
    const bad = await events('acme', { reason: 'no_such_reason' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
  });

  it("lets a tenant admin read its own tenant's events and answers another tenant like one that does not exist", async () => {
    const acmeId = await tenantId('sandbox', 'acme');
    const tenantAdmin = await createClient(server.booted.db, acmeId, { name: 'acme admin', scopes: [TENANT_ADMIN_SCOPE] });
    const token = await issuedAccessToken(acme().token_endpoint, tenantAdmin.clientId, tenantAdmin.clientSecret, TENANT_ADMIN_SCOPE);
    const asAcme = await adminClient(server, { environment: 'sandbox', token });
    const own = await events('acme', { client_id: tenantAdmin.clientId }, asAcme);
    expect(own.status).toBe(200);
    expect(own.body.data[0]).toMatchObject({ outcome: 'issued', scopes: [TENANT_ADMIN_SCOPE] });

    const other = await events('globex', {}, asAcme);
    const missing = await events('no-such-tenant', {}, asAcme);
    expect(other.status).toBe(404);
    expect(other.body).toEqual({ ...(missing.body as object), detail: expect.any(String) });
    expect(JSON.stringify(other.body)).not.toContain(acmeId);
    expect((other.body as unknown as { detail: string }).detail).toBe('No tenant "globex" in this environment.');

    const globexClient = server.credential('sandbox', 'globex').client_id;
    const ownHealth = await asAcme.call('GET', `/tenants/acme/clients/${tenantAdmin.clientId}/health`);
    expect(ownHealth.status).toBe(200);
    const otherHealth = await asAcme.call('GET', `/tenants/globex/clients/${globexClient}/health`);
    expect(otherHealth.status).toBe(404);
    expect(otherHealth.body).toEqual(other.body);
  });

  it("answers a client's health: last token, last refusal, 24-hour counts, failing webhooks, expiring secrets", async () => {
    const acmeId = await tenantId('sandbox', 'acme');
    const watched = await createClient(server.booted.db, acmeId, { name: 'watched', scopes: ['employees:read'] });
    await server.booted.db.admin.scoped(acmeId, (tx) =>
      tx.query(
        `UPDATE client_secrets s SET expires_at = now() + interval '3 days'
           FROM clients c WHERE c.tenant_id = s.tenant_id AND c.id = s.client_id AND c.client_id = $1`,
        [watched.clientId],
      ),
    );
    const endpoint = acme().token_endpoint;
    const issued = await post(endpoint, { authorization: basic(watched.clientId, watched.clientSecret) }, {});
    expect(issued.status).toBe(200);
    const { jti } = claimsOf(((await issued.json()) as { access_token: string }).access_token);
    expect((await post(endpoint, { authorization: basic(watched.clientId, 'wrong') }, {})).status).toBe(401);
    await server.booted.app.authEvents.flush();
    await server.booted.app.usage.flush();

    const health = await admin.call<ClientHealth>('GET', `/tenants/acme/clients/${watched.clientId}/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      client_id: watched.clientId,
      status: 'enabled',
      last_token_issued: { jti, scopes: ['employees:read'] },
      last_refusal: { reason: 'wrong_secret', source_ip: expect.stringContaining('127.0.0.1') },
      last_used_at: expect.any(String),
      last_api_call: null,
      last_24h: { tokens_issued: 1, refusals: 1, refusals_by_reason: { wrong_secret: 1 }, api_calls: 0, api_4xx: 0, api_429: 0 },
      quota: null,
      webhook_deliveries_failing: { failed: 0, retrying: 0 },
    });
    expect(health.body.secrets_expiring).toHaveLength(1);
    const daysLeft = (Date.parse(health.body.secrets_expiring[0]?.expires_at ?? '') - Date.now()) / 86_400_000;
    expect(daysLeft).toBeGreaterThan(2.9);
    expect(daysLeft).toBeLessThan(3.1);

    const unknown = await admin.call('GET', '/tenants/acme/clients/no-such-client/health');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ detail: 'No client "no-such-client" in this tenant.' });
  });

  it('refuses, under row level security, a row written for one tenant in the scope of another', async () => {
    const acmeId = await tenantId('sandbox', 'acme');
    const globexId = await tenantId('sandbox', 'globex');
    // the runtime role the flusher writes with may insert, and only within its scope
    const write = server.booted.db.scoped(globexId, (tx) =>
      tx.query(
        `INSERT INTO auth_events (tenant_id, id, occurred_at, outcome, reason) VALUES ($1, gen_random_uuid(), now(), 'refused', 'other')`,
        [acmeId],
      ),
    );
    await expect(write).rejects.toThrow(/row-level security/);
  });
});

describe.each(testDatabaseKinds())('auth event buffer on %s', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(kind, { env: { AUTH_EVENTS_BUFFER_SIZE: '2', AUTH_EVENTS_FLUSH_MS: '600000' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('drops and counts what a full buffer cannot hold, and every token request still succeeds', async () => {
    const credential = server.credential('sandbox', 'acme');
    const statuses = await Promise.all(Array.from({ length: 5 }, () => requestToken(server, credential).then((r) => r.status)));
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect(server.booted.app.authEvents.pending).toBe(2);
    const metric = await server.booted.app.metrics.registry.getSingleMetricAsString('tenant_connect_auth_events_dropped_total');
    expect(metric).toContain('tenant_connect_auth_events_dropped_total{cause="buffer_full"} 3');
  });

  it('writes what is still buffered when it stops (as shutdown does)', async () => {
    expect(server.booted.app.authEvents.pending).toBe(2);
    await server.booted.app.authEvents.stop();
    expect(server.booted.app.authEvents.pending).toBe(0);
    const [tenant] = await server.booted.db.admin.query<{ id: string }>(
      `SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`,
    );
    const rows = await server.booted.db.admin.scoped(tenant?.id ?? '', (tx) =>
      tx.query<{ n: number }>('SELECT count(*)::int AS n FROM auth_events'),
    );
    expect(rows).toEqual([{ n: 2 }]);
  });

  it("counts a tenant's events the database refuses as dropped, and still writes the other tenants' events", async () => {
    const log = server.booted.app.authEvents;
    const [globex] = await server.booted.db.admin.query<{ id: string }>(
      `SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'globex'`,
    );
    await log.flush();
    // a tenant id with no tenant row: its insert violates the foreign key
    log.record({
      tenantId: '00000000-0000-4000-8000-000000000000',
      clientId: 'ghost',
      outcome: 'issued',
      sourceIp: '127.0.0.1',
      scope: '',
    });
    log.record({
      tenantId: globex?.id ?? '',
      clientId: 'seen',
      outcome: 'refused',
      reason: 'wrong_secret',
      sourceIp: '127.0.0.1',
      scope: '',
    });
    await log.flush();
    const metric = await server.booted.app.metrics.registry.getSingleMetricAsString('tenant_connect_auth_events_dropped_total');
    expect(metric).toContain('tenant_connect_auth_events_dropped_total{cause="write_failed"} 1');
    const rows = await server.booted.db.admin.scoped(globex?.id ?? '', (tx) =>
      tx.query<{ client_id: string }>(`SELECT client_id FROM auth_events WHERE client_id IN ('seen', 'ghost')`),
    );
    expect(rows).toEqual([{ client_id: 'seen' }]);
  });
});
