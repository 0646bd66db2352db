/**
 * Property-based request bodies: for every collection, arbitrary JSON and "almost valid" bodies
 * (a valid body with one field mutated) sent as POST to the collection and as PUT and PATCH (with
 * a correct If-Match) to an existing acme resource never answer 5xx, answer every 4xx as
 * problem+json with a type, and never change a row of any other tenant.
 *
 * fast-check prints the seed and counterexample of a failure; FC_SEED=<seed> replays it.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTIONS, type CollectionDefinition, type CollectionName, type FieldDefinition } from '../../src/catalog/collections.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { accessToken, startTestServer, type TestServer } from '../helpers/server.ts';

const RUNS = 30;
const PROBLEM_BASE = 'https://tenant-connect.dev/problems/';
const seedOption = process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {};

/** Every table holding tenant data, and how to order its rows stably. */
const TENANT_TABLES: Record<string, string> = {
  clients: 'id',
  client_secrets: 'id',
  signing_keys: 'kid',
  org_units: 'id',
  employees: 'id',
  contracts: 'id',
  activity_definitions: 'id',
  clockings: 'id',
  absences: 'id',
  idempotency_keys: 'client_id, key',
};

type Body = Record<string, unknown>;
type Method = 'POST' | 'PUT' | 'PATCH';

/** Values that break a field without being random noise: edges of formats, lengths and types. */
const STRING_EDGES = ['', ' ', '\u0000', 'a\u0000b', '\ud800', 'x\udfffy', '😀'.repeat(65), 'null', 'NaN', "' OR '1'='1", '\\x00', '%00'];
const DATE_EDGES = [
  '0000-01-01',
  '0001-01-01',
  '2023-02-29',
  '2024-02-29',
  '2024-13-01',
  '2024-00-10',
  '9999-12-31',
  '20240101',
  '2024-1-1',
];
const DATE_TIME_EDGES = [
  '1970-01-01T00:00:00Z',
  '0000-01-01T00:00:00Z',
  '0001-01-01T00:00:00+14:00',
  '9999-12-31T23:59:59Z',
  '9999-12-31T23:59:59-14:00',
  '2026-06-30T23:59:60Z',
  '2026-01-01T08:00:00+23:59',
  '2026-01-01T08:00:00-15:00',
  '2026-01-01T08:00:00+0100',
  '2026-01-01T08:00:00+01',
  '2026-01-01T08:00:00.123456789Z',
  '2026-01-01t08:00:00z',
  '2026-01-01 08:00:00Z',
  '2026-01-01T08:00:00',
  '2026-01-01',
];
const UUID_EDGES = [
  '00000000-0000-0000-0000-000000000000',
  'FFFFFFFF-FFFF-4FFF-8FFF-FFFFFFFFFFFF',
  '{00000000-0000-4000-8000-000000000000}',
  '00000000000040008000000000000000',
  '00000000-0000-4000-8000-00000000000',
];
const NUMBER_EDGES = [0, -0, -1, 0.001, 0.005, 167.995, 168, 168.01, 1e308, -1e308, 2 ** 53 + 1, 1e-7, '38', '38.5'];
const OTHER_EDGES = [true, false, null, [], {}, [null], { nested: { deeper: ['x'] } }, 1, 'true'];
const EDGE_VALUES: readonly unknown[] = [
  ...STRING_EDGES,
  ...DATE_EDGES,
  ...DATE_TIME_EDGES,
  ...UUID_EDGES,
  ...NUMBER_EDGES,
  ...OTHER_EDGES,
];

/** Calendar values anywhere in years 0001–9999 (fast-check leans towards the bounds). */
const wideDate = fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true });
const WIDE_OFFSETS = ['Z', '+14:00', '-14:00', '+00:00', '-00:00', '+05:45', '-09:30'];
const wideDateTime = fc.tuple(wideDate, fc.constantFrom(...WIDE_OFFSETS)).map(([d, offset]) => d.toISOString().replace('Z', offset));

/** Fixed values that are wrong, or only just right, for this particular field. */
function edgeConstants(field: FieldDefinition): unknown[] {
  const schema = field.schema as { enum?: unknown[]; format?: string; type?: string; maxLength?: number };
  const generic = [...OTHER_EDGES, ...STRING_EDGES];
  if (schema.format === 'date-time') return [...DATE_TIME_EDGES, ...generic];
  if (schema.format === 'date') return [...DATE_EDGES, ...generic];
  if (schema.format === 'uuid') return [...UUID_EDGES, ...generic];
  if (schema.type === 'number') return [...NUMBER_EDGES, ...generic];
  if (schema.enum) return [...schema.enum.map(String).flatMap((v) => [v.toUpperCase(), ` ${v}`, `${v}\u0000`]), ...generic];
  if (schema.type === 'boolean') return ['true', 'false', 0, 1, null, 'yes', []];
  const max = schema.maxLength ?? 200;
  return ['x'.repeat(max), 'x'.repeat(max + 1), '😀'.repeat(max), '😀'.repeat(max + 1), 'e\u0301'.repeat(max), ...generic];
}

/** Those, and generated values of the same kind. */
function fieldEdges(field: FieldDefinition): fc.Arbitrary<unknown> {
  const schema = field.schema as { format?: string; type?: string; maxLength?: number };
  const constants = fc.constantFrom(...edgeConstants(field));
  if (schema.format === 'date-time') return fc.oneof(constants, wideDateTime);
  if (schema.format === 'date')
    return fc.oneof(
      constants,
      wideDate.map((d) => d.toISOString().slice(0, 10)),
    );
  if (schema.format === 'uuid')
    return fc.oneof(
      constants,
      fc.uuid().map((u) => u.toUpperCase()),
    );
  if (schema.type === 'number') return fc.oneof(constants, fc.double());
  if (schema.type === 'string' && schema.maxLength) {
    const max = schema.maxLength;
    return fc.oneof(
      constants,
      fc.integer({ min: max - 1, max: max + 1 }).chain((n) => fc.string({ unit: 'binary', minLength: n, maxLength: n })),
    );
  }
  return constants;
}

const HUGE_STRINGS = fc.constantFrom('x'.repeat(300_000), '😀'.repeat(60_000), 'é'.repeat(200_000));

const anyValue = fc.oneof(
  { arbitrary: fc.constantFrom(...EDGE_VALUES), weight: 4 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 300 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 300 }), weight: 1 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: HUGE_STRINGS, weight: 1 },
);

/** Whole bodies of any shape: not objects, objects of noise, deep nesting, huge strings. */
const arbitraryBody: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  fc.anything({ maxDepth: 3 }),
  fc.object({ maxDepth: 3 }),
  fc.dictionary(fc.string({ unit: 'binary', maxLength: 20 }), anyValue),
  fc.array(anyValue, { maxLength: 5 }),
  HUGE_STRINGS.map((s) => ({ name: s })),
);

const isoDate = (d: Date) => d.toISOString().slice(0, 10);
const OFFSETS = ['Z', '+01:00', '-05:00', '+05:30', '+14:00', '-12:00', '+00:00'];

/** A valid value of one field; references point at acme's own rows. */
function validValue(field: FieldDefinition, name: string, later: ReadonlySet<string>, refs: Refs): fc.Arbitrary<unknown> {
  const schema = field.schema as { enum?: unknown[]; format?: string; type?: string; maxLength?: number };
  let value: fc.Arbitrary<unknown>;
  if (field.references) value = fc.constantFrom(...refs.acme[field.references]);
  else if (schema.enum) value = fc.constantFrom(...schema.enum);
  else if (schema.format === 'date') {
    const [min, max] = later.has(name) ? ['2016-01-01', '2030-12-31'] : ['2000-01-01', '2015-12-31'];
    value = fc.date({ min: new Date(min), max: new Date(max), noInvalidDate: true }).map(isoDate);
  } else if (schema.format === 'date-time') {
    value = fc
      .tuple(fc.date({ min: new Date('1990-01-01'), max: new Date('2040-01-01'), noInvalidDate: true }), fc.constantFrom(...OFFSETS))
      .map(([d, offset]) => d.toISOString().replace('Z', offset));
  } else if (schema.format === 'email') value = fc.emailAddress().filter((e) => e.length <= 320);
  else if (schema.type === 'number') value = fc.integer({ min: 0, max: 16_800 }).map((n) => n / 100);
  else if (schema.type === 'boolean') value = fc.boolean();
  else value = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: Math.min(schema.maxLength ?? 40, 40) });
  return field.nullable ? fc.oneof({ arbitrary: value, weight: 4 }, { arbitrary: fc.constant(null), weight: 1 }) : value;
}

function validBody(def: CollectionDefinition, refs: Refs): fc.Arbitrary<Body> {
  const later = new Set(def.rules.map((r) => r.pointer.slice(1)));
  const entries = Object.entries(def.fields);
  return fc.record(Object.fromEntries(entries.map(([name, field]) => [name, validValue(field, name, later, refs)])), {
    requiredKeys: entries.filter(([, f]) => f.required).map(([name]) => name),
  }) as fc.Arbitrary<Body>;
}

/** A valid body with one thing wrong: a field replaced, dropped, or an unknown one added (or none). */
function almostValidBody(def: CollectionDefinition, refs: Refs, patch: boolean): fc.Arbitrary<Body> {
  const fields = Object.entries(def.fields);
  const base = patch
    ? validBody(def, refs).chain((b) =>
        fc.subarray(Object.keys(b), { minLength: 1 }).map((keys) => Object.fromEntries(keys.map((k) => [k, b[k]]))),
      )
    : validBody(def, refs);
  const reference = fc.constantFrom(...refs.globex, ...Object.values(refs.acme).flat(), refs.target[def.name]);
  return fc
    .tuple(
      base,
      fc
        .constantFrom(...fields)
        .chain(([name, field]) =>
          fc.tuple(
            fc.constant(name),
            fc.oneof({ arbitrary: fieldEdges(field), weight: 4 }, { arbitrary: anyValue, weight: 2 }, { arbitrary: reference, weight: 1 }),
          ),
        ),
      fc.constantFrom('replace', 'replace', 'replace', 'replace', 'drop', 'add', 'none'),
      fc.constantFrom('x_extra', 'id', 'version', 'created_at', 'tenant_id', 'tenantId'),
    )
    .map(([body, [field, value], how, extra]) => {
      const mutated: Body = { ...body };
      if (how === 'replace') mutated[field] = value;
      if (how === 'drop') delete mutated[field];
      if (how === 'add') mutated[extra] = value;
      return mutated;
    });
}

interface Refs {
  /** acme's rows per referenced collection */
  acme: Record<CollectionName, string[]>;
  /** ids of other tenants' rows: a reference to them must fail like one to nothing */
  globex: string[];
  /** the acme resource PUT and PATCH go to, per collection */
  target: Record<CollectionName, string>;
}

describe.each(testDatabaseKinds())('property-based request bodies on %s', (kind) => {
  let server: TestServer;
  let token: string;
  let refs: Refs;
  let others: string[];
  let before: Record<string, string>;
  const outcomes = new Map<Method, number[]>();
  const api = () => server.credential('sandbox', 'acme').api_base;

  /** sha256 and count of every row of every tenant but sandbox/acme, per table. */
  async function snapshotOtherTenants(): Promise<Record<string, string>> {
    const owner = server.booted.db.admin;
    const result: Record<string, string> = {};
    const tenants = await owner.query('SELECT * FROM tenants WHERE id = ANY($1::uuid[]) ORDER BY id', [others]);
    result.tenants = `${tenants.length}:${createHash('sha256').update(JSON.stringify(tenants)).digest('hex')}`;
    for (const [table, order] of Object.entries(TENANT_TABLES)) {
      const rows = await owner.query(`SELECT * FROM ${table} WHERE tenant_id = ANY($1::uuid[]) ORDER BY tenant_id, ${order}`, [others]);
      result[table] = `${rows.length}:${createHash('sha256').update(JSON.stringify(rows)).digest('hex')}`;
    }
    return result;
  }

  /** The target's current ETag per collection: read once, then taken from every 200 (so If-Match is always right). */
  const etags = new Map<CollectionName, string>();

  async function send(method: Method, def: CollectionDefinition, body: unknown) {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    let url = `${api()}/${def.path}`;
    if (method !== 'POST') {
      url = `${url}/${refs.target[def.name]}`;
      if (!etags.has(def.name)) {
        const current = await server.fetch(url, { headers });
        expect(current.status).toBe(200);
        await current.arrayBuffer();
        etags.set(def.name, current.headers.get('etag') ?? '');
      }
      headers['if-match'] = etags.get(def.name) ?? '';
    }
    headers['content-type'] = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    const text = JSON.stringify(body);
    const response = await server.fetch(url, { method, headers, ...(text === undefined ? {} : { body: text }) });
    if (method !== 'POST' && response.status === 200) etags.set(def.name, response.headers.get('etag') ?? '');
    return response;
  }

  async function expectWellFormedAnswer(method: Method, def: CollectionDefinition, body: unknown): Promise<void> {
    const response = await send(method, def, body);
    const text = await response.text();
    outcomes.set(method, [...(outcomes.get(method) ?? []), response.status]);
    expect(response.status, `${method} ${def.path}: ${text.slice(0, 500)}`).toBeLessThan(500);
    if (response.status >= 400) {
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      const problem = JSON.parse(text) as { type?: unknown; status?: unknown };
      expect(typeof problem.type === 'string' && problem.type.startsWith(PROBLEM_BASE), text.slice(0, 500)).toBe(true);
      expect(problem.status).toBe(response.status);
    } else {
      expect(response.status).toBe(method === 'POST' ? 201 : 200);
      const resource = JSON.parse(text) as { id: string };
      if (method !== 'POST') expect(resource.id).toBe(refs.target[def.name]);
    }
  }

  beforeAll(async () => {
    server = await startTestServer(kind);
    const credential = server.credential('sandbox', 'acme');
    token = await accessToken(server, credential);
    const owner = server.booted.db.admin;
    const tenants = await owner.query<{ id: string; environment: string; slug: string }>(
      `SELECT id, environment, slug FROM tenants WHERE kind = 'tenant'`,
    );
    const acmeId = tenants.find((t) => t.environment === 'sandbox' && t.slug === 'acme')?.id;
    others = tenants.filter((t) => t.id !== acmeId).map((t) => t.id);
    expect(others).toHaveLength(3); // both globex tenants and production acme

    const ids = async (table: string, tenant: string[]) =>
      (
        await owner.query<{ id: string }>(`SELECT id::text AS id FROM ${table} WHERE tenant_id = ANY($1::uuid[]) ORDER BY id LIMIT 5`, [
          tenant,
        ])
      ).map((r) => r.id);
    const acme = {} as Record<CollectionName, string[]>;
    const globex: string[] = [];
    for (const def of COLLECTIONS) {
      acme[def.name] = await ids(def.table, [acmeId ?? '']);
      globex.push(...(await ids(def.table, others)));
    }
    refs = { acme, globex, target: {} as Record<CollectionName, string> };

    // one fresh acme resource per collection for PUT and PATCH, created through the API
    for (const def of COLLECTIONS) {
      const [body] = fc.sample(validBody(def, refs), { numRuns: 1, seed: 42 });
      const response = await server.fetch(`${api()}/${def.path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(response.status, `${def.path}: ${JSON.stringify(body)}`).toBe(201);
      refs.target[def.name] = ((await response.json()) as { id: string }).id;
    }
    before = await snapshotOtherTenants();
  });
  afterAll(async () => {
    await server?.close();
  });

  describe.each(COLLECTIONS.map((def) => [def.path, def] as const))('%s', (_path, def) => {
    it.each(['POST', 'PUT', 'PATCH'] as const)('%s: any body gets a 4xx problem or a 2xx, never a 5xx', async (method) => {
      const body = fc.oneof(
        { arbitrary: arbitraryBody, weight: 1 },
        { arbitrary: almostValidBody(def, refs, method === 'PATCH'), weight: 3 },
      );
      await fc.assert(
        fc.asyncProperty(body, async (generated) => {
          await expectWellFormedAnswer(method, def, generated);
        }),
        { numRuns: RUNS, ...seedOption },
      );
      expect(await snapshotOtherTenants()).toEqual(before);
    });
  });

  describe.each(COLLECTIONS.map((def) => [def.path, def] as const))('%s, every edge value in every field', (_path, def) => {
    it.each(['POST', 'PATCH'] as const)('%s: a 4xx problem or a 2xx, never a 5xx', async (method) => {
      const fields = Object.entries(def.fields);
      const cases = fields.flatMap(([name, field]) => edgeConstants(field).map((value) => ({ name, value })));
      // a fresh valid body per case, so one accepted unique value cannot mask the rest behind 409s
      const bases = fc.sample(validBody(def, refs), { numRuns: cases.length, seed: 7 });
      for (const [i, { name, value }] of cases.entries()) {
        const body = method === 'POST' ? { ...bases[i], [name]: value } : { [name]: value };
        await expectWellFormedAnswer(method, def, body);
      }
      expect(await snapshotOtherTenants()).toEqual(before);
    });
  });

  it('reached the database: some bodies were accepted and some refused for every method', () => {
    for (const method of ['POST', 'PUT', 'PATCH'] as const) {
      const statuses = outcomes.get(method) ?? [];
      expect(statuses.length, method).toBeGreaterThanOrEqual(COLLECTIONS.length * RUNS * 0.9);
      expect(
        statuses.some((s) => s < 300),
        `${method} never succeeded`,
      ).toBe(true);
      expect(
        statuses.some((s) => s >= 400),
        `${method} never failed`,
      ).toBe(true);
    }
  });

  it('left every other tenant’s rows exactly as they were', async () => {
    expect(await snapshotOtherTenants()).toEqual(before);
  });

  describe('known bugs', () => {
    const post = (path: string, body: unknown) =>
      server.fetch(`${api()}/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    // BUG: "9999-12-31T23:59:59-14:00" passes the date-time format, Postgres stores
    // 10000-01-01T13:59:59Z, and formatAtOffset (collection-queries.ts) cannot parse the
    // five-digit year it reads back: RangeError → 500 (the transaction is rolled back).
    it('answers a clocking at 9999-12-31T23:59:59-14:00 with 201 or a 4xx, not 500', async () => {
      const response = await post('clockings', {
        employee_id: refs.acme.employees[0],
        timestamp: '9999-12-31T23:59:59-14:00',
        direction: 'in',
      });
      expect(response.status).toBeLessThan(500);
    });

    // BUG: the batch inserts without RETURNING, so the same timestamp is stored (201), and from
    // then on every read that renders that row answers 500: GET /clockings?sort=-timestamp,
    // GET /clockings/{id}, and any list page that holds it.
    it('keeps the clockings list readable after a batch with a timestamp past year 9999', async () => {
      const batch = await post('clockings/batch', {
        items: [{ employee_id: refs.acme.employees[0], timestamp: '9999-12-31T23:59:59-14:00', direction: 'in' }],
      });
      const created = batch.status === 201 ? ((await batch.json()) as { ids: string[] }).ids : [];
      const headers = { authorization: `Bearer ${token}` };
      const list = await server.fetch(`${api()}/clockings?sort=-timestamp&limit=1`, { headers });
      expect(list.status).toBe(200);
      for (const id of created) expect((await server.fetch(`${api()}/clockings/${id}`, { headers })).status).toBe(200);
    });

    // BUG: a clocking's timestamp is "kept as sent" (its offset in utc_offset_minutes), but
    // utcOffsetMinutes only reads a "+hh:mm" offset: "+0100", which the date-time format accepts,
    // is stored as offset 0 and answered at "Z". Either refuse it or answer it at +01:00.
    it('answers a clocking sent at 08:00:00+0100 at +01:00 (or refuses it)', async () => {
      const response = await post('clockings', {
        employee_id: refs.acme.employees[0],
        timestamp: '2026-01-01T08:00:00+0100',
        direction: 'in',
      });
      if (response.status !== 201) expect(response.status).toBe(422);
      else expect(((await response.json()) as { timestamp: string }).timestamp).toBe('2026-01-01T08:00:00+01:00');
    });

    // BUG: 0001-01-01T00:00:00+14:00 is 1 BC in UTC; isoUtc's to_char(…'YYYY'…) drops the era, so
    // the clocking is answered as 0002-01-01T00:00:00+14:00, two years from what was sent.
    it('answers a clocking sent at 0001-01-01T00:00:00+14:00 as that instant (or refuses it)', async () => {
      const response = await post('clockings', {
        employee_id: refs.acme.employees[0],
        timestamp: '0001-01-01T00:00:00+14:00',
        direction: 'in',
      });
      if (response.status !== 201) expect(response.status).toBe(422);
      else expect(((await response.json()) as { timestamp: string }).timestamp).toBe('0001-01-01T00:00:00+14:00');
    });

    // BUG: ajv's uuid format accepts the "urn:uuid:" prefix; the batch's reference lookup casts the
    // ids with ::uuid[] outside writeError, so Postgres's 22P02 escapes as a 500.
    it('answers a batch item whose employee_id is urn:uuid:… with a 4xx, not 500', async () => {
      const response = await post('clockings/batch', {
        items: [{ employee_id: `urn:uuid:${refs.acme.employees[0]}`, timestamp: '2026-01-01T08:00:00Z', direction: 'in' }],
      });
      expect(response.status).toBeLessThan(500);
    });
  });
});
