/**
 * The databases a database-facing test runs on: always the embedded PGlite, plus the Postgres at
 * TEST_DATABASE_URL when it is set. Each Postgres run gets a fresh database, dropped afterwards.
 *
 * TEST_DATABASE_APP_URL (CI's PgBouncer pass): the runtime login's URL through PgBouncer, without
 * a database name; each fresh database is reached through it for requests (DATABASE_APP_URL), the
 * owner, LISTEN and workers stay direct. That pass runs the Postgres variants only.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export type TestDatabaseKind = 'pglite' | 'postgres';

export function testDatabaseKinds(): TestDatabaseKind[] {
  if (process.env.TEST_DATABASE_URL && process.env.TEST_DATABASE_APP_URL) return ['postgres'];
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export interface FreshDatabase {
  /** undefined for PGlite (in memory) */
  readonly url: string | undefined;
  /** the same database through TEST_DATABASE_APP_URL (PgBouncer, the runtime login), when set */
  readonly appUrl?: string | undefined;
  drop(): Promise<void>;
}

export async function createFreshDatabase(kind: TestDatabaseKind): Promise<FreshDatabase> {
  if (kind === 'pglite') return { url: undefined, drop: async () => {} };
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new TypeError('TEST_DATABASE_URL is not set');
  const name = `tc_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const appUrl = process.env.TEST_DATABASE_APP_URL ? new URL(process.env.TEST_DATABASE_APP_URL) : undefined;
  if (appUrl) appUrl.pathname = `/${name}`;
  return {
    url: url.toString(),
    appUrl: appUrl?.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
