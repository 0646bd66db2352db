/**
 * Delivers webhooks, at least once: the loop that claims due deliveries for a lease (queries.ts),
 * sends each through lanes shared by every round in flight (sender.ts), decides what becomes of
 * it (policy.ts) and records the outcomes while the lease holds. Time comes from an injectable
 * clock, so retries are testable without waiting.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { KeyEncryption } from '../../auth/key-encryption.ts';
import type { Database } from '../../db/database.ts';
import { createDeliveryPolicy, type Decision, type DeliveryPolicy } from './policy.ts';
import { createDeliveryQueries, type DeliveryQueries, type DeliveryRow, type Outcome } from './queries.ts';
import { type AttemptResult, createWebhookSender, type WebhookSender } from './sender.ts';

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
  /** [0, 1): spreads retries so receivers that failed together are not retried together */
  readonly random?: () => number;
  /** told each attempt sent to a receiver, by tenant (the usage counts) */
  readonly onAttemptSent?: (tenantId: string) => void;
}

/** What the loop works with: its three parts and its settings. */
export interface DeliveryContext {
  readonly queries: DeliveryQueries;
  readonly policy: DeliveryPolicy;
  readonly sender: WebhookSender;
  readonly log: Logger;
  /** milliseconds since the epoch */
  readonly now: () => number;
  readonly leaseMs: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly pollMs: number;
  readonly onAttemptSent?: ((tenantId: string) => void) | undefined;
}

export function createDeliveryWorker(options: DeliveryWorkerOptions) {
  return createDeliveryLoop({
    queries: createDeliveryQueries(options.db),
    policy: createDeliveryPolicy({
      ...(options.retryDelaysMs ? { retryDelaysMs: options.retryDelaysMs } : {}),
      ...(options.random ? { random: options.random } : {}),
    }),
    sender: createWebhookSender(options),
    log: options.log,
    now: options.now ?? Date.now,
    leaseMs: options.leaseMs,
    timeoutMs: options.timeoutMs,
    concurrency: options.concurrency,
    pollMs: options.pollMs,
    onAttemptSent: options.onAttemptSent,
  });
}
export type DeliveryWorker = ReturnType<typeof createDeliveryWorker>;

/** The outcome to write for `row` after `decision`; `attempt` is what was sent, if anything was. */
function outcomeOf(row: DeliveryRow, decision: Decision, attempt?: { readonly result: AttemptResult; readonly at: string }): Outcome {
  const base = {
    id: row.id,
    attempted: true,
    code: attempt?.result.code ?? null,
    ...(attempt ? { record: { at: attempt.at, durationMs: attempt.result.durationMs, body: attempt.result.body } } : {}),
  };
  switch (decision.kind) {
    case 'delivered':
      return { ...base, status: 'delivered', error: null, nextAttemptAt: null };
    case 'retry':
      return { ...base, status: 'pending', error: decision.error, nextAttemptAt: new Date(decision.atMs).toISOString() };
    case 'gone':
      return {
        ...base,
        status: 'failed',
        error: decision.error,
        nextAttemptAt: null,
        disable: { subscriptionId: row.subscription_id, reason: decision.disableReason },
      };
    case 'exhausted':
      return {
        ...base,
        status: 'failed',
        error: decision.error,
        nextAttemptAt: null,
        ...(decision.disableReason === undefined
          ? {}
          : { disable: { subscriptionId: row.subscription_id, reason: decision.disableReason, unlessDeliveredSince: true } }),
      };
  }
}

/** The loop: claims rounds, runs their attempts in shared lanes, records them; start() and stop(). */
export function createDeliveryLoop(context: DeliveryContext) {
  const { queries, policy, sender, log, now } = context;
  const batchSize = Math.max(context.concurrency * 4, 50);
  const at = (ms: number) => new Date(ms).toISOString();

  /** One attempt of `row`, decided; never throws (a failure before sending is retried like any). */
  async function attempt(row: DeliveryRow): Promise<Outcome> {
    const number = row.attempts + 1;
    const reason = policy.notSent(row);
    if (reason !== undefined) return { id: row.id, status: 'failed', attempted: false, code: null, error: reason, nextAttemptAt: null };
    try {
      const sentAt = now();
      const result = await sender.send(row, sentAt);
      const decision = policy.afterResponse(number, result, now());
      if (decision.kind === 'exhausted')
        log.warn({ tenant: row.slug, subscription: row.subscription_id, delivery: row.id }, 'webhook delivery failed for good');
      return outcomeOf(row, decision, { result, at: at(sentAt) });
    } catch (error) {
      // e.g. a secret that no longer decrypts: retried on the schedule like any failure, never a poison row
      log.error({ err: error, delivery: row.id }, 'webhook attempt failed before sending');
      return outcomeOf(row, policy.afterInternalError(number, now()));
    }
  }

  async function record(tenantId: string, leaseId: string, outcomes: Outcome[], orphans: string[]): Promise<void> {
    const disabled = await queries.recordOutcomes(tenantId, leaseId, outcomes, orphans, now());
    for (const { subscriptionId, reason } of disabled)
      log.warn({ tenant: tenantId, subscription: subscriptionId, reason }, 'webhook subscription disabled');
  }

  // Lanes shared by every round in flight: WEBHOOK_CONCURRENCY requests at most, a quarter of
  // them for one subscription, so a slow receiver holds a few lanes and never all of them.
  const perSubscription = Math.max(1, Math.floor(context.concurrency / 4));
  const waiting: { readonly row: DeliveryRow; readonly run: () => void }[] = [];
  const inFlight = new Map<string, number>();
  let active = 0;
  let laneFreed: (() => void)[] = [];

  function pump(): void {
    while (active < context.concurrency) {
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
    if (active < context.concurrency && waiting.length < batchSize) return Promise.resolve();
    return new Promise((resolve) => laneFreed.push(resolve));
  }

  /** One round: claim what is due (awaited), then deliver and record it (`done`). */
  async function claimRound(): Promise<{ claimed: number; done: Promise<void> }> {
    const leaseId = randomUUID();
    const claimed = await queries.claimDue(leaseId, batchSize, now(), context.leaseMs);
    if (claimed.length === 0) return { claimed: 0, done: Promise.resolve() };
    const byTenant = new Map<string, string[]>();
    for (const c of claimed) byTenant.set(c.tenant_id, [...(byTenant.get(c.tenant_id) ?? []), c.delivery_id]);
    const groups = await Promise.all(
      [...byTenant].map(async ([tenantId, ids]) => {
        const rows = await queries.findPendingDeliveries(tenantId, ids);
        const found = new Set(rows.map((r) => r.id));
        return { tenantId, rows, orphans: ids.filter((id) => !found.has(id)) };
      }),
    );
    const all = groups.flatMap((g) => g.rows);
    const tenantOf = new Map(groups.flatMap((g) => g.rows.map((r) => [r.id, g.tenantId] as const)));
    const outcomes = new Map<string, Outcome>();
    // an attempt must end inside the lease; a row that waited too long for a lane is left to its next claim
    const startBy = now() + context.leaseMs - context.timeoutMs;
    const done = (async () => {
      await deliverRows(all, async (row) => {
        if (now() > startBy) return;
        const outcome = await attempt(row);
        outcomes.set(row.id, outcome);
        // a request went out (whatever the receiver answered)
        if (outcome.record) context.onAttemptSent?.(tenantOf.get(row.id) ?? '');
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
          await sleep(context.pollMs);
        }
      } catch (error) {
        failures += 1;
        log.warn({ err: error }, 'webhook delivery round failed; retrying');
        if (!stopped) await sleep(Math.min(context.pollMs * 2 ** failures, 30_000));
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
      unlisten = await queries.listenForWork(onWork);
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
      sender.close();
    },
  };
}
