/**
 * Every (environment, tenant) against every other: a token works only on its own tenant's host
 * in its own environment (401 elsewhere), credentials only at their own token endpoint, and a
 * resource id of any other tenant answers 404 with the body of an id that never existed; a
 * tenant's tombstones and events feed hold its own deletions and events only, and another
 * tenant's event id is a cursor that never existed. At the revocation and introspection
 * endpoints: credentials only at their own tenant, a token active only there, and a revocation
 * elsewhere changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoCredential } from '../../src/admin/operator/demo-seed.ts';
import { createClient, insertKeyClient } from '../../src/auth/clients.ts';
import { TENANT_ADMIN_SCOPE } from '../../src/catalog/scopes.ts';
import { issuedAccessToken } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';
import { accessToken, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';
import { proofKey, signProof } from '../helpers/dpop.ts';
import { DPOP_SIGNING_ALGORITHMS } from '../../src/catalog/dpop-algorithms.ts';

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

  it('accepts a DPoP-bound token, with a valid proof of its key for the target URL, only on its own tenant’s API', async () => {
    const key = await proofKey();
    const dpopTokens = new Map<string, string>();
    for (const holder of server.credentials) {
      const response = await requestToken(server, holder, {}, { dpop: await signProof(key, { htm: 'POST', htu: holder.token_endpoint }) });
      const body = (await response.json()) as { access_token: string; token_type: string };
      expect(body.token_type, label(holder)).toBe('DPoP');
      dpopTokens.set(label(holder), body.access_token);
    }
    for (const holder of server.credentials) {
      const token = dpopTokens.get(label(holder)) as string;
      for (const target of server.credentials) {
        const url = `${target.api_base}/employees`;
        const response = await server.fetch(url, {
          headers: { authorization: `DPoP ${token}`, dpop: await signProof(key, { htm: 'GET', htu: url, token }) },
        });
        expect(response.status, `${label(holder)} DPoP token on ${label(target)}`).toBe(holder === target ? 200 : 401);
        if (holder !== target) {
          const body = (await response.json()) as { type: string; detail: string };
          expect(body.type).toBe('https://tenant-connect.dev/problems/invalid-token');
          // refused in the scheme it came with (RFC 9449 §7.1)
          expect(response.headers.get('www-authenticate')).toBe(
            `DPoP realm="${new URL(target.api_base).origin}", error="invalid_token", error_description="${body.detail}", algs="${DPOP_SIGNING_ALGORITHMS.join(' ')}"`,
          );
        }
      }
      // on its own host, a proof made for another tenant's or environment's URL is refused
      for (const other of server.credentials.filter((c) => c !== holder)) {
        const response = await server.fetch(`${holder.api_base}/employees`, {
          headers: {
            authorization: `DPoP ${token}`,
            dpop: await signProof(key, { htm: 'GET', htu: `${other.api_base}/employees`, token }),
          },
        });
        expect(response.status, `${label(holder)} with a proof for ${label(other)}`).toBe(401);
        expect(response.headers.get('www-authenticate')).toContain('error="invalid_dpop_proof"');
      }
    }
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

  it('lets a tenant admin read only its own tenant’s auth events and usage: 404 for the other tenant, 401 on the other environment', async () => {
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
    await server.booted.app.usageCounts.flush();
    for (const holder of holders) {
      for (const target of server.credentials) {
        for (const path of [`/tenants/${target.tenant}/auth-events`, `/usage?tenant=${target.tenant}`]) {
          const response = await server.fetch(`${adminApi(target.environment)}${path}`, {
            headers: { authorization: `Bearer ${holder.token}` },
          });
          const expected = holder.credential === target ? 200 : holder.credential.environment === target.environment ? 404 : 401;
          expect(response.status, `${label(holder.credential)} reading ${label(target)} ${path}`).toBe(expected);
          const body = (await response.json()) as { data?: { tenant?: string }[]; detail?: string };
          if (expected === 200) expect(body.data?.length).toBeGreaterThan(0);
          if (expected === 200 && path.startsWith('/usage')) expect(body.data?.every((r) => r.tenant === target.tenant)).toBe(true);
          if (expected === 404) expect(body.detail).toBe(`No tenant "${target.tenant}" in this environment.`);
        }
      }
    }
  });
  describe('tombstones and the events feed', () => {
    /** per tenant: the org unit it created and deleted, and the events that wrote */
    const deletedIds = new Map<string, string>();
    const eventIds = new Map<string, string[]>();
    let since = '';
    const call = (
      credential: DemoCredential,
      path: string,
      init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
    ) =>
      server.fetch(`${credential.api_base}${path}`, {
        method: init.method ?? 'GET',
        headers: {
          authorization: `Bearer ${tokens.get(label(credential))}`,
          ...(init.body ? { 'content-type': 'application/json' } : {}),
          ...init.headers,
        },
        ...(init.body ? { body: JSON.stringify(init.body) } : {}),
      });

    beforeAll(async () => {
      since = new Date(Date.now() - 60_000).toISOString();
      for (const credential of server.credentials) {
        const created = (await (
          await call(credential, '/org-units', { method: 'POST', body: { code: 'ISO-GONE', name: 'gone' } })
        ).json()) as {
          id: string;
        };
        const removed = await call(credential, `/org-units/${created.id}`, { method: 'DELETE', headers: { 'if-match': '"1"' } });
        expect(removed.status).toBe(204);
        deletedIds.set(label(credential), created.id);
        const [tenant] = await server.booted.db.admin.query<{ id: string }>('SELECT id FROM tenants WHERE environment = $1 AND slug = $2', [
          credential.environment,
          credential.tenant,
        ]);
        const events = await server.booted.db.admin.scoped(tenant?.id ?? '', (tx) =>
          tx.query<{ id: string }>(`SELECT id FROM outbox_events WHERE tenant_id = $1 AND data->>'id' = $2 ORDER BY id`, [
            tenant?.id,
            created.id,
          ]),
        );
        expect(events).toHaveLength(2);
        eventIds.set(
          label(credential),
          events.map((e) => e.id),
        );
      }
    });

    it('shows each tenant its own tombstones only', async () => {
      for (const reader of server.credentials) {
        const response = await call(reader, `/org-units?updated_since=${encodeURIComponent(since)}&include_deleted=true&limit=200`);
        expect(response.status).toBe(200);
        const body = (await response.json()) as { data: { id: string; deleted?: true }[] };
        expect(
          body.data.filter((item) => item.deleted).map((item) => item.id),
          label(reader),
        ).toEqual([deletedIds.get(label(reader))]);
      }
    });

    it("shows each tenant its own events only, and answers another tenant's event id like one that never existed", async () => {
      for (const reader of server.credentials) {
        let feed: { id: string; tenant: string; environment: string }[] = [];
        // an event is readable once older transactions have ended (on a shared Postgres, others' too)
        await eventually(async () => {
          feed = ((await (await call(reader, '/events?limit=200')).json()) as { data: typeof feed }).data;
          expect(feed.map((e) => e.id)).toEqual(expect.arrayContaining(eventIds.get(label(reader)) ?? ['none']));
        }, 10_000);
        expect(feed.every((e) => e.tenant === reader.tenant && e.environment === reader.environment)).toBe(true);
        for (const owner of server.credentials.filter((c) => c !== reader)) {
          for (const id of eventIds.get(label(owner)) ?? []) {
            expect(feed.some((e) => e.id === id)).toBe(false);
            const response = await call(reader, `/events?after=${id}`);
            expect(response.status, `${label(reader)} after ${label(owner)}'s event`).toBe(410);
            const neverExisted = '00000000-0000-7000-8000-000000000000';
            // the same answer but for the id itself (and the instant the hint names)
            const normalized = (text: string) => text.replaceAll(/created_after=[^ ]+ /g, 'created_after=… ');
            const expected = (await (await call(reader, `/events?after=${neverExisted}`)).text()).replaceAll(neverExisted, id);
            expect(normalized(await response.text())).toBe(normalized(expected));
          }
        }
      }
    });
  });

  /** a form POST to one of a tenant's OAuth endpoints, authenticated as `client` (client_secret_basic) */
  const postForm = (endpoint: string, client: DemoCredential, form: Record<string, string>) =>
    server.fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(form).toString(),
    });

  it('introspects a token as active only at its own tenant’s endpoint in its own environment', async () => {
    for (const holder of server.credentials) {
      for (const target of server.credentials) {
        const response = await postForm(`${target.issuer}/connect/introspect`, target, { token: tokens.get(label(holder)) ?? '' });
        const body = (await response.json()) as Record<string, unknown>;
        expect(response.status).toBe(200);
        if (holder === target) expect(body, label(holder)).toMatchObject({ active: true, iss: holder.issuer, client_id: holder.client_id });
        else expect(body, `${label(holder)} token at ${label(target)}`).toEqual({ active: false });
      }
    }
  });

  it('accepts credentials at revocation and introspection only at their own tenant, and revokes nothing elsewhere', async () => {
    for (const holder of server.credentials) {
      for (const target of server.credentials) {
        if (holder === target) continue;
        const token = tokens.get(label(holder)) ?? '';
        // another tenant's (or environment's) client: not a client here
        for (const endpoint of ['revocation', 'introspect']) {
          const foreign = await postForm(`${target.issuer}/connect/${endpoint}`, holder, { token });
          expect(foreign.status, `${label(holder)} credentials at ${label(target)} ${endpoint}`).toBe(401);
          expect(((await foreign.json()) as { error: string }).error).toBe('invalid_client');
        }
        // the target's own client revoking the holder's token: an invalid token there (RFC 7009 §2.2)
        const revoked = await postForm(`${target.issuer}/connect/revocation`, target, { token });
        expect({ status: revoked.status, body: await revoked.text() }).toEqual({ status: 200, body: '' });
      }
    }
    for (const holder of server.credentials) {
      const response = await server.fetch(`${holder.api_base}/employees?limit=1`, {
        headers: { authorization: `Bearer ${tokens.get(label(holder))}` },
      });
      expect(response.status, `${label(holder)} token after revocations elsewhere`).toBe(200);
    }
  });
});
