/**
 * Caches are invalidated by the database's change notifications within a second, in this instance
 * and (on Postgres) in another instance on the same database: a suspended tenant, a disabled
 * client, a rotated secret, a changed setting. Changes are made with plain SQL as the owner, so
 * these tests hold for whatever writes the row.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClientSecret, hashClientSecret } from '../../src/auth/client-secrets.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';
import { accessToken, requestToken, startTestServer, type TestServer } from '../helpers/server.ts';

describe.each(testDatabaseKinds())('cache invalidation on %s', (kind) => {
  let first: TestServer;
  /** a second instance on the same database (Postgres only: PGlite is one process's) */
  let second: TestServer | undefined;
  beforeAll(async () => {
    first = await startTestServer(kind);
    if (kind === 'postgres') second = await startTestServer(kind, { sharedDatabase: first });
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  const instances = () => [first, ...(second ? [second] : [])];
  const sql = (text: string, params: unknown[] = []) => first.booted.db.admin.query(text, params);
  const tenantId = async (environment: string, slug: string) =>
    (await sql('SELECT id FROM tenants WHERE environment = $1 AND slug = $2', [environment, slug]))[0]?.id as string;
  const api = (server: TestServer, environment: string, tenant: string, token: string) =>
    server.fetch(`${server.credential(environment, tenant).api_base}/employees?limit=1`, { headers: { authorization: `Bearer ${token}` } });

  it('a suspended tenant: token endpoint and API refuse in every instance within a second, and recover', async () => {
    const tokens = await Promise.all(instances().map((s) => accessToken(s, s.credential('production', 'globex'))));
    for (const [i, s] of instances().entries()) expect((await api(s, 'production', 'globex', tokens[i] as string)).status).toBe(200); // warm caches
    const id = await tenantId('production', 'globex');
    await sql(`UPDATE tenants SET status = 'SUSPENDED' WHERE id = $1`, [id]);
    for (const [i, s] of instances().entries()) {
      const ms = await eventually(async () => {
        expect((await api(s, 'production', 'globex', tokens[i] as string)).status).toBe(403);
        expect((await requestToken(s, s.credential('production', 'globex'))).status).toBe(400);
      });
      expect(ms).toBeLessThan(1000);
    }
    await sql(`UPDATE tenants SET status = 'ACTIVE' WHERE id = $1`, [id]);
    for (const [i, s] of instances().entries())
      await eventually(async () => expect((await api(s, 'production', 'globex', tokens[i] as string)).status).toBe(200));
  });

  it('a disabled client: its existing tokens and its secret stop working within a second', async () => {
    const tokens = await Promise.all(instances().map((s) => accessToken(s, s.credential('sandbox', 'globex'))));
    const id = await tenantId('sandbox', 'globex');
    const clientId = first.credential('sandbox', 'globex').client_id;
    await sql('UPDATE clients SET disabled_at = now() WHERE tenant_id = $1 AND client_id = $2', [id, clientId]);
    for (const [i, s] of instances().entries()) {
      await eventually(async () => {
        const response = await api(s, 'sandbox', 'globex', tokens[i] as string);
        expect(response.status).toBe(401);
        expect(await response.json()).toMatchObject({ detail: 'The client this token was issued to is disabled or no longer exists.' });
        expect((await requestToken(s, s.credential('sandbox', 'globex'))).status).toBe(401);
      });
    }
    await sql('UPDATE clients SET disabled_at = NULL WHERE tenant_id = $1 AND client_id = $2', [id, clientId]);
    for (const [i, s] of instances().entries())
      await eventually(async () => expect((await api(s, 'sandbox', 'globex', tokens[i] as string)).status).toBe(200));
  });

  it('a rotated secret: the new one works and the expired old one stops within a second', async () => {
    const credential = first.credential('production', 'acme');
    for (const s of instances()) expect((await requestToken(s, credential)).status).toBe(200); // cached with the old secret
    const id = await tenantId('production', 'acme');
    const secret = generateClientSecret();
    await first.booted.db.admin.scoped(id, async (tx) => {
      const [client] = await tx.query<{ id: string }>('SELECT id FROM clients WHERE tenant_id = $1 AND client_id = $2', [
        id,
        credential.client_id,
      ]);
      await tx.query('UPDATE client_secrets SET expires_at = now() WHERE tenant_id = $1 AND client_id = $2', [id, client?.id]);
      await tx.query('INSERT INTO client_secrets (tenant_id, client_id, secret_hash) VALUES ($1, $2, $3)', [
        id,
        client?.id,
        hashClientSecret(secret),
      ]);
    });
    for (const s of instances()) {
      await eventually(async () => {
        expect((await requestToken(s, credential)).status).toBe(401);
        expect((await requestToken(s, { ...credential, client_secret: secret })).status).toBe(200);
      });
    }
  });

  it('a changed setting: the next token carries the new lifetime', async () => {
    const credential = first.credential('sandbox', 'acme');
    const id = await tenantId('sandbox', 'acme');
    await sql(`UPDATE tenants SET settings = settings || '{"access_token_ttl": 900}' WHERE id = $1`, [id]);
    for (const s of instances()) {
      await eventually(async () => {
        const response = await requestToken(s, credential);
        expect(((await response.json()) as { expires_in: number }).expires_in).toBe(900);
      });
    }
  });
});
