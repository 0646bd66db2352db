/**
 * Every transaction and read the application runs is bounded by the server-side timeouts, on both
 * ways of connecting: the owner's direct connections carry them as startup parameters (and so does
 * the runtime when it shares them); a separate DATABASE_APP_URL, which may be PgBouncer and take no
 * startup parameters, gets them transaction-locally with each scope. Postgres only: the embedded
 * database has no server-side timeouts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE_SETTINGS } from '../../src/config/config.ts';
import { createDatabase, type Database, isDatabaseUnavailable } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createFreshDatabase, type FreshDatabase } from '../helpers/databases.ts';

const settings = { ...DEFAULT_DATABASE_SETTINGS, statementTimeoutMs: 700, idleInTransactionTimeoutMs: 900 };
const TENANT = '0194e6a4-6c1e-7c1e-9c1e-0194e6a46c1e';
const TIMEOUTS = `SELECT current_setting('statement_timeout') AS statement, current_setting('idle_in_transaction_session_timeout') AS idle`;

describe.skipIf(!process.env.TEST_DATABASE_URL).each([
  ['sharing the owner’s connections', false],
  ['on a separate DATABASE_APP_URL without startup parameters', true],
])('server-side timeouts, runtime %s', (_, separate) => {
  let fresh: FreshDatabase;
  let db: Database;
  beforeAll(async () => {
    fresh = await createFreshDatabase('postgres');
    // the same server and login stand in for a pooler: the runtime pool then sends no startup parameters
    db = await createDatabase({ databaseUrl: fresh.url, databaseAppUrl: separate ? fresh.url : undefined, settings });
    await migrate(db);
  });
  afterAll(async () => {
    await db?.close();
    await fresh?.drop();
  });

  it('holds both in a scoped transaction, a read and the owner’s transaction', async () => {
    const expected = [{ statement: '700ms', idle: '900ms' }];
    expect(await db.scoped(TENANT, (tx) => tx.query(TIMEOUTS))).toEqual(expected);
    expect(await db.admin.scoped(TENANT, (tx) => tx.query(TIMEOUTS))).toEqual(expected);
    // a read is one implicit transaction, never idle inside: its statement timeout is what binds it
    expect(await db.reader(TENANT).query(TIMEOUTS)).toMatchObject([{ statement: '700ms' }]);
  });

  it('cancels a read and a transaction’s statement that run past statement_timeout', async () => {
    await expect(db.reader(TENANT).query('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
    await expect(db.scoped(TENANT, (tx) => tx.query('SELECT pg_sleep(2)'))).rejects.toMatchObject({ code: '57014' });
  });

  it('ends a scoped transaction left idle past idle_in_transaction_session_timeout', async () => {
    const outcome = db.scoped(TENANT, async (tx) => {
      await tx.query('SELECT 1');
      await new Promise((resolve) => setTimeout(resolve, 2500));
      return tx.query('SELECT 1');
    });
    await expect(outcome).rejects.toSatisfy(isDatabaseUnavailable);
    // the pool goes on serving: the ended session was discarded, not handed out again
    expect(await db.scoped(TENANT, (tx) => tx.query<{ one: number }>('SELECT 1 AS one'))).toEqual([{ one: 1 }]);
  });
});
