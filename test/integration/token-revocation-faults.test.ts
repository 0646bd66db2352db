/**
 * Revocation when the database cannot answer: the revocation endpoint answers RFC 6749's 503
 * temporarily_unavailable with Retry-After and lists nothing, an API request whose tenant's
 * revocation list cannot be loaded answers a 503 problem, and both recover by themselves. The
 * fault is a loopback TCP proxy that resets every connection. Postgres only (PGlite has no
 * connection to break).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.ts';
import { accessToken, type TestServer } from '../helpers/server.ts';
import { startServerBehindFaultProxy, type ServerBehindFaultProxy } from '../helpers/server-behind-fault-proxy.ts';
import type { TcpProxy } from '../helpers/tcp-proxy.ts';

const adminUrl = process.env.TEST_DATABASE_URL;

describe.skipIf(!adminUrl)('token revocation with the database unreachable (Postgres)', () => {
  let faulty: ServerBehindFaultProxy;
  let proxy: TcpProxy;
  let server: TestServer;

  beforeAll(async () => {
    faulty = await startServerBehindFaultProxy(adminUrl as string);
    ({ proxy, server } = faulty);
  });
  afterAll(async () => {
    await faulty?.close();
  });

  it('answers 503 with Retry-After while the database is down, lists nothing, and works again after', async () => {
    const acme = server.credential('sandbox', 'acme');
    const globex = server.credential('sandbox', 'globex');
    const token = await accessToken(server, acme);
    const globexToken = await accessToken(server, globex);
    const call = async (credential: typeof acme, bearer: string) => {
      const response = await server.fetch(`${credential.api_base}/employees?limit=1`, { headers: { authorization: `Bearer ${bearer}` } });
      return {
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body: (await response.json()) as Record<string, unknown>,
      };
    };
    const revoke = () =>
      server.fetch(`${acme.issuer}/connect/revocation`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${acme.client_id}:${acme.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token }).toString(),
      });
    expect((await call(acme, token)).status).toBe(200); // acme's revocation list is loaded; globex's is not

    proxy.setMode('reset');
    const refused = await revoke();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    expect(await refused.json()).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'the service is temporarily unavailable; retry shortly',
    });
    const unloaded = await call(globex, globexToken);
    expect(unloaded).toMatchObject({ status: 503, body: { type: 'https://tenant-connect.dev/problems/service-unavailable', status: 503 } });
    expect(unloaded.retryAfter).not.toBeNull();

    proxy.setMode('forward');
    // the failed revocation wrote nothing: the token still works once the database is back
    await eventually(async () => expect((await call(acme, token)).status).toBe(200), 10_000);
    expect((await call(globex, globexToken)).status).toBe(200);
    await eventually(async () => expect((await revoke()).status).toBe(200), 10_000);
    expect((await call(acme, token)).status).toBe(401);
  });
});
