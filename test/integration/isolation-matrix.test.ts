/**
 * Every (environment, tenant) against every other: a token works only on its own tenant's host
 * in its own environment (401 elsewhere), credentials only at their own token endpoint, and a
 * resource id of any other tenant answers 404 with the body of an id that never existed.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoCredential } from '../../src/admin/operator/demo-seed.ts';
import { insertKeyClient } from '../../src/auth/clients.ts';
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

  it('accepts a private_key_jwt assertion only at its own tenant’s token endpoint in its own environment', async () => {
    // the hardest case: the same client_id in all four, each with its own key
    const clientId = 'matrix-signed';
    type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
    const keys = new Map<string, KeyPair>();
    for (const credential of server.credentials) {
      const pair = await generateKeyPair('ES256');
      keys.set(label(credential), pair);
      const tenant = await server.booted.app.tenants.getTenant(credential.environment, credential.tenant);
      const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
      await server.booted.db.admin.scoped(tenant?.id ?? '', (tx) =>
        insertKeyClient(tx, tenant?.id ?? '', { clientId, name: 'matrix', scopes: ['employees:read'], keys: { jwks: { keys: [jwk] } } }),
      );
    }
    const signed = (holder: DemoCredential, aud: string) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: clientId, sub: clientId, aud, jti: randomUUID(), iat: now, exp: now + 30 })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .sign((keys.get(label(holder)) as KeyPair).privateKey);
    };
    const present = async (target: DemoCredential, assertion: string) =>
      (
        await server.fetch(target.token_endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: assertion,
          }).toString(),
        })
      ).status;
    for (const holder of server.credentials) {
      for (const target of server.credentials) {
        // aud = the target's issuer (what a confused or malicious caller would set), and aud = its own
        const atTarget = await present(target, await signed(holder, target.issuer));
        expect(atTarget, `${label(holder)} assertion (aud ${label(target)}) at ${label(target)}`).toBe(holder === target ? 200 : 401);
        if (holder !== target) {
          const ownAud = await present(target, await signed(holder, holder.issuer));
          expect(ownAud, `${label(holder)} assertion (aud ${label(holder)}) at ${label(target)}`).toBe(401);
        }
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
});
