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

  it('rebuilds an evicted tenant’s Provider with the same signing key, so earlier and later tokens both verify', async () => {
    const credential = server.credential('production', 'acme');
    const tenant = await server.booted.app.tenants.getTenant('production', 'acme');
    const before = await accessToken(server, credential);
    // the other three tenants push acme's Provider out of a pool of two
    for (const other of server.credentials.filter((c) => c !== credential)) await requestToken(server, other);
    server.booted.app.providers.evict(tenant?.id ?? '');
    const after = await accessToken(server, credential);
    const kid = (token: string) => (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }).kid;
    expect(kid(after)).toBe(kid(before));
    for (const token of [before, after]) {
      const response = await server.fetch(`${credential.api_base}/employees?limit=1`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
    }
  });
});
