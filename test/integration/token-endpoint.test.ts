/**
 * The authorization server as a standard client sees it: discovery, client_credentials with both
 * secret methods, RFC 9068 access tokens, and RFC 6749 §5.2 errors.
 */
import * as oauth from 'oauth4webapi';
import * as openid from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/auth/clients.ts';
import type { ClientAuthMethod } from '../../src/catalog/client-auth-methods.ts';
import { DPOP_SIGNING_ALGORITHMS } from '../../src/catalog/dpop-algorithms.ts';
import { ALL_SCOPES } from '../../src/catalog/scopes.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { accessToken, loopbackFetch, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';

describe.each(testDatabaseKinds())('authorization server on %s', (kind) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(kind);
  });
  afterAll(async () => {
    await server?.close();
  });

  const sandboxAcme = () => server.credential('sandbox', 'acme');

  /** A new client of sandbox acme, allowed every scope, registered with the given method. */
  async function newClient(authMethod: ClientAuthMethod) {
    const [tenant] = await server.booted.db.admin.query<{ id: string }>(
      `SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`,
    );
    const created = await createClient(server.booted.db, tenant?.id ?? '', { name: authMethod, scopes: ALL_SCOPES, authMethod });
    return { client_id: created.clientId, client_secret: created.clientSecret };
  }

  /** client_credentials with client_secret_post: client_id and client_secret in the body. */
  const postSecret = (
    credential: { token_endpoint: string; client_id: string; client_secret: string },
    extra: Record<string, string> = {},
  ) =>
    server.fetch(credential.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: credential.client_id,
        client_secret: credential.client_secret,
        ...extra,
      }).toString(),
    });

  it('serves discovery that openid-client accepts, and issues a token through it (client_secret_basic)', async () => {
    const credential = sandboxAcme();
    const config = await openid.discovery(
      new URL(credential.issuer),
      credential.client_id,
      undefined,
      openid.ClientSecretBasic(credential.client_secret),
      {
        [openid.customFetch]: loopbackFetch,
        execute: [openid.allowInsecureRequests],
      },
    );
    expect(config.serverMetadata().issuer).toBe(credential.issuer);
    expect(config.serverMetadata().token_endpoint).toBe(credential.token_endpoint);
    const tokens = await openid.clientCredentialsGrant(config, { scope: 'employees:read' });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.scope).toBe('employees:read');
    expect(tokens.expires_in).toBe(3600);
  });

  it('issues a token to a client_secret_post client through openid-client, which sends the secret in the body', async () => {
    const credential = { ...sandboxAcme(), ...(await newClient('client_secret_post')) };
    const config = await openid.discovery(
      new URL(credential.issuer),
      credential.client_id,
      credential.client_secret,
      openid.ClientSecretPost(credential.client_secret),
      {
        [openid.customFetch]: loopbackFetch,
        execute: [openid.allowInsecureRequests],
      },
    );
    const tokens = await openid.clientCredentialsGrant(config, { scope: 'employees:read' });
    expect(tokens.access_token.split('.')).toHaveLength(3);
  });

  it('accepts exactly the method a client is registered with: the other one is 401 invalid_client, even with the right secret', async () => {
    const post = { ...sandboxAcme(), ...(await newClient('client_secret_post')) };
    expect((await postSecret(post)).status).toBe(200);
    const postWithBasic = await requestToken(server, post);
    expect(postWithBasic.status).toBe(401);
    expect(postWithBasic.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(await postWithBasic.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });

    // the demo clients are client_secret_basic, as `clients get` shows them
    const basicWithPost = await postSecret(sandboxAcme());
    expect(basicWithPost.status).toBe(401);
    expect(await basicWithPost.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    expect((await requestToken(server, sandboxAcme())).status).toBe(200);
  });

  it('issues RFC 9068 access tokens that oauth4webapi validates as a strict resource server would', async () => {
    const credential = sandboxAcme();
    const issuer = new URL(credential.issuer);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { [oauth.customFetch]: loopbackFetch, [oauth.allowInsecureRequests]: true }),
    );
    const token = await accessToken(server, credential);
    const audience = new URL(credential.api_base).origin;
    const request = new Request(`${credential.api_base}/employees`, { headers: { authorization: `Bearer ${token}` } });
    const claims = await oauth.validateJwtAccessToken(as, request, audience, {
      [oauth.customFetch]: loopbackFetch,
      [oauth.allowInsecureRequests]: true,
    });
    expect(claims).toMatchObject({
      iss: credential.issuer,
      sub: credential.client_id,
      aud: audience,
      client_id: credential.client_id,
      scope: ALL_SCOPES.join(' '),
    });
    expect(typeof claims.jti).toBe('string');
    expect(claims.exp - claims.iat).toBe(3600);
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as Record<string, unknown>;
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
  });

  it('advertises only what is real in both discovery documents', async () => {
    const credential = sandboxAcme();
    const oidc = (await (await server.fetch(`${credential.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(oidc).toEqual({
      issuer: credential.issuer,
      token_endpoint: credential.token_endpoint,
      jwks_uri: `${credential.issuer}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA', 'PS256', 'RS256'],
      dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGORITHMS],
      scopes_supported: [...ALL_SCOPES, 'tenant:admin'],
      response_types_supported: [],
      revocation_endpoint: `${credential.issuer}/connect/revocation`,
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      introspection_endpoint: `${credential.issuer}/connect/introspect`,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      introspection_signing_alg_values_supported: ['ES256'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
    });
    const authServerUrl = new URL(credential.issuer);
    const rfc8414 = await server.fetch(`${authServerUrl.origin}/.well-known/oauth-authorization-server${authServerUrl.pathname}`);
    const beside = await server.fetch(`${credential.issuer}/.well-known/oauth-authorization-server`);
    const expected = { ...oidc };
    delete expected.subject_types_supported;
    delete expected.id_token_signing_alg_values_supported;
    expect(await rfc8414.json()).toEqual(expected);
    expect(await beside.json()).toEqual(expected);
  });

  it('publishes the signing key at jwks_uri, public part only', async () => {
    const credential = sandboxAcme();
    const jwks = (await (await server.fetch(`${credential.issuer}/.well-known/jwks.json`)).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('never reflects a forged X-Forwarded-Host or Host port into metadata', async () => {
    const credential = sandboxAcme();
    const forged = await server.raw({
      path: '/tenants/acme/.well-known/openid-configuration',
      headers: { host: `authentication.connect-sandbox.localhost:9999`, 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
    });
    expect(forged.status).toBe(200);
    const metadata = JSON.parse(forged.body) as Record<string, string>;
    expect(metadata.token_endpoint).toBe(credential.token_endpoint);
    expect(metadata.jwks_uri).toBe(`${credential.issuer}/.well-known/jwks.json`);
    expect(forged.body).not.toContain('evil.example');
    expect(forged.body).not.toContain('9999');
  });

  it('answers a wrong secret with 401 invalid_client and a Basic challenge', async () => {
    const credential = { ...sandboxAcme(), client_secret: 'tcs_wrong' };
    const response = await requestToken(server, credential, {}, { 'x-request-id': 'req-wrong-secret' });
    expect(response.status).toBe(401);
    // the id its log line carries (src/auth/provider.ts logs every refused token request)
    expect(response.headers.get('x-request-id')).toBe('req-wrong-secret');
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(await response.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
  });

  it('refuses another tenant’s credentials at this tenant’s token endpoint', async () => {
    const globex = server.credential('sandbox', 'globex');
    const response = await requestToken(server, { ...globex, token_endpoint: sandboxAcme().token_endpoint });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('refuses production credentials at the sandbox token endpoint of the same tenant', async () => {
    const production = server.credential('production', 'acme');
    const response = await requestToken(server, { ...production, token_endpoint: sandboxAcme().token_endpoint });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('answers a scope the tenant offers but the client may not have with 400 invalid_scope', async () => {
    const [tenant] = await server.booted.db.admin.query<{ id: string }>(
      `SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`,
    );
    const reader = await createClient(server.booted.db, tenant?.id ?? '', { name: 'read-only', scopes: ['employees:read'] });
    const credential = { ...sandboxAcme(), client_id: reader.clientId, client_secret: reader.clientSecret };
    expect((await requestToken(server, credential, { scope: 'employees:read' })).status).toBe(200);
    const response = await requestToken(server, credential, { scope: 'employees:read employees:write' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_scope');
  });

  it('answers a scope the tenant does not define with 400 invalid_scope', async () => {
    const response = await requestToken(server, sandboxAcme(), { scope: 'employees:read payroll:everything' });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: 'invalid_scope',
      error_description: 'requested scope is not allowed',
      scope: 'payroll:everything',
    });
  });

  it('grants every scope the client is allowed when the request names none', async () => {
    const response = await postSecret({ ...sandboxAcme(), ...(await newClient('client_secret_post')) });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { scope: string }).scope).toBe(ALL_SCOPES.join(' '));
  });

  it('answers another grant type with 400 unsupported_grant_type', async () => {
    const response = await requestToken(server, sandboxAcme(), { grant_type: 'password' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe('unsupported_grant_type');
  });

  it('answers a missing grant_type with 400 invalid_request', async () => {
    const credential = sandboxAcme();
    const response = await server.fetch(credential.token_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${credential.client_id}:${credential.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: '',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'invalid_request', error_description: "missing required parameter 'grant_type'" });
  });

  it('answers a resource other than the tenant’s API with 400 invalid_target', async () => {
    const response = await requestToken(server, sandboxAcme(), { resource: 'http://globex.connect-sandbox.localhost' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_target');
  });

  it('does not serve endpoints that are not offered (authorization, userinfo) nor unknown tenants', async () => {
    const origin = new URL(sandboxAcme().issuer).origin;
    for (const pathname of [
      '/tenants/acme/auth',
      '/tenants/acme/me',
      '/tenants/acme/reg',
      '/tenants/nobody/.well-known/openid-configuration',
      '/tenants/admin/connect/token',
      '/tenants', // (`/` is the host's index: public-pages.test.ts)
      '/index.html',
    ]) {
      const response = await server.fetch(`${origin}${pathname}`);
      expect(response.status, pathname).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
    }
  });
});
