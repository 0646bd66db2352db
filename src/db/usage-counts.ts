/**
 * Usage per tenant and client (tokens issued, resource API calls with their 4xx and 429 answers,
 * webhook delivery attempts), counted in memory on the request path with no I/O and added to the
 * database in batches (batched-writes.ts, as last_used_at is): one statement per flush adds every
 * count of every tenant to its hour (usage_hourly) and its UTC day (usage_daily) with
 * `ON CONFLICT DO UPDATE SET n = n + EXCLUDED.n`, so any number of instances and workers add up.
 *
 * A batch the database refuses is merged back into what is pending and written by the next flush,
 * so an outage loses no count; memory stays bounded by `maxPending` distinct (tenant, client, hour)
 * entries, and an increment that would need a new entry past it is dropped and counted (as is a
 * refused batch's entry that no longer fits). Counting never throws and never waits.
 */
import type { Logger } from 'pino';
import { createBatchedWrites } from './batched-writes.ts';
import type { Database } from './database.ts';

export const HOUR_MS = 3_600_000;
/** the client_id stored for counts that have no client (webhook deliveries): a key column cannot be null */
export const NO_CLIENT = '';

/** One (tenant, client, hour) entry's counts since the last flush. */
export interface UsageEntry {
  readonly tenantId: string;
  readonly clientId: string;
  /** the start of its UTC hour, ms since the epoch */
  readonly hour: number;
  tokens: number;
  apiCalls: number;
  api4xx: number;
  api429: number;
  webhookDeliveries: number;
  /** the last API call's time, ms since the epoch; 0: none */
  lastApiCallAt: number;
}

export type UsageCount = 'token' | 'api_call' | 'webhook_delivery';
export type PendingUsage = Map<string, UsageEntry>;

// --- the policy: pure, unit-tested (test/unit/usage-counts.test.ts) ---

export function hourOf(ms: number): number {
  return ms - (((ms % HOUR_MS) + HOUR_MS) % HOUR_MS);
}

function keyOf(tenantId: string, clientId: string, hour: number): string {
  return `${tenantId}\u0000${clientId}\u0000${hour}`;
}

/**
 * The entry of (tenant, client, hour of `at`), made if `pending` has room for one more; undefined
 * when it is full (the caller drops the increment).
 */
export function entryFor(
  pending: PendingUsage,
  tenantId: string,
  clientId: string,
  at: number,
  maxPending: number,
): UsageEntry | undefined {
  const hour = hourOf(at);
  const key = keyOf(tenantId, clientId, hour);
  let entry = pending.get(key);
  if (entry) return entry;
  if (pending.size >= maxPending) return undefined;
  entry = { tenantId, clientId, hour, tokens: 0, apiCalls: 0, api4xx: 0, api429: 0, webhookDeliveries: 0, lastApiCallAt: 0 };
  pending.set(key, entry);
  return entry;
}

/** Counts one API answer of `status` at `at`. */
export function addApiCall(entry: UsageEntry, status: number, at: number): void {
  entry.apiCalls += 1;
  if (status >= 400 && status < 500) entry.api4xx += 1;
  if (status === 429) entry.api429 += 1;
  if (at > entry.lastApiCallAt) entry.lastApiCallAt = at;
}

/**
 * Adds a batch the database refused back into `pending` (which holds what was counted since):
 * counts of the same entry add up; entries that no longer fit are dropped. Returns how many were.
 */
export function mergeBack(pending: PendingUsage, refused: PendingUsage, maxPending: number): number {
  let dropped = 0;
  for (const [key, old] of refused) {
    const entry = pending.get(key);
    if (!entry) {
      if (pending.size >= maxPending) dropped += 1;
      else pending.set(key, old);
      continue;
    }
    entry.tokens += old.tokens;
    entry.apiCalls += old.apiCalls;
    entry.api4xx += old.api4xx;
    entry.api429 += old.api429;
    entry.webhookDeliveries += old.webhookDeliveries;
    entry.lastApiCallAt = Math.max(entry.lastApiCallAt, old.lastApiCallAt);
  }
  return dropped;
}

/** The rows of one flush, in key order, so concurrent flushes of several instances lock rows in the same order. */
export function usageRows(batch: PendingUsage) {
  return [...batch.values()]
    .sort((a, b) =>
      a.tenantId < b.tenantId
        ? -1
        : a.tenantId > b.tenantId
          ? 1
          : a.clientId < b.clientId
            ? -1
            : a.clientId > b.clientId
              ? 1
              : a.hour - b.hour,
    )
    .map((e) => ({
      tenant_id: e.tenantId,
      client_id: e.clientId,
      hour: new Date(e.hour).toISOString(),
      tokens: e.tokens,
      api_calls: e.apiCalls,
      api_4xx: e.api4xx,
      api_429: e.api429,
      webhook_deliveries: e.webhookDeliveries,
      last_api_call_at: e.lastApiCallAt === 0 ? null : new Date(e.lastApiCallAt).toISOString(),
    }));
}

// --- the writes ---

/**
 * One statement, one round trip, all or nothing: the hours, then the same counts summed per UTC
 * day. A tenant purged since its counts were taken is skipped (its foreign key would refuse the
 * whole batch, again at every retry).
 */
const ADD_USAGE = `
WITH batch AS (
  SELECT u.* FROM jsonb_to_recordset($1::jsonb) AS u (
           tenant_id uuid, client_id text, hour timestamptz, tokens bigint, api_calls bigint,
           api_4xx bigint, api_429 bigint, webhook_deliveries bigint, last_api_call_at timestamptz)
   WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = u.tenant_id)
), hourly AS (
  INSERT INTO usage_hourly AS h (tenant_id, client_id, hour, tokens, api_calls, api_4xx, api_429, webhook_deliveries)
  SELECT tenant_id, client_id, hour, tokens, api_calls, api_4xx, api_429, webhook_deliveries FROM batch
   ORDER BY tenant_id, client_id, hour
  ON CONFLICT (tenant_id, client_id, hour) DO UPDATE SET
    tokens = h.tokens + EXCLUDED.tokens,
    api_calls = h.api_calls + EXCLUDED.api_calls,
    api_4xx = h.api_4xx + EXCLUDED.api_4xx,
    api_429 = h.api_429 + EXCLUDED.api_429,
    webhook_deliveries = h.webhook_deliveries + EXCLUDED.webhook_deliveries
  RETURNING 1
)
INSERT INTO usage_daily AS d (tenant_id, day, client_id, tokens, api_calls, api_4xx, api_429, webhook_deliveries, last_api_call_at)
SELECT tenant_id, (hour AT TIME ZONE 'UTC')::date, client_id,
       sum(tokens), sum(api_calls), sum(api_4xx), sum(api_429), sum(webhook_deliveries), max(last_api_call_at)
  FROM batch
 GROUP BY tenant_id, (hour AT TIME ZONE 'UTC')::date, client_id
 ORDER BY 1, 2, 3
ON CONFLICT (tenant_id, day, client_id) DO UPDATE SET
  tokens = d.tokens + EXCLUDED.tokens,
  api_calls = d.api_calls + EXCLUDED.api_calls,
  api_4xx = d.api_4xx + EXCLUDED.api_4xx,
  api_429 = d.api_429 + EXCLUDED.api_429,
  webhook_deliveries = d.webhook_deliveries + EXCLUDED.webhook_deliveries,
  last_api_call_at = GREATEST(d.last_api_call_at, EXCLUDED.last_api_call_at)`;

export interface UsageCounterOptions {
  readonly flushIntervalMs: number;
  /** distinct (tenant, client, hour) entries held between flushes */
  readonly maxPending: number;
  /** milliseconds since the epoch; tests freeze it */
  readonly now?: () => number;
  /** what was counted (the Prometheus totals, which have no tenant label) */
  readonly onCounted?: (count: UsageCount, status?: number) => void;
  /** increments or entries dropped because the pending entries were at maxPending */
  readonly onDropped?: (entries: number) => void;
  /** a flush the database refused (its counts wait for the next one) */
  readonly onFlushFailed?: () => void;
}

export function createUsageCounter(db: Database, log: Logger, options: UsageCounterOptions) {
  const now = options.now ?? Date.now;
  const { maxPending } = options;
  let pending: PendingUsage = new Map();

  const writes = createBatchedWrites<PendingUsage>({
    take: () => {
      if (pending.size === 0) return undefined;
      const batch = pending;
      pending = new Map();
      return batch;
    },
    write: async (batch) => {
      await db.admin.query(ADD_USAGE, [JSON.stringify(usageRows(batch))]);
    },
    onFailed: (batch) => {
      options.onFlushFailed?.();
      const dropped = mergeBack(pending, batch, maxPending);
      if (dropped > 0) options.onDropped?.(dropped);
    },
    intervalMs: options.flushIntervalMs,
    log,
    what: 'usage counts (kept for the next flush)',
  });

  function entry(tenantId: string, clientId: string, at: number): UsageEntry | undefined {
    const found = entryFor(pending, tenantId, clientId, at, maxPending);
    if (!found) options.onDropped?.(1);
    return found;
  }

  return {
    ...writes,
    /** an access token issued to the client */
    countToken(tenantId: string, clientId: string): void {
      const e = entry(tenantId, clientId, now());
      if (e) e.tokens += 1;
      options.onCounted?.('token');
    },
    /** a resource API answer to the client's token, with its status */
    countApiCall(tenantId: string, clientId: string, status: number): void {
      const at = now();
      const e = entry(tenantId, clientId, at);
      if (e) addApiCall(e, status, at);
      options.onCounted?.('api_call', status);
    },
    /** a webhook delivery attempt sent to a receiver of the tenant */
    countWebhookDelivery(tenantId: string): void {
      const e = entry(tenantId, NO_CLIENT, now());
      if (e) e.webhookDeliveries += 1;
      options.onCounted?.('webhook_delivery');
    },
    /** entries waiting for the next flush */
    get pending(): number {
      return pending.size;
    },
  };
}
export type UsageCounter = ReturnType<typeof createUsageCounter>;
