/**
 * last_used_at for clients and their secrets, kept cheap: a successful authentication only notes
 * (tenant, client, secret) in memory; a timer writes what was noted, one UPDATE pair per tenant,
 * and a row is only written when its stored value is older than the flush interval. The change
 * triggers ignore last_used_at, so this bookkeeping invalidates no cache anywhere.
 */
import type { Logger } from 'pino';
import { createBatchedWrites } from '../db/batched-writes.ts';
import type { Database } from '../db/database.ts';

export function createClientUsageRecorder(db: Database, log: Logger, options: { flushIntervalMs: number }) {
  /** tenant → client_id → secret hashes used since the last flush */
  let pending = new Map<string, Map<string, Set<string>>>();

  async function write(batch: Map<string, Map<string, Set<string>>>): Promise<void> {
    const stale = `${Math.max(1, Math.floor(options.flushIntervalMs / 1000))} seconds`;
    for (const [tenantId, clients] of batch) {
      const clientIds = [...clients.keys()];
      const hashes = [...clients.values()].flatMap((set) => [...set]);
      await db.scoped(tenantId, async (tx) => {
        await tx.query(
          `UPDATE clients SET last_used_at = now()
            WHERE tenant_id = $1 AND client_id = ANY($2::text[]) AND (last_used_at IS NULL OR last_used_at < now() - $3::interval)`,
          [tenantId, clientIds, stale],
        );
        await tx.query(
          `UPDATE client_secrets SET last_used_at = now()
            WHERE tenant_id = $1 AND secret_hash = ANY($2::text[]) AND (last_used_at IS NULL OR last_used_at < now() - $3::interval)`,
          [tenantId, hashes, stale],
        );
      });
    }
  }

  const writes = createBatchedWrites({
    take: () => {
      if (pending.size === 0) return undefined;
      const batch = pending;
      pending = new Map();
      return batch;
    },
    write,
    intervalMs: options.flushIntervalMs,
    log,
    what: 'client usage',
  });

  return {
    ...writes,
    /** a client authenticated (with the secret of that hash; none: with a private key) */
    record(tenantId: string, clientId: string, secretHash: string | undefined): void {
      let clients = pending.get(tenantId);
      if (!clients) pending.set(tenantId, (clients = new Map()));
      let hashes = clients.get(clientId);
      if (!hashes) clients.set(clientId, (hashes = new Set()));
      if (secretHash !== undefined) hashes.add(secretHash);
    },
  };
}
export type ClientUsageRecorder = ReturnType<typeof createClientUsageRecorder>;
