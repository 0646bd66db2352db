/**
 * The second isolation layer, proven on the database itself: Postgres row level security under
 * the runtime role, independent of the application's own tenant filters. One test per rule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { TENANT_OWNED_TABLES } from '../../src/admin/operator/tenant-lifecycle.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const TENANT_TABLES = [
  'idempotency_keys',
  'clients',
  'client_secrets',
  'client_assertion_jtis',
  'signing_keys',
  'org_units',
  'employees',
  'contracts',
  'activity_definitions',
  'clockings',
  'absences',
  'webhook_subscriptions',
  'outbox_events',
  'webhook_deliveries',
  'webhook_attempts',
  'auth_events',
  'tombstones',
  'resource_resets',
  'revoked_tokens',
  'client_token_cutoffs',
  'oauth_replay_detections',
];
/** Tenant-owned tables only the owner (admin API, webhook worker) reads: RLS and FORCE still guard
 * them, and the runtime role has no grant at all. */
const OWNER_ONLY_TENANT_TABLES = ['webhook_subscriptions', 'webhook_deliveries', 'webhook_attempts'];
/** Tenant-owned tables the runtime role only appends to (the auth event log's flusher): it reads none of them. */
const INSERT_ONLY_TENANT_TABLES = ['auth_events'];
const RUNTIME_TABLES = TENANT_TABLES.filter((t) => !OWNER_ONLY_TENANT_TABLES.includes(t) && !INSERT_ONLY_TENANT_TABLES.includes(t));
/** Tables with a tenant_id that are the platform's, not a tenant's: the runtime role has no grant
 * on them at all, so RLS would guard nothing (the admin API reads them as the owner). */
const PLATFORM_TABLES = ['audit_events', 'key_promotions', 'webhook_schedule', 'usage_hourly', 'usage_daily'];

describe.each(testDatabaseKinds())('row level security on %s', (kind) => {
  let server: TestServer;
  let db: Database;
  let acme: string;
  let globex: string;

  beforeAll(async () => {
    server = await startTestServer(kind);
    db = server.booted.db;
    const ids = await db.admin.query<{ id: string; slug: string }>(`SELECT id, slug FROM tenants WHERE environment = 'sandbox'`);
    acme = ids.find((t) => t.slug === 'acme')?.id ?? '';
    globex = ids.find((t) => t.slug === 'globex')?.id ?? '';
  });
  afterAll(async () => {
    await server?.close();
  });

  it('returns only the tenant’s rows to a query that forgets the tenant filter', async () => {
    const rows = await db.scoped(acme, (tx) => tx.query<{ employee_number: string }>('SELECT employee_number FROM employees ORDER BY 1'));
    expect(rows).toHaveLength(50);
    expect(rows.every((r) => r.employee_number.startsWith('A-'))).toBe(true);
  });

  it('hides other tenants’ rows in every tenant-owned table', async () => {
    for (const table of RUNTIME_TABLES) {
      const visible = await db.scoped(acme, (tx) => tx.query<{ tenant_id: string }>(`SELECT DISTINCT tenant_id FROM ${table}`));
      expect(
        visible.every((r) => r.tenant_id === acme),
        table,
      ).toBe(true);
    }
    const [all] = await db.admin.query<{ n: number }>('SELECT count(DISTINCT tenant_id)::int AS n FROM employees');
    expect(all?.n).toBe(4); // the rows are there; only the policy hides them
  });

  it('fails closed: no tenant set means no rows at all', async () => {
    for (const table of RUNTIME_TABLES) {
      const rows = await db.scoped(null, (tx) => tx.query(`SELECT 1 FROM ${table}`));
      expect(rows, table).toHaveLength(0);
    }
  });

  it('refuses to write a row for another tenant (WITH CHECK), leaving nothing behind', async () => {
    const attempt = db.scoped(acme, (tx) =>
      tx.query(`INSERT INTO employees (tenant_id, employee_number, first_name, last_name) VALUES ($1, 'X-1', 'Mallory', 'Intruder')`, [
        globex,
      ]),
    );
    await expect(attempt).rejects.toMatchObject({ code: '42501' });
    const [row] = await db.admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM employees WHERE employee_number = 'X-1'`);
    expect(row?.n).toBe(0);
  });

  it('updates and deletes nothing of another tenant even without a tenant filter', async () => {
    const updated = await db.scoped(acme, (tx) =>
      tx.query(`UPDATE employees SET first_name = 'Pwned' WHERE employee_number LIKE 'G-%' RETURNING id`),
    );
    const deleted = await db.scoped(acme, (tx) => tx.query(`DELETE FROM clockings WHERE tenant_id = $1 RETURNING id`, [globex]));
    expect(updated).toHaveLength(0);
    expect(deleted).toHaveLength(0);
    const [row] = await db.admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM employees WHERE first_name = 'Pwned'`);
    expect(row?.n).toBe(0);
  });

  it('keeps the tenant setting and role transaction-local: nothing survives into the next transaction', async () => {
    for (let i = 0; i < 5; i += 1) {
      await db.scoped(acme, (tx) => tx.query('SELECT 1'));
      const [state] = await db.scoped(null, (tx) =>
        tx.query<{ setting: string | null; role: string }>(
          `SELECT current_setting('app.tenant_id', true) AS setting, current_user AS role`,
        ),
      );
      expect(state).toEqual({ setting: '', role: 'tenant_connect_app' });
    }
    const [outside] = await db.admin.query<{ role: string }>('SELECT current_user AS role');
    expect(outside?.role).not.toBe('tenant_connect_app');
  });

  it('runs requests as a role that owns no table, cannot bypass RLS and cannot TRUNCATE', async () => {
    const [role] = await db.admin.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
      `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'tenant_connect_app'`,
    );
    expect(role).toEqual({ rolsuper: false, rolbypassrls: false });
    const owned = await db.admin.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = 'tenant_connect_app'`);
    expect(owned).toHaveLength(0);
    const truncatable = await db.admin.query(
      `SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
          AND has_table_privilege('tenant_connect_app', oid, 'TRUNCATE')`,
    );
    expect(truncatable).toHaveLength(0);
    await expect(db.scoped(acme, (tx) => tx.query('TRUNCATE employees CASCADE'))).rejects.toMatchObject({ code: '42501' });
    await expect(db.scoped(acme, (tx) => tx.query('ALTER TABLE employees DISABLE ROW LEVEL SECURITY'))).rejects.toMatchObject({
      code: '42501',
    });
  });

  it('cannot change the tenants table or read secrets of another tenant through a join', async () => {
    await expect(db.scoped(acme, (tx) => tx.query(`UPDATE tenants SET status = 'ACTIVE'`))).rejects.toMatchObject({ code: '42501' });
    const secrets = await db.scoped(acme, (tx) =>
      tx.query<{ tenant_id: string }>(`SELECT s.tenant_id FROM client_secrets s JOIN clients c ON c.id = s.client_id`),
    );
    expect(secrets.every((s) => s.tenant_id === acme)).toBe(true);
  });

  it('lets the runtime role write outbox events only for its own tenant, and read no subscription or delivery', async () => {
    const attempt = db.scoped(acme, (tx) =>
      tx.query(`INSERT INTO outbox_events (tenant_id, id, type, data) VALUES ($1, gen_random_uuid(), 'employee.created', '{}')`, [globex]),
    );
    await expect(attempt).rejects.toMatchObject({ code: '42501' });
    for (const table of OWNER_ONLY_TENANT_TABLES) {
      await expect(db.scoped(acme, (tx) => tx.query(`SELECT 1 FROM ${table} LIMIT 1`))).rejects.toMatchObject({ code: '42501' });
    }
  });

  it('gives the runtime role no access at all to the platform tables (audit log, key promotion schedule)', async () => {
    for (const table of PLATFORM_TABLES) {
      await expect(db.scoped(acme, (tx) => tx.query(`SELECT 1 FROM ${table} LIMIT 1`))).rejects.toMatchObject({ code: '42501' });
      await expect(db.scoped(null, (tx) => tx.query(`DELETE FROM ${table}`))).rejects.toMatchObject({ code: '42501' });
    }
  });

  describe('schema shape', () => {
    it('purges every table that holds a tenant’s rows (all but the audit log, which outlives it)', async () => {
      const tables = await db.admin.query<{ relname: string }>(
        `SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
          WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace AND c.relname <> 'audit_events'`,
      );
      expect(tables.map((t) => t.relname).sort()).toEqual([...TENANT_OWNED_TABLES].sort());
    });

    it('enables and forces RLS with a fail-closed policy on every table that has tenant_id', async () => {
      const tables = await db.admin.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean; policies: number }>(
        `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid
                   AND pg_get_expr(p.polqual, p.polrelid) ILIKE '%nullif(current_setting(''app.tenant_id''::text, true), ''''::text)%') AS policies
           FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
          WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
          ORDER BY 1`,
      );
      expect(tables.map((t) => t.relname).sort()).toEqual([...TENANT_TABLES, ...PLATFORM_TABLES].sort());
      for (const t of tables.filter((t) => !PLATFORM_TABLES.includes(t.relname)))
        expect(t, t.relname).toMatchObject({ relrowsecurity: true, relforcerowsecurity: true, policies: 2 });
    });

    it('keys every tenant-owned table by (tenant_id, …) and includes tenant_id in every foreign key and unique constraint', async () => {
      const constraints = await db.admin.query<{ table: string; name: string; type: string; columns: string[]; first: string }>(
        `SELECT c.conrelid::regclass::text AS table, c.conname AS name, c.contype AS type,
                array(SELECT a.attname::text FROM unnest(c.conkey) k JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k) AS columns,
                (SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.conrelid AND a.attnum = c.conkey[1]) AS first
           FROM pg_constraint c
          WHERE c.contype IN ('p', 'u', 'f') AND c.conrelid::regclass::text = ANY($1)`,
        [TENANT_TABLES],
      );
      for (const c of constraints) {
        if (c.type === 'p') expect(c.first, `${c.table} primary key`).toBe('tenant_id');
        else if (c.type === 'f' && c.columns.length === 1)
          expect(c.columns, `${c.name}`).toEqual(['tenant_id']); // the reference to tenants(id)
        else expect(c.columns, `${c.table} ${c.name}`).toContain('tenant_id');
      }
      const uniqueIndexes = await db.admin.query<{ indexdef: string }>(
        `SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY($1) AND indexdef LIKE 'CREATE UNIQUE%'`,
        [TENANT_TABLES],
      );
      for (const index of uniqueIndexes) expect(index.indexdef).toMatch(/\(tenant_id/);
    });

    it('has no views and no materialized views over tenant data', async () => {
      expect(await db.admin.query(`SELECT viewname FROM pg_views WHERE schemaname = 'public'`)).toHaveLength(0);
      expect(await db.admin.query(`SELECT matviewname FROM pg_matviews WHERE schemaname = 'public'`)).toHaveLength(0);
    });
  });
});
