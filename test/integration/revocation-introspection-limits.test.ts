/**
 * Revocation and introspection are counted apart from token issuance (RateLimitSurface): a gateway
 * introspecting the tenant's API traffic is bounded by the tenant's per_tenant on its own count,
 * never by per_client, never by the client's token quota, and never uses up what the token
 * endpoint allows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, type AdminClient } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { accessToken, startTestServer, type TestServer } from '../helpers/server.ts';

describe.each(testDatabaseKinds())('rate limits of revocation and introspection on %s', (kind) => {
  let server: TestServer;
  let operator: AdminClient;
  const credential = () => server.credential('sandbox', 'acme');
  const basic = () => `Basic ${Buffer.from(`${credential().client_id}:${credential().client_secret}`).toString('base64')}`;
  const post = (endpoint: 'introspect' | 'revocation', token: string) =>
    server.fetch(`${credential().issuer}/connect/${endpoint}`, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });
  const requestToken = () =>
    server.fetch(credential().token_endpoint, {
      method: 'POST',
      headers: { authorization: basic(), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=employees%3Aread',
    });
  /** PATCHes acme's settings, then waits out the change notification (within a second) */
  const changeSettings = async (settings: Record<string, unknown>) => {
    expect((await operator.call('PATCH', '/tenants/acme', { settings })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1500));
  };
  const resetSettings = () => changeSettings({ rate_limit: null, token_quota: null });

  beforeAll(async () => {
    server = await startTestServer(kind);
    operator = await adminClient(server, { environment: 'sandbox' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('does not charge per_client: with one request a second per client, five introspections at once all answer', async () => {
    const token = await accessToken(server, credential());
    await changeSettings({ rate_limit: { per_client: 1 } });
    try {
      const answers = await Promise.all(Array.from({ length: 5 }, () => post('introspect', token)));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
      expect(await answers[0]?.json()).toMatchObject({ active: true, client_id: credential().client_id });
      // per_client still binds the token endpoint
      const tokens = await Promise.all(Array.from({ length: 4 }, requestToken));
      expect(tokens.map((t) => t.status)).toContain(429);
      expect((await post('revocation', token)).status).toBe(200);
    } finally {
      await resetSettings();
    }
  });

  it("does not charge the client's token quota: ten introspections and a revocation leave a quota of two tokens untouched", async () => {
    await changeSettings({ token_quota: { per_hour: 2 } });
    try {
      const first = await requestToken();
      expect(first.status).toBe(200);
      const token = ((await first.json()) as { access_token: string }).access_token;
      for (let i = 0; i < 10; i += 1) expect((await post('introspect', token)).status).toBe(200);
      expect((await post('revocation', token)).status).toBe(200);
      expect((await requestToken()).status).toBe(200);
      const third = await requestToken();
      expect(third.status).toBe(429);
      expect(((await third.json()) as { error_description: string }).error_description).toMatch(
        /^this client has used its quota of 2 tokens per hour/,
      );
    } finally {
      await resetSettings();
    }
  });

  it("counts them against the tenant's per_tenant on their own: past it 429, while the token endpoint still answers", async () => {
    const token = await accessToken(server, credential());
    await changeSettings({ rate_limit: { per_tenant: 3 } });
    try {
      let throttled: Response | undefined;
      for (let attempt = 0; attempt < 20 && !throttled; attempt += 1) {
        const answers = await Promise.all(Array.from({ length: 12 }, () => post('introspect', token)));
        throttled = answers.find((a) => a.status === 429);
      }
      expect(throttled?.status).toBe(429);
      expect(throttled?.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await throttled?.json()).toEqual({
        error: 'too_many_requests',
        error_description: 'more than 3 revocation and introspection requests per second for this tenant',
      });
      // the token endpoint's count for the tenant is its own
      expect((await requestToken()).status).toBe(200);
    } finally {
      await resetSettings();
    }
  });
});
