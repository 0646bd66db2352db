import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createFreshDatabase, type FreshDatabase, testDatabaseKinds } from '../helpers/databases.ts';

describe.each(testDatabaseKinds())('migrations on %s', (kind) => {
  let fresh: FreshDatabase;
  let db: Database;
  beforeAll(async () => {
    fresh = await createFreshDatabase(kind);
    db = await createDatabase({ databaseUrl: fresh.url });
  });
  afterAll(async () => {
    await db?.close();
    await fresh?.drop();
  });

  it('apply once on a fresh database and are a no-op the second time', async () => {
    const first = await migrate(db);
    expect(first.length).toBeGreaterThan(0);
    expect(await migrate(db)).toEqual([]);
    const recorded = await db.admin.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
    expect(recorded.map((r) => r.name)).toEqual(first);
  });

  it('produce the tables the code expects', async () => {
    const tables = await db.admin.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
    expect(tables.map((t) => t.tablename)).toEqual([
      'absences',
      'activity_definitions',
      'audit_events',
      'auth_events',
      'client_assertion_jtis',
      'client_secrets',
      'client_token_cutoffs',
      'clients',
      'clockings',
      'contracts',
      'employees',
      'idempotency_keys',
      'job_leases',
      'key_promotions',
      'oauth_replay_detections',
      'org_units',
      'outbox_events',
      'resource_resets',
      'revoked_tokens',
      'schema_migrations',
      'signing_keys',
      'tenants',
      'tombstones',
      'usage_daily',
      'usage_hourly',
      'webhook_attempts',
      'webhook_deliveries',
      'webhook_schedule',
      'webhook_subscriptions',
    ]);
  });
  it('enable_tenant_rls gives a new table the very policies of the existing ones, failing closed', async () => {
    const policies = (table: string) =>
      db.admin.query(
        `SELECT c.relrowsecurity, c.relforcerowsecurity, p.polname, p.polpermissive, p.polcmd, p.polroles::text AS roles,
                pg_get_expr(p.polqual, p.polrelid) AS using, pg_get_expr(p.polwithcheck, p.polrelid) AS check
           FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid
          WHERE c.oid = $1::regclass ORDER BY p.polname`,
        [table],
      );
    await db.admin.exec(`CREATE TABLE scratch_rls (tenant_id uuid NOT NULL, n integer NOT NULL, PRIMARY KEY (tenant_id, n));
                         SELECT enable_tenant_rls('scratch_rls');
                         GRANT SELECT, INSERT ON scratch_rls TO tenant_connect_app`);
    try {
      const made = await policies('scratch_rls');
      expect(made).toHaveLength(2);
      for (const existing of ['employees', 'idempotency_keys', 'webhook_deliveries', 'webhook_attempts'])
        expect(made).toEqual(await policies(existing));

      const [a, b] = [randomUUID(), randomUUID()];
      for (const tenant of [a, b]) await db.scoped(tenant, (tx) => tx.query('INSERT INTO scratch_rls VALUES ($1, 1)', [tenant]));
      expect(await db.scoped(null, (tx) => tx.query('SELECT * FROM scratch_rls'))).toEqual([]);
      expect(await db.scoped(a, (tx) => tx.query('SELECT tenant_id FROM scratch_rls'))).toEqual([{ tenant_id: a }]);
      await expect(db.scoped(a, (tx) => tx.query('INSERT INTO scratch_rls VALUES ($1, 2)', [b]))).rejects.toMatchObject({ code: '42501' });
    } finally {
      await db.admin.exec('DROP TABLE scratch_rls');
    }
  });

  it('lets only the migration role call enable_tenant_rls', async () => {
    const [grant] = await db.admin.query<{ app: boolean }>(
      `SELECT has_function_privilege('tenant_connect_app', 'enable_tenant_rls(regclass)', 'EXECUTE') AS app`,
    );
    expect(grant).toEqual({ app: false });
  });
});
