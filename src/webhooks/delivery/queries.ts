/**
 * The delivery worker's SQL. Due work lives in the cross-tenant `webhook_schedule`: a claim takes
 * due rows with FOR UPDATE SKIP LOCKED and moves them forward by the lease in the same statement,
 * so any number of workers never hold the same delivery at once, and one that dies mid-delivery
 * leaves it to be taken again when the lease runs out. Outcomes are written only while the lease
 * still holds.
 */
import type { DeliveryStatus } from '../../catalog/delivery-statuses.ts';
import type { Database, Queryable } from '../../db/database.ts';

/** the channel the outbox's fan-out trigger notifies when deliveries are due */
export const WEBHOOK_CHANNEL = 'tenant_connect_webhooks';

export interface Claimed {
  readonly tenant_id: string;
  readonly delivery_id: string;
}

export interface DeliveryRow {
  readonly id: string;
  /** attempts made before this one */
  readonly attempts: number;
  readonly event_id: string;
  readonly type: string;
  readonly occurred_at: Date | string;
  readonly data: unknown;
  readonly subscription_id: string;
  readonly url: string;
  readonly enabled: boolean;
  readonly secret_encrypted: string;
  readonly previous_secret_encrypted: string | null;
  readonly previous_expires_at: Date | string | null;
  readonly slug: string;
  readonly environment: string;
  readonly deleted: boolean;
  readonly webhooks_enabled: boolean;
}

/** What becomes of one delivery, as written. */
export interface Outcome {
  readonly id: string;
  readonly status: DeliveryStatus;
  /** false when no request was made (subscription or tenant webhooks disabled) */
  readonly attempted: boolean;
  readonly code: number | null;
  readonly error: string | null;
  readonly nextAttemptAt: string | null;
  /** what the attempt was, recorded whatever becomes of the lease */
  readonly record?: { readonly at: string; readonly durationMs: number; readonly body: string | null };
  readonly disable?: {
    readonly subscriptionId: string;
    readonly reason: string;
    /** persistent failure: only if nothing reached this subscription since this delivery was created */
    readonly unlessDeliveredSince?: boolean;
  };
}

const at = (ms: number) => new Date(ms).toISOString();

/** Drops the schedule rows of claimed deliveries that are no longer pending (or gone). */
async function releaseOrphans(tx: Queryable, tenantId: string, leaseId: string, orphans: readonly string[]): Promise<void> {
  await tx.query(`DELETE FROM webhook_schedule WHERE tenant_id = $1 AND delivery_id = ANY($2::uuid[]) AND lease_id = $3`, [
    tenantId,
    orphans,
    leaseId,
  ]);
}

/** Finishes or reschedules each delivery this lease still holds, and updates the delivery to match. */
async function updateDeliveries(
  tx: Queryable,
  tenantId: string,
  leaseId: string,
  outcomes: readonly Outcome[],
  attemptedAt: string,
): Promise<void> {
  await tx.query(
    `WITH r AS (
       SELECT * FROM unnest($2::uuid[], $3::text[], $4::boolean[], $5::int[], $6::text[], $7::timestamptz[])
            AS r(id, status, attempted, code, error, next_at)),
     finished AS (
       DELETE FROM webhook_schedule s USING r
        WHERE s.tenant_id = $1 AND s.delivery_id = r.id AND s.lease_id = $8 AND r.next_at IS NULL
       RETURNING s.delivery_id),
     retried AS (
       UPDATE webhook_schedule s SET due_at = r.next_at, lease_id = NULL FROM r
        WHERE s.tenant_id = $1 AND s.delivery_id = r.id AND s.lease_id = $8 AND r.next_at IS NOT NULL
       RETURNING s.delivery_id),
     held AS (SELECT delivery_id FROM finished UNION ALL SELECT delivery_id FROM retried)
     UPDATE webhook_deliveries d
        SET status = r.status,
            attempts = d.attempts + CASE WHEN r.attempted THEN 1 ELSE 0 END,
            last_attempt_at = CASE WHEN r.attempted THEN $9::timestamptz ELSE d.last_attempt_at END,
            last_status_code = CASE WHEN r.attempted THEN r.code ELSE d.last_status_code END,
            last_error = r.error,
            next_attempt_at = r.next_at,
            delivered_at = CASE WHEN r.status = 'delivered' THEN $9::timestamptz END
       FROM r JOIN held ON held.delivery_id = r.id
      WHERE d.tenant_id = $1 AND d.id = r.id`,
    [
      tenantId,
      outcomes.map((o) => o.id),
      outcomes.map((o) => o.status),
      outcomes.map((o) => o.attempted),
      outcomes.map((o) => o.code),
      outcomes.map((o) => o.error),
      outcomes.map((o) => o.nextAttemptAt),
      leaseId,
      attemptedAt,
    ],
  );
}

/** One webhook_attempts row per request made, whatever became of the lease. */
async function insertAttempts(tx: Queryable, tenantId: string, tried: readonly Outcome[]): Promise<void> {
  await tx.query(
    `INSERT INTO webhook_attempts (tenant_id, delivery_id, attempted_at, duration_ms, status_code, error, response_body)
     SELECT $1, r.id, r.at, r.ms, r.code, r.error, r.body
       FROM unnest($2::uuid[], $3::timestamptz[], $4::int[], $5::int[], $6::text[], $7::text[]) AS r(id, at, ms, code, error, body)`,
    [
      tenantId,
      tried.map((o) => o.id),
      tried.map((o) => o.record?.at),
      tried.map((o) => o.record?.durationMs),
      tried.map((o) => o.code),
      tried.map((o) => o.error),
      tried.map((o) => o.record?.body ?? null),
    ],
  );
}

/** Disables the subscription (if still enabled, and for a persistent failure only if nothing reached it since). */
async function disableSubscription(
  tx: Queryable,
  tenantId: string,
  deliveryId: string,
  disable: NonNullable<Outcome['disable']>,
): Promise<boolean> {
  const disabled = await tx.query(
    `UPDATE webhook_subscriptions s SET enabled = false, disabled_reason = $3, updated_at = now()
      WHERE s.tenant_id = $1 AND s.id = $2 AND s.enabled
        AND NOT ($5 AND EXISTS (
          SELECT 1 FROM webhook_deliveries later, webhook_deliveries failed
           WHERE failed.tenant_id = $1 AND failed.id = $4
             AND later.tenant_id = $1 AND later.subscription_id = s.id AND later.status = 'delivered'
             AND later.delivered_at > failed.created_at))
     RETURNING s.id`,
    [tenantId, disable.subscriptionId, disable.reason, deliveryId, disable.unlessDeliveredSince === true],
  );
  return disabled.length > 0;
}

export function createDeliveryQueries(db: Database) {
  return {
    /**
     * Takes up to `limit` deliveries due at `nowMs` for one lease (until `nowMs + leaseMs`), across
     * tenants, at most a quarter of them from any one tenant: a tenant's backlog never holds up
     * another tenant's events for long.
     */
    async claimDue(leaseId: string, limit: number, nowMs: number, leaseMs: number): Promise<Claimed[]> {
      return db.admin.query<Claimed & Record<string, unknown>>(
        `UPDATE webhook_schedule s SET due_at = $2::timestamptz, lease_id = $3
           FROM (SELECT mine.tenant_id, mine.delivery_id
                   FROM (SELECT DISTINCT tenant_id FROM webhook_schedule WHERE due_at <= $1::timestamptz LIMIT $4) due_tenants
                   CROSS JOIN LATERAL (
                     SELECT tenant_id, delivery_id FROM webhook_schedule
                      WHERE tenant_id = due_tenants.tenant_id AND due_at <= $1::timestamptz
                      ORDER BY due_at LIMIT $5 FOR UPDATE SKIP LOCKED) mine
                  LIMIT $4) due
          WHERE s.tenant_id = due.tenant_id AND s.delivery_id = due.delivery_id
          RETURNING s.tenant_id, s.delivery_id`,
        [at(nowMs), at(nowMs + leaseMs), leaseId, limit, Math.max(1, Math.floor(limit / 4))],
      );
    },

    /** The claimed deliveries of one tenant that are still pending, with their event, subscription and tenant. */
    async findPendingDeliveries(tenantId: string, ids: readonly string[]): Promise<DeliveryRow[]> {
      return db.admin.scoped(tenantId, (tx) =>
        tx.query<DeliveryRow & Record<string, unknown>>(
          `SELECT d.id, d.attempts, e.id AS event_id, e.type, e.occurred_at, e.data,
                  s.id AS subscription_id, s.url, s.enabled, s.secret_encrypted, s.previous_secret_encrypted, s.previous_expires_at,
                  t.slug, t.environment, t.deleted_at IS NOT NULL AS deleted,
                  coalesce((t.settings #>> '{webhooks,enabled}')::boolean, true) AS webhooks_enabled
             FROM webhook_deliveries d
             JOIN outbox_events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id
             JOIN webhook_subscriptions s ON s.tenant_id = d.tenant_id AND s.id = d.subscription_id
             JOIN tenants t ON t.id = d.tenant_id
            WHERE d.tenant_id = $1 AND d.id = ANY($2::uuid[]) AND d.status = 'pending'`,
          [tenantId, ids],
        ),
      );
    },

    /**
     * Writes one tenant's outcomes of a round in one transaction, but only for deliveries this
     * lease still holds: one whose lease ran out and was claimed again belongs to the newer claim
     * (its attempt was still made: at least once). Returns the subscriptions it disabled.
     */
    async recordOutcomes(
      tenantId: string,
      leaseId: string,
      outcomes: readonly Outcome[],
      orphans: readonly string[],
      attemptedAtMs: number,
    ): Promise<NonNullable<Outcome['disable']>[]> {
      return db.admin.scoped(tenantId, async (tx) => {
        if (orphans.length) await releaseOrphans(tx, tenantId, leaseId, orphans);
        if (!outcomes.length) return [];
        await updateDeliveries(tx, tenantId, leaseId, outcomes, at(attemptedAtMs));
        const tried = outcomes.filter((o) => o.record);
        if (tried.length) await insertAttempts(tx, tenantId, tried);
        const disabled: NonNullable<Outcome['disable']>[] = [];
        for (const outcome of outcomes) {
          if (outcome.disable && (await disableSubscription(tx, tenantId, outcome.id, outcome.disable))) disabled.push(outcome.disable);
        }
        return disabled;
      });
    },

    /** Calls `onWork` on every notification of new work and after a reconnect; resolves once listening. */
    listenForWork(onWork: () => void): Promise<() => Promise<void>> {
      return db.listen(WEBHOOK_CHANNEL, onWork, onWork);
    },
  };
}
export type DeliveryQueries = ReturnType<typeof createDeliveryQueries>;
