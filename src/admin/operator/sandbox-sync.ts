/**
 * "Sandbox credentials mirror production": copies a production tenant's settings and clients
 * (same client ids, same secret hashes and expiries) into the sandbox environment, creating the
 * sandbox tenant when needed. Never resource data, never in the other direction, and the sandbox
 * keeps its own signing keys: a sandbox token can never verify in production.
 * Sandbox-only clients are left alone.
 */
import type { KeyEncryption } from '../../auth/key-encryption.ts';
import type { ClientColumns } from '../../auth/clients.ts';
import type { Database, Queryable, ScopedTransaction } from '../../db/database.ts';
import { ApiError } from '../../http/problem.ts';
import { provisionTenant } from './provisioning.ts';
import {
  findTenantRecord,
  type TenantRecord,
  type TenantRepresentation,
  tenantRepresentation,
  updateTenantRecord,
} from './tenant-lifecycle.ts';

interface SourceClient extends ClientColumns {
  id: string;
  secrets: { secret_hash: string; expires_at: string | null }[];
}

export interface SandboxSyncResult {
  readonly tenant: TenantRepresentation;
  readonly created: boolean;
  readonly clients_created: number;
  readonly clients_updated: number;
}

type AuditWriter = (
  tx: Queryable,
  entry: { tenant: TenantRecord; action: string; target: { type: string; id: string }; before?: unknown; after?: unknown },
) => Promise<void>;

async function readSourceClients(db: Database, tenantId: string): Promise<SourceClient[]> {
  return db.admin.scoped(tenantId, (tx) =>
    tx.query<SourceClient & Record<string, unknown>>(
      `SELECT c.id, c.client_id, c.name, c.scopes, c.access_token_ttl, c.token_quota, c.auth_methods, c.dpop_bound_access_tokens, c.jwks, c.jwks_uri, c.disabled_at,
              coalesce((SELECT json_agg(json_build_object('secret_hash', s.secret_hash, 'expires_at', s.expires_at))
                          FROM client_secrets s
                         WHERE s.tenant_id = c.tenant_id AND s.client_id = c.id AND (s.expires_at IS NULL OR s.expires_at > now())), '[]') AS secrets
         FROM clients c WHERE c.tenant_id = $1 ORDER BY c.client_id`,
      [tenantId],
    ),
  );
}

async function upsertClients(
  tx: ScopedTransaction,
  tenantId: string,
  clients: SourceClient[],
): Promise<{ created: number; updated: number }> {
  let created = 0;
  let updated = 0;
  for (const client of clients) {
    const [row] = await tx.query<{ id: string; inserted: boolean }>(
      // private_key_jwt: the key material's reference (the public set, or its URL) is copied like
      // the secret hashes below: the integration signs for the sandbox with the same private key
      `INSERT INTO clients (tenant_id, client_id, name, scopes, access_token_ttl, auth_methods, jwks, jwks_uri, disabled_at, dpop_bound_access_tokens, token_quota)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (tenant_id, client_id) DO UPDATE
         SET name = EXCLUDED.name, scopes = EXCLUDED.scopes, access_token_ttl = EXCLUDED.access_token_ttl,
             auth_methods = EXCLUDED.auth_methods, jwks = EXCLUDED.jwks, jwks_uri = EXCLUDED.jwks_uri,
             disabled_at = EXCLUDED.disabled_at,
             dpop_bound_access_tokens = EXCLUDED.dpop_bound_access_tokens, token_quota = EXCLUDED.token_quota, updated_at = now()
       RETURNING id, (xmax = 0) AS inserted`,
      [
        tenantId,
        client.client_id,
        client.name,
        client.scopes,
        client.access_token_ttl,
        client.auth_methods,
        client.jwks === null ? null : JSON.stringify(client.jwks),
        client.jwks_uri,
        client.disabled_at,
        client.dpop_bound_access_tokens,
        client.token_quota === null ? null : JSON.stringify(client.token_quota),
      ],
    );
    if (!row) throw new Error('client upsert returned no row');
    if (row.inserted) created += 1;
    else updated += 1;
    // the sandbox client's secrets become exactly production's live ones
    await tx.query(`DELETE FROM client_secrets WHERE tenant_id = $1 AND client_id = $2`, [tenantId, row.id]);
    for (const secret of client.secrets) {
      await tx.query(`INSERT INTO client_secrets (tenant_id, client_id, secret_hash, expires_at) VALUES ($1, $2, $3, $4)`, [
        tenantId,
        row.id,
        secret.secret_hash,
        secret.expires_at,
      ]);
    }
  }
  return { created, updated };
}

export async function syncSandboxTenant(
  db: Database,
  encryption: KeyEncryption,
  input: { source: TenantRecord; targetEnvironment: string; audit: AuditWriter },
): Promise<SandboxSyncResult> {
  const { source, targetEnvironment } = input;
  const clients = await readSourceClients(db, source.id);
  const summary = (counts: { created: number; updated: number }) => ({
    source: { environment: source.environment, slug: source.slug },
    client_ids: clients.map((c) => c.client_id),
    clients_created: counts.created,
    clients_updated: counts.updated,
  });

  const existing = await findTenantRecord(db.admin, targetEnvironment, source.slug, { includeDeleted: true });
  if (existing?.deleted_at) {
    throw new ApiError('conflict', `The sandbox tenant "${source.slug}" is deleted: restore it on the sandbox admin API first.`);
  }
  if (!existing) {
    let result: SandboxSyncResult | undefined;
    await provisionTenant(
      db,
      encryption,
      { environment: targetEnvironment, slug: source.slug, name: source.name, settings: source.settings, status: 'ACTIVE' },
      async (tx, tenantId) => {
        const counts = await upsertClients(tx, tenantId, clients);
        const record = await findTenantRecord(tx, targetEnvironment, source.slug);
        if (!record) throw new Error('provisioned sandbox tenant not found in its own transaction');
        await input.audit(tx, {
          tenant: record,
          action: 'tenant.sandbox_sync',
          target: { type: 'tenant', id: source.slug },
          after: summary(counts),
        });
        result = { tenant: tenantRepresentation(record), created: true, clients_created: counts.created, clients_updated: counts.updated };
      },
    );
    if (!result) throw new Error('sandbox sync produced no result');
    return result;
  }
  return db.admin.scoped(existing.id, async (tx) => {
    const record = await updateTenantRecord(tx, existing.id, { name: source.name, settings: source.settings });
    const counts = await upsertClients(tx, existing.id, clients);
    await input.audit(tx, {
      tenant: record,
      action: 'tenant.sandbox_sync',
      target: { type: 'tenant', id: source.slug },
      after: summary(counts),
    });
    return { tenant: tenantRepresentation(record), created: false, clients_created: counts.created, clients_updated: counts.updated };
  });
}
