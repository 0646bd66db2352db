/**
 * Transaction pooling is safe for tenant isolation: two tenants' transactions interleave on a
 * PgBouncer pool of ONE server connection (every client connection of the server's runtime pool
 * shares it), and nothing one leaves behind reaches the other: not the tenant setting, not the
 * role, not a statement timeout, not a prepared statement. The controls show the probes would see
 * a leak: a session-level set_config and a named prepared statement, made on purpose by a raw
 * client, do reach the next client on that connection (the classic traps the server avoids).
 *
 * Real pieces only: Debian's pgbouncer from a generated ini, the login of
 * deploy/postgres/runtime-login.sql, the server's own createDatabase and migrations. Postgres
 * only; skipped without TEST_DATABASE_URL, or without pgbouncer outside CI (CI installs it).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATABASE_SETTINGS } from '../../src/config/config.ts';
import { APP_ROLE, createDatabase, type Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createFreshDatabase, type FreshDatabase } from '../helpers/databases.ts';
import { createRuntimeLogin, pgbouncerSkipReason, type PgBouncer, type RuntimeLogin, startPgBouncer } from '../helpers/pgbouncer.ts';

const skipReason = pgbouncerSkipReason();

/** What a server connection carries over from earlier transactions, as seen by whoever gets it next. */
interface ConnectionState {
  pid: number;
  tenant: string | null;
  user: string;
  statement_timeout: string;
  prepared: number;
  [column: string]: unknown;
}
const PROBE = `SELECT pg_backend_pid() AS pid, current_setting('app.tenant_id', true) AS tenant, current_user AS user,
  (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS statement_timeout, (SELECT count(*)::int FROM pg_prepared_statements) AS prepared`;

describe.skipIf(skipReason !== undefined)(
  `tenant isolation through PgBouncer transaction pooling${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let fresh: FreshDatabase;
    let login: RuntimeLogin;
    let bouncer: PgBouncer;
    let db: Database;
    let appUrl: string;
    const tenants = { a: '', b: '' };

    /** A raw client through PgBouncer as the runtime login, outside any scope of the server's. */
    async function raw<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
      const client = new pg.Client({ connectionString: appUrl });
      await client.connect();
      try {
        return await work(client);
      } finally {
        await client.end();
      }
    }
    const probe = () => raw(async (client) => (await client.query<ConnectionState>(PROBE)).rows[0] as ConnectionState);

    beforeAll(async () => {
      fresh = await createFreshDatabase('postgres');
      const owner = await createDatabase({ databaseUrl: fresh.url });
      await migrate(owner);
      await owner.close();
      login = await createRuntimeLogin(process.env.TEST_DATABASE_URL as string);
      const target = new URL(fresh.url as string);
      bouncer = await startPgBouncer({
        target: { host: target.hostname, port: Number(target.port || 5432) },
        poolSize: 1,
        logins: [login],
      });
      appUrl = bouncer.urlFor(fresh.url as string, login);
      // four client connections to PgBouncer, one server connection behind them
      db = await createDatabase({
        databaseUrl: fresh.url,
        databaseAppUrl: appUrl,
        settings: { ...DEFAULT_DATABASE_SETTINGS, poolSize: 4 },
      });
      for (const key of ['a', 'b'] as const) {
        const [row] = await db.admin.query<{ id: string }>(
          `INSERT INTO tenants (environment, slug, name) VALUES ('production', $1, $1) RETURNING id`,
          [`pooled-${key}`],
        );
        tenants[key] = row?.id as string;
        await db.admin.scoped(tenants[key], (tx) =>
          tx.query(`INSERT INTO org_units (tenant_id, code, name) SELECT $1, $2 || n, $2 || n FROM generate_series(1, 5) n`, [
            tenants[key],
            `${key}-`,
          ]),
        );
      }
    });

    afterAll(async () => {
      await db?.close();
      await bouncer?.close();
      await fresh?.drop();
      await login?.drop();
    });

    it('multiplexes every client connection onto one server connection', async () => {
      const pids = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          db.reader(i % 2 ? tenants.a : tenants.b).query<{ pid: number }>('SELECT pg_backend_pid() AS pid'),
        ),
      );
      expect(new Set(pids.map(([row]) => row?.pid)).size).toBe(1);
    });

    it('interleaves the two tenants’ transactions on that connection, each seeing only its own setting, role and rows', async () => {
      const [{ pid: shared } = { pid: 0 }] = await db.reader(tenants.a).query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const seen: string[] = [];
      const work = Array.from({ length: 40 }, async (_, i) => {
        const key = i % 2 ? 'a' : 'b';
        const tenant = tenants[key];
        if (i % 4 < 2) {
          // a transaction of several statements: PgBouncer keeps it on the connection until COMMIT
          return db.scoped(tenant, async (tx) => {
            const [state] = await tx.query<ConnectionState>(PROBE);
            await tx.query(`INSERT INTO org_units (tenant_id, code, name) VALUES ($1, $2, $2)`, [tenant, `${key}-tx-${i}`]);
            const codes = await tx.query<{ code: string }>('SELECT code FROM org_units');
            const [after] = await tx.query<ConnectionState>(PROBE);
            seen.push(key);
            return { key, tenant, state, after, codes: codes.map((r) => r.code) };
          });
        }
        // the single round trip: role, setting and statement in one implicit transaction
        const [state] = await db.reader(tenant).query<ConnectionState>(PROBE);
        const codes = await db.reader(tenant).query<{ code: string }>('SELECT code FROM org_units');
        seen.push(key);
        return { key, tenant, state, after: state, codes: codes.map((r) => r.code) };
      });
      const results = await Promise.all(work);
      for (const { key, tenant, state, after, codes } of results) {
        for (const s of [state, after]) {
          expect(s).toMatchObject({
            pid: shared,
            tenant,
            user: APP_ROLE,
            statement_timeout: String(DEFAULT_DATABASE_SETTINGS.statementTimeoutMs),
          });
        }
        expect(codes.length).toBeGreaterThanOrEqual(5);
        expect(codes.every((code) => code.startsWith(`${key}-`))).toBe(true);
      }
      // both tenants really alternated on the one connection
      expect(seen.join('').match(/ab|ba/g)?.length).toBeGreaterThan(10);
    });

    it('leaves nothing behind on the shared connection: no tenant setting, no role, no timeout, no prepared statement', async () => {
      for (let i = 0; i < 5; i++) {
        await db.scoped(tenants.a, (tx) => tx.query('SELECT count(*) FROM org_units WHERE code = $1', [`a-${i}`]));
        await db.reader(tenants.b).query('SELECT count(*) FROM org_units WHERE code = $1', [`b-${i}`]);
      }
      const [{ pid: shared } = { pid: 0 }] = await db.reader(null).query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const server = await raw(
        async (client) =>
          (await client.query<{ setting: string }>(`SELECT reset_val AS setting FROM pg_settings WHERE name = 'statement_timeout'`)).rows[0]
            ?.setting,
      );
      expect(await probe()).toEqual({
        pid: shared,
        tenant: '',
        user: login.name,
        statement_timeout: server,
        prepared: 0,
      });
      // and the login alone may read nothing: its privileges come only with SET LOCAL ROLE
      await expect(raw((client) => client.query('SELECT count(*) FROM org_units'))).rejects.toMatchObject({ code: '42501' });
    });

    it('control: a session-level setting and a named prepared statement do leak between clients (what the server never does)', async () => {
      await raw((client) => client.query(`SELECT set_config('app.tenant_id', $1, false)`, [tenants.a]));
      await raw((client) => client.query({ name: 'leak_probe', text: 'SELECT $1::int AS n', values: [1] }));
      const leaked = await probe();
      // clean the shared connection for whatever runs after (same server connection: pool of one)
      await raw((client) => client.query('DEALLOCATE ALL; RESET app.tenant_id'));
      expect(leaked).toMatchObject({ tenant: tenants.a, prepared: 1 });
      expect(await probe()).toMatchObject({ tenant: '', prepared: 0 });
    });
  },
);
