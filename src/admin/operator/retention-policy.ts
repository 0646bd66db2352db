/**
 * What the retention job trims, declared once: each table, how long its rows are kept (from the
 * configuration), and which rows are expired before a cutoff. A new kind of history is one more
 * entry here. Pure: the cutoffs come from a clock passed in, so they are unit-tested apart from
 * the deletes.
 */
import { COLLECTIONS } from '../../catalog/collections.ts';
import type { RetentionConfig } from '../../config/config.ts';
import { REVOCATION_RETENTION_SECONDS } from '../../tenancy/token-denylist.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface RetentionTarget {
  readonly table: string;
  /** how long a row is kept, in ms */
  readonly keptFor: (config: RetentionConfig) => number;
  /**
   * `tenant`: rows under row level security, trimmed tenant by tenant in a transaction scoped to
   * each; `platform`: a table of the platform's (no RLS), trimmed in one pass.
   */
  readonly scope: 'tenant' | 'platform';
  /**
   * How the cutoff is written: an instant, or the smallest UUIDv7 of that millisecond for a table
   * keyed by time-ordered ids (its primary key then finds the expired rows, no extra index).
   */
  readonly cutoff: 'instant' | 'uuidv7';
  /** SQL condition of an expired row; `$2` is the cutoff */
  readonly expired: string;
}

/** a row whose own expires_at is before the cutoff */
const EXPIRED_BY_EXPIRES_AT = 'expires_at < $2::timestamptz';

export const RETENTION_TARGETS: readonly RetentionTarget[] = [
  {
    table: 'webhook_attempts',
    keptFor: (c) => c.attemptDays * DAY_MS,
    scope: 'tenant',
    cutoff: 'instant',
    expired: 'attempted_at < $2::timestamptz',
  },
  {
    // a delivery still pending is never trimmed: it has attempts to make (its attempts go with it)
    table: 'webhook_deliveries',
    keptFor: (c) => c.deliveryDays * DAY_MS,
    scope: 'tenant',
    cutoff: 'instant',
    expired: `created_at < $2::timestamptz AND status <> 'pending'`,
  },
  {
    // an event whose delivery is still pending stays (deleting it would cancel the delivery)
    table: 'outbox_events',
    keptFor: (c) => c.eventDays * DAY_MS,
    scope: 'tenant',
    cutoff: 'uuidv7',
    expired: `id < $2::uuid AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
               WHERE d.tenant_id = outbox_events.tenant_id AND d.event_id = outbox_events.id AND d.status = 'pending')`,
  },
  {
    table: 'idempotency_keys',
    keptFor: (c) => c.idempotencyKeyHours * HOUR_MS,
    scope: 'tenant',
    cutoff: 'instant',
    expired: 'created_at < $2::timestamptz',
  },
  {
    table: 'tombstones',
    keptFor: (c) => c.tombstoneDays * DAY_MS,
    scope: 'tenant',
    cutoff: 'instant',
    // by collection, so the primary key (tenant_id, collection, deleted_at, id) finds them
    expired: `collection IN (${COLLECTIONS.map((c) => `'${c.table}'`).join(', ')}) AND deleted_at < $2::timestamptz`,
  },
  // Each until its own expires_at (a revoked token's exp; a client cutoff's second plus the longest
  // token lifetime; a DPoP proof's or a client assertion's exp). Inserts trim their own tenant's
  // rows as they go; this trims a tenant that stopped inserting. A revocation stays the verifiers'
  // clock tolerance longer, as those inserts keep it.
  {
    table: 'revoked_tokens',
    keptFor: () => REVOCATION_RETENTION_SECONDS * 1000,
    scope: 'tenant',
    cutoff: 'instant',
    expired: EXPIRED_BY_EXPIRES_AT,
  },
  {
    table: 'client_token_cutoffs',
    keptFor: () => REVOCATION_RETENTION_SECONDS * 1000,
    scope: 'tenant',
    cutoff: 'instant',
    expired: EXPIRED_BY_EXPIRES_AT,
  },
  { table: 'oauth_replay_detections', keptFor: () => 0, scope: 'tenant', cutoff: 'instant', expired: EXPIRED_BY_EXPIRES_AT },
  { table: 'client_assertion_jtis', keptFor: () => 0, scope: 'tenant', cutoff: 'instant', expired: EXPIRED_BY_EXPIRES_AT },
  {
    // by when the request happened: ids are made at flush, seconds later
    table: 'auth_events',
    keptFor: (c) => c.authEventDays * DAY_MS,
    scope: 'tenant',
    cutoff: 'instant',
    expired: 'occurred_at < $2::timestamptz',
  },
  // the platform's metering of its tenants (no RLS, the owner's alone): trimmed in one pass by time
  {
    table: 'usage_hourly',
    keptFor: (c) => c.usageHourlyDays * DAY_MS,
    scope: 'platform',
    cutoff: 'instant',
    expired: 'hour < $2::timestamptz',
  },
  {
    // a day is kept while any of its hours is within the retention
    table: 'usage_daily',
    keptFor: (c) => c.usageDays * DAY_MS,
    scope: 'platform',
    cutoff: 'instant',
    expired: "day < ($2::timestamptz AT TIME ZONE 'UTC')::date",
  },
  {
    table: 'audit_events',
    keptFor: (c) => c.auditDays * DAY_MS,
    scope: 'platform',
    cutoff: 'uuidv7',
    expired: 'id < $2::uuid',
  },
];

/** The smallest UUIDv7 of a millisecond: every id made at or after it compares greater or equal. */
export function uuidv7Floor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

export interface RetentionCutoff {
  readonly target: RetentionTarget;
  /** the value of `$2`: an ISO instant or a UUIDv7 floor */
  readonly value: string;
  readonly instant: string;
}

/** Every target's cutoff at `now`: rows older than now minus their retention are expired. */
export function retentionCutoffs(now: number, config: RetentionConfig, targets = RETENTION_TARGETS): RetentionCutoff[] {
  return targets.map((target) => {
    const at = now - target.keptFor(config);
    return {
      target,
      value: target.cutoff === 'uuidv7' ? uuidv7Floor(at) : new Date(at).toISOString(),
      instant: new Date(at).toISOString(),
    };
  });
}

/** A full batch may have left more behind; a short one was the last. */
export function moreToTrim(deleted: number, batchSize: number): boolean {
  return deleted >= batchSize;
}
