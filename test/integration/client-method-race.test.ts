/**
 * A client's auth method changed while another transaction changes the same client: the PATCH
 * checks the client's keys with its row locked, so a change committed meanwhile (the sandbox sync
 * clears a client's keys when production's copy has none) is seen by the check and answered 422,
 * never met by the database's CHECK (clients_private_key_jwt_keys) as a 500. Postgres only: PGlite
 * is one connection, so nothing can commit while the PATCH runs.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, type AdminClient } from '../helpers/admin.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe.skipIf(!process.env.TEST_DATABASE_URL)('changing a client auth method while its keys are cleared (Postgres)', () => {
  let server: TestServer;
  let admin: AdminClient;

  beforeAll(async () => {
    server = await startTestServer('postgres');
    admin = await adminClient(server, { environment: 'sandbox' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers 422 "needs keys first", not 500, when the keys are cleared while the PATCH runs', async () => {
    // a private_key_jwt client that got a secret and moved to client_secret_basic: it keeps its keys
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: randomUUID(), alg: 'ES256', use: 'sig' };
    const created = await admin.call<{ client_id: string }>('POST', '/tenants/acme/clients', {
      name: 'racing',
      scopes: ['employees:read'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [jwk] },
    });
    expect(created.status).toBe(201);
    const clientId = created.body.client_id;
    expect((await admin.call('POST', `/tenants/acme/clients/${clientId}/rotate-secret`)).status).toBe(200);
    expect(
      (await admin.call('PATCH', `/tenants/acme/clients/${clientId}`, { token_endpoint_auth_method: 'client_secret_basic' })).status,
    ).toBe(200);

    const { db } = server.booted;
    const [tenant] = await db.admin.query<{ id: string }>(`SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`);
    const tenantId = tenant?.id ?? '';
    let commit!: () => void;
    const committing = new Promise<void>((resolve) => (commit = resolve));
    let cleared!: () => void;
    const keysCleared = new Promise<void>((resolve) => (cleared = resolve));
    // what the sandbox sync's upsert does to a client whose production copy has no keys, held open
    const clearing = db.admin.scoped(tenantId, async (tx) => {
      await tx.query(
        `UPDATE clients SET auth_methods = '{client_secret_basic}', jwks = NULL, jwks_uri = NULL WHERE tenant_id = $1 AND client_id = $2`,
        [tenantId, clientId],
      );
      cleared();
      await committing;
    });
    await keysCleared;
    const patch = admin.call('PATCH', `/tenants/acme/clients/${clientId}`, { token_endpoint_auth_method: 'private_key_jwt' });
    // the PATCH waits for the clearing transaction's row lock
    await eventually(async () => {
      const [waiting] = await db.admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      expect(waiting?.n).toBeGreaterThan(0);
    }, 10_000);
    commit();
    await clearing;

    const answer = await patch;
    expect(answer.status).toBe(422);
    expect(answer.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(answer.body).toMatchObject({ detail: expect.stringContaining(`/clients/${clientId}/jwks`) });
    const after = await admin.call<{ token_endpoint_auth_method: string; jwks: unknown }>('GET', `/tenants/acme/clients/${clientId}`);
    expect(after.body).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', jwks: null });
  });
});
