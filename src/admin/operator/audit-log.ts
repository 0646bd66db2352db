/**
 * The audit log: one row per admin change, written by the caller inside the transaction of the
 * change itself, so a change is never without its record and a record never outlives a rolled
 * back change. before/after are the resources' admin representations, which hold no secrets.
 */
import type { Queryable } from '../../db/database.ts';
import { uuidv7 } from '../../db/ids.ts';
import { sql, toNative } from '../../db/sql-builder.ts';

export interface AdminActor {
  readonly clientId: string;
  readonly issuer: string;
}

export interface AuditEntry {
  readonly environment: string;
  readonly tenant: { readonly id: string; readonly slug: string } | null;
  readonly actor: AdminActor;
  /** e.g. tenant.create, client.rotate_secret, keys.rotate */
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string };
  readonly before?: unknown;
  readonly after?: unknown;
  readonly requestId: string;
}

export interface AuditEvent {
  readonly id: string;
  readonly occurred_at: string;
  readonly environment: string;
  readonly tenant: { readonly id: string; readonly slug: string } | null;
  readonly actor: { readonly client_id: string; readonly issuer: string };
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string };
  readonly before: unknown;
  readonly after: unknown;
  readonly request_id: string;
}

export async function recordAudit(tx: Queryable, entry: AuditEntry): Promise<void> {
  await tx.query(
    `INSERT INTO audit_events (id, environment, tenant_id, tenant_slug, actor_client_id, actor_issuer, action, target_type, target_id,
                               before, after, request_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      uuidv7(),
      entry.environment,
      entry.tenant?.id ?? null,
      entry.tenant?.slug ?? null,
      entry.actor.clientId,
      entry.actor.issuer,
      entry.action,
      entry.target.type,
      entry.target.id,
      entry.before === undefined ? null : JSON.stringify(entry.before),
      entry.after === undefined ? null : JSON.stringify(entry.after),
      entry.requestId,
    ],
  );
}

export interface AuditQuery {
  readonly environment: string;
  readonly tenantSlug?: string;
  readonly action?: string;
  readonly actorClientId?: string;
  readonly since?: string;
  readonly until?: string;
  /** id of the last event of the previous page (newest first) */
  readonly before?: string;
  readonly limit: number;
}

/** Newest first, keyset-paginated on the time-ordered id. */
export async function listAuditEvents(db: Queryable, query: AuditQuery): Promise<AuditEvent[]> {
  const list = sql('audit_events')
    .select(
      sql.raw(`id, occurred_at, environment, tenant_id, tenant_slug, actor_client_id, actor_issuer, action, target_type, target_id,
               before, after, request_id`),
    )
    .where('environment', query.environment);
  if (query.tenantSlug !== undefined) list.andWhere('tenant_slug', query.tenantSlug);
  if (query.action !== undefined) {
    if (query.action.endsWith('.*')) list.andWhereLike('action', query.action.replace(/\.\*$/, '.%'));
    else list.andWhere('action', query.action);
  }
  if (query.actorClientId !== undefined) list.andWhere('actor_client_id', query.actorClientId);
  if (query.since !== undefined) list.andWhereRaw('?? >= ?::timestamptz', ['occurred_at', query.since]);
  if (query.until !== undefined) list.andWhereRaw('?? < ?::timestamptz', ['occurred_at', query.until]);
  if (query.before !== undefined) list.andWhereRaw('?? < ?::uuid', ['id', query.before]);
  const statement = toNative(list.orderBy('id', 'desc').limit(query.limit));
  const rows = await db.query<{
    id: string;
    occurred_at: Date;
    environment: string;
    tenant_id: string | null;
    tenant_slug: string | null;
    actor_client_id: string;
    actor_issuer: string;
    action: string;
    target_type: string;
    target_id: string;
    before: unknown;
    after: unknown;
    request_id: string;
  }>(statement.text, statement.values);
  return rows.map((r) => ({
    id: r.id,
    occurred_at: new Date(r.occurred_at).toISOString(),
    environment: r.environment,
    tenant: r.tenant_id ? { id: r.tenant_id, slug: r.tenant_slug ?? '' } : null,
    actor: { client_id: r.actor_client_id, issuer: r.actor_issuer },
    action: r.action,
    target: { type: r.target_type, id: r.target_id },
    before: r.before,
    after: r.after,
    request_id: r.request_id,
  }));
}
