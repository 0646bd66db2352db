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

  it('give every foreign key an index leading with its columns, which the check on a parent delete uses', async () => {
    // a parent's DELETE looks up child rows `WHERE tenant_id = $1 AND <column> = $2` with a
    // generic plan; without such an index it reads every row of the tenant in the child table
    await migrate(db);
    const keys = await db.admin.query<{ child: string; columns: string[]; name: string }>(
      `SELECT c.conrelid::regclass::text AS child, c.conname AS name,
              array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY o) AS columns
         FROM pg_constraint c
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
        ORDER BY 1, 2`,
    );
    expect(keys.length).toBeGreaterThan(10);
    const unindexed = await db.admin.query<{ name: string }>(
      `SELECT c.conname AS name FROM pg_constraint c
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
          AND NOT EXISTS (
            SELECT 1 FROM pg_index x
             WHERE x.indrelid = c.conrelid AND x.indisvalid
               AND (x.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
               AND (x.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)`,
    );
    expect(unindexed).toEqual([]);
    const scans: string[] = [];
    await db.admin.scoped(null, async (tx) => {
      // priced out, not forbidden: the planner still scans the table when no index can serve
      await tx.query('SET LOCAL enable_seqscan = off');
      await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
      for (const [i, key] of keys.entries()) {
        const condition = key.columns.map((column, n) => `"${column}" = $${n + 1}`).join(' AND ');
        const types = key.columns.map(() => 'uuid').join(', ');
        await tx.query(`PREPARE fk_lookup_${i} (${types}) AS SELECT 1 FROM ONLY ${key.child} x WHERE ${condition} FOR KEY SHARE OF x`);
        const nil = key.columns.map(() => `'00000000-0000-0000-0000-000000000000'`).join(', ');
        const plan = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE fk_lookup_${i} (${nil})`);
        await tx.query(`DEALLOCATE fk_lookup_${i}`);
        const text = plan.map((row) => row['QUERY PLAN']).join('\n');
        // the index is bounded by every column of the key, not only by tenant_id
        const bound = plan.map((row) => row['QUERY PLAN']).find((line) => line.includes('Index Cond:')) ?? '';
        if (!key.columns.every((column) => bound.includes(column)) || /Seq Scan/.test(text)) scans.push(`${key.name}: ${text}`);
      }
    });
    expect(scans).toEqual([]);
  });

  it('lets only the migration role call enable_tenant_rls', async () => {
    const [grant] = await db.admin.query<{ app: boolean }>(
      `SELECT has_function_privilege('tenant_connect_app', 'enable_tenant_rls(regclass)', 'EXECUTE') AS app`,
    );
    expect(grant).toEqual({ app: false });
  });
});
