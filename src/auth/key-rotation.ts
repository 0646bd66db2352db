/**
 * The signing-key lifecycle of one tenant (one environment: a tenant row is per environment):
 *
 *   next     published in the JWKS, not signing yet: verifiers learn it before any token needs it
 *   current  signing (at most one: the partial unique index signing_keys_one_current)
 *   retired  no longer signing, published until not_after, when every token it signed has expired
 *
 * A normal rotation stages a key as `next` with promote_at = now + delay (the delay is at least
 * JWKS_CACHE_SECONDS, so no verifier still holds a key set without it when it starts signing) and
 * schedules it in key_promotions; any instance's worker promotes it when due. An immediate
 * rotation (the current key is compromised) swaps at once and stops publishing the old key, so
 * the tokens it signed stop verifying.
 *
 * Every change to signing_keys fires the change notification, so each instance drops its key set
 * and the tenant's Provider: nothing here touches a cache.
 */
import type { Logger } from 'pino';
import type { SigningAlgorithm } from '../catalog/signing-algorithms.ts';
import { type Database, isDatabaseUnavailable, type Queryable } from '../db/database.ts';
import { DEFAULT_TENANT_SETTINGS } from '../tenancy/tenant-settings.ts';
import type { KeyEncryption } from './key-encryption.ts';
import type { GeneratedSigningKey, SigningKeyRecord } from './signing-keys.ts';

/** Allowance for verifiers' clocks running behind ours, added to a retired key's publication. */
export const RETIREMENT_SKEW_SECONDS = 60;

/** How many due promotions one worker transaction claims; the rest wait for the next tick. */
const PROMOTION_BATCH = 100;

/** A key as the admin API and the audit log show it (wire names; no key material). */
export interface SigningKeySummary {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly state: SigningKeyRecord['state'];
  readonly created_at: string;
  readonly promote_at: string | null;
  readonly retired_at: string | null;
  readonly not_after: string | null;
}

export interface ListedSigningKey extends SigningKeySummary {
  /** in the JWKS now: not_after unset or in the future */
  readonly published: boolean;
}

export interface RotationPlan {
  /** seconds the new key is published before it signs (normal rotation); see resolveRotationDelay */
  readonly delaySeconds: number;
  /** emergency: sign with the new key now and stop publishing the old one */
  readonly immediate: boolean;
}

/** What a rotation changed: the affected keys before (absent if new) and after, for the audit log. */
export interface RotationResult {
  readonly before: readonly SigningKeySummary[];
  readonly after: readonly SigningKeySummary[];
}

/** A key is already staged: rotate again after it is promoted, or immediately. HTTP 409. */
export class KeyRotationConflictError extends Error {
  override name = 'KeyRotationConflictError';
  readonly code = 'ERR_KEY_ROTATION_CONFLICT';
  readonly staged: SigningKeySummary;
  constructor(staged: SigningKeySummary) {
    super(`signing key ${staged.kid} is already staged and becomes current at ${staged.promote_at}`);
    this.staged = staged;
  }
}

/** A requested delay shorter than verifiers may cache the JWKS (or not a whole number). HTTP 422. */
export class RotationDelayError extends Error {
  override name = 'RotationDelayError';
  readonly code = 'ERR_ROTATION_DELAY_TOO_SHORT';
  readonly minimumSeconds: number;
  constructor(message: string, minimumSeconds: number) {
    super(message);
    this.minimumSeconds = minimumSeconds;
  }
}

/**
 * The delay of a normal rotation: the configured default when none is requested; a requested one
 * must be a whole number of seconds of at least JWKS_CACHE_SECONDS, because a verifier may use the
 * JWKS it fetched just before the key was staged for that long.
 */
export function resolveRotationDelay(
  config: { readonly jwksCacheSeconds: number; readonly keyRotationDelaySeconds: number },
  requestedSeconds?: number,
): number {
  if (requestedSeconds === undefined) return config.keyRotationDelaySeconds;
  if (!Number.isSafeInteger(requestedSeconds) || requestedSeconds < config.jwksCacheSeconds) {
    throw new RotationDelayError(
      `the delay must be a whole number of seconds of at least ${config.jwksCacheSeconds} (how long verifiers may cache the JWKS), got ${requestedSeconds}`,
      config.jwksCacheSeconds,
    );
  }
  return requestedSeconds;
}

const SUMMARY_COLUMNS = `kid, alg, state, created_at, promote_at, retired_at, not_after`;

interface SummaryRow {
  kid: string;
  alg: SigningAlgorithm;
  state: SigningKeyRecord['state'];
  created_at: Date | string;
  promote_at: Date | string | null;
  retired_at: Date | string | null;
  not_after: Date | string | null;
  [column: string]: unknown;
}

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString());

function summarize(row: SummaryRow): SigningKeySummary {
  return {
    kid: row.kid,
    alg: row.alg,
    state: row.state,
    created_at: new Date(row.created_at).toISOString(),
    promote_at: iso(row.promote_at),
    retired_at: iso(row.retired_at),
    not_after: iso(row.not_after),
  };
}

/**
 * The longest access-token lifetime the tenant can issue now: its setting (or the default) or any
 * client's override, whichever is longer. Disabled clients count too: their tokens may still be
 * alive, and re-enabling a client makes them valid again.
 */
async function longestTokenLifetime(tx: Queryable, tenantId: string): Promise<number> {
  const [row] = await tx.query<{ ttl: number | string }>(
    `SELECT GREATEST(
              COALESCE((SELECT (settings->>'access_token_ttl')::integer FROM tenants WHERE id = $1), $2::integer),
              COALESCE((SELECT max(access_token_ttl) FROM clients WHERE tenant_id = $1), 0)) AS ttl`,
    [tenantId, DEFAULT_TENANT_SETTINGS.access_token_ttl],
  );
  return Number(row?.ttl ?? DEFAULT_TENANT_SETTINGS.access_token_ttl);
}

/** Retires the tenant's current key, published for `publishedSeconds` more (0 = dropped now). */
async function retireCurrentKey(tx: Queryable, tenantId: string, publishedSeconds: number): Promise<void> {
  await tx.query(
    `UPDATE signing_keys
        SET state = 'retired', retired_at = now(), not_after = now() + make_interval(secs => $2::double precision)
      WHERE tenant_id = $1 AND state = 'current'`,
    [tenantId, publishedSeconds],
  );
}

async function summariesOf(tx: Queryable, tenantId: string, kids: readonly string[]): Promise<SigningKeySummary[]> {
  if (kids.length === 0) return [];
  const rows = await tx.query<SummaryRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM signing_keys WHERE tenant_id = $1 AND kid = ANY($2::text[]) ORDER BY created_at DESC, kid`,
    [tenantId, kids],
  );
  return rows.map(summarize);
}

/**
 * Rotates a tenant's signing key. Run it inside `db.admin.scoped(tenantId, tx => …)`, so the
 * caller can write its audit record in the same transaction; generate `key` before opening the
 * transaction (RSA generation takes ~140 ms).
 *
 * Normal: `key` is staged as `next`, promoted `plan.delaySeconds` from now by the rotation worker
 * (validate the delay with resolveRotationDelay first). KeyRotationConflictError if a key is
 * already staged. Immediate: `key` signs at once; the current key and any staged key are retired
 * with not_after = now, so they leave the JWKS and tokens they signed stop verifying.
 */
export async function rotateSigningKey(
  tx: Queryable,
  tenantId: string,
  key: GeneratedSigningKey,
  encryption: KeyEncryption,
  plan: RotationPlan,
): Promise<RotationResult> {
  if (!plan.immediate && (!Number.isFinite(plan.delaySeconds) || plan.delaySeconds < 0)) {
    throw new TypeError(`delaySeconds must be a non-negative number, got ${plan.delaySeconds}`);
  }
  // Lock order: the schedule row, then the keys, as promoteDueKeys does, so the two never
  // deadlock. Locking the current key makes concurrent rotations of one tenant take turns; the
  // keys are read again after it, in a statement of its own, because under READ COMMITTED a
  // statement that waited for a lock does not see rows committed meanwhile (the other rotation's
  // staged key).
  await tx.query('SELECT kid FROM key_promotions WHERE tenant_id = $1 FOR UPDATE', [tenantId]);
  await tx.query(`SELECT kid FROM signing_keys WHERE tenant_id = $1 AND state = 'current' FOR UPDATE`, [tenantId]);
  const live = await tx.query<SummaryRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM signing_keys WHERE tenant_id = $1 AND state IN ('current', 'next') FOR UPDATE`,
    [tenantId],
  );
  const privateJwkEncrypted = encryption.encrypt(JSON.stringify(key.privateJwk));

  if (!plan.immediate) {
    const staged = live.find((r) => r.state === 'next');
    if (staged) throw new KeyRotationConflictError(summarize(staged));
    const [inserted] = await tx.query<SummaryRow>(
      `INSERT INTO signing_keys (tenant_id, kid, alg, public_jwk, private_jwk_encrypted, state, promote_at)
       VALUES ($1, $2, $3, $4, $5, 'next', now() + make_interval(secs => $6::double precision))
       RETURNING ${SUMMARY_COLUMNS}`,
      [tenantId, key.kid, key.alg, JSON.stringify(key.publicJwk), privateJwkEncrypted, plan.delaySeconds],
    );
    if (!inserted) throw new Error('INSERT … RETURNING returned no row');
    await tx.query('INSERT INTO key_promotions (tenant_id, kid, promote_at) VALUES ($1, $2, $3)', [tenantId, key.kid, inserted.promote_at]);
    return { before: [], after: [summarize(inserted)] };
  }

  // Emergency. The staged key goes too: it was chosen before the compromise was known.
  await tx.query(
    `UPDATE signing_keys SET state = 'retired', retired_at = now(), not_after = now() WHERE tenant_id = $1 AND state = 'next'`,
    [tenantId],
  );
  await retireCurrentKey(tx, tenantId, 0); // before the insert: one current key per tenant
  await tx.query('DELETE FROM key_promotions WHERE tenant_id = $1', [tenantId]);
  await tx.query(
    `INSERT INTO signing_keys (tenant_id, kid, alg, public_jwk, private_jwk_encrypted, state)
     VALUES ($1, $2, $3, $4, $5, 'current')`,
    [tenantId, key.kid, key.alg, JSON.stringify(key.publicJwk), privateJwkEncrypted],
  );
  return {
    before: live.map(summarize),
    after: await summariesOf(tx, tenantId, [key.kid, ...live.map((r) => r.kid)]),
  };
}

/** Every key of the tenant, newest first, expired ones included (state as stored). Run scoped to the tenant. */
export async function listSigningKeys(tx: Queryable, tenantId: string): Promise<ListedSigningKey[]> {
  const rows = await tx.query<SummaryRow & { published: boolean }>(
    `SELECT ${SUMMARY_COLUMNS}, (not_after IS NULL OR not_after > now()) AS published
       FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at DESC, kid`,
    [tenantId],
  );
  return rows.map((r) => ({ ...summarize(r), published: r.published }));
}

/**
 * Promotes every staged key whose time has come (up to a batch), across tenants, in one owner
 * transaction: the current key retires (published until the longest token it can have signed
 * expires, plus skew) and the staged one becomes current. Due rows are claimed FOR UPDATE SKIP
 * LOCKED and deleted in the same transaction, so instances running this concurrently promote each
 * key exactly once. `now` (tests) overrides which promotions count as due. Returns how many were
 * promoted.
 */
export async function promoteDueKeys(db: Database, now?: Date): Promise<number> {
  return db.admin.scoped(null, async (tx) => {
    const due = await tx.query<{ tenant_id: string; kid: string }>(
      `SELECT tenant_id, kid FROM key_promotions
        WHERE promote_at <= COALESCE($1::timestamptz, now())
        ORDER BY promote_at
        LIMIT ${PROMOTION_BATCH}
          FOR UPDATE SKIP LOCKED`,
      [now ? now.toISOString() : null],
    );
    let promoted = 0;
    for (const { tenant_id: tenantId, kid } of due) {
      // signing_keys is behind FORCE RLS: each tenant's rows only in its own scope
      await tx.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
      const [staged] = await tx.query<{ kid: string }>(
        `SELECT kid FROM signing_keys WHERE tenant_id = $1 AND kid = $2 AND state = 'next' FOR UPDATE`,
        [tenantId, kid],
      );
      if (staged) {
        await retireCurrentKey(tx, tenantId, (await longestTokenLifetime(tx, tenantId)) + RETIREMENT_SKEW_SECONDS);
        await tx.query(`UPDATE signing_keys SET state = 'current' WHERE tenant_id = $1 AND kid = $2`, [tenantId, kid]);
        promoted += 1;
      }
      // a schedule row whose key is gone or no longer staged has nothing left to do
      await tx.query('DELETE FROM key_promotions WHERE tenant_id = $1 AND kid = $2', [tenantId, kid]);
    }
    return promoted;
  });
}

/**
 * Runs promoteDueKeys every `intervalMs` (after the previous run finished, never overlapping) until
 * the returned stop() is awaited. The timer does not keep the process alive; a failed run is
 * logged and the next tick tries again.
 */
export function startKeyRotationWorker(db: Database, log: Logger, options: { intervalMs: number }): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const tick = () => {
    running = promoteDueKeys(db).then(
      (promoted) => {
        if (promoted > 0) log.info({ promoted }, 'promoted staged signing keys');
      },
      (error: unknown) => {
        // an unreachable database is an outage already reported elsewhere, not a fault of this worker
        log[isDatabaseUnavailable(error) ? 'warn' : 'error']({ err: error }, 'signing-key promotion failed; retrying on the next tick');
      },
    );
    void running.then(() => {
      running = undefined;
      schedule();
    });
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(tick, options.intervalMs);
    timer.unref();
  };
  schedule();

  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
