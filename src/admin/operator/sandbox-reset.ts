/**
 * Sandbox reset: every resource row of a sandbox tenant deleted in one transaction, then
 * optionally the demo organisation loaded, so integrators can rerun their suites from a known
 * state. It leaves no tombstones: it moves the tenant's sync horizon (resource_resets) instead, so
 * an include_deleted sync from before the reset answers 410 and reloads, rather than replaying
 * thousands of deletions. One `sandbox.reset` event says what happened, not one per row. The
 * tenant's idempotency keys go too: a replayed POST must not answer with a row that is gone.
 */
import type { ScopedTransaction } from '../../db/database.ts';
import { COLLECTIONS } from '../../catalog/collections.ts';
import { enqueueEvents } from '../../webhooks/outbox.ts';
import { TENANT_OWNED_TABLES } from './tenant-lifecycle.ts';

/** Loads demo data into a transaction scoped to the tenant (admin/operator/demo-seed.ts's, passed in by the process edge). */
export type DemoOrganisationLoader = (tx: ScopedTransaction, tenantId: string, slug: string) => Promise<void>;

/** The collections' tables, children before parents (the purge's order). */
const RESOURCE_TABLES = TENANT_OWNED_TABLES.filter((table) => COLLECTIONS.some((c) => c.table === table));

export interface SandboxResetResult {
  readonly tenant: string;
  readonly environment: string;
  /** the data loaded after the reset, or null for an empty tenant */
  readonly seed: 'demo' | null;
  /** when the reset happened: an include_deleted sync from before it answers 410 */
  readonly reset_at: string;
  /** rows deleted, per collection */
  readonly deleted: Record<string, number>;
  /** rows there are now, per collection */
  readonly loaded: Record<string, number>;
  /** the id of the one sandbox.reset event */
  readonly event_id: string;
}

const countRows = async (tx: ScopedTransaction, table: string): Promise<number> =>
  (await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1`, [tx.tenantId]))[0]?.n ?? 0;

/** Runs in the caller's transaction, scoped to the tenant (the admin API's, with its audit record). */
export async function resetSandboxData(
  tx: ScopedTransaction,
  tenant: { readonly slug: string; readonly environment: string },
  options: { readonly seed: 'demo' | null; readonly loadDemo: DemoOrganisationLoader | undefined },
): Promise<SandboxResetResult> {
  const tenantId = tx.tenantId;
  if (!tenantId) throw new TypeError('a sandbox reset runs in a transaction scoped to its tenant');
  const deleted: Record<string, number> = {};
  for (const table of RESOURCE_TABLES) {
    const [row] = await tx.query<{ n: number }>(
      `WITH gone AS (DELETE FROM ${table} WHERE tenant_id = $1 RETURNING 1) SELECT count(*)::int AS n FROM gone`,
      [tenantId],
    );
    deleted[table] = row?.n ?? 0;
  }
  await tx.query('DELETE FROM tombstones WHERE tenant_id = $1', [tenantId]);
  await tx.query('DELETE FROM idempotency_keys WHERE tenant_id = $1', [tenantId]);
  const [reset] = await tx.query<{ reset_at: string }>(
    `INSERT INTO resource_resets (tenant_id, reset_at) VALUES ($1, now())
     ON CONFLICT (tenant_id) DO UPDATE SET reset_at = excluded.reset_at
     RETURNING to_char(reset_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS reset_at`,
    [tenantId],
  );
  if (options.seed === 'demo') {
    if (!options.loadDemo) throw new TypeError('the demo organisation loader is not available');
    await options.loadDemo(tx, tenantId, tenant.slug);
  }
  const loaded: Record<string, number> = {};
  for (const table of RESOURCE_TABLES) loaded[table] = options.seed === 'demo' ? await countRows(tx, table) : 0;
  const partial = {
    tenant: tenant.slug,
    environment: tenant.environment,
    seed: options.seed,
    reset_at: reset?.reset_at ?? '',
    deleted,
    loaded,
  };
  const [eventId = ''] = await enqueueEvents(tx, [{ type: 'sandbox.reset', data: partial }]);
  return { ...partial, event_id: eventId };
}
