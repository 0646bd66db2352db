/**
 * RFC 7009 revocation and RFC 7662 introspection of the JWT access tokens, with openid-client and
 * oauth4webapi as the callers, and the operators' revocations through the admin API: what is
 * refused, by whom, and what is left alone.
 */
import { createLocalJWKSet, decodeJwt, type JSONWebKeySet, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import * as openid from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoCredential } from '../../src/admin/operator/demo-seed.ts';
import { createClient } from '../../src/auth/clients.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { adminClient, issuedAccessToken, type AdminClient } from '../helpers/admin.ts';
import { eventually } from '../helpers/eventually.ts';
import { accessToken, loopbackFetch, startTestServer, type TestServer } from '../helpers/server.ts';
import { signWithTenantKey } from '../helpers/tokens.ts';

const REVOKED = (realm: string) => ({
  status: 401,
  challenge: `Bearer realm="${realm}", error="invalid_token", error_description="The access token has been revoked."`,
  body: {
    type: 'https://tenant-connect.dev/problems/invalid-token',
    title: 'Unauthorized',
    status: 401,
    detail: 'The access token has been revoked.',
  },
});

describe.each(testDatabaseKinds())('token revocation and introspection on %s', (kind) => {
  let server: TestServer;
  let acme: DemoCredential;
  /** a second client of sandbox acme */
  let other: { client_id: string; client_secret: string };
  let platform: AdminClient;

  const tenantId = async (environment: string, slug: string) => (await server.booted.app.tenants.getTenant(environment, slug))?.id ?? '';

  /** openid-client's view of a tenant's issuer, as `client` */
  const openidConfig = (
    credential: DemoCredential,
    client = { client_id: credential.client_id, client_secret: credential.client_secret },
  ) =>
    openid.discovery(new URL(credential.issuer), client.client_id, undefined, openid.ClientSecretBasic(client.client_secret), {
      [openid.customFetch]: loopbackFetch,
      execute: [openid.allowInsecureRequests],
    });

  /** the resource API's answer to one GET with the token */
  async function callApi(credential: DemoCredential, token: string) {
    const response = await server.fetch(`${credential.api_base}/employees?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await response.json()) as Record<string, unknown>;
    return { status: response.status, challenge: response.headers.get('www-authenticate'), body };
  }
  const apiOrigin = (credential: DemoCredential) => new URL(credential.api_base).origin;

  /** RFC 7009 request as curl sends it: form body, client_secret_basic */
  const revoke = (credential: DemoCredential, token: string, client = credential) =>
    server.fetch(`${credential.issuer}/connect/revocation`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    });

  /** RFC 7662 through oauth4webapi, as an API gateway would call it */
  async function introspect(credential: DemoCredential, token: string, client: { client_id: string; client_secret: string } = credential) {
    const issuer = new URL(credential.issuer);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { [oauth.customFetch]: loopbackFetch, [oauth.allowInsecureRequests]: true }),
    );
    const response = await oauth.introspectionRequest(
      as,
      { client_id: client.client_id },
      oauth.ClientSecretBasic(client.client_secret),
      token,
      {
        [oauth.customFetch]: loopbackFetch,
        [oauth.allowInsecureRequests]: true,
      },
    );
    return oauth.processIntrospectionResponse(as, { client_id: client.client_id }, response);
  }

  beforeAll(async () => {
    server = await startTestServer(kind);
    acme = server.credential('sandbox', 'acme');
    const created = await createClient(server.booted.db, await tenantId('sandbox', 'acme'), {
      name: 'second integration',
      scopes: ['employees:read'],
      authMethod: 'client_secret_basic',
    });
    other = { client_id: created.clientId, client_secret: created.clientSecret };
    platform = await adminClient(server, { environment: 'sandbox' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('advertises both endpoints in discovery, where openid-client and oauth4webapi find them', async () => {
    const metadata = (await openidConfig(acme)).serverMetadata();
    expect(metadata).toMatchObject({
      revocation_endpoint: `${acme.issuer}/connect/revocation`,
      introspection_endpoint: `${acme.issuer}/connect/introspect`,
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      introspection_signing_alg_values_supported: ['ES256'],
    });
    const rfc8414 = await server.fetch(acme.issuer.replace('/tenants/acme', '/.well-known/oauth-authorization-server/tenants/acme'));
    expect(await rfc8414.json()).toMatchObject({ revocation_endpoint: metadata.revocation_endpoint });
  });

  it('revokes a client’s own token through openid-client: the resource API refuses it at once, with the exact 401', async () => {
    const config = await openidConfig(acme);
    const { access_token: token } = await openid.clientCredentialsGrant(config, { scope: 'employees:read' });
    expect((await callApi(acme, token)).status).toBe(200);
    await openid.tokenRevocation(config, token, { token_type_hint: 'access_token' });
    expect(await callApi(acme, token)).toEqual(REVOKED(apiOrigin(acme)));
    // the client's other tokens are unaffected
    expect((await callApi(acme, await accessToken(server, acme))).status).toBe(200);
  });

  it('refuses a revoked tenant:admin token on the admin API', async () => {
    const created = await createClient(server.booted.db, await tenantId('sandbox', 'acme'), {
      name: 'self-service',
      scopes: ['tenant:admin'],
      authMethod: 'client_secret_basic',
    });
    const tenantAdmin = { ...acme, client_id: created.clientId, client_secret: created.clientSecret };
    const token = await issuedAccessToken(acme.token_endpoint, created.clientId, created.clientSecret, 'tenant:admin');
    const self = await adminClient(server, { environment: 'sandbox', token });
    expect((await self.call('GET', '/tenants/acme/clients')).status).toBe(200);
    expect((await revoke(acme, token, tenantAdmin)).status).toBe(200);
    const refused = await self.call('GET', '/tenants/acme/clients');
    expect({ status: refused.status, body: refused.body }).toEqual({
      status: 401,
      body: { ...REVOKED('').body },
    });
    expect(refused.headers.get('www-authenticate')).toBe(REVOKED(new URL(self.base).origin).challenge);
  });

  it('refuses to revoke another client’s token of the same tenant (RFC 7009 §2.1) and leaves it working', async () => {
    const othersToken = await issuedAccessToken(acme.token_endpoint, other.client_id, other.client_secret);
    const response = await revoke(acme, othersToken);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'unauthorized_client', error_description: 'the token was issued to another client' });
    expect((await callApi(acme, othersToken)).status).toBe(200);
  });

  it('answers 200 and does nothing for a token that is not this tenant’s and environment’s (RFC 7009 §2.2)', async () => {
    const globex = server.credential('sandbox', 'globex');
    const production = server.credential('production', 'acme');
    const globexToken = await accessToken(server, globex);
    const productionToken = await accessToken(server, production);
    const expired = await signWithTenantKey(server, 'sandbox', 'acme', {
      iss: acme.issuer,
      aud: apiOrigin(acme),
      sub: acme.client_id,
      client_id: acme.client_id,
      scope: 'employees:read',
      jti: 'expired-token',
      iat: Math.floor(Date.now() / 1000) - 7200,
      exp: Math.floor(Date.now() / 1000) - 3600,
    });
    for (const token of [globexToken, productionToken, expired, 'not-a-token', 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln']) {
      const response = await revoke(acme, token);
      expect({ status: response.status, body: await response.text() }, token).toEqual({ status: 200, body: '' });
    }
    expect((await callApi(globex, globexToken)).status).toBe(200);
    expect((await callApi(production, productionToken)).status).toBe(200);
  });

  it('answers a caller that fails to authenticate with 401 invalid_client, and revokes nothing', async () => {
    const token = await accessToken(server, acme);
    const response = await revoke(acme, token, { ...acme, client_secret: 'wrong' });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'invalid_client' });
    expect((await callApi(acme, token)).status).toBe(200);
  });

  it('counts failed client authentications at both endpoints toward the same throttle as the token endpoint', async () => {
    const created = await createClient(server.booted.db, await tenantId('sandbox', 'acme'), {
      name: 'guessed',
      scopes: ['employees:read'],
      authMethod: 'client_secret_basic',
    });
    const guessed = { ...acme, client_id: created.clientId, client_secret: created.clientSecret };
    const token = await issuedAccessToken(acme.token_endpoint, guessed.client_id, guessed.client_secret);
    // the demo tenants' rate_limit.auth_failures: the default 10 within 60 s
    for (let i = 0; i < 10; i += 1) {
      const endpoint = i % 2 === 0 ? 'revocation' : 'introspect';
      const wrong = await server.fetch(`${acme.issuer}/connect/${endpoint}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: guessed.client_id, client_secret: `tcs_wrong_${i}` }).toString(),
      });
      expect(wrong.status).toBe(401);
    }
    const throttled = await revoke(acme, token, guessed);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).not.toBeNull();
    expect(((await throttled.json()) as { error: string }).error).toBe('too_many_requests');
    expect((await callApi(acme, token)).status).toBe(200);
  });

  it('introspects an active token for any client of the tenant, with every RFC 7662 member', async () => {
    const token = await accessToken(server, acme);
    const claims = decodeJwt(token);
    const expected = {
      active: true,
      scope: claims.scope,
      client_id: acme.client_id,
      sub: acme.client_id,
      aud: apiOrigin(acme),
      iss: acme.issuer,
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      token_type: 'Bearer',
    };
    expect(await introspect(acme, token)).toEqual(expected);
    expect(await introspect(acme, token, other)).toEqual(expected);
  });

  it('answers with a JWT signed by the tenant’s key when asked (RFC 9701), which oauth4webapi and jose verify', async () => {
    const token = await accessToken(server, acme);
    const issuer = new URL(acme.issuer);
    const options = { [oauth.customFetch]: loopbackFetch, [oauth.allowInsecureRequests]: true } as const;
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, options));
    expect(as.introspection_signing_alg_values_supported).toEqual(['ES256']);
    const client = { client_id: other.client_id };
    const response = await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(other.client_secret), token, {
      ...options,
      requestJwtResponse: true,
    });
    expect(response.headers.get('content-type')).toMatch(/^application\/token-introspection\+jwt/);
    const answer = await oauth.processIntrospectionResponse(as, client, response);
    await oauth.validateApplicationLevelSignature(as, response, options);
    expect(answer).toMatchObject({ active: true, client_id: acme.client_id, jti: decodeJwt(token).jti });

    const raw = await server.fetch(`${acme.issuer}/connect/introspect`, {
      method: 'POST',
      headers: {
        accept: 'application/token-introspection+jwt',
        authorization: `Basic ${Buffer.from(`${other.client_id}:${other.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: 'not-a-token' }).toString(),
    });
    const jwks = createLocalJWKSet((await (await server.fetch(`${acme.issuer}/.well-known/jwks.json`)).json()) as JSONWebKeySet);
    const { payload, protectedHeader } = await jwtVerify(await raw.text(), jwks, {
      issuer: acme.issuer,
      audience: other.client_id,
      typ: 'token-introspection+jwt',
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.token_introspection).toEqual({ active: false });
  });

  it('answers {"active": false} and nothing more for a revoked, expired, disabled client’s, foreign or other-environment token', async () => {
    const globex = server.credential('sandbox', 'globex');
    const production = server.credential('production', 'acme');
    const revoked = await accessToken(server, acme);
    expect((await revoke(acme, revoked)).status).toBe(200);
    const expired = await signWithTenantKey(server, 'sandbox', 'acme', {
      iss: acme.issuer,
      aud: apiOrigin(acme),
      sub: acme.client_id,
      client_id: acme.client_id,
      jti: 'expired-introspected',
      iat: Math.floor(Date.now() / 1000) - 7200,
      exp: Math.floor(Date.now() / 1000) - 3600,
    });
    const disabled = await createClient(server.booted.db, await tenantId('sandbox', 'acme'), {
      name: 'to be disabled',
      scopes: ['employees:read'],
      authMethod: 'client_secret_basic',
    });
    const disabledToken = await issuedAccessToken(acme.token_endpoint, disabled.clientId, disabled.clientSecret);
    expect((await platform.call('POST', `/tenants/acme/clients/${disabled.clientId}/disable`)).status).toBe(200);
    await eventually(async () => expect((await callApi(acme, disabledToken)).status).toBe(401));
    const cases = {
      revoked,
      expired,
      disabledToken,
      foreignTenant: await accessToken(server, globex),
      otherEnvironment: await accessToken(server, production),
      garbage: 'not-a-token',
    };
    for (const [name, token] of Object.entries(cases)) expect(await introspect(acme, token), name).toEqual({ active: false });
    // and a client of another tenant cannot ask acme's endpoint at all
    await expect(introspect(acme, revoked, globex)).rejects.toMatchObject({ status: 401 });
    const foreignCaller = await server.fetch(`${acme.issuer}/connect/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: revoked, client_id: globex.client_id, client_secret: globex.client_secret }).toString(),
    });
    expect({ status: foreignCaller.status, body: await foreignCaller.json() }).toEqual({
      status: 401,
      body: { error: 'invalid_client', error_description: 'client authentication failed' },
    });
  });

  it('answers {"active": false} for any token of a tenant that is suspended, and active again once it is activated', async () => {
    expect((await platform.call('POST', '/tenants', { slug: 'pausedco', name: 'Paused Co' })).status).toBe(201);
    const created = await platform.call<{ client_id: string; client_secret: string }>('POST', '/tenants/pausedco/clients', {
      name: 'gateway',
      scopes: ['employees:read'],
    });
    const paused: DemoCredential = {
      ...acme,
      tenant: 'pausedco',
      issuer: acme.issuer.replace('/tenants/acme', '/tenants/pausedco'),
      token_endpoint: acme.token_endpoint.replace('/tenants/acme', '/tenants/pausedco'),
      client_id: created.body.client_id,
      client_secret: created.body.client_secret,
    };
    const token = await issuedAccessToken(paused.token_endpoint, paused.client_id, paused.client_secret);
    expect(await introspect(paused, token)).toMatchObject({ active: true });
    expect((await platform.call('POST', '/tenants/pausedco/suspend')).status).toBe(200);
    await eventually(async () => expect(await introspect(paused, token)).toEqual({ active: false }));
    expect((await platform.call('POST', '/tenants/pausedco/activate')).status).toBe(200);
    await eventually(async () => expect(await introspect(paused, token)).toMatchObject({ active: true }));
  });

  it('revokes by jti through the admin API (platform admin and tenant:admin), audited, refused within 1 s', async () => {
    const byPlatform = await accessToken(server, acme);
    const jti = decodeJwt(byPlatform).jti as string;
    const answer = await platform.call<{ jti: string; revoked_until: string }>('POST', '/tenants/acme/tokens/revoke', { jti });
    expect(answer.status).toBe(200);
    expect(answer.body.jti).toBe(jti);
    expect(Date.parse(answer.body.revoked_until) - Date.now()).toBeGreaterThan(86_000_000);
    const elapsed = await eventually(async () => expect(await callApi(acme, byPlatform)).toEqual(REVOKED(apiOrigin(acme))));
    expect(elapsed).toBeLessThan(1000);

    const audit = await platform.call<{ data: { action: string; target: unknown; tenant: { slug: string } }[] }>(
      'GET',
      '/audit-events?action=token.revoke&tenant=acme',
    );
    expect(audit.body.data[0]).toMatchObject({ action: 'token.revoke', target: { type: 'token', id: jti }, tenant: { slug: 'acme' } });

    const adminRecord = await createClient(server.booted.db, await tenantId('sandbox', 'acme'), {
      name: 'acme admin',
      scopes: ['tenant:admin'],
      authMethod: 'client_secret_basic',
    });
    const self = await adminClient(server, {
      environment: 'sandbox',
      token: await issuedAccessToken(acme.token_endpoint, adminRecord.clientId, adminRecord.clientSecret, 'tenant:admin'),
    });
    const bySelf = await accessToken(server, acme);
    expect((await self.call('POST', '/tenants/acme/tokens/revoke', { jti: decodeJwt(bySelf).jti })).status).toBe(200);
    await eventually(async () => expect((await callApi(acme, bySelf)).status).toBe(401));
    // another tenant is out of its reach, answered like a tenant that does not exist
    const foreign = await self.call('POST', '/tenants/globex/tokens/revoke', { jti: 'x' });
    expect({ status: foreign.status, detail: foreign.body.detail }).toEqual({
      status: 404,
      detail: 'No tenant "globex" in this environment.',
    });
    const invalid = await platform.call('POST', '/tenants/acme/tokens/revoke', { jti: '' });
    expect(invalid.status).toBe(422);
  });

  it('revokes a client’s tokens issued at or before a second, and not those of the next second', async () => {
    const created = await createClient(server.booted.db, await tenantId('sandbox', 'acme'), {
      name: 'leaked',
      scopes: ['employees:read'],
      authMethod: 'client_secret_basic',
    });
    const client = { ...acme, client_id: created.clientId, client_secret: created.clientSecret };
    const newToken = () => issuedAccessToken(acme.token_endpoint, client.client_id, client.client_secret);
    const issued = await newToken();
    const iat = decodeJwt(issued).iat as number;
    // tokens of the same client in the seconds around `iat`, signed with the tenant's key
    const tokenAt = (second: number) =>
      signWithTenantKey(server, 'sandbox', 'acme', {
        iss: acme.issuer,
        aud: apiOrigin(acme),
        sub: client.client_id,
        client_id: client.client_id,
        scope: 'employees:read',
        jti: `at-${second}`,
        iat: second,
        exp: second + 600,
      });
    const before = await tokenAt(iat - 1);
    const after = await tokenAt(iat + 1);
    const revokeUpTo = (second: number) =>
      platform.call('POST', `/tenants/acme/clients/${client.client_id}/revoke-tokens`, {
        issued_before: new Date(second * 1000 + 999).toISOString(), // the second counts, not the milliseconds
      });

    expect((await revokeUpTo(iat - 1)).body).toEqual({
      client_id: client.client_id,
      issued_before: new Date((iat - 1) * 1000).toISOString(),
    });
    await eventually(async () => expect(await callApi(acme, before)).toEqual(REVOKED(apiOrigin(acme))));
    expect((await callApi(acme, issued)).status).toBe(200); // issued in the next second

    await revokeUpTo(iat);
    await eventually(async () => expect(await callApi(acme, issued)).toEqual(REVOKED(apiOrigin(acme))));
    expect((await callApi(acme, after)).status).toBe(200);
    // a cutoff only moves later: asking for an earlier one keeps the one in force
    expect((await revokeUpTo(iat - 5)).body).toEqual({ client_id: client.client_id, issued_before: new Date(iat * 1000).toISOString() });
    expect((await callApi(acme, issued)).status).toBe(401);
    // the client itself keeps working: a new token (a later second) is accepted
    await eventually(async () => expect((await callApi(acme, await newToken())).status).toBe(200), 3000);
  });

  it('defaults revoke-tokens to now, refuses the future and an unknown client, and audits it', async () => {
    const token = await accessToken(server, acme);
    const started = Math.floor(Date.now() / 1000);
    const now = await platform.call<{ issued_before: string }>('POST', `/tenants/acme/clients/${other.client_id}/revoke-tokens`);
    expect(now.status).toBe(200);
    expect(Date.parse(now.body.issued_before) / 1000).toBeGreaterThanOrEqual(started);
    expect((await callApi(acme, token)).status).toBe(200); // another client's token is untouched

    const future = await platform.call('POST', `/tenants/acme/clients/${other.client_id}/revoke-tokens`, {
      issued_before: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(future.status).toBe(422);
    expect(future.body).toMatchObject({
      detail: 'issued_before must not be in the future; to stop new tokens too, disable the client.',
      errors: [{ pointer: '/issued_before', detail: 'is in the future' }],
    });
    const unknown = await platform.call('POST', '/tenants/acme/clients/no-such-client/revoke-tokens');
    expect({ status: unknown.status, detail: unknown.body.detail }).toEqual({
      status: 404,
      detail: 'No client "no-such-client" in this tenant.',
    });
    const audit = await platform.call<{ data: { action: string; target: unknown; after: unknown }[] }>(
      'GET',
      '/audit-events?action=client.revoke_tokens&tenant=acme&limit=1',
    );
    expect(audit.body.data[0]).toMatchObject({
      action: 'client.revoke_tokens',
      target: { type: 'client', id: other.client_id },
      after: now.body,
    });
  });

  it('loads the revocations again after a reconnect, when notifications may have been missed', async () => {
    const token = await accessToken(server, acme);
    expect((await callApi(acme, token)).status).toBe(200); // the tenant's list is loaded
    const { db } = server.booted;
    const id = await tenantId('sandbox', 'acme');
    // a revocation this instance is never told about
    await db.admin.exec('ALTER TABLE revoked_tokens DISABLE TRIGGER revoked_tokens_changed');
    try {
      await db.admin.scoped(id, (tx) =>
        tx.query(`INSERT INTO revoked_tokens (tenant_id, jti, expires_at) VALUES ($1, $2, now() + interval '1 hour')`, [
          id,
          decodeJwt(token).jti,
        ]),
      );
    } finally {
      await db.admin.exec('ALTER TABLE revoked_tokens ENABLE TRIGGER revoked_tokens_changed');
    }
    expect((await callApi(acme, token)).status).toBe(200);
    server.booted.app.runtime.clear(); // what the listener does after a reconnect
    expect(await callApi(acme, token)).toEqual(REVOKED(apiOrigin(acme)));
  });
});
