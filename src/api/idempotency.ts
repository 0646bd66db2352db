/**
 * Idempotency-Key on POST (per client, kept 24 h): the first response to a key is stored in the
 * same transaction as the change, and a retry of the same request gets it back; the same key
 * with a different request is refused. A concurrent retry blocks on the key's row until the first
 * attempt commits (then replays) or rolls back (then runs itself).
 */
import { createHash } from 'node:crypto';
import type { Database, ScopedTransaction } from '../db/database.ts';
import { ApiError } from '../http/problem.ts';
import type { RequestHeader } from '../http/route-spec.ts';
import type { ApiContext } from './route-steps.ts';

export const IDEMPOTENCY_TTL_HOURS = 24;

export interface StoredResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

export function parseIdempotencyKey(header: string): string | undefined {
  if (header === '') return undefined;
  if (header.length > 255 || !/^[\x21-\x7e]+$/.test(header)) {
    throw new ApiError('invalid-body', 'Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice).', {
      members: { errors: [{ pointer: '/headers/idempotency-key', detail: 'invalid idempotency key' }] },
    });
  }
  return header;
}

export const IDEMPOTENCY_KEY: RequestHeader = {
  name: 'Idempotency-Key',
  required: false,
  description: 'makes a retried POST return the first response (kept 24 h per client)',
  schema: { type: 'string', maxLength: 255 },
  read: parseIdempotencyKey,
};

export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${JSON.stringify(body ?? null)}`)
    .digest('base64url');
}

/** Runs `work` once per key; returns its response, or the stored response of an earlier attempt. */
export async function withIdempotency(
  tx: ScopedTransaction,
  key: { clientId: string; key: string; fingerprint: string },
  work: () => Promise<StoredResponse>,
): Promise<StoredResponse & { replayed: boolean }> {
  const params = [tx.tenantId, key.clientId, key.key];
  // an expired key is free again
  await tx.query(
    `DELETE FROM idempotency_keys WHERE tenant_id = $1 AND client_id = $2 AND key = $3 AND created_at < now() - interval '${IDEMPOTENCY_TTL_HOURS} hours'`,
    params,
  );
  const claimed = await tx.query(
    `INSERT INTO idempotency_keys (tenant_id, client_id, key, request_hash) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING key`,
    [...params, key.fingerprint],
  );
  if (claimed.length === 0) {
    const [stored] = await tx.query<{
      request_hash: string;
      response_status: number | null;
      response_headers: Record<string, string> | null;
      response_body: unknown;
    }>(
      `SELECT request_hash, response_status, response_headers, response_body FROM idempotency_keys WHERE tenant_id = $1 AND client_id = $2 AND key = $3`,
      params,
    );
    if (!stored)
      throw new ApiError('idempotency-key-in-use', 'A request with this Idempotency-Key is in progress; retry shortly.', {
        headers: { 'Retry-After': '1' },
      });
    if (stored.request_hash !== key.fingerprint) {
      throw new ApiError(
        'idempotency-key-reused',
        'This Idempotency-Key was used for a different request; use a new key for a new request.',
      );
    }
    if (stored.response_status === null) {
      throw new ApiError('idempotency-key-in-use', 'A request with this Idempotency-Key is in progress; retry shortly.', {
        headers: { 'Retry-After': '1' },
      });
    }
    return { status: stored.response_status, headers: stored.response_headers ?? {}, body: stored.response_body, replayed: true };
  }
  const response = await work();
  await tx.query(
    `UPDATE idempotency_keys SET response_status = $4, response_headers = $5, response_body = $6 WHERE tenant_id = $1 AND client_id = $2 AND key = $3`,
    [...params, response.status, JSON.stringify(response.headers), JSON.stringify(response.body)],
  );
  return { ...response, replayed: false };
}

/**
 * A POST's work in one tenant transaction, at most once per Idempotency-Key (every time without
 * one), answered with its response or, for a retry, the stored one.
 */
export async function createOnce(
  ctx: ApiContext,
  db: Database,
  request: { key: string | undefined; body: unknown },
  work: (tx: ScopedTransaction) => Promise<StoredResponse>,
): Promise<void> {
  const { key, body } = request;
  const result = await db.scoped(ctx.state.tenant.id, async (tx) => {
    if (!key) return { ...(await work(tx)), replayed: false };
    const fingerprint = requestFingerprint(ctx.method, ctx.path, body);
    return withIdempotency(tx, { clientId: ctx.state.claims.client_id, key, fingerprint }, () => work(tx));
  });
  ctx.status = result.status;
  ctx.set(result.headers);
  if (result.replayed) ctx.set('Idempotent-Replayed', 'true');
  ctx.body = result.body;
}
