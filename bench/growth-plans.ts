/**
 * data-growth's plans: every list query shape the API sends for clockings, taken from the
 * collection's definition (each sort, first page and a page deep in the tenant; each filter under
 * the sorts it combines with; include_deleted's tombstones; a timesheet's filters together), built
 * by the very `list()` the API runs, then EXPLAINed on the largest tenant as the API runs it: as
 * the runtime role, scoped to the tenant (row level security on), parameters inlined as the reader
 * sends them. EXPLAIN (FORMAT JSON) is checked (plan-findings.ts); EXPLAIN (ANALYZE, BUFFERS) is
 * recorded.
 */
import pg from 'pg';
import { createCollectionQueries, type ListRequest, sortColumnOf } from '../src/api/collections/collection-queries.ts';
import { collectionByName, type FilterDefinition } from '../src/catalog/collections.ts';
import { APP_ROLE, inlineParameters, type ScopedTransaction } from '../src/db/database.ts';
import { analyzedCost, type PlanNode, planFindings, planSummary } from './plan-findings.ts';

const clockings = collectionByName('clockings');
const queries = createCollectionQueries(clockings);
const LIMIT = 201; // a page of 200 and one more, as the API asks

export interface PlannedShape {
  readonly label: string;
  /** a range filter under another sort: no one index gives both, by design (migrations/20261129083000_list_indexes.sql) */
  readonly unserved: boolean;
  readonly findings: string[];
  readonly summary: string;
  readonly analyzed: string;
  /** from the analyzed plan */
  readonly executionMs: number | undefined;
  readonly buffers: string | undefined;
}

interface Shape {
  readonly label: string;
  readonly unserved?: boolean;
  /** the statement and values the API would send */
  readonly statement: { text: string; values: unknown[] };
}

/** The statement `list()` or `listTombstones()` sends, captured instead of run. */
async function captured(tenantId: string, send: (tx: ScopedTransaction) => Promise<unknown>) {
  let statement: { text: string; values: unknown[] } | undefined;
  await send({
    tenantId,
    async query(text, values = []) {
      statement = { text, values: [...values] };
      return [];
    },
  });
  if (!statement) throw new Error('no statement was sent');
  return statement;
}

export interface PlanInput {
  readonly databaseUrl: string;
  readonly tenantId: string;
  readonly depth: number;
  /** the updated_since of the walk, an employee of the tenant, and a month of its clockings */
  readonly updatedSince: string;
  readonly employeeId: string;
  readonly month: { readonly from: string; readonly to: string };
}

const UTC = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

async function withRuntimeRole<T>(client: pg.Client, tenantId: string, work: () => Promise<T>): Promise<T> {
  await client.query(`BEGIN; SET LOCAL ROLE ${APP_ROLE}; SET LOCAL app.tenant_id = '${tenantId}'`);
  try {
    return await work();
  } finally {
    await client.query('ROLLBACK');
  }
}

async function shapes(client: pg.Client, input: PlanInput): Promise<Shape[]> {
  const filter = (name: string): FilterDefinition => {
    const found = clockings.filters.find((f) => f.name === name);
    if (!found) throw new TypeError(`clockings have no filter ${name}`);
    return found;
  };
  const values: Record<string, string> = {
    updated_since: input.updatedSince,
    employee_id: input.employeeId,
    from: input.month.from,
    to: input.month.to,
  };
  /** the cursor of the row `depth` rows into the tenant's list in this order */
  const cursorAt = async (sort: string, descending: boolean): Promise<ListRequest['after']> => {
    const column = `clockings.${sortColumnOf(clockings, sort)}`;
    const key = column.endsWith('.id') ? 'id::text' : UTC(column);
    const direction = descending ? 'DESC' : 'ASC';
    const { rows } = await client.query<{ key: string; id: string }>(
      `SELECT ${key} AS key, id FROM clockings WHERE tenant_id = $1 ORDER BY ${column} ${direction}, id ${direction} OFFSET $2 LIMIT 1`,
      [input.tenantId, input.depth - 1],
    );
    return rows[0] ?? null;
  };
  const list = async (
    label: string,
    request: { sort?: ListRequest['sort']; after?: ListRequest['after']; filters?: string[] },
    unserved = false,
  ): Promise<Shape> => ({
    label,
    unserved,
    statement: await captured(input.tenantId, (tx) =>
      queries.list(tx, {
        sort: request.sort ?? { field: 'id', descending: false },
        after: request.after ?? null,
        limit: LIMIT,
        filters: (request.filters ?? []).map((name) => ({ condition: filter(name).condition, value: values[name] })),
      }),
    ),
  });

  const result: Shape[] = [];
  const sorts = ['id', ...clockings.sortable];
  for (const sort of sorts) {
    for (const descending of [false, true]) {
      const spec = { field: sort, descending };
      const name = `sort=${descending ? '-' : ''}${sort}`;
      result.push(await list(`${name}, first page`, { sort: spec }));
      result.push(await list(`${name}, ${input.depth} rows deep`, { sort: spec, after: await cursorAt(sort, descending) }));
    }
  }
  for (const f of clockings.filters) {
    if (f.key.match === 'equal') {
      for (const sort of sorts)
        result.push(await list(`${f.name}=…&sort=${sort}`, { sort: { field: sort, descending: false }, filters: [f.name] }));
      continue;
    }
    const own = sorts.find((sort) => sortColumnOf(clockings, sort) === f.key.column);
    if (own) result.push(await list(`${f.name}=…&sort=${own}`, { sort: { field: own, descending: false }, filters: [f.name] }));
    result.push(await list(`${f.name}=… (sort=id: a range under another sort)`, { filters: [f.name] }, true));
  }
  // a sync's walk, deep in; its include_deleted twin reads the same rows and then the tombstones
  const { rows: walked } = await client.query<{ key: string; id: string }>(
    `SELECT ${UTC('updated_at')} AS key, id FROM clockings WHERE tenant_id = $1 AND updated_at >= $2
      ORDER BY updated_at, id OFFSET $3 LIMIT 1`,
    [input.tenantId, input.updatedSince, Math.floor(input.depth / 2)],
  );
  const midWalk = walked[0] ?? null;
  result.push(
    await list(`updated_since=…&sort=updated_at, ${Math.floor(input.depth / 2)} rows into the walk`, {
      sort: { field: 'updated_at', descending: false },
      filters: ['updated_since'],
      after: midWalk,
    }),
  );
  for (const [label, after] of [
    ['first page', null],
    ['after a cursor', midWalk],
  ] as const) {
    result.push({
      label: `include_deleted=true: tombstones, ${label}`,
      statement: await captured(input.tenantId, (tx) => queries.listTombstones(tx, { since: input.updatedSince, after, limit: LIMIT })),
    });
  }
  result.push(
    await list('employee_id=…&from=…&to=…&sort=timestamp (a timesheet)', {
      sort: { field: 'timestamp', descending: false },
      filters: ['employee_id', 'from', 'to'],
    }),
  );
  result.push(
    await list('from=…&to=…&sort=timestamp (a month)', { sort: { field: 'timestamp', descending: false }, filters: ['from', 'to'] }),
  );
  return result;
}

export async function planListShapes(input: PlanInput): Promise<PlannedShape[]> {
  const client = new pg.Client({ connectionString: input.databaseUrl });
  await client.connect();
  try {
    const planned: PlannedShape[] = [];
    for (const shape of await shapes(client, input)) {
      const sql = inlineParameters(shape.statement.text, shape.statement.values);
      const table = shape.label.startsWith('include_deleted') ? 'tombstones' : 'clockings';
      const plan = await withRuntimeRole(client, input.tenantId, async () => {
        const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`);
        return (rows[0] as { 'QUERY PLAN': [{ Plan: PlanNode }] })['QUERY PLAN'][0].Plan;
      });
      const analyzed = await withRuntimeRole(client, input.tenantId, async () => {
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      });
      planned.push({
        label: shape.label,
        unserved: shape.unserved ?? false,
        findings: planFindings(plan, table),
        summary: planSummary(plan),
        analyzed,
        ...analyzedCost(analyzed),
      });
    }
    return planned;
  } finally {
    await client.end();
  }
}

/**
 * Deleting an activity definition no clocking names: Postgres looks for clockings that still refer
 * to it. With clockings_by_activity_definition_id (migrations/20261129162000) and, in a rolled
 * back transaction, without it: the time of that check is the constraint trigger's line.
 */
export async function planActivityDelete(databaseUrl: string, tenantId: string): Promise<{ withIndex: string; withoutIndex: string }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO activity_definitions (tenant_id, code, name, kind) VALUES ($1, 'UNUSED', 'Never clocked', 'other') RETURNING id`,
      [tenantId],
    );
    const id = rows[0]?.id as string;
    const explain = async (dropIndex: boolean) => {
      await client.query('BEGIN');
      try {
        if (dropIndex) await client.query('DROP INDEX clockings_by_activity_definition_id');
        await client.query(`SET LOCAL ROLE ${APP_ROLE}; SET LOCAL app.tenant_id = '${tenantId}'`);
        const plan = await client.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN (ANALYZE, BUFFERS) DELETE FROM activity_definitions WHERE tenant_id = ${pg.escapeLiteral(tenantId)} AND id = ${pg.escapeLiteral(id)}`,
        );
        return plan.rows.map((r) => r['QUERY PLAN']).join('\n');
      } finally {
        await client.query('ROLLBACK');
      }
    };
    return { withIndex: await explain(false), withoutIndex: await explain(true) };
  } finally {
    await client.end();
  }
}
