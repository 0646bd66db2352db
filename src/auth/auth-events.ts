/**
 * The auth event log: every token request's outcome, per tenant (and so per environment), written
 * off the request path. A request only appends its event, and its time as a number, to a bounded
 * in-memory buffer: no id, no date and no string is made there. A timer writes the buffer in one
 * round trip for all tenants (one INSERT per tenant, each under its own tenant's row level
 * security; batched-writes.ts, as last_used_at is), with the ids made for the whole batch at once.
 * A full buffer drops the new event rather than slow or fail a token request, and events the
 * database refuses are dropped too, never retried (an outage must not grow memory): both are
 * counted (onDropped → tenant_connect_auth_events_dropped_total).
 */
import type { Logger } from 'pino';
import type { AuthEventOutcome, AuthRefusalReason } from '../catalog/auth-event-reasons.ts';
import { createBatchedWrites } from '../db/batched-writes.ts';
import { type Database, isDatabaseUnavailable, type Queryable, type TenantStatement } from '../db/database.ts';
import { uuidv7s } from '../db/ids.ts';
import { sql, toNative } from '../db/sql-builder.ts';

/** One token request's outcome as the token endpoint knows it: the one object a request makes. */
export interface AuthEventInput {
  readonly tenantId: string;
  /** the client id presented, when it had the shape of one (anything else might be a pasted secret) */
  readonly clientId: string | undefined;
  readonly outcome: AuthEventOutcome;
  /** undefined exactly when issued */
  readonly reason?: AuthRefusalReason;
  readonly sourceIp: string | undefined;
  /** space-separated, as in the token's scope claim; the database splits it */
  readonly scope: string;
  /** the issued token's jti */
  readonly jti?: string;
}

export type AuthEventDropCause = 'buffer_full' | 'write_failed';

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

/** The events noted since the last flush, and their times (milliseconds since the epoch) at the same index. */
interface Buffered {
  readonly events: AuthEventInput[];
  readonly times: number[];
}

/**
 * A tenant's rows as one JSON parameter of arrays (the round trip inlines parameters, and arrays
 * cannot be inlined): id, time in milliseconds, then the fields; the database splits the scope.
 */
const INSERT_EVENTS = `INSERT INTO auth_events (tenant_id, id, occurred_at, client_id, outcome, reason, source_ip, scopes, jti)
  SELECT $1::uuid, (e->>0)::uuid, 'epoch'::timestamptz + (e->>1)::bigint * interval '1 millisecond',
         e->>2, e->>3, e->>4, e->>5, string_to_array(e->>6, ' '), e->>7
    FROM jsonb_array_elements($2::jsonb) AS e`;

/** A tenant's insert, and how many events it carries (what is dropped when it fails). */
type EventInsert = TenantStatement & { readonly events: number };

function insertStatements(batch: Buffered): EventInsert[] {
  const ids = uuidv7s(batch.times);
  const rowsByTenant = new Map<string, unknown[]>();
  batch.events.forEach((e, i) => {
    let rows = rowsByTenant.get(e.tenantId);
    if (!rows) rowsByTenant.set(e.tenantId, (rows = []));
    rows.push([
      ids[i],
      batch.times[i],
      e.clientId ?? null,
      e.outcome,
      e.reason ?? null,
      e.sourceIp?.slice(0, 64) ?? null,
      e.scope,
      e.jti ?? null,
    ]);
  });
  return Array.from(rowsByTenant, ([tenantId, rows]) => ({
    tenantId,
    sql: INSERT_EVENTS,
    params: [tenantId, JSON.stringify(rows)],
    events: rows.length,
  }));
}

/**
 * Every tenant's insert in one round trip and one transaction. When it fails for another reason than
 * an unavailable database (a tenant deleted since its events were noted breaks the foreign key),
 * each tenant's insert is tried alone, so one tenant's refused rows cost only that tenant's events.
 */
async function writeEvents(db: Database, log: Logger, batch: Buffered, onDropped: AuthEventLogOptions['onDropped']): Promise<void> {
  const statements = insertStatements(batch);
  try {
    await db.statementsPerTenant(statements);
    return;
  } catch (error) {
    if (isDatabaseUnavailable(error) || statements.length === 1) {
      log.warn({ err: error, tenants: statements.length, events: batch.events.length }, 'could not record auth events');
      onDropped?.(batch.events.length, 'write_failed');
      return;
    }
  }
  for (const statement of statements) {
    try {
      await db.statementsPerTenant([statement]);
    } catch (error) {
      log.warn({ err: error, tenant_id: statement.tenantId, events: statement.events }, 'could not record auth events');
      onDropped?.(statement.events, 'write_failed');
    }
  }
}

export function createAuthEventLog(db: Database, log: Logger, options: AuthEventLogOptions) {
  const now = options.now ?? Date.now;
  let pending: Buffered = { events: [], times: [] };
  const writes = createBatchedWrites({
    take: () => {
      if (pending.events.length === 0) return undefined;
      const batch = pending;
      pending = { events: [], times: [] };
      return batch;
    },
    write: (batch) => writeEvents(db, log, batch, options.onDropped),
    intervalMs: options.flushIntervalMs,
    log,
    what: 'auth events',
  });
  return {
    ...writes,
    /** Notes one outcome; never waits, never throws, allocates nothing of its own. */
    record(event: AuthEventInput): void {
      if (pending.events.length >= options.bufferSize) {
        options.onDropped?.(1, 'buffer_full');
        return;
      }
      pending.events.push(event);
      pending.times.push(now());
    },
    /** events waiting for the next flush */
    get pending(): number {
      return pending.events.length;
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
