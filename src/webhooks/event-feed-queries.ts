/**
 * The events feed reads the outbox. Its order is (txid, id): the writing transaction's id, then
 * the event id. Event ids are made before the INSERT and transactions commit out of order, so an
 * id cursor alone would skip an event whose transaction commits after a later id was read. The
 * feed therefore reads only up to a visibility horizon: events of transactions older than every
 * transaction still running (txid < pg_snapshot_xmin(pg_current_snapshot())). Everything below
 * the horizon has committed or rolled back, so no later commit can appear before a position
 * already read; an event becomes readable as soon as every transaction older than its own has
 * ended (a long transaction delays the feed, it never makes it skip).
 */
import type { ScopedTransaction } from '../db/database.ts';
import { TEST_EVENT_TYPE } from './events.ts';

export interface FeedRow {
  readonly id: string;
  readonly type: string;
  readonly occurred_at: Date | string;
  readonly data: unknown;
}

export interface FeedRequest {
  /** the position after this event; null from the start */
  readonly after: { readonly txid: string; readonly id: string } | null;
  /** webhook patterns (`*`, `employee.*`, `employee.created`); empty for every type */
  readonly types: readonly string[];
  readonly createdAfter: string | null;
  readonly limit: number;
}

const FEED = `SELECT id, type, occurred_at, data FROM outbox_events
   WHERE tenant_id = $1
     AND txid < pg_snapshot_xmin(pg_current_snapshot())
     AND type <> '${TEST_EVENT_TYPE}'
     AND ($2::text IS NULL OR (txid, id) > ($2::xid8, $3::uuid))
     AND ($4::text IS NULL OR string_to_array($4::text, ',') && ARRAY['*', type, split_part(type, '.', 1) || '.*'])
     AND ($5::timestamptz IS NULL OR occurred_at > $5::timestamptz)
   ORDER BY txid, id
   LIMIT $6`;

function tenantOf(tx: ScopedTransaction): string {
  if (!tx.tenantId) throw new TypeError('the events feed is read in a tenant-scoped transaction');
  return tx.tenantId;
}

/** The feed position of an event of the tenant, or undefined (unknown, another tenant's, or trimmed). */
export async function findFeedPosition(tx: ScopedTransaction, eventId: string): Promise<{ txid: string; id: string } | undefined> {
  const [row] = await tx.query<{ txid: string }>(
    `SELECT txid::text AS txid FROM outbox_events WHERE tenant_id = $1 AND id = $2::uuid AND type <> '${TEST_EVENT_TYPE}'`,
    [tenantOf(tx), eventId],
  );
  return row ? { txid: row.txid, id: eventId } : undefined;
}

/** One page of the feed, oldest first, below the visibility horizon. */
export async function readEventFeed(tx: ScopedTransaction, request: FeedRequest): Promise<FeedRow[]> {
  return tx.query<FeedRow & Record<string, unknown>>(FEED, [
    tenantOf(tx),
    request.after?.txid ?? null,
    request.after?.id ?? null,
    request.types.length ? request.types.join(',') : null,
    request.createdAfter,
    request.limit,
  ]);
}
