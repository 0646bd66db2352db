/**
 * One small interface over the embedded database (PGlite) and a real Postgres (pg), so every
 * layer above runs unchanged on both.
 *
 * Runtime queries never run as the table owner: `scoped()` opens a transaction, switches to the
 * runtime role with SET LOCAL ROLE (skipped when the connection already logs in as that role) and
 * sets app.tenant_id with set_config(…, true), all transaction-local, so nothing survives into the
 * next transaction on a pooled connection (PgBouncer transaction mode included). BEGIN, the role
 * and the setting travel in one round trip.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';

/** Inline parameters as SQL literals (for the single-round-trip read, where a multi-statement
 * query cannot carry parameters). Only plain values; anything else is a programming error. */
export function inlineParameters(sql: string, params: readonly unknown[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => {
    const value = params[Number(n) - 1];
    if (value === null || value === undefined) return 'NULL';
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new TypeError(`parameter $${n} is not a finite number`);
      return String(value);
    }
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    if (typeof value === 'string') {
      if (value.includes('\u0000')) throw new TypeError(`parameter $${n} contains a NUL character`);
      return pg.escapeLiteral(value);
    }
    throw new TypeError(`parameter $${n} of type ${typeof value} cannot be inlined`);
  });
}

export const APP_ROLE = 'tenant_connect_app';

export type Row = Record<string, unknown>;

export interface Queryable {
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

/** A transaction scoped to one tenant (or to none, for platform-level reads such as tenant lookup). */
export interface ScopedTransaction extends Queryable {
  readonly tenantId: string | null;
}

export type ChangeHandler = (payload: string) => void;

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  /** Run `work` in one transaction as the runtime role with app.tenant_id = tenantId. */
  scoped<T>(tenantId: string | null, work: (tx: ScopedTransaction) => Promise<T>): Promise<T>;
  /**
   * One read-only statement under the same scope, in a single round trip: role, setting and
   * statement travel as one multi-statement query, which Postgres runs as one implicit
   * transaction (SET LOCAL and set_config(…, true) hold for it and are gone after it).
   */
  scopedRead<T extends Row = Row>(tenantId: string, sql: string, params?: readonly unknown[]): Promise<T[]>;
  /**
   * LISTEN on a channel; `onReset` runs after a reconnect, when notifications may have been
   * missed. Resolves once listening; the returned function stops.
   */
  listen(channel: string, onNotification: ChangeHandler, onReset: () => void): Promise<() => Promise<void>>;
  /** The owner's connection, for migrations, provisioning, seeds and tests; never on a request path. */
  readonly owner: Queryable & {
    exec(sql: string): Promise<void>;
    /** A transaction as the owner with app.tenant_id set (FORCE ROW LEVEL SECURITY binds the owner too). */
    scoped<T>(tenantId: string | null, work: (tx: ScopedTransaction) => Promise<T>): Promise<T>;
  };
  close(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The statements that open a scoped transaction. The id is inlined (one round trip, no
 * parameters in a multi-statement query), so it must be a canonical uuid: anything else is a bug. */
function openScope(tenantId: string | null, switchRole: boolean): string {
  if (tenantId !== null && !UUID.test(tenantId)) {
    throw new TypeError(`tenant id must be a lower-case uuid, got ${JSON.stringify(tenantId)}`);
  }
  const role = switchRole ? `SET LOCAL ROLE ${APP_ROLE};` : '';
  return `BEGIN;${role}SELECT set_config('app.tenant_id', '${tenantId ?? ''}', true)`;
}

/**
 * A ScopedTransaction for reads through scopedRead: each query is its own single-round-trip
 * implicit transaction, so use it for work that issues one statement (or can live with one
 * snapshot per statement).
 */
export function readScope(db: Database, tenantId: string): ScopedTransaction {
  return { tenantId, query: (sql, params) => db.scopedRead(tenantId, sql, params) };
}

export interface DatabaseOptions {
  readonly databaseUrl?: string | undefined;
  readonly databaseAppUrl?: string | undefined;
  /** PGlite data directory; undefined = in memory */
  readonly dataDir?: string | undefined;
}

export async function createDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl ? createPostgresDatabase(options.databaseUrl, options.databaseAppUrl) : createPgliteDatabase(options.dataDir);
}

async function createPgliteDatabase(dataDir: string | undefined): Promise<Database> {
  let dir: string | undefined;
  if (dataDir) {
    dir = path.join(dataDir, 'pglite');
    fs.mkdirSync(dir, { recursive: true });
  }
  const db = await PGlite.create(dir ? { dataDir: dir } : {});
  // PGlite is one connection: its transaction() serializes callers, like a pool of one.
  const scoped =
    (switchRole: boolean) =>
    <T>(tenantId: string | null, work: (tx: ScopedTransaction) => Promise<T>): Promise<T> =>
      db.transaction(async (tx) => {
        await tx.exec(openScope(tenantId, switchRole).replace(/^BEGIN;/, ''));
        return work({
          tenantId,
          query: async <R extends Row>(sql: string, params: readonly unknown[] = []) => (await tx.query<R>(sql, params as unknown[])).rows,
        });
      });
  const owner = {
    scoped: scoped(false),
    async query<T extends Row>(sql: string, params: readonly unknown[] = []) {
      return (await db.query<T>(sql, params as unknown[])).rows;
    },
    async exec(sql: string) {
      try {
        await db.exec(sql);
      } catch (error) {
        await db.exec('ROLLBACK').catch(() => {}); // leave no transaction open behind a failed script
        throw error;
      }
    },
  };
  const runtime = scoped(true);
  return {
    kind: 'pglite',
    owner,
    scoped: runtime,
    // in process there are no round trips to save: the ordinary scoped transaction
    scopedRead: <T extends Row>(tenantId: string, sql: string, params: readonly unknown[] = []) =>
      runtime(tenantId, (tx) => tx.query<T>(sql, params)),
    async listen(channel, onNotification) {
      const unsubscribe = await db.listen(channel, onNotification);
      return async () => unsubscribe();
    },
    close: () => db.close(),
  };
}

async function createPostgresDatabase(databaseUrl: string, databaseAppUrl: string | undefined): Promise<Database> {
  const ownerPool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const appPool = databaseAppUrl ? new pg.Pool({ connectionString: databaseAppUrl, max: 10 }) : ownerPool;
  if (appPool !== ownerPool) appPool.options.max = 10;
  else ownerPool.options.max = 10;
  // An idle client's error (server restart) must not crash the process; the next checkout reconnects.
  ownerPool.on('error', () => {});
  if (appPool !== ownerPool) appPool.on('error', () => {});

  let switchRole = true;
  if (databaseAppUrl) {
    const [who] = (await appPool.query<{ current_user: string }>('SELECT current_user')).rows;
    switchRole = who?.current_user !== APP_ROLE;
  }

  async function scoped<T>(
    pool: pg.Pool,
    opening: string,
    tenantId: string | null,
    work: (tx: ScopedTransaction) => Promise<T>,
  ): Promise<T> {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query(opening);
      const result = await work({
        tenantId,
        query: async <R extends Row>(sql: string, params: readonly unknown[] = []) =>
          (await client.query<R>(sql, params as unknown[])).rows,
      });
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // the connection is gone; do not return it to the pool
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async function listen(channel: string, onNotification: ChangeHandler, onReset: () => void): Promise<() => Promise<void>> {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new TypeError(`invalid channel name ${channel}`);
    let stopped = false;
    let client: pg.Client | undefined;
    let retryDelay = 100;
    const connect = async (): Promise<void> => {
      // LISTEN needs a session of its own: a direct connection, never a transaction-pooled one
      const next = new pg.Client({ connectionString: databaseUrl });
      next.on('notification', (message) => {
        if (message.channel === channel && message.payload !== undefined) onNotification(message.payload);
      });
      next.on('error', () => {
        next.end().catch(() => {});
        if (!stopped) reconnect();
      });
      await next.connect();
      await next.query(`LISTEN ${channel}`);
      client = next;
      retryDelay = 100;
    };
    const reconnect = () => {
      setTimeout(() => {
        if (stopped) return;
        connect().then(onReset, () => {
          retryDelay = Math.min(retryDelay * 2, 5_000);
          reconnect();
        });
      }, retryDelay).unref();
    };
    await connect();
    return async () => {
      stopped = true;
      await client?.end().catch(() => {});
    };
  }

  const rolePrefix = switchRole ? `SET LOCAL ROLE ${APP_ROLE};` : '';

  return {
    kind: 'postgres',
    listen,
    async scopedRead<T extends Row>(tenantId: string, sql: string, params: readonly unknown[] = []): Promise<T[]> {
      if (!UUID.test(tenantId)) throw new TypeError(`tenant id must be a lower-case uuid, got ${JSON.stringify(tenantId)}`);
      const results = (await appPool.query(
        `${rolePrefix}SELECT set_config('app.tenant_id', '${tenantId}', true);${inlineParameters(sql, params)}`,
      )) as unknown as pg.QueryResult<T>[];
      return results.at(-1)?.rows ?? [];
    },
    owner: {
      scoped: (tenantId, work) => scoped(ownerPool, openScope(tenantId, false), tenantId, work),
      async query<T extends Row>(sql: string, params: readonly unknown[] = []) {
        return (await ownerPool.query<T>(sql, params as unknown[])).rows;
      },
      // A script may hold BEGIN … COMMIT: it runs on one connection, rolled back there if it fails.
      async exec(sql: string) {
        const client = await ownerPool.connect();
        try {
          await client.query(sql);
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        } finally {
          client.release();
        }
      },
    },
    scoped: (tenantId, work) => scoped(appPool, openScope(tenantId, switchRole), tenantId, work),
    async close() {
      await ownerPool.end();
      if (appPool !== ownerPool) await appPool.end();
    },
  };
}
