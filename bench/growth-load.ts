/**
 * Loads data-growth's rows into a migrated database, as an operator bulk-loads: as the role that
 * ran the migrations, tenants' employees and activities by INSERT … SELECT (a few thousand rows),
 * the clockings with COPY FROM STDIN (pg-copy-streams: pg itself has no COPY FROM STDIN). Postgres's own advice for a large load into a table
 * ("Populating a Database") is followed: the clockings' secondary indexes and foreign keys are
 * dropped before the COPY and made again after it from their own definitions (so they are exactly
 * the migrations'): an index built in one sort, each foreign key checked over every row in one join
 * rather than one lookup per row (on this machine, 1M rows: COPY 128 s with them in place, 49 s
 * without, then 32 s for the indexes and 2 s for the keys). COPY and index builds run on one
 * connection per core, as pg_restore -j does; the foreign keys one after another (each ALTER
 * TABLE locks the table against the others). VACUUM ANALYZE then sets the hint bits
 * and visibility map and gathers the planner's statistics, which the first reads would otherwise
 * pay for or miss.
 */
import os from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ACTIVITIES_PER_TENANT, CLOCKING_COLUMNS, clockingLines, employeesFor, type TenantRows } from './growth-data.ts';

export interface GrowthLoadInput {
  readonly databaseUrl: string;
  /** the largest tenant: provisioned by our server (its client gets the tokens) */
  readonly largestTenantId: string;
  readonly environment: string;
  /** clockings per tenant, the largest first (clockingsPerTenant) */
  readonly counts: readonly number[];
  readonly progress: (line: string) => void;
}

export interface GrowthLoadTimes {
  /** tenants, employees and activities */
  readonly setupS: number;
  readonly copyS: number;
  readonly indexS: number;
  readonly foreignKeyS: number;
  readonly vacuumS: number;
  readonly totalS: number;
  /** the largest tenant's clockings deleted after the load (one employee's), leaving tombstones */
  readonly deletedRows: number;
  /** the clockings table and its indexes on disk afterwards */
  readonly tableMb: number;
  readonly indexesMb: number;
}

const seconds = (since: number) => Math.round((performance.now() - since) / 100) / 10;

/** COPY into a table with row level security needs a role that bypasses it; say so before loading. */
async function checkLoadingRole(client: pg.Client): Promise<void> {
  const [role] = (
    await client.query<{ name: string; bypasses: boolean }>(
      'SELECT current_user AS name, rolsuper OR rolbypassrls AS bypasses FROM pg_roles WHERE rolname = current_user',
    )
  ).rows;
  if (!role?.bypasses)
    throw new Error(
      `data-growth loads with COPY, which Postgres refuses into a table with row level security unless the role bypasses it: ` +
        `connect BENCH_DATABASE_URL as a superuser or a BYPASSRLS role (${role?.name ?? 'this role'} is neither)`,
    );
}

async function createTenantRows(client: pg.Client, input: GrowthLoadInput): Promise<TenantRows[]> {
  const others = await client.query<{ id: string }>(
    `INSERT INTO tenants (environment, slug, name)
     SELECT $1, 'growth-' || lpad(g::text, 6, '0'), 'Growth tenant ' || g FROM generate_series(1, $2::int) AS g
     RETURNING id`,
    [input.environment, input.counts.length - 1],
  );
  const tenantIds = [input.largestTenantId, ...others.rows.map((r) => r.id)];
  const employees = await client.query<{ tenant_id: string; id: string }>(
    `INSERT INTO employees (tenant_id, employee_number, first_name, last_name)
     SELECT t.id, 'G-' || g, 'First' || g, 'Last' || g
       FROM unnest($1::uuid[], $2::int[]) AS t(id, n), generate_series(1, t.n) AS g
     RETURNING tenant_id, id`,
    [tenantIds, input.counts.map(employeesFor)],
  );
  const activities = await client.query<{ tenant_id: string; id: string }>(
    `INSERT INTO activity_definitions (tenant_id, code, name, kind)
     SELECT t.id, 'A' || g, 'Activity ' || g, (ARRAY['work', 'break', 'other', 'work'])[g]
       FROM unnest($1::uuid[]) AS t(id), generate_series(1, $2::int) AS g
     RETURNING tenant_id, id`,
    [tenantIds, ACTIVITIES_PER_TENANT],
  );
  const byTenant = (rows: { tenant_id: string; id: string }[]) => {
    const map = new Map<string, string[]>();
    for (const row of rows) map.set(row.tenant_id, [...(map.get(row.tenant_id) ?? []), row.id]);
    return map;
  };
  const employeeIds = byTenant(employees.rows);
  const activityIds = byTenant(activities.rows);
  return tenantIds.map((tenantId, i) => ({
    tenantId,
    count: input.counts[i] ?? 0,
    employeeIds: employeeIds.get(tenantId) ?? [],
    activityIds: activityIds.get(tenantId) ?? [],
  }));
}

/** Each item's work on whichever connection is free next. */
async function onConnections<T>(clients: readonly pg.Client[], items: readonly T[], work: (client: pg.Client, item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    clients.map(async (client) => {
      while (next < items.length) await work(client, items[next++] as T);
    }),
  );
}

export async function loadGrowthData(input: GrowthLoadInput): Promise<GrowthLoadTimes> {
  // one connection per core (at most four), as pg_restore -j would: COPY and index builds keep a
  // backend busy each, and one alone leaves the other cores idle
  const clients = Array.from(
    { length: Math.max(1, Math.min(4, os.availableParallelism())) },
    () => new pg.Client({ connectionString: input.databaseUrl }),
  );
  const [client] = clients as [pg.Client];
  const started = performance.now();
  try {
    for (const each of clients) {
      await each.connect();
      // bulk work, not a request: whatever timeout the role has would cancel it on a busy machine;
      // index builds sort in memory rather than in temporary files
      await each.query(`SET statement_timeout = 0; SET maintenance_work_mem = '512MB'`);
    }
    await checkLoadingRole(client);
    const tenants = await createTenantRows(client, input);
    const setupS = seconds(started);

    const secondary = await client.query<{ name: string; definition: string }>(
      `SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS definition
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = 'clockings'::regclass AND NOT x.indisprimary
        ORDER BY 1`,
    );
    const foreignKeys = await client.query<{ name: string; definition: string }>(
      `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
        WHERE conrelid = 'clockings'::regclass AND contype = 'f' ORDER BY 1`,
    );
    for (const index of secondary.rows) await client.query(`DROP INDEX ${pg.escapeIdentifier(index.name)}`);
    for (const key of foreignKeys.rows) await client.query(`ALTER TABLE clockings DROP CONSTRAINT ${pg.escapeIdentifier(key.name)}`);

    const copyStarted = performance.now();
    const total = input.counts.reduce((a, b) => a + b, 0);
    let copied = 0;
    let reported = 0;
    // a COPY per tenant, the largest first, on whichever connection is free
    await onConnections(clients, tenants, async (connection, tenant) => {
      await pipeline(
        Readable.from(clockingLines(tenant)),
        connection.query(copyFrom(`COPY clockings (${CLOCKING_COLUMNS.join(', ')}) FROM STDIN`)),
      );
      copied += tenant.count;
      if (copied - reported >= total / 10 || copied === total) {
        reported = copied;
        input.progress(`copied ${copied}/${total} clockings (${seconds(copyStarted)} s)`);
      }
    });
    const copyS = seconds(copyStarted);

    const indexStarted = performance.now();
    await onConnections(clients, secondary.rows, async (connection, index) => {
      await connection.query(index.definition);
      input.progress(`built ${index.name} (${seconds(indexStarted)} s)`);
    });
    const indexS = seconds(indexStarted);

    // each foreign key checked over every row in one join, not one lookup per row
    const keysStarted = performance.now();
    for (const key of foreignKeys.rows) {
      await client.query(`ALTER TABLE clockings ADD CONSTRAINT ${pg.escapeIdentifier(key.name)} ${key.definition}`);
      input.progress(`checked ${key.name} (${seconds(keysStarted)} s)`);
    }
    const foreignKeyS = seconds(keysStarted);

    // one employee of the largest tenant leaves with their clockings: the tombstones include_deleted reads
    const deleted = await client.query(`DELETE FROM clockings WHERE tenant_id = $1 AND employee_id = $2`, [
      input.largestTenantId,
      tenants[0]?.employeeIds.at(-1),
    ]);

    const vacuumStarted = performance.now();
    await client.query('VACUUM (ANALYZE) clockings');
    await client.query('ANALYZE tenants, employees, activity_definitions');
    const vacuumS = seconds(vacuumStarted);

    const [size] = (
      await client.query<{ table_mb: string; indexes_mb: string }>(
        `SELECT pg_table_size('clockings') / 1048576 AS table_mb, pg_indexes_size('clockings') / 1048576 AS indexes_mb`,
      )
    ).rows;
    return {
      setupS,
      copyS,
      indexS,
      foreignKeyS,
      vacuumS,
      deletedRows: deleted.rowCount ?? 0,
      totalS: seconds(started),
      tableMb: Number(size?.table_mb),
      indexesMb: Number(size?.indexes_mb),
    };
  } finally {
    for (const each of clients) await each.end().catch(() => {});
  }
}
