/**
 * Provisioning: a tenant and its first signing key are created in one transaction, so a tenant
 * never exists without a key. Runs on the owner connection: operator work (boot, seeds) and the
 * admin API's tenant creation and sandbox sync.
 */
import { randomUUID } from 'node:crypto';
import type { KeyEncryption } from '../../auth/key-encryption.ts';
import { generateSigningKey, insertSigningKey } from '../../auth/signing-keys.ts';
import type { Database, ScopedTransaction } from '../../db/database.ts';
import { isValidTenantSlug, PLATFORM_SLUG } from '../../tenancy/hosts.ts';
import type { TenantStatus } from '../../catalog/tenant-statuses.ts';
import { DEFAULT_TENANT_SETTINGS } from '../../tenancy/tenant-settings.ts';
import type { TenantKind, TenantSettings } from '../../tenancy/tenants.ts';

export interface NewTenant {
  readonly environment: string;
  readonly slug: string;
  readonly name: string;
  readonly kind?: TenantKind;
  readonly status?: TenantStatus;
  readonly settings?: TenantSettings;
}

export async function provisionTenant(
  db: Database,
  encryption: KeyEncryption,
  input: NewTenant,
  /** more work in the same transaction (the audit record, synced clients), after the tenant row */
  within?: (tx: ScopedTransaction, tenantId: string) => Promise<void>,
): Promise<{ id: string }> {
  const kind = input.kind ?? 'tenant';
  const slugOk = kind === 'platform' ? input.slug === PLATFORM_SLUG : isValidTenantSlug(input.slug);
  if (!slugOk) throw new TypeError(`invalid or reserved tenant slug: ${JSON.stringify(input.slug)}`);
  // RSA key generation takes ~140 ms: done before the transaction, so no transaction is held open for it
  const key = await generateSigningKey(input.settings?.signing_alg ?? DEFAULT_TENANT_SETTINGS.signing_alg);
  const id = randomUUID();
  await db.admin.scoped(id, async (tx) => {
    await tx.query(`INSERT INTO tenants (id, kind, environment, slug, name, status, settings) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      id,
      kind,
      input.environment,
      input.slug,
      input.name,
      input.status ?? 'ACTIVE',
      JSON.stringify(input.settings ?? {}),
    ]);
    await insertSigningKey(tx, id, key, encryption);
    if (within) await within(tx, id);
  });
  return { id };
}
