/**
 * The token endpoint's replay detection: oidc-provider asks `ReplayDetection.unique(iss, jti, exp)`
 * once per DPoP proof (iss: the client id). Its own model looks the id up, then saves it (two steps,
 * a race between two instances) under a key with no tenant. Here the claim is one atomic statement
 * in the tenant's scope, in the database every instance and every Provider of the pool share.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/database.ts';

/** How often one instance deletes a tenant's expired claims (on its next claim for that tenant). */
const PURGE_INTERVAL_MS = 60_000;

export interface ReplayDetection {
  /** true the first time (tenant, iss, jti) is claimed before `expiresAt` (epoch seconds); false for a replay */
  claim(tenantId: string, iss: string, jti: string, expiresAt: number): Promise<boolean>;
}

export function createReplayDetection(db: Database, options: { tenants: number; now?: () => number }): ReplayDetection {
  const now = options.now ?? Date.now;
  const purgedAt = new LRUCache<string, number>({ max: options.tenants });

  return {
    async claim(tenantId, iss, jti, expiresAt) {
      // fixed-size key whatever the caller's jti; the NUL keeps (ab, c) and (a, bc) apart
      const id = createHash('sha256').update(`${iss}\u0000${jti}`).digest('base64url');
      const purge = now() - (purgedAt.get(tenantId) ?? 0) >= PURGE_INTERVAL_MS;
      if (purge) purgedAt.set(tenantId, now());
      const rows = await db.scoped(tenantId, async (tx) => {
        if (purge) await tx.query(`DELETE FROM oauth_replay_detections WHERE tenant_id = $1 AND expires_at < now()`, [tenantId]);
        // an expired claim not yet purged is taken over; a live one makes this a replay
        return tx.query(
          `INSERT INTO oauth_replay_detections (tenant_id, id, expires_at) VALUES ($1, $2, to_timestamp($3))
           ON CONFLICT (tenant_id, id) DO UPDATE SET expires_at = excluded.expires_at
             WHERE oauth_replay_detections.expires_at < now()
           RETURNING 1`,
          [tenantId, id, expiresAt],
        );
      });
      return rows.length === 1;
    },
  };
}
