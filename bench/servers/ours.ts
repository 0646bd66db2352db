/**
 * Our server as a child process: the real boot() (migrations, demo seed) on the database the
 * parent created, then `tenants` more tenants provisioned with one client each (in production, or
 * in every environment), and (for the API scenarios) employees for the first of them. Reports the
 * port and the credentials when listening, and the Provider pool's size with a memory report.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { JWK } from 'jose';
import { createClient, insertKeyClient } from '../../src/auth/clients.ts';
import { createKeyEncryption } from '../../src/auth/key-encryption.ts';
import { boot } from '../../src/boot.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { Database } from '../../src/db/database.ts';
import type { EnvironmentConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { seedDemo } from '../../src/admin/operator/demo-seed.ts';
import { provisionTenant } from '../../src/admin/operator/provisioning.ts';
import { childOptions, progress, serveChild } from '../child.ts';

export interface OursOptions {
  readonly databaseUrl: string | undefined;
  readonly keyEncryptionKey: string;
  /** tenants provisioned besides the demo ones */
  readonly tenants: number;
  /** employees created in the first provisioned tenant */
  readonly employees: number;
  readonly providerPoolSize?: number;
  /** TENANT_CACHE_SIZE (tenant, client and key records, each) */
  readonly tenantCacheSize?: number;
  /** provision each tenant in every configured environment (production and sandbox), not only production */
  readonly allEnvironments?: boolean;
  /** AUTH_EVENTS: the auth event log on (the default) or off */
  readonly authEvents?: boolean;
  /**
   * Provisioning apart: with `provisionOnly` this process provisions, writes the tenants to
   * `tenantsFile` and reports no tenants; without it the server reads them from there instead of
   * provisioning, so its memory holds nothing of provisioning.
   */
  readonly tenantsFile?: string;
  readonly provisionOnly?: boolean;
  /** this many revoked tokens (live for an hour) in the second provisioned tenant, which gets employees too */
  readonly revokedTokens?: number;
  /** private_key_jwt: also give each tenant a client registered with this public key (its keyClientId) */
  readonly keyClientJwk?: JWK;
}

export interface BenchTenant {
  readonly environment: string;
  /** the environment's domain: the token endpoint is on authentication.<domain> */
  readonly domain: string;
  readonly slug: string;
  readonly id: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** a private_key_jwt client of the tenant (with keyClientJwk) */
  readonly keyClientId?: string;
}

export interface OursInfo {
  readonly port: number;
  readonly database: 'postgres' | 'pglite';
  /** environment "production" */
  readonly domain: string;
  readonly scope: string;
  readonly tenants: BenchTenant[];
  readonly employeeIds: string[];
  /** the second tenant's employees, when it holds `revokedTokens` */
  readonly revokedTenantEmployeeIds: string[];
  /** the platform admin client of the environment (admin API calls, e.g. webhook subscriptions);
   * absent when another process provisioned the database (its bootstrap credentials stayed there) */
  readonly admin:
    { readonly clientId: string; readonly clientSecret: string; readonly tokenEndpoint: string; readonly adminApi: string } | undefined;
}

/** what bench tenants and clients may have; the scenarios' tokens ask for BENCH_SCOPE only, data-growth's for clockings:read */
export const BENCH_SCOPE = 'employees:read';
const BENCH_SCOPES = [BENCH_SCOPE, 'clockings:read', 'clockings:write'];
const ENVIRONMENT = 'production';
const PROVISIONING_CONCURRENCY = 8;

async function provisionTenants(
  db: Database,
  keyEncryptionKey: string,
  count: number,
  environments: readonly EnvironmentConfig[],
  keyClientJwk: JWK | undefined,
): Promise<BenchTenant[]> {
  const encryption = createKeyEncryption(Buffer.from(keyEncryptionKey, 'base64url'));
  const total = count * environments.length;
  const tenants: BenchTenant[] = new Array<BenchTenant>(total);
  const started = performance.now();
  let next = 0;
  let done = 0;
  async function worker() {
    while (next < total) {
      // tenant by tenant: bench-00000 in production, then in sandbox, then bench-00001…
      const position = next++;
      const index = Math.floor(position / environments.length);
      const environment = environments[position % environments.length] as EnvironmentConfig;
      const slug = `bench-${String(index).padStart(count > 10_000 ? 6 : 5, '0')}`;
      const { id } = await provisionTenant(db, encryption, {
        environment: environment.name,
        slug,
        name: `Bench tenant ${index}`,
        // the load generator is one client per tenant: the per-client default (100/s) would throttle it
        settings: { scopes: BENCH_SCOPES, rate_limit: { per_client: 1_000_000, per_tenant: 1_000_000 } },
      });
      const { clientId, clientSecret } = await createClient(db, id, { name: `${slug} bench client`, scopes: BENCH_SCOPES });
      let keyClientId: string | undefined;
      if (keyClientJwk) {
        const keys = { jwks: { keys: [keyClientJwk] } };
        ({ clientId: keyClientId } = await db.admin.scoped(id, (tx) =>
          insertKeyClient(tx, id, { name: `${slug} bench signed client`, scopes: BENCH_SCOPES, keys }),
        ));
      }
      tenants[position] = {
        environment: environment.name,
        domain: environment.domain,
        slug,
        id,
        clientId,
        clientSecret,
        ...(keyClientId ? { keyClientId } : {}),
      };
      done++;
      if (done % (total > 2000 ? 2000 : 100) === 0 || done === total) {
        progress(`provisioned ${done}/${total} tenants (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(PROVISIONING_CONCURRENCY, total) }, worker));
  return tenants;
}

async function createEmployees(db: Database, tenantId: string, count: number): Promise<string[]> {
  if (count === 0) return [];
  const rows = await db.admin.scoped(tenantId, (tx) =>
    tx.query<{ id: string }>(
      `INSERT INTO employees (tenant_id, employee_number, first_name, last_name, email, hire_date)
       SELECT $1, 'B-' || g, 'First' || g, 'Last' || g, 'employee' || g || '@example.com', date '2015-01-01' + g
         FROM generate_series(1, $2::int) AS g
       RETURNING id`,
      [tenantId, count],
    ),
  );
  return rows.map((r) => r.id);
}

/** Lists `count` revoked jtis in the tenant, as the revocation endpoint would (one statement). */
async function revokeTokens(db: Database, tenantId: string, clientId: string, count: number): Promise<void> {
  await db.admin.scoped(tenantId, (tx) =>
    tx.query(
      `INSERT INTO revoked_tokens (tenant_id, jti, client_id, expires_at)
       SELECT $1, 'bench-revoked-' || g, $2, now() + interval '1 hour' FROM generate_series(1, $3::int) AS g`,
      [tenantId, clientId, count],
    ),
  );
}

serveChild<OursInfo>(async () => {
  const options = childOptions<OursOptions>();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-bench-'));
  const server = http.createServer();
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const config = loadConfig({
    PORT: String(port),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    SEED_DEMO: 'true',
    KEY_ENCRYPTION_KEY: options.keyEncryptionKey,
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...(options.providerPoolSize ? { PROVIDER_POOL_SIZE: String(options.providerPoolSize) } : {}),
    ...(options.tenantCacheSize ? { TENANT_CACHE_SIZE: String(options.tenantCacheSize) } : {}),
    ...(options.authEvents === undefined ? {} : { AUTH_EVENTS: String(options.authEvents) }),
  });
  const booted = await boot(config, createLogger(config.logLevel), { inMemory: true, seed: seedDemo });
  progress(`booted on ${booted.db.kind}, port ${port}`);
  const environment = config.environments.find((e) => e.name === ENVIRONMENT);
  if (!environment) throw new Error(`no ${ENVIRONMENT} environment configured`);
  const environments = options.allEnvironments ? [environment, ...config.environments.filter((e) => e !== environment)] : [environment];
  const provisioned =
    options.tenantsFile && !options.provisionOnly
      ? (JSON.parse(fs.readFileSync(options.tenantsFile, 'utf8')) as BenchTenant[])
      : await provisionTenants(booted.db, options.keyEncryptionKey, options.tenants, environments, options.keyClientJwk);
  if (options.provisionOnly && options.tenantsFile) fs.writeFileSync(options.tenantsFile, JSON.stringify(provisioned));
  const tenants = options.provisionOnly ? [] : provisioned;
  const first = tenants[0];
  const employeeIds = first ? await createEmployees(booted.db, first.id, options.employees) : [];
  const revokedTenant = options.revokedTokens ? tenants[1] : undefined;
  const revokedTenantEmployeeIds = revokedTenant ? await createEmployees(booted.db, revokedTenant.id, options.employees) : [];
  if (revokedTenant) await revokeTokens(booted.db, revokedTenant.id, revokedTenant.clientId, options.revokedTokens ?? 0);
  server.on('request', booted.app.app.callback());

  const admin = booted.admin.credentials[ENVIRONMENT];
  return {
    info: {
      port,
      database: booted.db.kind,
      domain: environment.domain,
      scope: BENCH_SCOPE,
      tenants,
      employeeIds,
      revokedTenantEmployeeIds,
      admin: admin && {
        clientId: admin.client_id,
        clientSecret: admin.client_secret,
        tokenEndpoint: admin.token_endpoint,
        adminApi: admin.admin_api,
      },
    },
    diagnostics: () => ({ providers: booted.app.providers.size, revocations: booted.app.runtime.revocations.size }),
    async close() {
      await booted.webhooks.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await booted.db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
});
