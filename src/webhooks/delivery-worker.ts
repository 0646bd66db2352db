/**
 * Delivers webhooks, at least once. A worker claims due rows of the cross-tenant schedule with
 * FOR UPDATE SKIP LOCKED and moves them forward by its lease in the same statement, so any number
 * of workers (processes or machines) never hold the same delivery at once; a worker that dies
 * mid-delivery leaves it to be taken again when the lease runs out. Each attempt is one signed
 * POST (Standard Webhooks), redirects not followed, bounded by a timeout; 2xx is delivered, 410
 * Gone disables the subscription, anything else is retried on a fixed schedule and then failed.
 * Time comes from an injectable clock, so retries are testable without waiting.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import type { KeyEncryption } from '../auth/key-encryption.ts';
import type { Database, Queryable } from '../db/database.ts';
import { assertAddressAllowed, guardedLookup } from './address-guard.ts';
import { signatureHeaders } from './signing.ts';

export const WEBHOOK_CHANNEL = 'tenant_connect_webhooks';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Wait before each retry: 8 attempts over about 28 hours, then the delivery has failed. */
export const RETRY_DELAYS_MS: readonly number[] = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];

const USER_AGENT = 'tenant-connect-webhooks/1';
const MAX_ERROR_LENGTH = 500;
const RESPONSE_BYTES_READ = 64 * 1024;

export interface DeliveryWorkerOptions {
  readonly db: Database;
  readonly keyEncryption: KeyEncryption;
  readonly log: Logger;
  /** milliseconds since the epoch */
  readonly now?: () => number;
  /** how long a claimed delivery is this worker's before another may take it again */
  readonly leaseMs: number;
  /** per attempt, from connecting to the end of the response */
  readonly timeoutMs: number;
  /** deliveries in flight at once */
  readonly concurrency: number;
  /** how often to look for due work when no notification arrives */
  readonly pollMs: number;
  /** loopback receivers (development) */
  readonly allowLoopback: boolean;
  readonly retryDelaysMs?: readonly number[];
}

interface Claimed {
  readonly tenant_id: string;
  readonly delivery_id: string;
}

interface DeliveryRow {
  readonly id: string;
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

interface Outcome {
  readonly id: string;
  readonly status: 'pending' | 'delivered' | 'failed';
  /** false when no request was made (subscription or tenant webhooks disabled) */
  readonly attempted: boolean;
  readonly code: number | null;
  readonly error: string | null;
  readonly nextAttemptAt: string | null;
  readonly disableSubscription?: string;
}

export interface AttemptResult {
  readonly code: number | null;
  readonly error: string | null;
}

/** One POST; never throws (a failure is a result). */
export async function postWebhook(
  target: string,
  headers: Record<string, string>,
  body: string,
  options: { timeoutMs: number; allowLoopback: boolean; agents?: { http: http.Agent; https: https.Agent } },
): Promise<AttemptResult> {
  let url: URL;
  try {
    url = new URL(target);
    assertAddressAllowed(url, options.allowLoopback);
  } catch (error) {
    return { code: null, error: `refused: ${(error as Error).message}` };
  }
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') return { code: null, error: `refused: unsupported scheme ${url.protocol}` };
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = (secure ? https : http).request(url, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': USER_AGENT,
      },
      lookup: guardedLookup(options.allowLoopback) as never,
      ...(options.agents ? { agent: secure ? options.agents.https : options.agents.http } : {}),
    });
    const timer = setTimeout(() => {
      request.destroy(new Error(`no complete response within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    request.on('response', (response) => {
      const code = response.statusCode ?? 0;
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > RESPONSE_BYTES_READ) response.destroy(); // the body is not ours to keep
      });
      const done = () =>
        finish({
          code,
          error: code >= 200 && code < 300 ? null : code >= 300 && code < 400 ? `HTTP ${code}: redirects are not followed` : `HTTP ${code}`,
        });
      response.on('end', done);
      response.on('close', done);
      response.on('error', done);
    });
    request.on('error', (error) => finish({ code: null, error: (error as Error).message.slice(0, MAX_ERROR_LENGTH) }));
    request.end(body);
  });
}

/** The body every attempt of an event sends, identical across attempts. */
export function eventBody(row: Pick<DeliveryRow, 'event_id' | 'type' | 'slug' | 'environment' | 'occurred_at' | 'data'>): string {
  return JSON.stringify({
    id: row.event_id,
    type: row.type,
    tenant: row.slug,
    environment: row.environment,
    occurred_at: new Date(row.occurred_at).toISOString(),
    data: row.data,
  });
}

export function createDeliveryWorker(options: DeliveryWorkerOptions) {
  const { db, keyEncryption, log } = options;
  const now = options.now ?? Date.now;
  const delays = options.retryDelaysMs ?? RETRY_DELAYS_MS;
  const batchSize = Math.max(options.concurrency * 4, 50);
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: options.concurrency }),
    https: new https.Agent({ keepAlive: true, maxSockets: options.concurrency }),
  };
  const at = (ms: number) => new Date(ms).toISOString();

  /** Takes up to `limit` due deliveries for one lease, across tenants. */
  async function claim(leaseId: string, limit: number): Promise<Claimed[]> {
    const t = now();
    return db.owner.query<Claimed & Record<string, unknown>>(
      `UPDATE webhook_schedule s SET due_at = $2::timestamptz, lease_id = $3
         FROM (SELECT tenant_id, delivery_id FROM webhook_schedule WHERE due_at <= $1::timestamptz
                ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) due
        WHERE s.tenant_id = due.tenant_id AND s.delivery_id = due.delivery_id
        RETURNING s.tenant_id, s.delivery_id`,
      [at(t), at(t + options.leaseMs), leaseId, limit],
    );
  }

  async function load(tx: Queryable, tenantId: string, ids: string[]): Promise<DeliveryRow[]> {
    return tx.query<DeliveryRow & Record<string, unknown>>(
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
    );
  }

  async function attempt(row: DeliveryRow): Promise<Outcome> {
    const skip = (error: string): Outcome => ({ id: row.id, status: 'failed', attempted: false, code: null, error, nextAttemptAt: null });
    if (!row.enabled) return skip('the subscription is disabled');
    if (!row.webhooks_enabled) return skip("the tenant's webhooks are disabled (settings.webhooks.enabled)");
    if (row.deleted) return skip('the tenant is deleted');
    const sentAt = now();
    const secrets = [keyEncryption.decrypt(row.secret_encrypted)];
    if (row.previous_secret_encrypted && row.previous_expires_at && new Date(row.previous_expires_at).getTime() > sentAt) {
      secrets.push(keyEncryption.decrypt(row.previous_secret_encrypted));
    }
    const body = eventBody(row);
    const result = await postWebhook(row.url, signatureHeaders(secrets, row.event_id, Math.floor(sentAt / 1000), body), body, {
      timeoutMs: options.timeoutMs,
      allowLoopback: options.allowLoopback,
      agents,
    });
    const { code, error } = result;
    if (code !== null && code >= 200 && code < 300) {
      return { id: row.id, status: 'delivered', attempted: true, code, error: null, nextAttemptAt: null };
    }
    if (code === 410) {
      return {
        id: row.id,
        status: 'failed',
        attempted: true,
        code,
        error: 'HTTP 410: the receiver is gone; the subscription was disabled',
        nextAttemptAt: null,
        disableSubscription: row.subscription_id,
      };
    }
    const delay = delays[row.attempts]; // attempts made before this one
    if (delay === undefined) return { id: row.id, status: 'failed', attempted: true, code, error, nextAttemptAt: null };
    return { id: row.id, status: 'pending', attempted: true, code, error, nextAttemptAt: at(now() + delay) };
  }

  /**
   * Writes the outcomes, but only for deliveries this lease still holds: one whose lease ran out
   * and was claimed again belongs to the newer claim (its attempt was still made: at least once).
   */
  async function record(tenantId: string, leaseId: string, outcomes: Outcome[], orphans: string[]): Promise<void> {
    const attemptedAt = at(now());
    await db.owner.scoped(tenantId, async (tx) => {
      if (orphans.length) {
        await tx.query(`DELETE FROM webhook_schedule WHERE tenant_id = $1 AND delivery_id = ANY($2::uuid[]) AND lease_id = $3`, [
          tenantId,
          orphans,
          leaseId,
        ]);
      }
      if (!outcomes.length) return;
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
      const gone = [...new Set(outcomes.flatMap((o) => (o.disableSubscription ? [o.disableSubscription] : [])))];
      if (gone.length) {
        await tx.query(
          `UPDATE webhook_subscriptions SET enabled = false, disabled_reason = 'the receiver answered 410 Gone', updated_at = now()
            WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND enabled`,
          [tenantId, gone],
        );
      }
    });
  }

  /** Runs `work` over `items`, at most `limit` at a time. */
  async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
    const results: R[] = new Array<R>(items.length);
    let next = 0;
    const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index] as T);
      }
    });
    await Promise.all(lanes);
    return results;
  }

  /** One round: claim what is due, deliver it, record it. Returns how many deliveries it claimed. */
  async function runOnce(): Promise<number> {
    const leaseId = randomUUID();
    const claimed = await claim(leaseId, batchSize);
    if (claimed.length === 0) return 0;
    const byTenant = new Map<string, string[]>();
    for (const c of claimed) byTenant.set(c.tenant_id, [...(byTenant.get(c.tenant_id) ?? []), c.delivery_id]);
    const groups = await Promise.all(
      [...byTenant].map(async ([tenantId, ids]) => {
        const rows = await db.owner.scoped(tenantId, (tx) => load(tx, tenantId, ids));
        const found = new Set(rows.map((r) => r.id));
        return { tenantId, rows, orphans: ids.filter((id) => !found.has(id)) };
      }),
    );
    const all = groups.flatMap((g) => g.rows);
    const outcomes = new Map<string, Outcome>();
    await inParallel(all, options.concurrency, async (row) => {
      outcomes.set(
        row.id,
        await attempt(row).catch((error: unknown) => {
          // e.g. a secret that no longer decrypts: retried on the schedule like any failure, never a poison row
          log.error({ err: error, delivery: row.id }, 'webhook attempt failed before sending');
          const delay = delays[row.attempts];
          return {
            id: row.id,
            status: delay === undefined ? 'failed' : 'pending',
            attempted: true,
            code: null,
            error: 'internal error before sending',
            nextAttemptAt: delay === undefined ? null : at(now() + delay),
          } satisfies Outcome;
        }),
      );
    });
    await Promise.all(
      groups.map((g) =>
        record(
          g.tenantId,
          leaseId,
          g.rows.map((r) => outcomes.get(r.id) as Outcome),
          g.orphans,
        ),
      ),
    );
    return claimed.length;
  }

  let running: Promise<void> | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  /** a notification arrived while a round ran: go again without sleeping */
  let notified = false;
  let unlisten: (() => Promise<void>) | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });

  async function loop(): Promise<void> {
    let failures = 0;
    while (!stopped) {
      try {
        notified = false;
        const claimed = await runOnce();
        failures = 0;
        if (claimed < batchSize && !notified && !stopped) await sleep(options.pollMs);
      } catch (error) {
        failures += 1;
        log.warn({ err: error }, 'webhook delivery round failed; retrying');
        if (!stopped) await sleep(Math.min(options.pollMs * 2 ** failures, 30_000));
      }
    }
  }

  return {
    runOnce,
    /** Listens for new work and delivers until stop(). */
    async start(): Promise<void> {
      if (running) return;
      stopped = false;
      const onWork = () => {
        notified = true;
        wake?.();
      };
      unlisten = await db.listen(WEBHOOK_CHANNEL, onWork, onWork);
      running = loop();
    },
    /** Stops claiming; resolves when the round in progress has recorded its outcomes. */
    async stop(): Promise<void> {
      stopped = true;
      wake?.();
      await running;
      running = undefined;
      await unlisten?.();
      unlisten = undefined;
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>;
