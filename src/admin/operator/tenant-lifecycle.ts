/**
 * Tenant lifecycle in SQL: find, list, change, soft delete, restore and purge. Callers (the admin
 * API) run these as the owner inside a transaction that also writes the audit record; the
 * change triggers then tell every instance to drop what it cached of the tenant.
 */
import type { Queryable } from '../../db/database.ts';
import { sql, toNative } from '../../db/sql-builder.ts';
import { effectiveSettings, type EffectiveTenantSettings } from '../../tenancy/tenant-settings.ts';
import type { TenantStatus } from '../../catalog/tenant-statuses.ts';
import type { Tenant, TenantKind, TenantSettings } from '../../tenancy/tenants.ts';

export interface TenantRecord extends Tenant {
  readonly created_at: Date;
  readonly updated_at: Date;
  readonly deleted_at: Date | null;
}

/** The admin API's view of a tenant: effective settings (defaults filled in). */
export interface TenantRepresentation {
  readonly id: string;
  readonly slug: string;
  readonly environment: string;
  readonly name: string;
  readonly status: TenantStatus;
  readonly settings: EffectiveTenantSettings;
  readonly created_at: string;
  readonly updated_at: string;
  readonly deleted_at: string | null;
}

export function tenantRepresentation(record: TenantRecord): TenantRepresentation {
  return {
    id: record.id,
    slug: record.slug,
    environment: record.environment,
    name: record.name,
    status: record.status,
    settings: effectiveSettings(record.settings),
    created_at: new Date(record.created_at).toISOString(),
    updated_at: new Date(record.updated_at).toISOString(),
    deleted_at: record.deleted_at ? new Date(record.deleted_at).toISOString() : null,
  };
}

const COLUMNS = 'id, kind, environment, slug, name, status, settings, created_at, updated_at, deleted_at';

/** A customer tenant by slug (the platform row only when asked for); `lock` takes the row for an update. */
export async function findTenantRecord(
  q: Queryable,
  environment: string,
  slug: string,
  options: { includeDeleted?: boolean; lock?: boolean; kind?: TenantKind } = {},
): Promise<TenantRecord | undefined> {
  const [row] = await q.query<TenantRecord & Record<string, unknown>>(
    `SELECT ${COLUMNS} FROM tenants
      WHERE environment = $1 AND slug = $2 AND kind = $3 ${options.includeDeleted ? '' : 'AND deleted_at IS NULL'}
      ${options.lock ? 'FOR UPDATE' : ''}`,
    [environment, slug, options.kind ?? 'tenant'],
  );
  return row;
}

export interface TenantListQuery {
  readonly environment: string;
  readonly status?: TenantStatus;
  /** case-insensitive substring of slug or name */
  readonly search?: string;
  readonly includeDeleted?: boolean;
  readonly after?: { readonly slug: string };
  readonly limit: number;
}

/** Ordered by slug (unique per environment), keyset-paginated. */
export async function listTenantRecords(q: Queryable, query: TenantListQuery): Promise<TenantRecord[]> {
  const list = sql('tenants').select(sql.raw(COLUMNS)).where('environment', query.environment).andWhereRaw("?? = 'tenant'", ['kind']);
  if (!query.includeDeleted) list.whereNull('deleted_at');
  if (query.status) list.andWhere('status', query.status);
  if (query.search) {
    const pattern = `%${query.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    list.andWhere((matches) => matches.whereILike('slug', pattern).orWhereILike('name', pattern));
  }
  if (query.after) list.andWhere('slug', '>', query.after.slug);
  const statement = toNative(list.orderBy('slug').limit(query.limit));
  return q.query<TenantRecord & Record<string, unknown>>(statement.text, statement.values);
}

export interface TenantChanges {
  readonly name?: string;
  readonly status?: TenantStatus;
  readonly settings?: TenantSettings;
  /** 'now' soft-deletes, null restores */
  readonly deletedAt?: 'now' | null;
}

export async function updateTenantRecord(tx: Queryable, id: string, changes: TenantChanges): Promise<TenantRecord> {
  const sets = ['updated_at = now()'];
  const params: unknown[] = [id];
  const set = (column: string, value: unknown, cast = '') => {
    params.push(value);
    sets.push(`${column} = $${params.length}${cast}`);
  };
  if (changes.name !== undefined) set('name', changes.name);
  if (changes.status !== undefined) set('status', changes.status);
  if (changes.settings !== undefined) set('settings', JSON.stringify(changes.settings), '::jsonb');
  if (changes.deletedAt === 'now') sets.push('deleted_at = now()');
  if (changes.deletedAt === null) sets.push('deleted_at = NULL');
  const [row] = await tx.query<TenantRecord & Record<string, unknown>>(
    `UPDATE tenants SET ${sets.join(', ')} WHERE id = $1 RETURNING ${COLUMNS}`,
    params,
  );
  if (!row) throw new Error(`tenant ${id} vanished during an update`);
  return row;
}

/**
 * Every table holding a tenant's rows, children before parents. A test checks it names every
 * table with a tenant_id column (the audit log excepted: a purge is itself audited and the
 * history outlives the tenant), so a new table cannot be forgotten here.
 */
export const TENANT_OWNED_TABLES = [
  'auth_events',
  'usage_hourly',
  'usage_daily',
  'webhook_schedule',
  'webhook_attempts',
  'webhook_deliveries',
  'outbox_events',
  'webhook_subscriptions',
  'idempotency_keys',
  'oauth_replay_detections',
  'clockings',
  'absences',
  'contracts',
  'employees',
  'activity_definitions',
  'org_units',
  // after the collections: deleting their rows writes tombstones
  'tombstones',
  'resource_resets',
  'revoked_tokens',
  'client_token_cutoffs',
  'client_assertion_jtis',
  'client_secrets',
  'clients',
  'key_promotions',
  'signing_keys',
] as const;

/** Deletes the tenant and everything it owns; the caller's transaction must be scoped to it. */
export async function purgeTenantRows(tx: Queryable, id: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TENANT_OWNED_TABLES) {
    const rows = await tx.query<{ n: number }>(
      `WITH gone AS (DELETE FROM ${table} WHERE tenant_id = $1 RETURNING 1) SELECT count(*)::int AS n FROM gone`,
      [id],
    );
    counts[table] = rows[0]?.n ?? 0;
  }
  await tx.query(`DELETE FROM tenants WHERE id = $1`, [id]);
  return counts;
}
