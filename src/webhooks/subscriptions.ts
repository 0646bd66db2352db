/**
 * Subscriptions and deliveries in SQL, for the admin API. Every statement names tenant_id and
 * runs in a transaction scoped to that tenant. Secrets leave this module only as ciphertext (in)
 * or as the clear secret returned once by create and rotate.
 */
import type { KeyEncryption } from '../auth/key-encryption.ts';
import type { DeliveryStatus } from '../catalog/delivery-statuses.ts';
import type { Queryable } from '../db/database.ts';
import { uuidv7 } from '../db/ids.ts';
import { updateAssignments } from '../db/update-assignments.ts';
import { generateSigningSecret } from './signing.ts';
import { enqueueEvents } from './outbox.ts';
import { TEST_EVENT_TYPE } from './events.ts';

export interface SubscriptionRepresentation {
  readonly id: string;
  readonly url: string;
  readonly event_types: string[];
  readonly description: string;
  readonly enabled: boolean;
  readonly disabled_reason: string | null;
  /** while set, the previous secret still signs (a second signature) until then */
  readonly previous_secret_expires_at: string | null;
  readonly created_at: string;
  readonly updated_at: string;
}

export interface DeliveryRepresentation {
  readonly id: string;
  readonly subscription_id: string;
  readonly event_id: string;
  readonly event_type: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly next_attempt_at: string | null;
  readonly last_attempt_at: string | null;
  readonly last_status_code: number | null;
  readonly last_error: string | null;
  readonly delivered_at: string | null;
  readonly created_at: string;
}

const iso = (value: unknown): string | null => (value === null || value === undefined ? null : new Date(value as string).toISOString());

const SUBSCRIPTION_COLUMNS = `id, url, event_types, description, enabled, disabled_reason,
  CASE WHEN previous_expires_at > now() THEN previous_expires_at END AS previous_expires_at, created_at, updated_at`;

function subscriptionOf(row: Record<string, unknown>): SubscriptionRepresentation {
  return {
    id: row.id as string,
    url: row.url as string,
    event_types: row.event_types as string[],
    description: row.description as string,
    enabled: row.enabled as boolean,
    disabled_reason: (row.disabled_reason as string | null) ?? null,
    previous_secret_expires_at: iso(row.previous_expires_at),
    created_at: iso(row.created_at) as string,
    updated_at: iso(row.updated_at) as string,
  };
}

const DELIVERY_COLUMNS = `d.id, d.subscription_id, d.event_id, e.type AS event_type, d.status, d.attempts, d.next_attempt_at,
  d.last_attempt_at, d.last_status_code, d.last_error, d.delivered_at, d.created_at`;

function deliveryOf(row: Record<string, unknown>): DeliveryRepresentation {
  return {
    id: row.id as string,
    subscription_id: row.subscription_id as string,
    event_id: row.event_id as string,
    event_type: row.event_type as string,
    status: row.status as DeliveryStatus,
    attempts: row.attempts as number,
    next_attempt_at: iso(row.next_attempt_at),
    last_attempt_at: iso(row.last_attempt_at),
    last_status_code: (row.last_status_code as number | null) ?? null,
    last_error: (row.last_error as string | null) ?? null,
    delivered_at: iso(row.delivered_at),
    created_at: iso(row.created_at) as string,
  };
}

export interface SubscriptionInput {
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly description: string;
  readonly enabled: boolean;
}

export function createSubscriptionQueries(keyEncryption: KeyEncryption) {
  return {
    async listSubscriptions(tx: Queryable, tenantId: string): Promise<SubscriptionRepresentation[]> {
      const rows = await tx.query(
        `SELECT ${SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE tenant_id = $1 ORDER BY created_at, id`,
        [tenantId],
      );
      return rows.map(subscriptionOf);
    },

    async findSubscription(tx: Queryable, tenantId: string, id: string, options: { lock?: boolean } = {}) {
      const [row] = await tx.query(
        `SELECT ${SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE tenant_id = $1 AND id = $2${options.lock ? ' FOR UPDATE' : ''}`,
        [tenantId, id],
      );
      return row ? subscriptionOf(row) : undefined;
    },

    /** Locks the tenant's row first, so concurrent creates cannot both pass the limit. */
    async countSubscriptionsForCreate(tx: Queryable, tenantId: string): Promise<number> {
      await tx.query(`SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE`, [tenantId]);
      const [row] = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_subscriptions WHERE tenant_id = $1`, [tenantId]);
      return row?.n ?? 0;
    },

    /** Creates a subscription; the secret is returned here, once. */
    async insertSubscription(tx: Queryable, tenantId: string, input: SubscriptionInput) {
      const secret = generateSigningSecret();
      const [row] = await tx.query(
        `INSERT INTO webhook_subscriptions (tenant_id, id, url, event_types, description, enabled, secret_encrypted)
         VALUES ($1, $2, $3, $4::text[], $5, $6, $7) RETURNING ${SUBSCRIPTION_COLUMNS}`,
        [tenantId, uuidv7(), input.url, input.eventTypes, input.description, input.enabled, keyEncryption.encrypt(secret)],
      );
      if (!row) throw new Error('insert returned no row');
      return { subscription: subscriptionOf(row), secret };
    },

    async updateSubscription(tx: Queryable, tenantId: string, id: string, changes: Partial<SubscriptionInput>) {
      const params: unknown[] = [tenantId, id];
      const { sets, set } = updateAssignments(params);
      if (changes.url !== undefined) set('url = ?', changes.url);
      if (changes.eventTypes !== undefined) set('event_types = ?::text[]', changes.eventTypes);
      if (changes.description !== undefined) set('description = ?', changes.description);
      if (changes.enabled !== undefined) {
        set('enabled = ?', changes.enabled);
        sets.push('disabled_reason = NULL');
      }
      const [row] = await tx.query(
        `UPDATE webhook_subscriptions SET ${sets.join(', ')} WHERE tenant_id = $1 AND id = $2 RETURNING ${SUBSCRIPTION_COLUMNS}`,
        params,
      );
      return row ? subscriptionOf(row) : undefined;
    },

    async deleteSubscription(tx: Queryable, tenantId: string, id: string): Promise<boolean> {
      const rows = await tx.query(`DELETE FROM webhook_subscriptions WHERE tenant_id = $1 AND id = $2 RETURNING id`, [tenantId, id]);
      return rows.length > 0;
    },

    /**
     * A new current secret; the old one keeps signing alongside it for graceSeconds (0: not at
     * all). A secret still in its grace period from an earlier rotation is replaced.
     */
    async rotateSecret(tx: Queryable, tenantId: string, id: string, graceSeconds: number) {
      const secret = generateSigningSecret();
      const [row] = await tx.query(
        `UPDATE webhook_subscriptions
            SET previous_secret_encrypted = CASE WHEN $4::int > 0 THEN secret_encrypted END,
                previous_expires_at = CASE WHEN $4::int > 0 THEN now() + make_interval(secs => $4::int) END,
                secret_encrypted = $3, updated_at = now()
          WHERE tenant_id = $1 AND id = $2
          RETURNING ${SUBSCRIPTION_COLUMNS}`,
        [tenantId, id, keyEncryption.encrypt(secret), graceSeconds],
      );
      return row ? { subscription: subscriptionOf(row), secret } : undefined;
    },

    /** Newest first, keyset-paginated on (created_at, id). */
    async listDeliveries(
      tx: Queryable,
      tenantId: string,
      subscriptionId: string,
      query: { status?: DeliveryStatus; before?: { created_at: string; id: string }; limit: number },
    ): Promise<{ deliveries: DeliveryRepresentation[]; sortKeys: string[] }> {
      const conditions = ['d.tenant_id = $1', 'd.subscription_id = $2'];
      const params: unknown[] = [tenantId, subscriptionId];
      if (query.status) {
        params.push(query.status);
        conditions.push(`d.status = $${params.length}`);
      }
      if (query.before) {
        params.push(query.before.created_at, query.before.id);
        conditions.push(`(d.created_at, d.id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
      }
      params.push(query.limit);
      const rows = await tx.query(
        `SELECT ${DELIVERY_COLUMNS}, to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS sort_key
           FROM webhook_deliveries d JOIN outbox_events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id
          WHERE ${conditions.join(' AND ')} ORDER BY d.created_at DESC, d.id DESC LIMIT $${params.length}`,
        params,
      );
      return { deliveries: rows.map(deliveryOf), sortKeys: rows.map((r) => String(r.sort_key)) };
    },

    async findDelivery(tx: Queryable, tenantId: string, subscriptionId: string, id: string) {
      const [row] = await tx.query(
        `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN outbox_events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id
          WHERE d.tenant_id = $1 AND d.subscription_id = $2 AND d.id = $3`,
        [tenantId, subscriptionId, id],
      );
      return row ? deliveryOf(row) : undefined;
    },

    /** A delivery with the event it carries, as its body is sent. */
    async findDeliveryWithEvent(tx: Queryable, tenantId: string, subscriptionId: string, id: string) {
      const [row] = await tx.query(
        `SELECT ${DELIVERY_COLUMNS}, e.occurred_at AS event_occurred_at, e.data AS event_data, t.slug, t.environment
           FROM webhook_deliveries d
           JOIN outbox_events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id
           JOIN tenants t ON t.id = d.tenant_id
          WHERE d.tenant_id = $1 AND d.subscription_id = $2 AND d.id = $3`,
        [tenantId, subscriptionId, id],
      );
      if (!row) return undefined;
      const delivery = deliveryOf(row);
      const attempts = await tx.query<{
        attempted_at: Date;
        duration_ms: number;
        status_code: number | null;
        error: string | null;
        response_body: string | null;
      }>(
        `SELECT attempted_at, duration_ms, status_code, error, response_body FROM webhook_attempts
          WHERE tenant_id = $1 AND delivery_id = $2 ORDER BY attempted_at, id`,
        [tenantId, id],
      );
      return {
        ...delivery,
        attempt_history: attempts.map((a) => ({ ...a, attempted_at: iso(a.attempted_at) as string })),
        event: {
          id: delivery.event_id,
          type: delivery.event_type,
          tenant: row.slug as string,
          environment: row.environment as string,
          occurred_at: iso(row.event_occurred_at) as string,
          data: row.event_data,
        },
      };
    },

    /** A new delivery of an event to one subscription, due now (a redelivery, or the test event). */
    async scheduleDelivery(tx: Queryable, tenantId: string, subscriptionId: string, eventId: string): Promise<DeliveryRepresentation> {
      const [created] = await tx.query<{ id: string }>(
        `WITH d AS (
           INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, next_attempt_at) VALUES ($1, $2, $3, now())
           RETURNING tenant_id, id, next_attempt_at)
         INSERT INTO webhook_schedule (tenant_id, delivery_id, due_at) SELECT tenant_id, id, next_attempt_at FROM d RETURNING delivery_id AS id`,
        [tenantId, subscriptionId, eventId],
      );
      if (!created) throw new Error('insert returned no row');
      const [row] = await tx.query(
        `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN outbox_events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id
          WHERE d.tenant_id = $1 AND d.id = $2`,
        [tenantId, created.id],
      );
      if (!row) throw new Error('delivery vanished in its own transaction');
      return deliveryOf(row);
    },

    /** A webhook.test event addressed to this subscription alone. */
    async sendTestEvent(tx: Queryable, tenantId: string, subscriptionId: string): Promise<DeliveryRepresentation> {
      const [eventId] = await enqueueEvents({ tenantId, query: (sql, params) => tx.query(sql, params) }, [
        { type: TEST_EVENT_TYPE, data: { subscription_id: subscriptionId, message: 'This is a test event from tenant-connect.' } },
      ]);
      return this.scheduleDelivery(tx, tenantId, subscriptionId, eventId as string);
    },
  };
}
export type SubscriptionQueries = ReturnType<typeof createSubscriptionQueries>;
