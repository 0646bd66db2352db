/**
 * Demo data: tenants acme and globex in every configured environment, each with a demo client
 * (employees:read) and a few employees, and the credentials written to
 * <DATA_DIR>/demo-credentials.json (mode 0600). Idempotent: a second start reuses what exists and
 * re-issues only credentials the file no longer holds. Never run when NODE_ENV=production.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createClient } from '../src/auth/clients.ts';
import { hashClientSecret } from '../src/auth/client-secrets.ts';
import type { KeyEncryption } from '../src/auth/key-encryption.ts';
import type { Config } from '../src/config/config.ts';
import type { Database } from '../src/db/database.ts';
import { createPublicUrls } from '../src/tenancy/hosts.ts';
import { provisionTenant } from '../src/tenancy/provisioning.ts';

export interface DemoCredential {
  readonly environment: string;
  readonly tenant: string;
  readonly client_id: string;
  readonly client_secret: string;
  readonly scope: string;
  readonly issuer: string;
  readonly token_endpoint: string;
  readonly api_base: string;
}

const DEMO_SCOPE = 'employees:read';

const DEMO_TENANTS = {
  acme: {
    name: 'Acme Corporation',
    unit: ['ACME-HQ', 'Acme Headquarters'],
    people: [
      ['A-1001', 'Ada', 'Lovelace'],
      ['A-1002', 'Alan', 'Turing'],
      ['A-1003', 'Grace', 'Hopper'],
      ['A-1004', 'Edsger', 'Dijkstra'],
      ['A-1005', 'Barbara', 'Liskov'],
    ],
  },
  globex: {
    name: 'Globex Corporation',
    unit: ['GLX-HQ', 'Globex Headquarters'],
    people: [
      ['G-2001', 'Hank', 'Scorpio'],
      ['G-2002', 'Homer', 'Simpson'],
      ['G-2003', 'Frank', 'Grimes'],
    ],
  },
} as const;

export function demoCredentialsPath(dataDir: string): string {
  return path.join(dataDir, 'demo-credentials.json');
}

function readExisting(file: string): DemoCredential[] {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return Array.isArray(parsed) ? (parsed as DemoCredential[]) : [];
  } catch {
    return [];
  }
}

export async function seedDemo(db: Database, encryption: KeyEncryption, config: Config): Promise<DemoCredential[]> {
  if (config.nodeEnv === 'production') throw new TypeError('demo data is never created when NODE_ENV=production');
  const urls = createPublicUrls(config.publicProtocol, config.publicPort);
  const file = demoCredentialsPath(config.dataDir);
  const existing = readExisting(file);
  const credentials: DemoCredential[] = [];

  for (const environment of config.environments) {
    for (const [slug, demo] of Object.entries(DEMO_TENANTS)) {
      let [tenant] = await db.owner.query<{ id: string }>('SELECT id FROM tenants WHERE environment = $1 AND slug = $2', [
        environment.name,
        slug,
      ]);
      if (!tenant) {
        tenant = await provisionTenant(db, encryption, {
          environment: environment.name,
          slug,
          name: demo.name,
          settings: { scopes: [DEMO_SCOPE] },
        });
        await seedEmployees(db, tenant.id, demo);
      }
      const tenantId = tenant.id;
      const previous = existing.find((c) => c.environment === environment.name && c.tenant === slug);
      const stillValid =
        previous &&
        (
          await db.owner.scoped(tenantId, (tx) =>
            tx.query(
              `SELECT 1 FROM clients c JOIN client_secrets s ON s.tenant_id = c.tenant_id AND s.client_id = c.id
                WHERE c.tenant_id = $1 AND c.client_id = $2 AND s.secret_hash = $3 AND c.disabled_at IS NULL`,
              [tenantId, previous.client_id, hashClientSecret(previous.client_secret)],
            ),
          )
        ).length > 0;
      const issued =
        stillValid && previous
          ? { clientId: previous.client_id, clientSecret: previous.client_secret }
          : await createClient(db, tenantId, { name: `${demo.name} demo integration`, scopes: [DEMO_SCOPE] });
      const issuer = urls.issuer(environment, slug);
      credentials.push({
        environment: environment.name,
        tenant: slug,
        client_id: issued.clientId,
        client_secret: issued.clientSecret,
        scope: DEMO_SCOPE,
        issuer,
        token_endpoint: `${issuer}/connect/token`,
        api_base: `${urls.tenantOrigin(environment, slug)}/api/v1`,
      });
    }
  }
  fs.mkdirSync(config.dataDir, { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return credentials;
}

async function seedEmployees(db: Database, tenantId: string, demo: (typeof DEMO_TENANTS)[keyof typeof DEMO_TENANTS]): Promise<void> {
  await db.owner.scoped(tenantId, async (tx) => {
    const [unit] = await tx.query<{ id: string }>('INSERT INTO org_units (tenant_id, code, name) VALUES ($1, $2, $3) RETURNING id', [
      tenantId,
      ...demo.unit,
    ]);
    for (const [index, [number, first, last]] of demo.people.entries()) {
      await tx.query(
        `INSERT INTO employees (tenant_id, employee_number, first_name, last_name, email, hire_date, org_unit_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          tenantId,
          number,
          first,
          last,
          `${first}.${last}@example.com`.toLowerCase(),
          `20${String(15 + index).padStart(2, '0')}-0${(index % 9) + 1}-01`,
          unit?.id,
        ],
      );
    }
  });
}
