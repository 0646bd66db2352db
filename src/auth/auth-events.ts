/**
 * The auth event log: every token request's outcome, per tenant (and so per environment), written
 * off the request path. A request only appends to a bounded in-memory buffer; a timer writes the
 * buffer in one INSERT per tenant (batched-writes.ts, as last_used_at is). A full buffer drops the
 * new event rather than slow or fail a token request, and a tenant's events the database refuses
 * are dropped too, never retried (an outage must not grow memory): both are counted (onDropped →
 * tenant_connect_auth_events_dropped_total).
 */
import type { Logger } from 'pino';
import type { AuthEventOutcome, AuthRefusalReason } from '../catalog/auth-event-reasons.ts';
import { createBatchedWrites } from '../db/batched-writes.ts';
import type { Database, Queryable } from '../db/database.ts';
import { uuidv7 } from '../db/ids.ts';
import { sql, toNative } from '../db/sql-builder.ts';

/** One token request's outcome as the token endpoint knows it. */
export interface AuthEventInput {
  readonly tenantId: string;
  /** the client id presented, when it had the shape of one (anything else might be a pasted secret) */
  readonly clientId: string | undefined;
  readonly outcome: AuthEventOutcome;
  /** undefined exactly when issued */
  readonly reason?: AuthRefusalReason;
  readonly sourceIp: string | undefined;
  readonly scopes: readonly string[];
  /** the issued token's jti */
  readonly jti?: string;
}

export type AuthEventDropCause = 'buffer_full' | 'write_failed';

interface BufferedEvent extends AuthEventInput {
  /** milliseconds since the epoch; the id (UUIDv7 of this time) is made at flush, off the request path */
  readonly time: number;
}

/** What the admin API answers with. */
export interface AuthEvent {
  readonly id: string;
  readonly time: string;
  readonly client_id: string | null;
  readonly outcome: AuthEventOutcome;
  readonly reason: AuthRefusalReason | null;
  readonly source_ip: string | null;
  readonly scopes: string[];
  readonly jti: string | null;
}

export interface AuthEventLogOptions {
  readonly flushIntervalMs: number;
  /** events held between flushes; more are dropped */
  readonly bufferSize: number;
  readonly onDropped?: (count: number, cause: AuthEventDropCause) => void;
  /** milliseconds since the epoch; tests freeze it */
  readonly now?: () => number;
}

/** One INSERT per tenant; a tenant whose insert fails loses its events (counted), the others are written. */
async function writeEvents(db: Database, log: Logger, batch: readonly BufferedEvent[], onDropped: AuthEventLogOptions['onDropped']) {
  const byTenant = Map.groupBy(batch, (event) => event.tenantId);
  for (const [tenantId, events] of byTenant) {
    try {
      await insertEvents(db, tenantId, events);
    } catch (error) {
      log.warn({ err: error, tenant_id: tenantId, events: events.length }, 'could not record auth events');
      onDropped?.(events.length, 'write_failed');
    }
  }
}

/**
 * One statement in one round trip: the reader sends role, tenant setting and statement together,
 * which Postgres runs as one implicit transaction (the insert is all or nothing). The rows travel
 * as one JSON parameter, since the reader inlines parameters and arrays cannot be inlined.
 */
async function insertEvents(db: Database, tenantId: string, events: readonly BufferedEvent[]): Promise<void> {
  const rows = events.map((e) => ({
    id: uuidv7(e.time),
    occurred_at: new Date(e.time).toISOString(),
    client_id: e.clientId ?? null,
    outcome: e.outcome,
    reason: e.reason ?? null,
    source_ip: e.sourceIp?.slice(0, 64) ?? null,
    scopes: e.scopes,
    jti: e.jti ?? null,
  }));
  await db.reader(tenantId).query(
    `INSERT INTO auth_events (tenant_id, id, occurred_at, client_id, outcome, reason, source_ip, scopes, jti)
       SELECT $1::uuid, e.id, e.occurred_at, e.client_id, e.outcome, e.reason, e.source_ip, e.scopes, e.jti
         FROM jsonb_to_recordset($2::jsonb)
              AS e (id uuid, occurred_at timestamptz, client_id text, outcome text, reason text, source_ip text, scopes text[], jti text)`,
    [tenantId, JSON.stringify(rows)],
  );
}

export function createAuthEventLog(db: Database, log: Logger, options: AuthEventLogOptions) {
  const now = options.now ?? Date.now;
  let pending: BufferedEvent[] = [];
  const writes = createBatchedWrites({
    take: () => {
      if (pending.length === 0) return undefined;
      const batch = pending;
      pending = [];
      return batch;
    },
    write: (batch) => writeEvents(db, log, batch, options.onDropped),
    intervalMs: options.flushIntervalMs,
    log,
    what: 'auth events',
  });
  return {
    ...writes,
    /** Notes one outcome; never waits, never throws. */
    record(event: AuthEventInput): void {
      if (pending.length >= options.bufferSize) {
        options.onDropped?.(1, 'buffer_full');
        return;
      }
      pending.push({ ...event, time: now() });
    },
    /** events waiting for the next flush */
    get pending(): number {
      return pending.length;
    },
  };
}
export type AuthEventLog = ReturnType<typeof createAuthEventLog>;

export interface AuthEventQuery {
  readonly clientId?: string;
  readonly outcome?: AuthEventOutcome;
  readonly reason?: string;
  readonly since?: string;
  readonly until?: string;
  /** id of the last event of the previous page (newest first) */
  readonly before?: string;
  readonly limit: number;
}

/** A tenant's events, newest first, keyset-paginated on the time-ordered id. `tx` is scoped to the tenant. */
export async function listAuthEvents(tx: Queryable, tenantId: string, query: AuthEventQuery): Promise<AuthEvent[]> {
  const list = sql('auth_events')
    .select(sql.raw('id, occurred_at, client_id, outcome, reason, source_ip, scopes, jti'))
    .where('tenant_id', tenantId);
  if (query.clientId !== undefined) list.andWhere('client_id', query.clientId);
  if (query.outcome !== undefined) list.andWhere('outcome', query.outcome);
  if (query.reason !== undefined) list.andWhere('reason', query.reason);
  if (query.since !== undefined) list.andWhereRaw('?? >= ?::timestamptz', ['occurred_at', query.since]);
  if (query.until !== undefined) list.andWhereRaw('?? < ?::timestamptz', ['occurred_at', query.until]);
  if (query.before !== undefined) list.andWhereRaw('?? < ?::uuid', ['id', query.before]);
  const statement = toNative(list.orderBy('id', 'desc').limit(query.limit));
  const rows = await tx.query<{
    id: string;
    occurred_at: Date;
    client_id: string | null;
    outcome: AuthEventOutcome;
    reason: AuthRefusalReason | null;
    source_ip: string | null;
    scopes: string[];
    jti: string | null;
  }>(statement.text, statement.values);
  return rows.map((r) => ({
    id: r.id,
    time: new Date(r.occurred_at).toISOString(),
    client_id: r.client_id,
    outcome: r.outcome,
    reason: r.reason,
    source_ip: r.source_ip,
    scopes: r.scopes,
    jti: r.jti,
  }));
}
