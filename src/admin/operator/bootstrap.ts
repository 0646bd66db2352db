/**
 * First start: every environment gets its platform issuer (authentication.<domain>/platform, a
 * tenant row of kind 'platform' with its own signing key) and, unless turned off, one platform
 * admin client, whose credentials go to <DATA_DIR>/admin-credentials.json (mode 0600) for the
 * CLI. Safe when several instances start at once: the platform row is unique and the client is
 * created under an advisory lock, only while the platform has no client at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { hashClientSecret } from '../../auth/client-secrets.ts';
import { insertClient } from '../../auth/clients.ts';
import type { KeyEncryption } from '../../auth/key-encryption.ts';
import type { Config } from '../../config/config.ts';
import type { Database } from '../../db/database.ts';
import { createPublicUrls, PLATFORM_SLUG } from '../../tenancy/hosts.ts';
import { provisionTenant } from './provisioning.ts';
import { PLATFORM_ADMIN_SCOPE } from '../../catalog/scopes.ts';

export interface AdminCredential {
  readonly client_id: string;
  readonly client_secret: string;
  readonly scope: string;
  readonly token_endpoint: string;
  readonly admin_api: string;
}

export interface AdminCredentialsFile {
  readonly environments: Record<string, AdminCredential>;
}

export function adminCredentialsPath(dataDir: string): string {
  return path.join(dataDir, 'admin-credentials.json');
}

function readCredentialsFile(file: string): AdminCredentialsFile {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<AdminCredentialsFile>;
    return { environments: parsed.environments && typeof parsed.environments === 'object' ? parsed.environments : {} };
  } catch {
    return { environments: {} };
  }
}

async function findPlatformTenant(db: Database, environment: string): Promise<string | undefined> {
  const [row] = await db.admin.query<{ id: string }>(`SELECT id FROM tenants WHERE environment = $1 AND kind = 'platform'`, [environment]);
  return row?.id;
}

export interface BootstrapResult {
  /** the credentials of every environment, as in the file (empty when bootstrap is off) */
  readonly credentials: Record<string, AdminCredential>;
  /** the file, when it holds the credentials */
  readonly file: string | undefined;
  /** environments whose platform already had clients the file does not know */
  readonly unknownToFile: string[];
}

export async function bootstrapPlatform(db: Database, encryption: KeyEncryption, config: Config): Promise<BootstrapResult> {
  const urls = createPublicUrls(config.publicProtocol, config.publicPort);
  const file = adminCredentialsPath(config.dataDir);
  const known = readCredentialsFile(file).environments;
  const credentials: Record<string, AdminCredential> = {};
  const unknownToFile: string[] = [];

  for (const environment of config.environments) {
    let platformId = await findPlatformTenant(db, environment.name);
    if (!platformId) {
      try {
        platformId = (
          await provisionTenant(db, encryption, { environment: environment.name, slug: PLATFORM_SLUG, name: 'Platform', kind: 'platform' })
        ).id;
      } catch (error) {
        // another instance provisioned it first
        if ((error as { code?: string }).code !== '23505') throw error;
        platformId = await findPlatformTenant(db, environment.name);
        if (!platformId) throw error;
      }
    }
    if (!config.bootstrapAdmin) continue;

    const tenantId = platformId;
    const previous = known[environment.name];
    const issued = await db.admin.scoped(tenantId, async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('tenant_connect_bootstrap_admin'))`);
      if (previous) {
        const valid = await tx.query(
          `SELECT 1 FROM clients c JOIN client_secrets s ON s.tenant_id = c.tenant_id AND s.client_id = c.id
            WHERE c.tenant_id = $1 AND c.client_id = $2 AND s.secret_hash = $3 AND c.disabled_at IS NULL
              AND (s.expires_at IS NULL OR s.expires_at > now())`,
          [tenantId, previous.client_id, hashClientSecret(previous.client_secret)],
        );
        if (valid.length) return { clientId: previous.client_id, clientSecret: previous.client_secret, reused: true };
      }
      const [{ n } = { n: 0 }] = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM clients WHERE tenant_id = $1`, [tenantId]);
      if (n > 0) return undefined; // bootstrapped before, by an instance with another data directory
      const created = await insertClient(tx, tenantId, { name: 'Bootstrap platform admin', scopes: [PLATFORM_ADMIN_SCOPE] });
      return { ...created, reused: false };
    });
    if (!issued) {
      unknownToFile.push(environment.name);
      continue;
    }
    credentials[environment.name] = {
      client_id: issued.clientId,
      client_secret: issued.clientSecret,
      scope: PLATFORM_ADMIN_SCOPE,
      token_endpoint: `${urls.platformIssuer(environment)}/connect/token`,
      admin_api: `${urls.adminOrigin(environment)}/v1`,
    };
  }

  if (!Object.keys(credentials).length) return { credentials, file: undefined, unknownToFile };
  // rewritten when anything in it differs (a new client, or new URLs after a port change)
  const text = `${JSON.stringify({ environments: credentials } satisfies AdminCredentialsFile, null, 2)}\n`;
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
    fs.mkdirSync(config.dataDir, { recursive: true });
    fs.writeFileSync(file, text, { mode: 0o600 });
    fs.chmodSync(file, 0o600);
  }
  return { credentials, file, unknownToFile };
}
