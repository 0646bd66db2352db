/**
 * One small interface over the embedded database (PGlite) and a real Postgres (pg), so every
 * layer above runs unchanged on both.
 *
 * The resource API and the token endpoints never run as the table owner: `scoped()` opens a
 * transaction, switches to the runtime role with SET LOCAL ROLE (skipped when the connection
 * already logs in as that role) and sets app.tenant_id with SET LOCAL, all transaction-local, so nothing survives into the next transaction on a pooled connection
 * (PgBouncer transaction mode included). BEGIN, the role and the setting travel in one round trip.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { DEFAULT_DATABASE_SETTINGS, type DatabaseSettings } from '../config/config.ts';

/**
 * A string as a SQL literal, as pg.escapeLiteral quotes it (quotes doubled; with a backslash, an
 * E'' literal with backslashes doubled), in native replaceAll rather than its character-by-character
 * concatenation: the auth event log inlines a JSON document of a whole batch per tenant, where that
 * loop was most of the flush's CPU.
 */
export function quoteLiteral(value: string): string {
  const quoted = `'${value.replaceAll("'", "''")}'`;
  return value.includes('\\') ? ` E${quoted.replaceAll('\\', '\\\\')}` : quoted;
}

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
      return quoteLiteral(value);
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

/** One statement to run under one tenant's scope (see Database.statementsPerTenant). */
export interface TenantStatement {
  readonly tenantId: string;
  readonly sql: string;
  readonly params: readonly unknown[];
}

export interface Database {
  readonly kind: 'pglite' | 'postgres';
  /** Run `work` in one transaction as the runtime role with app.tenant_id = tenantId. */
  scoped<T>(tenantId: string | null, work: (tx: ScopedTransaction) => Promise<T>): Promise<T>;
  /**
   * Reads under the same scope, each statement in a single round trip: role, setting and
   * statement travel as one multi-statement query, which Postgres runs as one implicit
   * transaction (SET LOCAL holds for it and is gone after it). So each
   * query sees its own snapshot: for work of one statement, or that can live with that. A null
   * tenant is a platform-level read (a tenant by its host): every tenant-owned table answers no rows.
   */
  reader(tenantId: string | null): ScopedTransaction;
  /**
   * One write that stands alone (an INSERT … ON CONFLICT … RETURNING), under the same scope and in
   * the reader's single round trip: Postgres commits the implicit transaction the statement runs
   * in. Never for work of more than one statement, and never inside a scoped() transaction's work.
   */
  statement(tenantId: string | null): ScopedTransaction;
  /**
   * Standalone writes of several tenants in the reader's single round trip: each statement runs as
   * the runtime role under its own tenant's transaction-local setting (the setting changes between
   * statements, so row level security checks every row against its own tenant), and Postgres runs
   * them as one implicit transaction: all are written or none is. For bookkeeping written in
   * batches (the auth event log), where one round trip per tenant would cost more than the rows.
   */
  statementsPerTenant(statements: readonly TenantStatement[]): Promise<void>;
  /**
   * LISTEN on a channel; `onLost` runs when its connection is lost (notifications are missed from
   * then on), `onReset` after the reconnect. Resolves once listening; the returned function stops.
   */
  listen(channel: string, onNotification: ChangeHandler, onReset: () => void, onLost?: () => void): Promise<() => Promise<void>>;
  /**
   * The connection of the role that owns the tables (DATABASE_URL), for what the runtime role has
   * no grant for: migrations, operator work (provisioning, seeds, KEK rotation), the background
   * workers, and the admin API's handlers, which write tenants, clients, keys, webhooks and the
   * audit log after admin-auth has checked the caller's admin token. The resource API and the
   * token endpoints never use it. Owning the tables bypasses grants, not the tenant policies
   * (FORCE ROW LEVEL SECURITY), unless the role is a superuser, as on the embedded database: its
   * work on tenant rows runs in admin.scoped(tenantId), and is written to hold under RLS.
   */
  readonly admin: Queryable & {
    exec(sql: string): Promise<void>;
    /** A transaction as the owner with app.tenant_id set (FORCE ROW LEVEL SECURITY binds a non-superuser owner too). */
    scoped<T>(tenantId: string | null, work: (tx: ScopedTransaction) => Promise<T>): Promise<T>;
  };
  close(): Promise<void>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The statements that set a scope, after BEGIN or before a read's statement. The id is inlined (one
 * round trip, no parameters in a multi-statement query), so it must be a canonical uuid: anything
 * else is a bug. SET LOCAL rather than SELECT set_config(…, true): the same transaction-local
 * setting, without a row to plan and send back. `moreSettings`: more `;SET LOCAL …` statements. */
function scopeSettings(tenantId: string | null, switchRole: boolean, moreSettings = ''): string {
  if (tenantId !== null && !UUID.test(tenantId)) {
    throw new TypeError(`tenant id must be a lower-case uuid, got ${JSON.stringify(tenantId)}`);
  }
  const role = switchRole ? `SET LOCAL ROLE ${APP_ROLE};` : '';
  return `${role}SET LOCAL app.tenant_id = '${tenantId ?? ''}'${moreSettings}`;
}

/**
 * The database cannot answer now, in a way a retry shortly after may not meet: raised here for a
 * full wait queue; isDatabaseUnavailable also recognises the driver's and the server's own errors.
 */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
  readonly code = 'ERR_DATABASE_UNAVAILABLE';
}

/** SQLSTATEs of a server that is going away or cannot serve now (besides classes 08 and 53). */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: pg_terminate_backend, a fast shutdown, a failover
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up, or a standby in recovery
  '57P05', // idle_session_timeout
  '57014', // query_canceled: statement_timeout
  '25P03', // idle_in_transaction_session_timeout
]);
/** socket errors of a connection that failed or was cut */
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
/** pg's and pg-pool's own connection errors carry no code, only these messages */
const DRIVER_CONNECTION_MESSAGES =
  /^(Connection terminated|Query read timeout$|timeout exceeded when trying to connect$|timeout expired$|Client has encountered a connection error|Client was closed and is not queryable)/;

/**
 * The one place that tells a database that cannot answer right now (refused, reset, terminated,
 * silent past a timeout, out of connections, our wait queue full) from every other error: the
 * HTTP layers answer these with 503 and Retry-After, the workers retry them.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (error instanceof DatabaseUnavailableError) return true;
  if (!(error instanceof Error) || depth > 3) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNAVAILABLE_SOCKET_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^(08|53)[0-9A-Z]{3}$/.test(code)) return true;
  }
  if (DRIVER_CONNECTION_MESSAGES.test(error.message)) return true;
  // Node's connection attempts to several addresses, and pg-pool's connect timeout, wrap the cause
  const inner = [error.cause, ...(error instanceof AggregateError ? (error.errors as unknown[]) : [])];
  return inner.some((cause) => isDatabaseUnavailable(cause, depth + 1));
}

export interface DatabaseOptions {
  readonly databaseUrl?: string | undefined;
  readonly databaseAppUrl?: string | undefined;
  /** PGlite data directory; undefined = in memory */
  readonly dataDir?: string | undefined;
  /** Postgres pools and timeouts; default DEFAULT_DATABASE_SETTINGS */
  readonly settings?: DatabaseSettings | undefined;
}

export async function createDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl
    ? createPostgresDatabase(options.databaseUrl, options.databaseAppUrl, options.settings ?? DEFAULT_DATABASE_SETTINGS)
    : createPgliteDatabase(options.dataDir);
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
        await tx.exec(scopeSettings(tenantId, switchRole));
        return work({
          tenantId,
          query: async <R extends Row>(sql: string, params: readonly unknown[] = []) => (await tx.query<R>(sql, params as unknown[])).rows,
        });
      });
  const admin = {
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
  // in process there are no round trips to save: the ordinary scoped transaction, one a query
  const oneQuery = (tenantId: string | null): ScopedTransaction => ({
    tenantId,
    query: (sql, params) => runtime(tenantId, (tx) => tx.query(sql, params)),
  });
  return {
    kind: 'pglite',
    admin,
    scoped: runtime,
    reader: oneQuery,
    statement: oneQuery,
    async statementsPerTenant(statements) {
      if (statements.length === 0) return;
      await db.transaction(async (tx) => {
        await tx.exec(scopeSettings(null, true));
        for (const statement of statements) {
          await tx.exec(scopeSettings(statement.tenantId, false));
          await tx.query(statement.sql, statement.params as unknown[]);
        }
      });
    },
    async listen(channel, onNotification) {
      const unsubscribe = await db.listen(channel, onNotification);
      return async () => unsubscribe();
    },
    close: () => db.close(),
  };
}

/**
 * After this error the connection's state is unknown or gone: discard it, never pool it again.
 * An error the server sent leaves the connection usable, unless it ends the session.
 */
function connectionLost(error: unknown): boolean {
  if (!(error instanceof pg.DatabaseError)) return true; // the socket, a client timeout, the driver
  const code = error.code ?? '';
  return code.startsWith('08') || ['57P01', '57P02', '57P03', '57P05', '25P03'].includes(code);
}

async function createPostgresDatabase(
  databaseUrl: string,
  databaseAppUrl: string | undefined,
  settings: DatabaseSettings,
): Promise<Database> {
  // Every connection: a bounded connect (pg waits forever by default), TCP keepalive (off by
  // default, so a peer that vanished is noticed on an idle connection) and a client-side wait for
  // each answer (query_timeout, none by default: a database that drops packets would hang the
  // request). query_timeout stays on this side; nothing of it is sent to the server.
  const connection = {
    connectionTimeoutMillis: settings.connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: settings.keepAliveMs,
    query_timeout: settings.queryTimeoutMs,
  };
  // The server-side timeouts: startup parameters on the direct connections (owner, LISTEN, and the
  // runtime's when it shares the owner's pool), which no pooled session ever changes. PgBouncer,
  // which a separate DATABASE_APP_URL may point at, refuses unknown startup parameters: there every
  // scope sets them transaction-locally, with the tenant. Set where the session already holds
  // them, they cost the server a few µs per transaction and change nothing.
  const serverTimeouts = {
    statement_timeout: settings.statementTimeoutMs,
    idle_in_transaction_session_timeout: settings.idleInTransactionTimeoutMs,
  };
  const separate = Boolean(databaseAppUrl);
  const statementTimeout = `;SET LOCAL statement_timeout = ${settings.statementTimeoutMs}`;
  const appTimeouts = separate
    ? {
        transaction: `${statementTimeout};SET LOCAL idle_in_transaction_session_timeout = ${settings.idleInTransactionTimeoutMs}`,
        // a read is one implicit transaction, never idle inside: its statement's timeout is all it needs
        read: statementTimeout,
      }
    : { transaction: '', read: '' };
  const ownerPool = new pg.Pool({
    connectionString: databaseUrl,
    ...connection,
    ...serverTimeouts,
    max: separate ? Math.max(2, Math.ceil(settings.poolSize / 5)) : settings.poolSize,
  });
  const appPool = databaseAppUrl ? new pg.Pool({ connectionString: databaseAppUrl, ...connection, max: settings.poolSize }) : ownerPool;
  for (const pool of new Set([ownerPool, appPool])) {
    // An idle client's error (its backend terminated, the server restarted): pg-pool has already
    // discarded it; the next checkout connects anew. Without a listener the process would exit.
    pool.on('error', () => {});
    // pg-pool hands a new client out from inside the socket read that completed its connection:
    // a termination in the same read is emitted before the caller can listen. This listener
    // stays for the client's life; the failure still reaches its next query, and pg-pool drops a
    // client that is no longer queryable when it is released.
    pool.on('connect', (client) => client.on('error', () => {}));
  }

  /** Refuses at once, rather than queueing, when the pool is busy and enough requests already wait. */
  function admit(pool: pg.Pool): void {
    const busy = pool.idleCount === 0 && pool.totalCount >= (pool.options.max ?? 0);
    if (busy && pool.waitingCount >= settings.poolQueue) {
      throw new DatabaseUnavailableError(`all ${pool.totalCount} database connections are busy and ${pool.waitingCount} requests wait`);
    }
  }

  /** One statement on any pooled connection (pg-pool listens for its errors and discards a broken one). */
  async function poolQuery<T extends Row>(pool: pg.Pool, sql: string, params?: readonly unknown[]): Promise<pg.QueryResult<T>> {
    admit(pool);
    return pool.query<T>(sql, params as unknown[] | undefined);
  }

  let switchRole = true;
  if (databaseAppUrl) {
    const [who] = (await poolQuery<{ current_user: string }>(appPool, 'SELECT current_user')).rows;
    switchRole = who?.current_user !== APP_ROLE;
  }

  async function scoped<T>(
    pool: pg.Pool,
    opening: string,
    tenantId: string | null,
    work: (tx: ScopedTransaction) => Promise<T>,
  ): Promise<T> {
    admit(pool);
    const client = await pool.connect();
    let lost: unknown;
    // A checked-out client has no listener of the pool's: when its backend is terminated
    // mid-transaction it emits 'error', and with nobody listening Node exits. The query in flight
    // fails too; this only marks the connection as gone.
    const onError = (error: Error) => {
      lost ??= error;
    };
    client.on('error', onError);
    const run = async <R extends Row>(sql: string, params?: readonly unknown[]) => {
      try {
        return await client.query<R>(sql, params as unknown[] | undefined);
      } catch (error) {
        if (connectionLost(error)) lost ??= error;
        throw error;
      }
    };
    try {
      await run(opening);
      const result = await work({
        tenantId,
        query: async <R extends Row>(sql: string, params: readonly unknown[] = []) => (await run<R>(sql, params)).rows,
      });
      await run('COMMIT');
      return result;
    } catch (error) {
      // a lost connection's transaction ends with its session; a ROLLBACK would wait behind a
      // statement that never answers
      if (lost === undefined) await run('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(lost !== undefined); // true: closed and dropped, never handed out again
    }
  }

  /** A connection of its own, outside the pools (LISTEN, scripts); `options` are added to `connection`'s. */
  function directClient(options: pg.ClientConfig = {}): pg.Client {
    return new pg.Client({ connectionString: databaseUrl, ...connection, ...serverTimeouts, ...options });
  }

  async function listen(
    channel: string,
    onNotification: ChangeHandler,
    onReset: () => void,
    onLost?: () => void,
  ): Promise<() => Promise<void>> {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new TypeError(`invalid channel name ${channel}`);
    let stopped = false;
    let current: pg.Client | undefined;
    let heartbeat: NodeJS.Timeout | undefined;
    let reconnecting = false;

    /** The connection is gone or silent: close it, and reconnect (once, however many errors it raises). */
    const lose = (client: pg.Client) => {
      if (client !== current) return;
      current = undefined;
      clearTimeout(heartbeat);
      client.end().catch(() => {});
      if (stopped) return;
      onLost?.();
      void reconnect();
    };
    // A LISTEN connection sits idle: a database that went silent is noticed by asking it, with
    // the client-side query timeout, every DATABASE_KEEPALIVE_MS.
    const beat = (client: pg.Client) => {
      heartbeat = setTimeout(() => {
        client.query('SELECT 1').then(
          () => beat(client),
          () => lose(client),
        );
      }, settings.keepAliveMs).unref();
    };
    const connect = async (): Promise<void> => {
      // LISTEN needs a session of its own: a direct connection, never a transaction-pooled one
      const client = directClient();
      client.on('notification', (message) => {
        if (message.channel === channel && message.payload !== undefined) onNotification(message.payload);
      });
      client.on('error', () => lose(client)); // while connecting the error reaches connect() instead
      try {
        await client.connect();
        await client.query(`LISTEN ${channel}`);
      } catch (error) {
        client.end().catch(() => {});
        throw error;
      }
      if (stopped) {
        await client.end().catch(() => {});
        return;
      }
      current = client;
      beat(client);
    };
    // Retries every 100 ms, backing off to 1 s: the instance hears changes again within about a
    // second of the database's return. onReset: what was notified meanwhile is lost.
    const reconnect = async (): Promise<void> => {
      if (reconnecting) return;
      reconnecting = true;
      let delay = 100;
      try {
        while (!stopped) {
          await new Promise((resolve) => setTimeout(resolve, delay).unref());
          if (stopped) return;
          try {
            await connect();
            if (!stopped) onReset();
            return;
          } catch {
            delay = Math.min(delay * 2, 1000);
          }
        }
      } finally {
        reconnecting = false;
      }
    };
    await connect();
    return async () => {
      stopped = true;
      clearTimeout(heartbeat);
      const client = current;
      current = undefined;
      await client?.end().catch(() => {});
    };
  }

  // role, setting and statement as one multi-statement query: one round trip, one implicit transaction
  // (never idle inside, so only the statement timeout applies)
  const oneRoundTrip = (tenantId: string | null): ScopedTransaction => ({
    tenantId,
    async query<T extends Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      const results = (await poolQuery(
        appPool,
        `${scopeSettings(tenantId, switchRole, appTimeouts.read)};${inlineParameters(sql, params)}`,
      )) as unknown as pg.QueryResult<T>[];
      return results.at(-1)?.rows ?? [];
    },
  });
  return {
    kind: 'postgres',
    listen,
    reader: oneRoundTrip,
    statement: oneRoundTrip,
    async statementsPerTenant(statements) {
      if (statements.length === 0) return;
      const text = statements.map((s) => `${scopeSettings(s.tenantId, false)};${inlineParameters(s.sql, s.params)}`).join(';');
      await poolQuery(appPool, `${scopeSettings(null, switchRole, appTimeouts.read)};${text}`);
    },
    admin: {
      scoped: (tenantId, work) => scoped(ownerPool, `BEGIN;${scopeSettings(tenantId, false)}`, tenantId, work),
      async query<T extends Row>(sql: string, params: readonly unknown[] = []) {
        return (await poolQuery<T>(ownerPool, sql, params)).rows;
      },
      // A script (migrations) may hold BEGIN … COMMIT and run long: a connection of its own, with
      // no statement or query timeout, closed after it, so a failed script's transaction ends with
      // it and no session state it set reaches a pooled connection.
      async exec(sql: string) {
        const client = directClient({ query_timeout: undefined, statement_timeout: false, idle_in_transaction_session_timeout: undefined });
        client.on('error', () => {}); // a lost connection fails the script's query; nothing else runs on it
        await client.connect();
        try {
          await client.query(sql);
        } finally {
          await client.end().catch(() => {});
        }
      },
    },
    scoped: (tenantId, work) => scoped(appPool, `BEGIN;${scopeSettings(tenantId, switchRole, appTimeouts.transaction)}`, tenantId, work),
    async close() {
      await ownerPool.end();
      if (appPool !== ownerPool) await appPool.end();
    },
  };
}
