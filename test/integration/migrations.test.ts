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
    const recorded = await db.owner.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
    expect(recorded.map((r) => r.name)).toEqual(first);
  });

  it('produce the tables the code expects', async () => {
    const tables = await db.owner.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
    expect(tables.map((t) => t.tablename)).toEqual([
      'absences',
      'activity_definitions',
      'audit_events',
      'client_secrets',
      'clients',
      'clockings',
      'contracts',
      'employees',
      'idempotency_keys',
      'key_promotions',
      'org_units',
      'outbox_events',
      'schema_migrations',
      'signing_keys',
      'tenants',
      'webhook_deliveries',
      'webhook_schedule',
      'webhook_subscriptions',
    ]);
  });
});
