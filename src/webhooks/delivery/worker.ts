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
import type { KeyEncryption } from '../../auth/key-encryption.ts';
import type { Database, Queryable } from '../../db/database.ts';
import { assertAddressAllowed, guardedLookup } from '../address-guard.ts';
import { signatureHeaders } from '../signing.ts';

export const WEBHOOK_CHANNEL = 'tenant_connect_webhooks';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Wait before each retry: 8 attempts over about 28 hours, then the delivery has failed. */
export const RETRY_DELAYS_MS: readonly number[] = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];

const USER_AGENT = 'tenant-connect-webhooks/1';
const MAX_ERROR_LENGTH = 500;
const RESPONSE_BYTES_READ = 64 * 1024;
/** how much of a response body an attempt keeps, for the operator */
const RESPONSE_BYTES_KEPT = 1024;
/** the longest a receiver's Retry-After is honoured for */
const MAX_RETRY_AFTER_MS = 24 * HOUR;
const JITTER = 0.1;

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
  /** [0, 1): spreads retries by up to 10 % so receivers that failed together are not retried together */
  readonly random?: () => number;
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
  /** what the attempt was, recorded whatever becomes of the lease */
  readonly record?: { readonly at: string; readonly durationMs: number; readonly body: string | null };
  readonly disable?: {
    readonly subscriptionId: string;
    readonly reason: string;
    /** persistent failure: only if nothing reached this subscription since this delivery was created */
    readonly unlessDeliveredSince?: boolean;
  };
}

export interface AttemptResult {
  readonly code: number | null;
  readonly error: string | null;
  /** from connecting to the end of the response (or the failure) */
  readonly durationMs: number;
  /** the first KiB of the response body */
  readonly body: string | null;
  /** a 429's or 503's Retry-After header, as sent */
  readonly retryAfter?: string;
}

/** Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
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
    return { code: null, error: `refused: ${(error as Error).message}`, durationMs: 0, body: null };
  }
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:')
    return { code: null, error: `refused: unsupported scheme ${url.protocol}`, durationMs: 0, body: null };
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
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
      const kept: Buffer[] = [];
      response.on('data', (chunk: Buffer) => {
        if (read < RESPONSE_BYTES_KEPT) kept.push(chunk.subarray(0, RESPONSE_BYTES_KEPT - read));
        read += chunk.length;
        if (read > RESPONSE_BYTES_READ) response.destroy(); // the body is not ours to keep
      });
      const retryAfter = code === 429 || code === 503 ? response.headers['retry-after'] : undefined;
      const done = () =>
        finish({
          code,
          error: code >= 200 && code < 300 ? null : code >= 300 && code < 400 ? `HTTP ${code}: redirects are not followed` : `HTTP ${code}`,
          durationMs: elapsed(),
          // bytes cut mid-character decode to U+FFFD; NUL cannot be stored in a text column
          body: read ? Buffer.concat(kept).toString('utf8').replaceAll('\u0000', '') || null : null,
          ...(retryAfter === undefined ? {} : { retryAfter }),
        });
      response.on('end', done);
      response.on('close', done);
      response.on('error', done);
    });
    request.on('error', (error) =>
      finish({ code: null, error: (error as Error).message.slice(0, MAX_ERROR_LENGTH), durationMs: elapsed(), body: null }),
    );
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
  const random = options.random ?? Math.random;
  const batchSize = Math.max(options.concurrency * 4, 50);
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: options.concurrency }),
    https: new https.Agent({ keepAlive: true, maxSockets: options.concurrency }),
  };
  const at = (ms: number) => new Date(ms).toISOString();

  /**
   * Takes up to `limit` due deliveries for one lease, across tenants, at most a quarter of them
   * from any one tenant: a tenant's backlog never holds up another tenant's events for long.
   */
  async function claim(leaseId: string, limit: number): Promise<Claimed[]> {
    const t = now();
    return db.owner.query<Claimed & Record<string, unknown>>(
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
      [at(t), at(t + options.leaseMs), leaseId, limit, Math.max(1, Math.floor(limit / 4))],
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
    const headers = {
      ...signatureHeaders(secrets, row.event_id, Math.floor(sentAt / 1000), body),
      // which tenant sent it, for routing before parsing; the signed body says the same
      'tenant-connect-tenant': row.slug,
      'tenant-connect-environment': row.environment,
    };
    const result = await postWebhook(row.url, headers, body, {
      timeoutMs: options.timeoutMs,
      allowLoopback: options.allowLoopback,
      agents,
    });
    const { code, error } = result;
    const base = {
      id: row.id,
      attempted: true,
      code,
      record: { at: at(sentAt), durationMs: result.durationMs, body: result.body },
    } as const;
    if (code !== null && code >= 200 && code < 300) {
      return { ...base, status: 'delivered', error: null, nextAttemptAt: null };
    }
    if (code === 410) {
      return {
        ...base,
        status: 'failed',
        error: 'HTTP 410: the receiver is gone; the subscription was disabled',
        nextAttemptAt: null,
        disable: { subscriptionId: row.subscription_id, reason: 'the receiver answered 410 Gone' },
      };
    }
    const scheduled = delays[row.attempts]; // attempts made before this one
    if (scheduled === undefined) {
      log.warn({ tenant: row.slug, subscription: row.subscription_id, delivery: row.id }, 'webhook delivery failed for good');
      return {
        ...base,
        status: 'failed',
        error,
        nextAttemptAt: null,
        disable: {
          subscriptionId: row.subscription_id,
          reason: `every attempt of a delivery failed for ${Math.round(delays.reduce((a, b) => a + b, 0) / HOUR)} hours, and none succeeded since`,
          unlessDeliveredSince: true,
        },
      };
    }
    // a receiver asking to wait (429, 503 + Retry-After) waits at least that long
    const retryAfterMs = parseRetryAfter(result.retryAfter, now()) ?? 0;
    const delay = Math.max(scheduled * (1 + JITTER * random()), Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
    return { ...base, status: 'pending', error, nextAttemptAt: at(now() + delay) };
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
      const tried = outcomes.filter((o) => o.record);
      if (tried.length) {
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
      for (const outcome of outcomes) {
        if (!outcome.disable) continue;
        const disabled = await tx.query(
          `UPDATE webhook_subscriptions s SET enabled = false, disabled_reason = $3, updated_at = now()
            WHERE s.tenant_id = $1 AND s.id = $2 AND s.enabled
              AND NOT ($5 AND EXISTS (
                SELECT 1 FROM webhook_deliveries later, webhook_deliveries failed
                 WHERE failed.tenant_id = $1 AND failed.id = $4
                   AND later.tenant_id = $1 AND later.subscription_id = s.id AND later.status = 'delivered'
                   AND later.delivered_at > failed.created_at))
           RETURNING s.id`,
          [tenantId, outcome.disable.subscriptionId, outcome.disable.reason, outcome.id, outcome.disable.unlessDeliveredSince === true],
        );
        if (disabled.length)
          log.warn(
            { tenant: tenantId, subscription: outcome.disable.subscriptionId, reason: outcome.disable.reason },
            'webhook subscription disabled',
          );
      }
    });
  }

  // Lanes shared by every round in flight: WEBHOOK_CONCURRENCY requests at most, a quarter of
  // them for one subscription, so a slow receiver holds a few lanes and never all of them.
  const perSubscription = Math.max(1, Math.floor(options.concurrency / 4));
  const waiting: { readonly row: DeliveryRow; readonly run: () => void }[] = [];
  const inFlight = new Map<string, number>();
  let active = 0;
  let laneFreed: (() => void)[] = [];

  function pump(): void {
    while (active < options.concurrency) {
      const index = waiting.findIndex((w) => (inFlight.get(w.row.subscription_id) ?? 0) < perSubscription);
      if (index < 0) return;
      const [next] = waiting.splice(index, 1) as [(typeof waiting)[number]];
      active += 1;
      inFlight.set(next.row.subscription_id, (inFlight.get(next.row.subscription_id) ?? 0) + 1);
      next.run();
    }
  }

  function deliverRows(rows: readonly DeliveryRow[], work: (row: DeliveryRow) => Promise<void>): Promise<void> {
    const each = rows.map(
      (row) =>
        new Promise<void>((resolve, reject) => {
          waiting.push({
            row,
            run: () =>
              void work(row)
                .then(resolve, reject)
                .finally(() => {
                  active -= 1;
                  inFlight.set(row.subscription_id, (inFlight.get(row.subscription_id) ?? 1) - 1);
                  const freed = laneFreed;
                  laneFreed = [];
                  for (const wake of freed) wake();
                  pump();
                }),
          });
        }),
    );
    pump();
    return Promise.all(each).then(() => undefined);
  }

  /**
   * Resolves when another round may be claimed: a lane is free (rows still waiting are all of
   * subscriptions at their share) and the queue is shorter than a round.
   */
  function freeLane(): Promise<void> {
    if (active < options.concurrency && waiting.length < batchSize) return Promise.resolve();
    return new Promise((resolve) => laneFreed.push(resolve));
  }

  /** One round: claim what is due (awaited), then deliver and record it (`done`). */
  async function claimRound(): Promise<{ claimed: number; done: Promise<void> }> {
    const leaseId = randomUUID();
    const claimed = await claim(leaseId, batchSize);
    if (claimed.length === 0) return { claimed: 0, done: Promise.resolve() };
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
    // an attempt must end inside the lease; a row that waited too long for a lane is left to its next claim
    const startBy = now() + options.leaseMs - options.timeoutMs;
    const done = (async () => {
      await deliverRows(all, async (row) => {
        if (now() > startBy) return;
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
            g.rows.flatMap((r) => outcomes.get(r.id) ?? []),
            g.orphans,
          ),
        ),
      );
    })();
    return { claimed: claimed.length, done };
  }

  /** One round, start to end. Returns how many deliveries it claimed. */
  async function runOnce(): Promise<number> {
    const round = await claimRound();
    await round.done;
    return round.claimed;
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

  /**
   * Claims a new round whenever a lane is free and nothing claimed is waiting for one, while
   * earlier rounds are still delivering: a slow receiver's requests occupy their lanes, not the
   * worker.
   */
  async function loop(): Promise<void> {
    const rounds = new Set<Promise<void>>();
    let failures = 0;
    while (!stopped) {
      try {
        await freeLane();
        if (stopped) break;
        notified = false;
        const round = await claimRound();
        failures = 0;
        if (round.claimed > 0) {
          const settled: Promise<void> = round.done
            .catch((error: unknown) =>
              log.warn({ err: error }, 'webhook delivery round failed; its deliveries are retried after their lease'),
            )
            .finally(() => rounds.delete(settled));
          rounds.add(settled);
        } else if (!notified && !stopped) {
          // nothing due: until a notification, the poll, or (harmlessly) a round finishing
          await sleep(options.pollMs);
        }
      } catch (error) {
        failures += 1;
        log.warn({ err: error }, 'webhook delivery round failed; retrying');
        if (!stopped) await sleep(Math.min(options.pollMs * 2 ** failures, 30_000));
      }
    }
    await Promise.all(rounds);
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
