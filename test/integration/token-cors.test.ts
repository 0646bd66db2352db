/**
 * CORS on the token endpoint: a browser may get a token only from the origin of the API the token
 * is for (the tenant's API origin in the same environment; the platform issuer's: the admin API
 * origin). Preflight and POST from any other origin carry no Access-Control-* header, and a POST
 * from one issues no token. Requests without Origin (curl, server-side clients) are unaffected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, platformCredential } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const EVIL = 'https://evil.example';

describe.each(testDatabaseKinds())('token endpoint CORS on %s', (kind) => {
  let server: TestServer;
  const acme = () => server.credential('sandbox', 'acme');
  const origin = (host: string) => `http://${host}:${server.port}`;
  const acmeOrigin = () => origin('acme.connect-sandbox.localhost');

  beforeAll(async () => {
    server = await startTestServer(kind);
  });
  afterAll(async () => {
    await server?.close();
  });

  const corsHeaders = (headers: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('access-control-')));

  /** the preflight Swagger UI's Authorize causes: a POST with Authorization and a form body */
  function preflight(tokenEndpoint: string, from: string | undefined) {
    const url = new URL(tokenEndpoint);
    return server.raw({
      method: 'OPTIONS',
      path: url.pathname,
      headers: {
        host: url.host,
        ...(from ? { origin: from } : {}),
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
  }

  function postToken(
    credential: { token_endpoint: string; client_id: string; client_secret: string },
    from: string | undefined,
    scope = 'employees:read',
  ) {
    const url = new URL(credential.token_endpoint);
    return server.raw({
      method: 'POST',
      path: url.pathname,
      headers: {
        host: url.host,
        ...(from ? { origin: from } : {}),
        authorization: `Basic ${Buffer.from(`${credential.client_id}:${credential.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
    });
  }

  it('answers the preflight from the tenant’s own API origin with exactly that origin', async () => {
    const response = await preflight(acme().token_endpoint, acmeOrigin());
    expect(response.status).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe(acmeOrigin());
    expect(response.headers['access-control-allow-methods']).toBe('POST');
    expect(response.headers['access-control-allow-headers']).toBe('authorization,content-type');
    expect(response.headers.vary).toMatch(/\bOrigin\b/i);
  });

  it('issues a token to a POST from that origin, readable by the page (ACAO, no wildcard)', async () => {
    const response = await postToken(acme(), acmeOrigin());
    expect(response.status).toBe(200);
    expect(response.headers['access-control-allow-origin']).toBe(acmeOrigin());
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
    expect(JSON.parse(response.body)).toMatchObject({ token_type: 'Bearer', scope: 'employees:read' });
  });

  const foreign = (): [string, string][] => [
    ['another tenant’s API origin', origin('globex.connect-sandbox.localhost')],
    ['the same tenant in the other environment', origin('acme.connect.localhost')],
    ['the authentication host itself', origin('authentication.connect-sandbox.localhost')],
    ['the admin API origin', origin('admin.connect-sandbox.localhost')],
    ['the same host on another port', `http://acme.connect-sandbox.localhost:${server.port + 1}`],
    ['https instead of http', `https://acme.connect-sandbox.localhost:${server.port}`],
    ['an opaque origin', 'null'],
    ['an unrelated site', EVIL],
  ];

  it('refuses the preflight from every other origin: 204 without any Access-Control-* header', async () => {
    for (const [what, from] of foreign()) {
      const response = await preflight(acme().token_endpoint, from);
      expect(response.status, what).toBe(204);
      expect(corsHeaders(response.headers), what).toEqual({});
      expect(response.body, what).toBe('');
    }
  });

  it('refuses a POST from every other origin: 400 invalid_request, no token, no Access-Control-Allow-Origin', async () => {
    for (const [what, from] of foreign()) {
      const response = await postToken(acme(), from);
      expect(response.status, what).toBe(400);
      // oidc-provider removes the allowed origin and leaves Expose-Headers, which means nothing without it
      expect(response.headers['access-control-allow-origin'], what).toBeUndefined();
      expect(JSON.parse(response.body), what).toEqual({
        error: 'invalid_request',
        error_description: `origin ${from} not allowed for client: ${acme().client_id}`,
      });
    }
  });

  it('leaves requests without Origin alone (curl, server-side clients)', async () => {
    const response = await postToken(acme(), undefined);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ token_type: 'Bearer' });
    // oidc-provider answers `*` when no Origin came: no browser sends a cross-origin POST without one
    expect(response.headers['access-control-allow-origin']).toBe('*');
    const options = await preflight(acme().token_endpoint, undefined);
    expect(options.status).toBe(204);
    expect(corsHeaders(options.headers)).toEqual({});
  });

  it('still refuses a wrong secret from the allowed origin, and lets the page read why (401 invalid_client)', async () => {
    const response = await postToken({ ...acme(), client_secret: 'tcs_wrong' }, acmeOrigin());
    expect(response.status).toBe(401);
    expect(response.headers['access-control-allow-origin']).toBe(acmeOrigin());
    expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_client' });
  });

  it('lets the platform issuer answer only the admin API origin of its environment', async () => {
    const platform = platformCredential(server, 'sandbox');
    const adminOrigin = origin('admin.connect-sandbox.localhost');
    const allowed = await preflight(platform.token_endpoint, adminOrigin);
    expect(allowed.status).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe(adminOrigin);
    const token = await postToken(platform, adminOrigin, 'platform:admin');
    expect(token.status).toBe(200);
    expect(token.headers['access-control-allow-origin']).toBe(adminOrigin);

    for (const from of [acmeOrigin(), origin('admin.connect.localhost'), EVIL]) {
      const refused = await preflight(platform.token_endpoint, from);
      expect(corsHeaders(refused.headers), from).toEqual({});
      const post = await postToken(platform, from, 'platform:admin');
      expect(post.status, from).toBe(400);
      expect(post.headers['access-control-allow-origin'], from).toBeUndefined();
    }
  });

  // last: it suspends globex (sandbox) for the rest of the file
  it('answers a suspended tenant’s preflight like any other; the POST itself is refused', async () => {
    const globex = server.credential('sandbox', 'globex');
    const globexOrigin = origin('globex.connect-sandbox.localhost');
    const admin = await adminClient(server, { environment: 'sandbox' });
    expect((await admin.call('POST', '/tenants/globex/suspend')).status).toBe(200);
    const options = await preflight(globex.token_endpoint, globexOrigin);
    expect(options.status).toBe(204);
    expect(options.headers['access-control-allow-origin']).toBe(globexOrigin);
    const post = await postToken(globex, globexOrigin);
    expect(post.status).toBe(400);
    expect(JSON.parse(post.body)).toEqual({ error: 'unauthorized_client', error_description: 'tenant is not active' });
  });

  it('keeps refusing other methods on the token endpoint: 405 naming POST and OPTIONS', async () => {
    const url = new URL(acme().token_endpoint);
    const get = await server.raw({ method: 'GET', path: url.pathname, headers: { host: url.host, origin: acmeOrigin() } });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST, OPTIONS');
    expect(corsHeaders(get.headers)).toEqual({});
  });
});
