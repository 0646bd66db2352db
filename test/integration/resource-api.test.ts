/**
 * The resource API: listing and reading employees with a tenant's token, and every way a token
 * or request can be wrong, with the exact status, problem body and challenge.
 */
import type { Response as UndiciResponse } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { accessToken, startTestServer, type TestServer } from '../helpers/server.ts';
import { claimsOf, hs256WithPublicKey, signWithTenantKey, tenantSigningKey, unsignedToken } from '../helpers/tokens.ts';

const problem = (code: string, status: number) => ({ type: `https://tenant-connect.dev/problems/${code}`, status });

describe.each(testDatabaseKinds())('resource API on %s', (kind) => {
  let server: TestServer;
  let clockOffsetMs = 0;
  let token: string;
  beforeAll(async () => {
    server = await startTestServer(kind, { now: () => Date.now() + clockOffsetMs });
    token = await accessToken(server, server.credential('sandbox', 'acme'));
  });
  afterAll(async () => {
    await server?.close();
  });

  const api = () => server.credential('sandbox', 'acme').api_base;
  /** bearer null = no Authorization header at all */
  const get = (url: string, bearer: string | null = token) =>
    server.fetch(url, { headers: bearer === null ? {} : { authorization: `Bearer ${bearer}` } });

  it('lists the tenant’s employees and nobody else’s', async () => {
    const response = await get(`${api()}/employees`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: { employee_number: string }[]; next: string | null };
    expect(body.data).toHaveLength(50);
    expect(body.data.every((e) => e.employee_number.startsWith('A-'))).toBe(true);
    expect(body.next).toBeNull();
  });

  it('pages with an opaque cursor, a next link and a Link header, without repeats or gaps', async () => {
    const seen: string[] = [];
    let url: string | null = `${api()}/employees?limit=20`;
    let pages = 0;
    while (url) {
      const response = await get(url);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { data: { id: string }[]; next: string | null };
      seen.push(...body.data.map((e) => e.id));
      if (body.next) expect(response.headers.get('link')).toBe(`<${body.next}>; rel="next"`);
      else expect(response.headers.get('link')).toBeNull();
      url = body.next;
      pages += 1;
    }
    expect(pages).toBe(3);
    expect(seen).toHaveLength(50);
    expect(new Set(seen).size).toBe(50);
    expect([...seen].sort()).toEqual(seen);
  });

  it('reads one employee with an ETag', async () => {
    const list = (await (await get(`${api()}/employees?limit=1`)).json()) as { data: { id: string; first_name: string }[] };
    const first = list.data[0];
    const response = await get(`${api()}/employees/${first?.id}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe('"1"');
    expect(await response.json()).toMatchObject({ id: first?.id, first_name: first?.first_name, version: 1 });
  });

  it('answers an unknown id, a malformed id and another tenant’s id with the same 404', async () => {
    const globexToken = await accessToken(server, server.credential('sandbox', 'globex'));
    const globex = (await (await get(`${server.credential('sandbox', 'globex').api_base}/employees`, globexToken)).json()) as {
      data: { id: string }[];
    };
    const bodies = [];
    for (const id of [globex.data[0]?.id, '00000000-0000-4000-8000-000000000000', 'not-a-uuid', "1'%20OR%20'1'='1"]) {
      const response = await get(`${api()}/employees/${id}`);
      expect(response.status, id).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      bodies.push(await response.text());
    }
    expect(new Set(bodies).size).toBe(1);
    expect(JSON.parse(bodies[0] ?? '')).toEqual({ ...problem('not-found', 404), title: 'Not Found', detail: 'No employee with this id.' });
  });

  it.each([
    ['tenant_id', 'x'],
    ['tenantId', 'x'],
    ['company_id', 'x'],
    ['TENANT_ID', 'x'],
  ])('refuses %s in the query string with 400 tenant-in-request', async (name, value) => {
    const response = await get(`${api()}/employees?${name}=${value}`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      ...problem('tenant-in-request', 400),
      title: 'Tenant Given in Request',
      detail: 'The tenant comes from the host name and the access token; do not send it in the query or body.',
      errors: [{ pointer: `/query/${name}`, detail: 'tenant fields are not accepted' }],
    });
  });

  it('refuses a tenant_id anywhere in a JSON body with 400, naming its pointer', async () => {
    const response = await server.fetch(`${api()}/employees`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ first_name: 'Eve', meta: { tenantId: 'globex' } }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ ...problem('tenant-in-request', 400), errors: [{ pointer: '/meta/tenantId' }] });
  });

  it('names unknown query parameters in a 400', async () => {
    const response = await get(`${api()}/employees?limit=5&order=name&foo=1`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      ...problem('invalid-query', 400),
      errors: [
        { pointer: '/query/order', detail: 'unknown query parameter "order"' },
        { pointer: '/query/foo', detail: 'unknown query parameter "foo"' },
      ],
    });
  });

  describe('tokens', () => {
    const realm = () => new URL(api()).origin;
    const expectInvalidToken = async (response: UndiciResponse, detail: string) => {
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(
        `Bearer realm="${realm()}", error="invalid_token", error_description="${detail.replace(/"/g, '')}"`,
      );
      expect(await response.json()).toEqual({ ...problem('invalid-token', 401), title: 'Unauthorized', detail });
    };

    it('asks for a token, with a bare challenge, when none is sent', async () => {
      const response = await get(`${api()}/employees`, null);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(`Bearer realm="${realm()}"`);
      expect(await response.json()).toMatchObject(problem('invalid-token', 401));
    });

    it('refuses a malformed token', async () => {
      await expectInvalidToken(await get(`${api()}/employees`, 'not.a.jwt'), 'The access token is invalid.');
    });

    it('refuses an expired token (clock moved forward, no waiting)', async () => {
      const fresh = await accessToken(server, server.credential('sandbox', 'acme'));
      clockOffsetMs = 2 * 3600 * 1000;
      try {
        await expectInvalidToken(await get(`${api()}/employees`, fresh), 'The access token has expired.');
      } finally {
        clockOffsetMs = 0;
      }
    });

    it('refuses alg: none', async () => {
      await expectInvalidToken(
        await get(`${api()}/employees`, unsignedToken(claimsOf(token))),
        'The access token is signed with an algorithm that is not accepted.',
      );
    });

    it('refuses HS256 keyed with the tenant’s public key', async () => {
      const key = await tenantSigningKey(server, 'sandbox', 'acme');
      const { d: _private, ...publicJwk } = key;
      const forged = hs256WithPublicKey(publicJwk, key.kid, claimsOf(token));
      await expectInvalidToken(
        await get(`${api()}/employees`, forged),
        'The access token is signed with an algorithm that is not accepted.',
      );
    });

    it('refuses a correctly signed token whose typ is not at+jwt', async () => {
      const forged = await signWithTenantKey(server, 'sandbox', 'acme', claimsOf(token), { typ: 'JWT' });
      await expectInvalidToken(await get(`${api()}/employees`, forged), 'The token is not an access token (typ must be at+jwt).');
    });

    it('refuses a correctly signed token for another audience', async () => {
      const forged = await signWithTenantKey(server, 'sandbox', 'acme', {
        ...claimsOf(token),
        aud: 'http://globex.connect-sandbox.localhost',
      });
      await expectInvalidToken(await get(`${api()}/employees`, forged), 'The access token was not issued for this tenant and environment.');
    });

    it('refuses a correctly signed token whose sub is not its client_id', async () => {
      const forged = await signWithTenantKey(server, 'sandbox', 'acme', { ...claimsOf(token), sub: 'someone-else' });
      await expectInvalidToken(
        await get(`${api()}/employees`, forged),
        'The access token is not a client credentials token of this tenant.',
      );
    });

    it('answers 403 insufficient_scope when the token lacks the route’s scope', async () => {
      const noScope = await signWithTenantKey(server, 'sandbox', 'acme', { ...claimsOf(token), scope: 'contracts:read employees:write' });
      const response = await get(`${api()}/employees`, noScope);
      expect(response.status).toBe(403);
      expect(response.headers.get('www-authenticate')).toBe(
        `Bearer realm="${realm()}", error="insufficient_scope", error_description="requires scope employees:read", scope="employees:read"`,
      );
      expect(await response.json()).toEqual({
        ...problem('insufficient-scope', 403),
        title: 'Forbidden',
        detail: 'This request requires the scope "employees:read".',
        required_scope: 'employees:read',
      });
    });
  });
});
