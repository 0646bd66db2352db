/**
 * Demo data: tenants acme and globex in every configured environment, each a small realistic
 * organisation (org units, activities, ~50 employees with contracts, the last month of clockings,
 * some absences) with a demo client allowed every scope, and the credentials written to
 * <DATA_DIR>/demo-credentials.json (mode 0600). Idempotent: a second start reuses what exists and
 * re-issues only credentials the file no longer holds. Never run when NODE_ENV=production.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createClient } from '../../auth/clients.ts';
import { hashClientSecret } from '../../auth/client-secrets.ts';
import type { KeyEncryption } from '../../auth/key-encryption.ts';
import type { Config } from '../../config/config.ts';
import type { Database, Queryable } from '../../db/database.ts';
import { uuidv7 } from '../../db/ids.ts';
import { createPublicUrls } from '../../tenancy/hosts.ts';
import { ALL_SCOPES } from '../../catalog/scopes.ts';
import { provisionTenant } from './provisioning.ts';

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

const DEMO_SCOPE = ALL_SCOPES.join(' ');
/** Demo tenants are for trying things and for the test suite, which calls them hundreds of times
 * a second: their rate limits are far above the defaults (100 per client, 1,000 per tenant). */
const DEMO_SETTINGS = { rate_limit: { per_client: 100_000, per_tenant: 100_000 } };

interface DemoTenant {
  readonly name: string;
  /** employee number prefix and first number */
  readonly numbers: readonly [string, number];
  readonly employees: number;
  /** [code, name, parent code] */
  readonly units: readonly (readonly [string, string, string | null])[];
}

const DEMO_TENANTS: Record<string, DemoTenant> = {
  acme: {
    name: 'Acme Corporation',
    numbers: ['A-', 1001],
    employees: 50,
    units: [
      ['ACME', 'Acme Corporation', null],
      ['ACME-OPS', 'Operations', 'ACME'],
      ['ACME-WH', 'Warehouse', 'ACME-OPS'],
      ['ACME-FIN', 'Finance', 'ACME'],
      ['ACME-HR', 'People & HR', 'ACME'],
    ],
  },
  globex: {
    name: 'Globex Corporation',
    numbers: ['G-', 2001],
    employees: 40,
    units: [
      ['GLX', 'Globex Corporation', null],
      ['GLX-RD', 'Research & Development', 'GLX'],
      ['GLX-PLANT', 'Cypress Creek Plant', 'GLX'],
      ['GLX-SALES', 'Sales', 'GLX'],
    ],
  },
};

const FIRST_NAMES = [
  'Ada',
  'Alan',
  'Grace',
  'Edsger',
  'Barbara',
  'Donald',
  'Frances',
  'Ken',
  'Margaret',
  'Dennis',
  'Radia',
  'Linus',
  'Sophie',
  'Tim',
  'Hedy',
  'Niklaus',
  'Katherine',
  'John',
  'Annie',
  'Bjarne',
  'Lynn',
  'Guido',
  'Karen',
  'James',
  'Shafi',
  'Leslie',
  'Mary',
  'Robin',
  'Anita',
  'Vint',
];
const LAST_NAMES = [
  'Lovelace',
  'Turing',
  'Hopper',
  'Dijkstra',
  'Liskov',
  'Knuth',
  'Allen',
  'Thompson',
  'Hamilton',
  'Ritchie',
  'Perlman',
  'Torvalds',
  'Wilson',
  'Berners-Lee',
  'Lamarr',
  'Wirth',
  'Johnson',
  'McCarthy',
  'Easley',
  'Stroustrup',
  'Conway',
  'van Rossum',
  'Spärck Jones',
  'Gosling',
  'Goldwasser',
  'Lamport',
  'Keller',
  'Milner',
  'Borg',
  'Cerf',
];

const ACTIVITIES = [
  ['WORK', 'Regular work', 'work'],
  ['OVERTIME', 'Overtime', 'work'],
  ['BREAK', 'Lunch break', 'break'],
  ['VACATION', 'Paid vacation', 'absence'],
  ['SICK', 'Sick leave', 'absence'],
  ['TRAINING', 'Training', 'other'],
] as const;

/** A small deterministic generator, so every fresh database gets the same organisation. */
function random(seed: string): () => number {
  let state = [...seed].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16_777_619), 2_166_136_261) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

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
      let [tenant] = await db.admin.query<{ id: string }>('SELECT id FROM tenants WHERE environment = $1 AND slug = $2', [
        environment.name,
        slug,
      ]);
      if (!tenant) {
        tenant = await provisionTenant(db, encryption, { environment: environment.name, slug, name: demo.name, settings: DEMO_SETTINGS });
        await seedOrganisation(db, tenant.id, demo, random(`${environment.name}/${slug}`));
      }
      const tenantId = tenant.id;
      const previous = existing.find((c) => c.environment === environment.name && c.tenant === slug);
      const stillValid =
        previous &&
        (
          await db.admin.scoped(tenantId, (tx) =>
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
          : await createClient(db, tenantId, { name: `${demo.name} demo integration`, scopes: [...ALL_SCOPES] });
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

const isoDate = (d: Date) => d.toISOString().slice(0, 10);

async function seedOrganisation(db: Database, tenantId: string, demo: DemoTenant, next: () => number): Promise<void> {
  await db.admin.scoped(tenantId, (tx) => insertOrganisation(tx, tenantId, demo, next));
}

/**
 * The demo organisation of `slug` (acme's for a tenant that is not a demo tenant), in the caller's
 * transaction, which must be scoped to the tenant: the same data a first start seeds into the
 * sandbox (the same generator seed), with new ids and dates around today. For a sandbox reset.
 */
export async function loadDemoOrganisation(tx: Queryable, tenantId: string, slug: string): Promise<void> {
  const name = slug in DEMO_TENANTS ? slug : 'acme';
  await insertOrganisation(tx, tenantId, DEMO_TENANTS[name] as DemoTenant, random(`sandbox/${name}`));
}

/** Org units, activities, employees with contracts, the last month of clockings and some absences. */
async function insertOrganisation(tx: Queryable, tenantId: string, demo: DemoTenant, next: () => number): Promise<void> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
  const unitIds = new Map<string, string>();
  for (const [code, name, parent] of demo.units) {
    const id = uuidv7();
    unitIds.set(code, id);
    await tx.query('INSERT INTO org_units (tenant_id, id, code, name, parent_id) VALUES ($1, $2, $3, $4, $5)', [
      tenantId,
      id,
      code,
      name,
      parent ? unitIds.get(parent) : null,
    ]);
  }
  const activityIds = new Map<string, string>();
  for (const [code, name, kind] of ACTIVITIES) {
    const id = uuidv7();
    activityIds.set(code, id);
    await tx.query('INSERT INTO activity_definitions (tenant_id, id, code, name, kind) VALUES ($1, $2, $3, $4, $5)', [
      tenantId,
      id,
      code,
      name,
      kind,
    ]);
  }

  const units = [...unitIds.values()].slice(1);
  const employees = Array.from({ length: demo.employees }, (_, i) => {
    const first = pick(FIRST_NAMES);
    const last = pick(LAST_NAMES);
    const hired = new Date(Date.UTC(2012 + Math.floor(next() * 13), Math.floor(next() * 12), 1));
    return {
      id: uuidv7(),
      number: `${demo.numbers[0]}${demo.numbers[1] + i}`,
      first,
      last,
      email: `${first}.${last}.${i + 1}@${demo.name.split(' ')[0]?.toLowerCase()}.example`.toLowerCase().replace(/[^a-z0-9.@-]/g, ''),
      hired: isoDate(hired),
      unit: pick(units),
      hours: pick([38, 38, 38, 30, 19]),
    };
  });
  await tx.query(
    `INSERT INTO employees (tenant_id, id, employee_number, first_name, last_name, email, hire_date, org_unit_id)
     SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::date[], $8::uuid[])`,
    [
      tenantId,
      employees.map((e) => e.id),
      employees.map((e) => e.number),
      employees.map((e) => e.first),
      employees.map((e) => e.last),
      employees.map((e) => e.email),
      employees.map((e) => e.hired),
      employees.map((e) => e.unit),
    ],
  );
  await tx.query(
    `INSERT INTO contracts (tenant_id, id, employee_id, org_unit_id, start_date, weekly_hours)
     SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::date[], $6::numeric[])`,
    [
      tenantId,
      employees.map(() => uuidv7()),
      employees.map((e) => e.id),
      employees.map((e) => e.unit),
      employees.map((e) => e.hired),
      employees.map((e) => e.hours),
    ],
  );

  // the last 30 days of clockings on workdays, at the terminals' local offset (+01:00)
  const clockings: { employee: string; at: string; direction: string; device: string }[] = [];
  const today = new Date();
  for (let day = 30; day >= 1; day -= 1) {
    const date = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - day));
    if (date.getUTCDay() === 0 || date.getUTCDay() === 6) continue;
    for (const employee of employees) {
      if (next() < 0.05) continue; // not every employee clocks every day
      const inMinutes = 7 * 60 + 30 + Math.floor(next() * 60);
      const outMinutes = inMinutes + employee.hours * 12 + Math.floor(next() * 45);
      const device = `terminal-${1 + Math.floor(next() * 4)}`;
      for (const [direction, minutes] of [
        ['in', inMinutes],
        ['out', outMinutes],
      ] as const) {
        const hh = String(Math.floor(minutes / 60)).padStart(2, '0');
        const mm = String(minutes % 60).padStart(2, '0');
        clockings.push({ employee: employee.id, at: `${isoDate(date)}T${hh}:${mm}:00+01:00`, direction, device });
      }
    }
  }
  await tx.query(
    `INSERT INTO clockings (tenant_id, id, employee_id, occurred_at, utc_offset_minutes, direction, activity_definition_id, source_device)
     SELECT $1, id, employee_id, occurred_at, 60, direction, $2, device FROM unnest($3::uuid[], $4::uuid[], $5::timestamptz[], $6::text[], $7::text[]) AS c(id, employee_id, occurred_at, direction, device)`,
    [
      tenantId,
      activityIds.get('WORK'),
      clockings.map(() => uuidv7()),
      clockings.map((c) => c.employee),
      clockings.map((c) => c.at),
      clockings.map((c) => c.direction),
      clockings.map((c) => c.device),
    ],
  );

  for (let i = 0; i < Math.ceil(demo.employees / 6); i += 1) {
    const employee = pick(employees);
    const start = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - 20 + Math.floor(next() * 50)));
    const end = new Date(start.getTime() + Math.floor(next() * 5) * 86_400_000);
    await tx.query(
      `INSERT INTO absences (tenant_id, id, employee_id, activity_definition_id, start_date, end_date, start_half_day, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        tenantId,
        uuidv7(),
        employee.id,
        activityIds.get(next() < 0.7 ? 'VACATION' : 'SICK'),
        isoDate(start),
        isoDate(end),
        next() < 0.2,
        pick(['requested', 'approved', 'approved', 'rejected']),
      ],
    );
  }
}
