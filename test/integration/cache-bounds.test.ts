/** Caches stay within their configured sizes, and an evicted entry is rebuilt transparently. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessToken, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';

describe('cache bounds', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('pglite', { env: { PROVIDER_POOL_SIZE: '2', TENANT_CACHE_SIZE: '2' } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('keeps at most PROVIDER_POOL_SIZE Providers and TENANT_CACHE_SIZE tenants, serving every tenant throughout', async () => {
    for (let round = 0; round < 2; round += 1) {
      for (const credential of server.credentials) {
        expect((await requestToken(server, credential)).status).toBe(200);
        expect(server.booted.app.providers.size).toBeLessThanOrEqual(2);
        expect(server.booted.app.tenants.size).toBeLessThanOrEqual(2);
      }
    }
    expect(server.booted.app.providers.size).toBe(2);
  });

  it('verifies tokens of a tenant whose Provider was evicted', async () => {
    const credential = server.credential('production', 'acme');
    const token = await accessToken(server, credential);
    for (const other of server.credentials.filter((c) => c !== credential)) await requestToken(server, other);
    const response = await server.fetch(`${credential.api_base}/employees?limit=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
  });
});
