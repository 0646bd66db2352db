/**
 * Every list the resource API offers is read in index order, so a tenant with a million rows is
 * paged as fast as one with a thousand. The list shapes come from the collection definitions
 * (each sort, each filter, each equality filter under each sort), so a sort or filter added
 * without its index fails here:
 * - the catalogue has, for every shape, an index whose leading columns are (tenant_id, [equality
 *   filter column], sort or range column, id);
 * - with sorts and sequential scans priced out, the planner reads every ordered shape, as
 *   `list()` writes it (both directions, after a cursor), from such an index with no Sort node:
 *   the condition is one an index can serve;
 * - on 50,000 clockings the planner prefers those indexes unprompted for the shapes a sync and a
 *   timesheet use.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCollectionQueries, type ListRequest, sortColumnOf } from '../../src/api/collections/collection-queries.ts';
import { COLLECTIONS, type CollectionDefinition, collectionByName, type FilterDefinition } from '../../src/catalog/collections.ts';
import { DEFAULT_DATABASE_SETTINGS } from '../../src/config/config.ts';
import { createDatabase, type Database, inlineParameters, type Queryable, type ScopedTransaction } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createFreshDatabase, type FreshDatabase, testDatabaseKinds } from '../helpers/databases.ts';

interface ListShape {
  readonly def: CollectionDefinition;
  readonly filter: FilterDefinition | undefined;
  /** the API sort field */
  readonly sort: string;
  /** the leading columns of the index that serves it */
  readonly columns: readonly string[];
  /** whether that index gives the rows in the order asked for (a range under another sort does not) */
  readonly ordered: boolean;
}

const nameOf = (shape: ListShape) => `${shape.def.name}${shape.filter ? ` ${shape.filter.name}=…` : ''} sort=${shape.sort}`;

const withId = (columns: readonly string[]) => (columns.at(-1) === 'id' ? columns : [...columns, 'id']);

/** Every list shape a collection offers, from its definition. */
function listShapes(def: CollectionDefinition): ListShape[] {
  const sorts = ['id', ...def.sortable];
  const shapes: ListShape[] = sorts.map((sort) => ({
    def,
    filter: undefined,
    sort,
    columns: withId(['tenant_id', sortColumnOf(def, sort)]),
    ordered: true,
  }));
  for (const filter of def.filters) {
    const column = filter.key.column;
    if (filter.key.match === 'equal') {
      for (const sort of sorts)
        shapes.push({ def, filter, sort, columns: withId(['tenant_id', column, sortColumnOf(def, sort)]), ordered: true });
    } else {
      // a range is read in order under its own column's sort; otherwise the index finds its rows
      const own = sorts.find((sort) => sortColumnOf(def, sort) === column);
      shapes.push({ def, filter, sort: own ?? 'id', columns: ['tenant_id', column, 'id'], ordered: own !== undefined });
    }
  }
  return shapes;
}

const SHAPES = COLLECTIONS.flatMap(listShapes);

interface CatalogueIndex {
  table: string;
  index: string;
  unique: boolean;
  columns: string[];
}

/** Plain ascending btree indexes on whole columns: the ones that give a keyset walk its order. */
async function catalogue(db: Queryable): Promise<CatalogueIndex[]> {
  return db.query<CatalogueIndex & Record<string, unknown>>(`
    SELECT t.relname AS "table", i.relname AS "index", x.indisunique AS "unique",
           array(SELECT a.attname::text FROM generate_series(0, x.indnkeyatts - 1) AS k
                   JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k] ORDER BY k) AS "columns"
      FROM pg_index x
      JOIN pg_class i ON i.oid = x.indexrelid
      JOIN pg_class t ON t.oid = x.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      JOIN pg_am am ON am.oid = i.relam
     WHERE n.nspname = 'public' AND am.amname = 'btree' AND x.indisvalid AND x.indpred IS NULL AND x.indexprs IS NULL
       AND 0 = ALL (x.indoption::int2[])`);
}

/**
 * Whether an index gives a shape's order: its leading columns are the shape's, or it is unique on
 * the shape's columns before id (a code unique within the tenant: id never breaks a tie).
 */
function serves(index: CatalogueIndex, shape: ListShape): boolean {
  if (index.table !== shape.def.table) return false;
  const leading = (columns: readonly string[]) => columns.every((c, i) => index.columns[i] === c);
  if (leading(shape.columns)) return true;
  const beforeId = shape.columns.slice(0, -1);
  return index.unique && index.columns.length === beforeId.length && leading(beforeId);
}

const missing = (indexes: readonly CatalogueIndex[]) =>
  SHAPES.filter((shape) => !indexes.some((index) => serves(index, shape))).map(nameOf);

/** A value each filter accepts, from its schema. */
function sampleFilterValue(filter: FilterDefinition): unknown {
  const schema = filter.schema as { enum?: unknown[]; format?: string; anyOf?: unknown[] };
  if (schema.enum) return schema.enum[0];
  if (schema.format === 'date') return '2026-11-01';
  if (schema.format === 'date-time') return '2026-11-01T00:00:00Z';
  if (schema.format === 'uuid' || schema.anyOf) return '0194a5c0-0000-7000-8000-000000000001';
  throw new TypeError(`no sample value for the filter ${filter.name}`);
}

function sampleSortKey(def: CollectionDefinition, sort: string): string {
  if (sort === 'id') return '0194a5c0-0000-7000-8000-000000000002';
  if (sort === 'created_at' || sort === 'updated_at') return '2026-11-01T00:00:00.000000Z';
  const type = def.fields[sort]?.type;
  if (type === 'date') return '2026-11-01';
  if (type === 'timestamptz') return '2026-11-01T00:00:00.000000Z';
  return 'M';
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Sort Key'?: string[];
  'Presorted Key'?: string[];
  Plans?: PlanNode[];
}

const nodesOf = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodesOf)];

/**
 * The plan of the statement `list()` sends for this request. `tx` is an owner transaction scoped
 * to the tenant: the owner is bound by the same row level security (FORCE), and the parameters
 * are inlined as reader sends them.
 */
async function planOf(tx: ScopedTransaction, def: CollectionDefinition, request: ListRequest): Promise<PlanNode> {
  let plan: PlanNode | undefined;
  const explaining: ScopedTransaction = {
    tenantId: tx.tenantId,
    async query(sql, params = []) {
      const [row] = await tx.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${inlineParameters(sql, params)}`);
      plan = row?.['QUERY PLAN'][0].Plan;
      return [];
    },
  };
  await createCollectionQueries(def).list(explaining, request);
  if (!plan) throw new Error('list() sent no statement');
  return plan;
}

function requestFor(shape: ListShape, descending: boolean, withCursor: boolean, filterValue?: unknown): ListRequest {
  return {
    filters: shape.filter ? [{ condition: shape.filter.condition, value: filterValue ?? sampleFilterValue(shape.filter) }] : [],
    sort: { field: shape.sort, descending },
    after: withCursor ? { key: sampleSortKey(shape.def, shape.sort), id: '0194a5c0-0000-7000-8000-000000000003' } : null,
    limit: 51,
  };
}

/** What is wrong with a plan for a shape: empty when it reads a serving index in order. */
function planProblems(plan: PlanNode, shape: ListShape, indexes: readonly CatalogueIndex[]): string[] {
  const problems: string[] = [];
  const nodes = nodesOf(plan);
  const scan = nodes.find((n) => n['Relation Name'] === shape.def.table);
  if (!scan || !['Index Scan', 'Index Only Scan'].includes(scan['Node Type'])) {
    problems.push(`reads ${shape.def.table} by ${scan?.['Node Type'] ?? 'nothing'}`);
  } else {
    const index = indexes.find((i) => i.index === scan['Index Name']);
    if (!index || !serves(index, shape))
      problems.push(`reads ${scan['Index Name']} (${index?.columns.join(', ')}), not (${shape.columns.join(', ')}, …)`);
    // the filter narrows the part of the index read, not only the rows taken from it
    const filterColumn = shape.filter?.key.column;
    if (filterColumn && !scan['Index Cond']?.includes(filterColumn)) problems.push(`does not narrow the index by ${filterColumn}`);
  }
  for (const node of nodes) {
    if (node['Node Type'] === 'Sort') problems.push(`sorts by ${node['Sort Key']?.join(', ')}`);
    // only ties of a unique key, which never occur, are left to an incremental sort
    if (node['Node Type'] === 'Incremental Sort' && node['Presorted Key']?.length !== (node['Sort Key']?.length ?? 0) - 1)
      problems.push(`sorts by ${node['Sort Key']?.join(', ')} after ${node['Presorted Key']?.join(', ')}`);
  }
  return problems;
}

describe('list shapes, from the collection definitions', () => {
  it('name the column each filter condition narrows', () => {
    for (const def of COLLECTIONS)
      for (const filter of def.filters) expect(filter.condition, `${def.name} ${filter.name}`).toContain(filter.key.column);
  });

  it('cover every sort, filter and equality filter under every sort', () => {
    const clockings = SHAPES.filter((s) => s.def.name === 'clockings').map(nameOf);
    expect(clockings).toEqual([
      'clockings sort=id',
      'clockings sort=timestamp',
      'clockings sort=created_at',
      'clockings sort=updated_at',
      'clockings updated_since=… sort=updated_at',
      'clockings employee_id=… sort=id',
      'clockings employee_id=… sort=timestamp',
      'clockings employee_id=… sort=created_at',
      'clockings employee_id=… sort=updated_at',
      'clockings from=… sort=timestamp',
      'clockings to=… sort=timestamp',
    ]);
  });
});

describe.each(testDatabaseKinds())('list indexes on %s', (kind) => {
  let fresh: FreshDatabase;
  let db: Database;
  let indexes: CatalogueIndex[];
  beforeAll(async () => {
    fresh = await createFreshDatabase(kind);
    // loading 50,000 rows (and their eight indexes) is bulk work, not a request: the request
    // timeouts (a few seconds) would cancel it on a busy machine
    const settings = { ...DEFAULT_DATABASE_SETTINGS, queryTimeoutMs: 120_000, statementTimeoutMs: 110_000 };
    db = await createDatabase({ databaseUrl: fresh.url, settings });
    await migrate(db);
    indexes = await catalogue(db.admin);
  });
  afterAll(async () => {
    await db?.close();
    await fresh?.drop();
  });

  it('every list shape has an index (tenant_id, [equality filter], sort or range column, id)', () => {
    expect(missing(indexes)).toEqual([]);
  });

  it('the check finds a shape whose index is gone', async () => {
    const rollback = new Error('rollback');
    let without: CatalogueIndex[] = [];
    await db.admin
      .scoped(null, async (tx) => {
        await tx.query('DROP INDEX clockings_by_updated_at');
        without = await catalogue(tx);
        throw rollback;
      })
      .catch((error: unknown) => {
        if (error !== rollback) throw error;
      });
    expect(missing(without)).toEqual(['clockings sort=updated_at', 'clockings updated_since=… sort=updated_at']);
    expect(missing(await catalogue(db.admin))).toEqual([]);
  });

  it('the planner can read every ordered shape from its index, in both directions and after a cursor, without sorting', async () => {
    const [tenant] = await db.admin.query<{ id: string }>(
      `INSERT INTO tenants (environment, slug, name) VALUES ('prod', 'plans', 'Plans') RETURNING id`,
    );
    const tenantId = tenant!.id;
    const problems: string[] = [];
    await db.admin.scoped(tenantId, async (tx) => {
      // priced out, not forbidden: the planner still sorts or scans when no index can serve
      await tx.query('SET LOCAL enable_seqscan = off');
      await tx.query('SET LOCAL enable_bitmapscan = off');
      await tx.query('SET LOCAL enable_sort = off');
      for (const shape of SHAPES.filter((s) => s.ordered)) {
        for (const descending of [false, true]) {
          for (const withCursor of [false, true]) {
            const plan = await planOf(tx, shape.def, requestFor(shape, descending, withCursor));
            for (const problem of planProblems(plan, shape, indexes))
              problems.push(`${nameOf(shape)}${descending ? ' desc' : ''}${withCursor ? ' after a cursor' : ''}: ${problem}`);
          }
        }
      }
    });
    expect(problems).toEqual([]);
  });

  it("reads include_deleted's tombstones in the primary key's order, first page and after a cursor, without sorting", async () => {
    const [tenant] = await db.admin.query<{ id: string }>(
      `INSERT INTO tenants (environment, slug, name) VALUES ('prod', 'tombstone-plans', 'Tombstone plans') RETURNING id`,
    );
    const tenantId = tenant!.id;
    const problems: string[] = [];
    await db.admin.scoped(tenantId, async (tx) => {
      await tx.query('SET LOCAL enable_seqscan = off');
      await tx.query('SET LOCAL enable_bitmapscan = off');
      await tx.query('SET LOCAL enable_sort = off');
      for (const after of [null, { key: '2026-11-01T00:00:00.000000Z', id: '0194a5c0-0000-7000-8000-000000000003' }]) {
        let plan: PlanNode | undefined;
        const explaining: ScopedTransaction = {
          tenantId,
          async query(sql, params = []) {
            const [row] = await tx.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${inlineParameters(sql, params)}`);
            plan = row?.['QUERY PLAN'][0].Plan;
            return [];
          },
        };
        await createCollectionQueries(collectionByName('clockings')).listTombstones(explaining, {
          since: '2026-10-01T00:00:00Z',
          after,
          limit: 51,
        });
        const nodes = nodesOf(plan!);
        const scan = nodes.find((n) => n['Relation Name'] === 'tombstones');
        if (scan?.['Index Name'] !== 'tombstones_pkey') problems.push(`reads tombstones by ${scan?.['Node Type']} ${scan?.['Index Name']}`);
        for (const node of nodes.filter((n) => n['Node Type'].includes('Sort'))) problems.push(`sorts by ${node['Sort Key']?.join(', ')}`);
      }
    });
    expect(problems).toEqual([]);
  });

  // PGlite (one wasm thread) takes several times longer to load rows, and its planner prefers the
  // indexes as clearly at 10,000
  const rows = kind === 'postgres' ? 50_000 : 10_000;
  it(`on ${rows} clockings the planner prefers the index for a sync walk and a timesheet`, { timeout: 60_000 }, async () => {
    const [tenant] = await db.admin.query<{ id: string }>(
      `INSERT INTO tenants (environment, slug, name) VALUES ('prod', 'big', 'Big') RETURNING id`,
    );
    const tenantId = tenant!.id;
    await db.admin.scoped(tenantId, async (tx) => {
      await tx.query(
        `INSERT INTO employees (tenant_id, employee_number, first_name, last_name) SELECT $1, i::text, 'F', 'L' FROM generate_series(1, 100) i`,
        [tenantId],
      );
      // 100 employees, a clocking every 10 minutes; updated_at in another order than occurred_at and id
      await tx.query(
        `INSERT INTO clockings (tenant_id, employee_id, occurred_at, direction, updated_at)
         SELECT $1, e.ids[1 + i % 100], timestamptz '2026-01-01' + i * interval '10 minutes', 'in',
                timestamptz '2026-01-01' + ((i::bigint * 7919) % $2) * interval '10 minutes'
           FROM generate_series(0, $2 - 1) i, (SELECT array_agg(id ORDER BY id) AS ids FROM employees WHERE tenant_id = $1) e`,
        [tenantId, rows],
      );
    });
    await db.admin.exec('ANALYZE clockings');
    const [employee] = await db.admin.scoped(tenantId, (tx) => tx.query<{ id: string }>('SELECT id FROM employees ORDER BY id LIMIT 1'));
    const def = collectionByName('clockings');
    const shape = (filter: string | undefined, sort: string) => {
      const found = SHAPES.find((s) => s.def === def && s.filter?.name === filter && s.sort === sort);
      if (!found) throw new TypeError(`no shape ${filter} ${sort}`);
      return found;
    };
    const cases = [
      { shape: shape(undefined, 'updated_at'), descending: true, withCursor: false, value: undefined },
      { shape: shape(undefined, 'timestamp'), descending: false, withCursor: true, value: undefined },
      { shape: shape('updated_since', 'updated_at'), descending: false, withCursor: true, value: '2026-02-01T00:00:00Z' },
      { shape: shape('employee_id', 'timestamp'), descending: true, withCursor: false, value: employee!.id },
      { shape: shape('employee_id', 'id'), descending: false, withCursor: true, value: employee!.id },
    ];
    const problems: string[] = [];
    await db.admin.scoped(tenantId, async (tx) => {
      for (const c of cases) {
        const plan = await planOf(tx, def, requestFor(c.shape, c.descending, c.withCursor, c.value));
        for (const problem of planProblems(plan, c.shape, indexes)) problems.push(`${nameOf(c.shape)}: ${problem}`);
      }
    });
    expect(problems).toEqual([]);
  });
});
