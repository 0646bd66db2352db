/**
 * The jti of every client assertion, once (RFC 7523 §3 item 7), held across instances by Postgres:
 * one atomic INSERT … ON CONFLICT DO NOTHING RETURNING per assertion, as the runtime role scoped to
 * the tenant (row level security: client_assertion_jtis is tenant data), namespaced by tenant and
 * client, sent with its scope in a single round trip.
 * oidc-provider's own ReplayDetection asks its adapter to find, then to save (check-then-insert,
 * keyed without a tenant); the Provider's adapter routes that model here instead, so there is one
 * record per assertion and no race between two instances.
 */
import type { Database } from '../db/database.ts';

/** Expired rows each insert deletes (of its own tenant): at least as many go as come, so the table
 * stays near the number of live assertions without a separate job. (No FOR UPDATE: the runtime role
 * has no UPDATE grant here; two inserts that pick the same expired row just delete it once.) */
const EXPIRED_ROWS_PER_INSERT = 4;

export function createAssertionReplayStore(db: Database) {
  return {
    /**
     * Records the assertion; false when this (tenant, client, jti) was recorded before (a replay).
     * `expiresInSeconds`: until the assertion's exp (plus clock tolerance) — after that the
     * assertion is refused as expired whatever this table holds.
     */
    async recordOnce(tenantId: string, clientId: string, jtiHash: string, expiresInSeconds: number): Promise<boolean> {
      // one statement in one round trip (db.statement): the token request waits on nothing else
      const rows = await db.statement(tenantId).query(
        `WITH purged AS (
             DELETE FROM client_assertion_jtis
              WHERE tenant_id = $1 AND (client_id, jti_hash) IN (
                SELECT client_id, jti_hash FROM client_assertion_jtis
                 WHERE tenant_id = $1 AND expires_at < now()
                 ORDER BY expires_at LIMIT ${EXPIRED_ROWS_PER_INSERT}))
           INSERT INTO client_assertion_jtis (tenant_id, client_id, jti_hash, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(secs => $4))
           ON CONFLICT DO NOTHING
           RETURNING 1`,
        [tenantId, clientId, jtiHash, Math.max(1, Math.ceil(expiresInSeconds))],
      );
      return rows.length === 1;
    },
  };
}
export type AssertionReplayStore = ReturnType<typeof createAssertionReplayStore>;
