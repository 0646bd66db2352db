/**
 * Every (environment, tenant) against every other: a token works only on its own tenant's host
 * in its own environment (401 elsewhere), credentials only at their own token endpoint, and a
 * resource id of any other tenant answers 404 with the body of an id that never existed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoCredential } from '../../src/admin/operator/demo-seed.ts';
import { createClient } from '../../src/auth/clients.ts';
import { TENANT_ADMIN_SCOPE } from '../../src/catalog/scopes.ts';
import { issuedAccessToken } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { accessToken, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';

const label = (c: DemoCredential) => `${c.environment}/${c.tenant}`;

describe.each(testDatabaseKinds())('isolation matrix on %s', (kind) => {
  let server: TestServer;
  const tokens = new Map<string, string>();
  const employeeIds = new Map<string, string[]>();

  beforeAll(async () => {
    server = await startTestServer(kind);
    for (const credential of server.credentials) {
      const token = await accessToken(server, credential);
      tokens.set(label(credential), token);
      const list = (await (
        await server.fetch(`${credential.api_base}/employees`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as {
        data: { id: string }[];
      };
      employeeIds.set(
        label(credential),
        list.data.map((e) => e.id),
      );
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  it('covers both environments and both tenants (4 × 4 pairs)', () => {
    expect(server.credentials.map(label).sort()).toEqual(['production/acme', 'production/globex', 'sandbox/acme', 'sandbox/globex']);
  });

  it('accepts a token only on its own tenant’s API in its own environment', async () => {
    const outcomes: string[] = [];
    for (const holder of server.credentials) {
      for (const target of server.credentials) {
        const response = await server.fetch(`${target.api_base}/employees`, {
          headers: { authorization: `Bearer ${tokens.get(label(holder))}` },
        });
        const expected = holder === target ? 200 : 401;
        outcomes.push(`${label(holder)} → ${label(target)}: ${response.status}`);
        expect(response.status, `${label(holder)} token on ${label(target)}`).toBe(expected);
        if (expected === 401) {
          const body = (await response.json()) as { type: string };
          expect(body.type).toBe('https://tenant-connect.dev/problems/invalid-token');
        }
      }
    }
    expect(outcomes).toHaveLength(16);
  });

  it('accepts client credentials only at their own token endpoint', async () => {
    for (const holder of server.credentials) {
      for (const target of server.credentials) {
        const response = await requestToken(server, { ...holder, token_endpoint: target.token_endpoint });
        expect(response.status, `${label(holder)} credentials at ${label(target)}`).toBe(holder === target ? 200 : 401);
        if (holder !== target) expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
      }
    }
  });

  it('answers every other tenant’s resource ids with the 404 of an id that never existed', async () => {
    const neverExisted = await server.fetch(`${server.credentials[0]?.api_base}/employees/00000000-0000-4000-8000-000000000000`, {
      headers: { authorization: `Bearer ${tokens.get(label(server.credentials[0] as DemoCredential))}` },
    });
    const expectedBody = await neverExisted.text();
    expect(neverExisted.status).toBe(404);
    for (const reader of server.credentials) {
      for (const owner of server.credentials) {
        for (const id of employeeIds.get(label(owner)) ?? []) {
          const response = await server.fetch(`${reader.api_base}/employees/${id}`, {
            headers: { authorization: `Bearer ${tokens.get(label(reader))}` },
          });
          if (reader === owner) {
            expect(response.status).toBe(200);
          } else {
            expect(response.status, `${label(reader)} reading ${label(owner)}'s ${id}`).toBe(404);
            expect(await response.text()).toBe(expectedBody);
          }
        }
      }
    }
  });

  it('lets a tenant admin read only its own tenant’s auth events: 404 for the other tenant, 401 on the other environment', async () => {
    const adminApi = (environment: string) => server.booted.admin.credentials[environment]?.admin_api ?? '';
    const holders = await Promise.all(
      server.credentials.map(async (credential) => {
        const [tenant] = await server.booted.db.admin.query<{ id: string }>(`SELECT id FROM tenants WHERE environment = $1 AND slug = $2`, [
          credential.environment,
          credential.tenant,
        ]);
        const created = await createClient(server.booted.db, tenant?.id ?? '', { name: 'matrix admin', scopes: [TENANT_ADMIN_SCOPE] });
        const token = await issuedAccessToken(credential.token_endpoint, created.clientId, created.clientSecret, TENANT_ADMIN_SCOPE);
        return { credential, token };
      }),
    );
    await server.booted.app.authEvents.flush();
    for (const holder of holders) {
      for (const target of server.credentials) {
        const response = await server.fetch(`${adminApi(target.environment)}/tenants/${target.tenant}/auth-events`, {
          headers: { authorization: `Bearer ${holder.token}` },
        });
        const expected = holder.credential === target ? 200 : holder.credential.environment === target.environment ? 404 : 401;
        expect(response.status, `${label(holder.credential)} reading ${label(target)}`).toBe(expected);
        const body = (await response.json()) as { data?: { client_id: string | null }[]; detail?: string };
        if (expected === 200) expect(body.data?.length).toBeGreaterThan(0);
        if (expected === 404) expect(body.detail).toBe(`No tenant "${target.tenant}" in this environment.`);
      }
    }
  });
});
