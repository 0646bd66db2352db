/**
 * The retention job with an injected clock: on every table of RETENTION_TARGETS a row just past
 * its retention is deleted and one just inside is kept, across tenants and in bounded batches; a
 * pending delivery and its event are never trimmed; a lease held by another instance stops a run;
 * the rows deleted reach the metrics; a database failing mid-run loses only the batch in flight,
 * and the scheduled job recovers by itself.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRetentionJob } from '../../src/admin/operator/retention-job.ts';
import type { RetentionConfig } from '../../src/config/config.ts';
import type { Database } from '../../src/db/database.ts';
import { uuidv7 } from '../../src/db/ids.ts';
import { REVOCATION_RETENTION_SECONDS } from '../../src/tenancy/token-denylist.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const REVOCATION_MS = REVOCATION_RETENTION_SECONDS * 1000;
/** table, key column, the expired row's key, the live row's key */
const EXPIRING_KEYS = [
  ['revoked_tokens', 'jti', 'old', 'new'],
  ['client_token_cutoffs', 'client_id', 'old', 'new'],
  ['oauth_replay_detections', 'id', 'old'.padEnd(43, 'x'), 'new'.padEnd(43, 'x')],
  ['client_assertion_jtis', 'jti_hash', 'old', 'new'],
] as const;

describe.each(testDatabaseKinds())('the retention job on %s', (kind) => {
  let server: TestServer;
  let acme: string;
  let globex: string;
  // the injected clock: frozen at the start of the file
  const NOW = Date.now();
  const config: RetentionConfig = {
    worker: false,
    intervalMs: 60_000,
    batchSize: 2, // small, so a table with more expired rows takes several batches
    tombstoneDays: 30,
    eventDays: 20,
    deliveryDays: 10,
    attemptDays: 5,
    idempotencyKeyHours: 48,
    auditDays: 365,
    authEventDays: 15,
    usageHourlyDays: 3,
    usageDays: 40,
  };
  /** just past and just inside a retention */
  const expired = (keptMs: number) => NOW - keptMs - HOUR_MS;
  const kept = (keptMs: number) => NOW - keptMs + HOUR_MS;
  const iso = (ms: number) => new Date(ms).toISOString();
  const ids = {
    eventOld: '',
    eventNew: '',
    eventPending: '',
    subscription: uuidv7(),
    deliveryOld: uuidv7(),
    deliveryNew: uuidv7(),
    deliveryPending: uuidv7(),
    attemptOld: uuidv7(),
    attemptNew: uuidv7(),
    auditOld: '',
    auditNew: '',
  };
  const tombstonesOld = Array.from({ length: 5 }, () => uuidv7());
  const tombstoneNew = uuidv7();
  const globexTombstoneOld = uuidv7();

  const count = async (tenantId: string | null, sql: string, params: unknown[] = []) => {
    const { db } = server.booted;
    const [row] = tenantId
      ? await db.admin.scoped(tenantId, (tx) => tx.query<{ n: number }>(sql, params))
      : await db.admin.query<{ n: number }>(sql, params);
    return row?.n;
  };

  beforeAll(async () => {
    server = await startTestServer(kind, { env: { RETENTION_WORKER: 'false' } });
    const tenants = await server.booted.db.admin.query<{ id: string; slug: string }>(
      `SELECT id, slug FROM tenants WHERE environment = 'sandbox' AND slug IN ('acme', 'globex')`,
    );
    acme = tenants.find((t) => t.slug === 'acme')?.id ?? '';
    globex = tenants.find((t) => t.slug === 'globex')?.id ?? '';
    ids.eventOld = uuidv7(expired(config.eventDays * DAY_MS));
    ids.eventNew = uuidv7(kept(config.eventDays * DAY_MS));
    ids.eventPending = uuidv7(expired(config.eventDays * DAY_MS));
    ids.auditOld = uuidv7(expired(config.auditDays * DAY_MS));
    ids.auditNew = uuidv7(kept(config.auditDays * DAY_MS));

    await server.booted.db.admin.scoped(acme, async (tx) => {
      await tx.query(
        `INSERT INTO webhook_subscriptions (tenant_id, id, url, event_types, secret_encrypted) VALUES ($1, $2, 'https://example.com/hook', '{absence.created}', 'x')`,
        [acme, ids.subscription],
      );
      for (const id of [ids.eventOld, ids.eventNew, ids.eventPending]) {
        await tx.query(`INSERT INTO outbox_events (tenant_id, id, type, data) VALUES ($1, $2, 'org_unit.created', '{}')`, [acme, id]);
      }
      const delivery = `INSERT INTO webhook_deliveries (tenant_id, id, subscription_id, event_id, status, created_at) VALUES ($1, $2, $3, $4, $5, $6)`;
      await tx.query(delivery, [
        acme,
        ids.deliveryOld,
        ids.subscription,
        ids.eventNew,
        'delivered',
        iso(expired(config.deliveryDays * DAY_MS)),
      ]);
      await tx.query(delivery, [acme, ids.deliveryNew, ids.subscription, ids.eventNew, 'failed', iso(kept(config.deliveryDays * DAY_MS))]);
      await tx.query(delivery, [
        acme,
        ids.deliveryPending,
        ids.subscription,
        ids.eventPending,
        'pending',
        iso(expired(config.deliveryDays * DAY_MS)),
      ]);
      const attempt = `INSERT INTO webhook_attempts (tenant_id, id, delivery_id, attempted_at, duration_ms) VALUES ($1, $2, $3, $4, 1)`;
      await tx.query(attempt, [acme, ids.attemptOld, ids.deliveryNew, iso(expired(config.attemptDays * DAY_MS))]);
      await tx.query(attempt, [acme, ids.attemptNew, ids.deliveryNew, iso(kept(config.attemptDays * DAY_MS))]);
      const key = `INSERT INTO idempotency_keys (tenant_id, client_id, key, request_hash, created_at) VALUES ($1, 'c', $2, 'h', $3)`;
      await tx.query(key, [acme, 'old', iso(expired(config.idempotencyKeyHours * HOUR_MS))]);
      await tx.query(key, [acme, 'new', iso(kept(config.idempotencyKeyHours * HOUR_MS))]);
      const tombstone = `INSERT INTO tombstones (tenant_id, collection, id, deleted_at, version) VALUES ($1, 'employees', $2, $3, 1)`;
      for (const id of tombstonesOld) await tx.query(tombstone, [acme, id, iso(expired(config.tombstoneDays * DAY_MS))]);
      await tx.query(tombstone, [acme, tombstoneNew, iso(kept(config.tombstoneDays * DAY_MS))]);
      // rows kept until their own expires_at (revocations a minute longer): one past it, one not yet
      const expiring = [
        [`INSERT INTO revoked_tokens (tenant_id, jti, client_id, expires_at) VALUES ($1, $2, 'c', $3)`, REVOCATION_MS],
        [
          `INSERT INTO client_token_cutoffs (tenant_id, client_id, issued_before, expires_at) VALUES ($1, $2, $3::timestamptz - interval '1 day', $3)`,
          REVOCATION_MS,
        ],
        [`INSERT INTO oauth_replay_detections (tenant_id, id, expires_at) VALUES ($1, rpad($2, 43, 'x'), $3)`, 0],
        [`INSERT INTO client_assertion_jtis (tenant_id, client_id, jti_hash, expires_at) VALUES ($1, 'c', $2, $3)`, 0],
      ] as const;
      for (const [insert, keptMs] of expiring) {
        await tx.query(insert, [acme, 'old', iso(expired(keptMs))]);
        await tx.query(insert, [acme, 'new', iso(kept(keptMs))]);
      }
      // auth events by when they happened (not their ids, made later at flush)
      const authEvent = `INSERT INTO auth_events (tenant_id, id, occurred_at, client_id, outcome, reason) VALUES ($1, $2, $3, $4, 'refused', 'wrong_secret')`;
      await tx.query(authEvent, [acme, uuidv7(), iso(expired(config.authEventDays * DAY_MS)), 'old']);
      await tx.query(authEvent, [acme, uuidv7(), iso(kept(config.authEventDays * DAY_MS)), 'new']);
    });
    await server.booted.db.admin.scoped(globex, (tx) =>
      tx.query(`INSERT INTO tombstones (tenant_id, collection, id, deleted_at, version) VALUES ($1, 'clockings', $2, $3, 3)`, [
        globex,
        globexTombstoneOld,
        iso(expired(config.tombstoneDays * DAY_MS)),
      ]),
    );
    const audit = `INSERT INTO audit_events (id, occurred_at, environment, actor_client_id, actor_issuer, action, target_type, target_id, request_id)
                   VALUES ($1, $2, 'sandbox', 'c', 'i', 'test.retention', 't', 't', 'r')`;
    await server.booted.db.admin.query(audit, [ids.auditOld, iso(expired(config.auditDays * DAY_MS))]);
    await server.booted.db.admin.query(audit, [ids.auditNew, iso(kept(config.auditDays * DAY_MS))]);
    // usage: hours by their start, days by their UTC date (a day goes once it ends before the cutoff)
    const hourOf = (ms: number) => iso(ms - (ms % HOUR_MS));
    const hourly = `INSERT INTO usage_hourly (tenant_id, client_id, hour, tokens) VALUES ($1, $2, $3, 1)`;
    await server.booted.db.admin.query(hourly, [acme, 'old', hourOf(expired(config.usageHourlyDays * DAY_MS))]);
    await server.booted.db.admin.query(hourly, [acme, 'new', hourOf(kept(config.usageHourlyDays * DAY_MS))]);
    const daily = `INSERT INTO usage_daily (tenant_id, client_id, day, tokens) VALUES ($1, $2, $3, 1)`;
    const dayOf = (ms: number) => iso(ms).slice(0, 10);
    await server.booted.db.admin.query(daily, [globex, 'old', dayOf(NOW - (config.usageDays + 1) * DAY_MS)]);
    await server.booted.db.admin.query(daily, [globex, 'new', dayOf(NOW - (config.usageDays - 1) * DAY_MS)]);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('trims every table past its retention and touches nothing newer', async () => {
    const reported: [string, number][] = [];
    const job = createRetentionJob({
      db: server.booted.db,
      log: createLogger('silent'),
      config,
      now: () => NOW,
      onDeleted: (table, rows) => reported.push([table, rows]),
    });
    const run = await job.runOnce();
    expect(run).toEqual({
      webhook_attempts: 1,
      webhook_deliveries: 1,
      outbox_events: 1,
      idempotency_keys: 1,
      tombstones: 6,
      revoked_tokens: 1,
      client_token_cutoffs: 1,
      oauth_replay_detections: 1,
      client_assertion_jtis: 1,
      auth_events: 1,
      usage_hourly: 1,
      usage_daily: 1,
      audit_events: 1,
    });
    expect(Object.fromEntries(reported)).toEqual(run);

    const exists = (tenantId: string | null, table: string, column: string, id: string) =>
      count(tenantId, `SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [id]);
    // gone
    expect(await exists(acme, 'outbox_events', 'id', ids.eventOld)).toBe(0);
    expect(await exists(acme, 'webhook_deliveries', 'id', ids.deliveryOld)).toBe(0);
    expect(await exists(acme, 'webhook_attempts', 'id', ids.attemptOld)).toBe(0);
    expect(await exists(acme, 'idempotency_keys', 'key', 'old')).toBe(0);
    expect(await count(acme, `SELECT count(*)::int AS n FROM tombstones WHERE id = ANY($1::uuid[])`, [tombstonesOld])).toBe(0);
    expect(await exists(globex, 'tombstones', 'id', globexTombstoneOld)).toBe(0);
    expect(await exists(null, 'audit_events', 'id', ids.auditOld)).toBe(0);
    expect(await exists(acme, 'auth_events', 'client_id', 'old')).toBe(0);
    for (const [table, column, old] of EXPIRING_KEYS) expect(await exists(acme, table, column, old), table).toBe(0);
    // kept: newer rows, and a pending delivery with its (expired) event
    expect(await exists(acme, 'outbox_events', 'id', ids.eventNew)).toBe(1);
    expect(await exists(acme, 'outbox_events', 'id', ids.eventPending)).toBe(1);
    expect(await exists(acme, 'webhook_deliveries', 'id', ids.deliveryNew)).toBe(1);
    expect(await exists(acme, 'webhook_deliveries', 'id', ids.deliveryPending)).toBe(1);
    expect(await exists(acme, 'webhook_attempts', 'id', ids.attemptNew)).toBe(1);
    expect(await exists(acme, 'idempotency_keys', 'key', 'new')).toBe(1);
    expect(await exists(acme, 'tombstones', 'id', tombstoneNew)).toBe(1);
    expect(await exists(null, 'audit_events', 'id', ids.auditNew)).toBe(1);
    expect(await exists(acme, 'auth_events', 'client_id', 'new')).toBe(1);
    expect(await exists(null, 'usage_hourly', 'client_id', 'old')).toBe(0);
    expect(await exists(null, 'usage_hourly', 'client_id', 'new')).toBe(1);
    expect(await exists(null, 'usage_daily', 'client_id', 'old')).toBe(0);
    expect(await exists(null, 'usage_daily', 'client_id', 'new')).toBe(1);
    for (const [table, column, , young] of EXPIRING_KEYS) expect(await exists(acme, table, column, young), table).toBe(1);

    // a second run finds nothing more
    expect(Object.values((await job.runOnce()) ?? {}).every((n) => n === 0)).toBe(true);
  });

  it('leaves the run to the instance holding the lease, and takes an expired lease over', async () => {
    await server.booted.db.admin.scoped(acme, (tx) =>
      tx.query(`INSERT INTO tombstones (tenant_id, collection, id, deleted_at, version) VALUES ($1, 'employees', $2, $3, 1)`, [
        acme,
        uuidv7(),
        iso(expired(config.tombstoneDays * DAY_MS)),
      ]),
    );
    await server.booted.db.admin.query(
      `INSERT INTO job_leases (name, holder, expires_at) VALUES ('retention', gen_random_uuid(), now() + interval '1 minute')`,
    );
    const job = createRetentionJob({ db: server.booted.db, log: createLogger('silent'), config, now: () => NOW });
    expect(await job.runOnce()).toBeNull();
    await server.booted.db.admin.query(`UPDATE job_leases SET expires_at = now() - interval '1 second' WHERE name = 'retention'`);
    expect(await job.runOnce()).toMatchObject({ tombstones: 1 });
    expect(await server.booted.db.admin.query(`SELECT 1 FROM job_leases WHERE name = 'retention'`)).toEqual([]);
  });

  it("reports the booted job's deletions in the Prometheus metrics", async () => {
    await server.booted.db.admin.scoped(globex, (tx) =>
      tx.query(
        `INSERT INTO tombstones (tenant_id, collection, id, deleted_at, version) VALUES ($1, 'clockings', $2, now() - interval '31 days', 1)`,
        [globex, uuidv7()],
      ),
    );
    expect(await server.booted.retention.runOnce()).toMatchObject({ tombstones: 1 });
    const text = await server.booted.app.metrics.registry.metrics();
    expect(text).toContain('tenant_connect_retention_deleted_rows_total{table="tombstones"} 1');
  });

  it('survives the database failing mid-run: whole batches stay deleted, the one in flight rolls back, the lease is released, the next run finishes', async () => {
    const gone = Array.from({ length: 7 }, () => uuidv7());
    await server.booted.db.admin.scoped(acme, (tx) =>
      tx.query(
        `INSERT INTO tombstones (tenant_id, collection, id, deleted_at, version)
           SELECT $1, 'employees', id, $3, 1 FROM unnest($2::uuid[]) AS id`,
        [acme, gone, iso(expired(config.tombstoneDays * DAY_MS))],
      ),
    );
    const left = () => count(acme, `SELECT count(*)::int AS n FROM tombstones WHERE id = ANY($1::uuid[])`, [gone]);
    // acme's third batch of tombstones deletes its two rows, then its connection is lost before the commit
    const real = server.booted.db;
    let batches = 0;
    let failAt = 3;
    const failing: Database = {
      ...real,
      admin: {
        ...real.admin,
        scoped: (tenantId, work) =>
          real.admin.scoped(tenantId, async (tx) => {
            let tombstones = false;
            const result = await work({
              tenantId: tx.tenantId,
              query: (sql, params) => {
                tombstones ||= sql.includes('DELETE FROM tombstones');
                return tx.query(sql, params);
              },
            });
            if (tenantId === acme && tombstones && ++batches === failAt) throw new Error('Connection terminated unexpectedly');
            return result;
          }),
      },
    };
    const log = createLogger('silent');
    const warn = vi.spyOn(log, 'warn');
    const job = createRetentionJob({ db: failing, log, config: { ...config, intervalMs: 50 }, now: () => NOW });

    await expect(job.runOnce()).rejects.toThrow('Connection terminated unexpectedly');
    // two whole batches of two are gone; the third rolled back with its transaction
    batches = 0;
    expect(await left()).toBe(3);
    expect(await real.admin.query(`SELECT 1 FROM job_leases WHERE name = 'retention'`)).toEqual([]);

    // scheduled: the first run fails the same way and is logged, the next one finishes the work
    failAt = 1;
    job.start();
    try {
      await eventually(async () => expect(await left()).toBe(0), 10_000);
    } finally {
      await job.stop();
    }
    expect(warn).toHaveBeenCalledWith(expect.anything(), 'retention run failed; retrying at the next interval');
    expect(await real.admin.query(`SELECT 1 FROM job_leases WHERE name = 'retention'`)).toEqual([]);
  });
});
