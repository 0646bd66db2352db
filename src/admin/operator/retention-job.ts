/**
 * The retention job: trims every table of RETENTION_TARGETS to its retention, in bounded batches,
 * each batch its own short transaction (a long one would hold back the events feed's visibility
 * horizon and the deletes' locks). One instance at a time runs it: it holds the `retention` row of
 * job_leases, renewed before each tenant, and stops if another instance has taken it over. A
 * lease row rather than an advisory lock, which would need one session for the whole run, which
 * PgBouncer in transaction mode does not give.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { RetentionConfig } from '../../config/config.ts';
import type { Database, Queryable } from '../../db/database.ts';
import { moreToTrim, RETENTION_TARGETS, type RetentionCutoff, retentionCutoffs, type RetentionTarget } from './retention-policy.ts';

const LEASE_NAME = 'retention';
/** long enough for the slowest tenant's batches; renewed before every tenant */
const LEASE_SECONDS = 300;

export interface RetentionJobDeps {
  readonly db: Database;
  readonly log: Logger;
  readonly config: RetentionConfig;
  readonly now: () => number;
  /** told the rows each run deleted, per table (the metrics) */
  readonly onDeleted?: (table: string, rows: number) => void;
  readonly targets?: readonly RetentionTarget[];
}

/** rows deleted per table, or null when another instance holds the lease */
export type RetentionRun = Record<string, number> | null;

export function createRetentionJob(deps: RetentionJobDeps) {
  const { db, log, config } = deps;
  const holder = randomUUID();
  const targets = deps.targets ?? RETENTION_TARGETS;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<RetentionRun> | undefined;
  let started = false;
  /** set by stop(): a run in progress ends after its current batch */
  let stopping = false;

  async function holdLease(): Promise<boolean> {
    const rows = await db.admin.query(
      `INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
        WHERE job_leases.holder = excluded.holder OR job_leases.expires_at < now()
       RETURNING holder`,
      [LEASE_NAME, holder, LEASE_SECONDS],
    );
    return rows.length === 1;
  }

  async function releaseLease(): Promise<void> {
    await db.admin.query('DELETE FROM job_leases WHERE name = $1 AND holder = $2', [LEASE_NAME, holder]);
  }

  /** One batch: at most batchSize expired rows, found by the target's index, deleted by ctid. */
  async function deleteBatch(q: Queryable, cutoff: RetentionCutoff, tenantId: string | null): Promise<number> {
    const { table, expired } = cutoff.target;
    const tenantCondition = tenantId === null ? '$1::uuid IS NULL' : 'tenant_id = $1::uuid';
    const [row] = await q.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ${tenantCondition} AND ${expired} LIMIT $3))
         RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      [tenantId, cutoff.value, config.batchSize],
    );
    return row?.n ?? 0;
  }

  async function trim(cutoff: RetentionCutoff, tenantId: string | null, counts: Record<string, number>): Promise<void> {
    for (;;) {
      const deleted =
        tenantId === null
          ? await deleteBatch(db.admin, cutoff, null)
          : await db.admin.scoped(tenantId, (tx) => deleteBatch(tx, cutoff, tenantId));
      counts[cutoff.target.table] = (counts[cutoff.target.table] ?? 0) + deleted;
      if (!moreToTrim(deleted, config.batchSize) || stopping) return;
    }
  }

  async function run(): Promise<RetentionRun> {
    if (!(await holdLease())) return null;
    const started = performance.now();
    const cutoffs = retentionCutoffs(deps.now(), config, targets);
    const counts: Record<string, number> = Object.fromEntries(targets.map((t) => [t.table, 0]));
    try {
      for (const cutoff of cutoffs.filter((c) => c.target.scope === 'platform')) await trim(cutoff, null, counts);
      const tenants = await db.admin.query<{ id: string }>('SELECT id FROM tenants ORDER BY id');
      for (const { id } of tenants) {
        if (!(await holdLease())) {
          log.warn({ job: LEASE_NAME }, 'retention: another instance took the lease over; stopping this run');
          break;
        }
        for (const cutoff of cutoffs.filter((c) => c.target.scope === 'tenant')) await trim(cutoff, id, counts);
      }
    } finally {
      for (const [table, rows] of Object.entries(counts)) if (rows > 0) deps.onDeleted?.(table, rows);
      await releaseLease().catch(() => {});
    }
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const ms = Math.round(performance.now() - started);
    if (total > 0) log.info({ deleted: counts, ms }, `retention: deleted ${total} expired rows`);
    else log.debug({ ms }, 'retention: nothing expired');
    return counts;
  }

  /** One run now (tests, operators); runs never overlap within an instance. */
  function runOnce(): Promise<RetentionRun> {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  }

  const schedule = (delayMs: number) => {
    timer = setTimeout(() => {
      runOnce()
        .catch((error: unknown) => log.warn({ err: error }, 'retention run failed; retrying at the next interval'))
        .finally(() => {
          if (!stopping) schedule(config.intervalMs);
        });
    }, delayMs).unref();
  };

  return {
    runOnce,
    /** the first run soon after start (an instance restarted every interval still trims), then every intervalMs */
    start(): void {
      if (started) return;
      started = true;
      stopping = false;
      schedule(Math.min(config.intervalMs, 60_000));
    },
    async stop(): Promise<void> {
      stopping = true;
      started = false;
      clearTimeout(timer);
      await running?.catch(() => {});
    },
  };
}
export type RetentionJob = ReturnType<typeof createRetentionJob>;
