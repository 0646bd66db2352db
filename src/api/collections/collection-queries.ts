/**
 * Generic SQL for a collection, composed with knex from its definition (column names come only from
 * the definition, values only as parameters): compiled once when the routes are registered, and a
 * list's once per shape (its filters, sort and cursor), on first use. Every statement names
 * tenant_id itself and runs inside a scoped transaction whose row level security would hide other
 * tenants' rows even if it did not.
 */
import type { Knex } from 'knex';
import type { ScopedTransaction } from '../../db/database.ts';
import { compileStatic, type NativeStatement, placeholder, sql } from '../../db/sql-builder.ts';
import type { CollectionDefinition, FieldDefinition, SqlType } from '../../catalog/collections.ts';

export type Resource = Record<string, unknown> & { id: string; version: number };

/** A deleted row, as a list with include_deleted shows it. */
export interface Tombstone {
  readonly id: string;
  readonly deleted: true;
  readonly deleted_at: string;
}

export interface ListRequest {
  readonly filters: readonly { readonly condition: string; readonly value: unknown }[];
  readonly sort: { readonly field: string; readonly descending: boolean };
  readonly after: { readonly key: string; readonly id: string } | null;
  readonly limit: number;
}

/** RFC 3339 in UTC with microseconds, whatever the session's TimeZone (and exact enough for cursors). */
const isoUtc = (identifier: string): Knex.Raw => sql.raw(`to_char(?? AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, [identifier]);

function selectExpressions(name: string, field: FieldDefinition): Knex.Raw[] {
  switch (field.type) {
    case 'date':
      return [sql.raw(`to_char(??, 'YYYY-MM-DD') AS ??`, [field.column, name])];
    case 'timestamptz':
      return [
        sql.raw('? AS ??', [isoUtc(field.column), name]),
        ...(field.offsetColumn ? [sql.ref(field.offsetColumn).as(`${name}__offset`)] : []),
      ];
    case 'numeric':
      return [sql.raw('??::float8 AS ??', [field.column, name])];
    default:
      return [sql.ref(field.column).as(name)];
  }
}

const CAST: Record<SqlType, string> = {
  uuid: 'uuid',
  text: 'text',
  date: 'date',
  timestamptz: 'timestamptz',
  integer: 'integer',
  numeric: 'numeric',
  boolean: 'boolean',
};

/** "+01:00" → 60; "Z" → 0 (the value has passed the date-time format check). */
export function utcOffsetMinutes(timestamp: string): number {
  const match = /([+-])(\d{2}):(\d{2})$/.exec(timestamp);
  if (!match) return 0;
  return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]));
}

/** A UTC instant shown at the offset it was recorded with. */
export function formatAtOffset(instant: string, offsetMinutes: number): string {
  const shifted = new Date(Date.parse(instant) + offsetMinutes * 60_000).toISOString().replace(/\.000Z$/, 'Z');
  if (offsetMinutes === 0) return shifted;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${shifted.slice(0, -1)}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** The column a list sorted by `field` is ordered by, before id. */
export function sortColumnOf(def: CollectionDefinition, field: string): string {
  if (field === 'id' || field === 'created_at' || field === 'updated_at') return field;
  const definition = def.fields[field];
  if (!definition) throw new TypeError(`${def.name} cannot be sorted by ${field}`);
  return definition.column;
}

export function createCollectionQueries(def: CollectionDefinition) {
  const fields = Object.entries(def.fields);
  const writeColumns = fields.flatMap(([, field]) => [field.column, ...(field.offsetColumn ? [field.offsetColumn] : [])]);

  const castFor = (column: string): string => {
    const entry = fields.find(([, f]) => f.column === column);
    if (entry) return CAST[entry[1].type];
    return 'smallint'; // an offset column
  };

  // Compiled once: the select list and every statement but the list's, with `$n` placeholders.
  const selectList = [
    sql.ref('id'),
    ...fields.flatMap(([name, field]) => selectExpressions(name, field)),
    sql.raw('? AS ??', [isoUtc('created_at'), 'created_at']),
    sql.raw('? AS ??', [isoUtc('updated_at'), 'updated_at']),
    sql.ref('version'),
  ]
    .map((expression) => compileStatic(expression))
    .join(', ');
  const selected = sql.raw(selectList);
  const byId = sql(def.table).select(selected).where('tenant_id', placeholder(1)).andWhere('id', placeholder(2));
  // $3: the version the row must still have, or null for any
  const atVersion = '($3::integer IS NULL OR version = $3::integer)';
  const statements = {
    find: compileStatic(byId),
    findForUpdate: compileStatic(byId.clone().forUpdate()),
    insert: compileStatic(
      sql(def.table)
        .insert({
          tenant_id: placeholder(1),
          id: placeholder(2),
          ...Object.fromEntries(writeColumns.map((column, i) => [column, placeholder(i + 3, castFor(column))])),
        })
        .returning(selected),
    ),
    update: compileStatic(
      sql(def.table)
        .update({
          ...Object.fromEntries(writeColumns.map((column, i) => [column, placeholder(i + 4, castFor(column))])),
          version: sql.raw('?? + 1', ['version']),
          updated_at: sql.raw('now()'),
        })
        .where('tenant_id', placeholder(1))
        .andWhere('id', placeholder(2))
        .andWhereRaw(atVersion)
        .returning(selected),
    ),
    delete: compileStatic(
      sql(def.table).where('tenant_id', placeholder(1)).andWhere('id', placeholder(2)).andWhereRaw(atVersion).delete().returning('id'),
    ),
    // $3/$4: the cursor (deleted_at, id), or nulls for the first page. ORDER BY names the column
    // qualified: a bare deleted_at there is the output column, the formatted text, which no index
    // serves, so every page sorted all the tenant's tombstones since $2
    tombstones: `SELECT id, ${compileStatic(isoUtc('deleted_at'))} AS deleted_at FROM tombstones
       WHERE tenant_id = $1 AND collection = '${def.table}' AND deleted_at >= $2::timestamptz
         AND ($3::timestamptz IS NULL OR (deleted_at, id) > ($3::timestamptz, $4::uuid))
       ORDER BY tombstones.deleted_at, tombstones.id LIMIT $5`,
    existingIds: compileStatic(sql(def.table).select('id').where('tenant_id', placeholder(1)).andWhere('id', sql.raw('ANY($2::uuid[])'))),
  };

  // the fields shown at the offset they were recorded with (their `<name>__offset` column)
  const shownAtOffset = new Set(fields.filter(([, field]) => field.offsetColumn).map(([name]) => name));
  // once per row of every list page: a plain loop over the row's own keys, no entry arrays
  const toResource = (row: Record<string, unknown>): Resource => {
    const resource: Record<string, unknown> = {};
    for (const key in row) {
      if (key === 'sort_key' || key.endsWith('__offset')) continue;
      const value = row[key];
      resource[key] =
        shownAtOffset.has(key) && typeof value === 'string' ? formatAtOffset(value, Number(row[`${key}__offset`] ?? 0)) : value;
    }
    return resource as Resource;
  };

  /** Values for writeColumns, in order, from a complete (validated) resource body. */
  const writeValues = (body: Record<string, unknown>): unknown[] =>
    fields.flatMap(([name, field]) => {
      const value = body[name] === undefined ? (field.default ?? null) : body[name];
      return field.offsetColumn ? [value, typeof value === 'string' ? utcOffsetMinutes(value) : 0] : [value];
    });

  const sortColumn = (field: string): { column: string; qualified: string; cast: string } => {
    const column = sortColumnOf(def, field);
    // Qualified: in ORDER BY a bare name means the output column of that name first, and for a
    // date or timestamp that is its formatted text, which no index serves.
    const qualified = `${def.table}.${column}`;
    if (column === 'id') return { column, qualified, cast: 'uuid' };
    if (column === 'created_at' || column === 'updated_at') return { column, qualified, cast: 'timestamptz' };
    return { column, qualified, cast: castFor(column) };
  };

  const tenantOf = (tx: ScopedTransaction): string => {
    if (!tx.tenantId) throw new TypeError(`${def.name} queries need a tenant-scoped transaction`);
    return tx.tenantId;
  };

  /**
   * The list statement of one shape (sort, direction, which filters, whether after a cursor),
   * compiled when first asked for and kept: a request only binds its values. Placeholders: $1 the
   * tenant, one per filter (as often as its condition uses it), the cursor's, the limit last.
   */
  const compileListShape = (request: ListRequest): string => {
    const sort = sortColumn(request.sort.field);
    const direction = request.sort.descending ? 'desc' : 'asc';
    const sortKey = sort.cast === 'timestamptz' ? isoUtc(sort.qualified) : sql.raw('??::text', [sort.qualified]);
    let position = 1;
    const query = sql(def.table)
      .select(selected, sql.raw('? AS ??', [sortKey, 'sort_key']))
      .where('tenant_id', placeholder(position++));
    // a filter's condition marks its one parameter `$?`, as often as it uses it
    for (const filter of request.filters) query.andWhereRaw(filter.condition.replaceAll('$?', `$${position++}`));
    if (request.after) {
      const comparison = request.sort.descending ? '<' : '>';
      if (sort.column === 'id') query.andWhereRaw(`?? ${comparison} $${position++}::uuid`, ['id']);
      else {
        query.andWhereRaw(`(??, ??) ${comparison} ($${position++}::${sort.cast}, $${position++}::uuid)`, [sort.qualified, 'id']);
      }
    }
    query.orderBy(sort.qualified, direction);
    if (sort.column !== 'id') query.orderBy(`${def.table}.id`, direction);
    // knex takes a LIMIT only as a number; its placeholder goes where knex would put the clause, last
    return `${compileStatic(query)} limit $${position}`;
  };
  // bounded by the definition: its sortable fields × 2 directions × its filter combinations × cursor or not
  const listShapes = new Map<string, string>();
  const listStatement = (tenantId: string, request: ListRequest): NativeStatement => {
    const shape = `${request.sort.descending ? '-' : ''}${request.sort.field}${request.after ? '>' : ''}${request.filters.map((f) => `&${f.condition}`).join('')}`;
    let text = listShapes.get(shape);
    if (text === undefined) listShapes.set(shape, (text = compileListShape(request)));
    const { after } = request;
    const cursor = !after ? [] : sortColumnOf(def, request.sort.field) === 'id' ? [after.id] : [after.key, after.id];
    return { text, values: [tenantId, ...request.filters.map((f) => f.value), ...cursor, request.limit] };
  };

  return {
    toResource,
    /** the SELECT/RETURNING list whose rows toResource turns into API representations */
    selectList,

    async findById(tx: ScopedTransaction, id: string, options: { lock?: boolean } = {}): Promise<Resource | undefined> {
      const [row] = await tx.query(options.lock ? statements.findForUpdate : statements.find, [tenantOf(tx), id]);
      return row ? toResource(row) : undefined;
    },

    /** Keyset page ordered by (sort field, id): stable under concurrent inserts, no repeats or gaps. */
    async list(tx: ScopedTransaction, request: ListRequest): Promise<{ resources: Resource[]; sortKeys: string[] }> {
      const statement = listStatement(tenantOf(tx), request);
      const rows = await tx.query(statement.text, statement.values);
      return { resources: rows.map(toResource), sortKeys: rows.map((r) => String(r.sort_key)) };
    },

    async insert(tx: ScopedTransaction, id: string, body: Record<string, unknown>): Promise<Resource> {
      const [row] = await tx.query(statements.insert, [tenantOf(tx), id, ...writeValues(body)]);
      if (!row) throw new Error('insert returned no row');
      return toResource(row);
    },

    /** Replaces every field; only if the version still matches. undefined: no row at that id and version. */
    async update(tx: ScopedTransaction, id: string, version: number | null, body: Record<string, unknown>): Promise<Resource | undefined> {
      const [row] = await tx.query(statements.update, [tenantOf(tx), id, version, ...writeValues(body)]);
      return row ? toResource(row) : undefined;
    },

    async delete(tx: ScopedTransaction, id: string, version: number | null): Promise<boolean> {
      const rows = await tx.query(statements.delete, [tenantOf(tx), id, version]);
      return rows.length > 0;
    },

    /** The rows deleted at or after `since`, in (deleted_at, id) order after the cursor. */
    async listTombstones(
      tx: ScopedTransaction,
      request: { since: string; after: { key: string; id: string } | null; limit: number },
    ): Promise<Tombstone[]> {
      const rows = await tx.query<{ id: string; deleted_at: string }>(statements.tombstones, [
        tenantOf(tx),
        request.since,
        request.after?.key ?? null,
        request.after?.id ?? null,
        request.limit,
      ]);
      return rows.map((row) => ({ id: row.id, deleted: true, deleted_at: row.deleted_at }));
    },

    /** Which of `ids` name a row of this collection in the transaction's tenant. */
    async existingIds(tx: ScopedTransaction, ids: readonly string[]): Promise<Set<string>> {
      if (ids.length === 0) return new Set();
      const rows = await tx.query<{ id: string }>(statements.existingIds, [tenantOf(tx), [...new Set(ids)]]);
      return new Set(rows.map((r) => r.id));
    },
  };
}
export type CollectionQueries = ReturnType<typeof createCollectionQueries>;

/** When the tenant's resources were last reset (a sandbox reset), in ms; null if never. */
export async function findResourceResetAt(tx: ScopedTransaction): Promise<number | null> {
  const [row] = await tx.query<{ reset_at: Date | string }>('SELECT reset_at FROM resource_resets WHERE tenant_id = $1', [tx.tenantId]);
  return row ? new Date(row.reset_at).getTime() : null;
}
