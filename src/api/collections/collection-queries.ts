/**
 * Generic SQL for a collection, built once from its definition (column names come only from the
 * definition, values only as parameters). Every statement names tenant_id itself and runs inside a
 * scoped transaction whose row level security would hide other tenants' rows even if it did not.
 */
import type { ScopedTransaction } from '../../db/database.ts';
import type { CollectionDefinition, FieldDefinition, SqlType } from '../../catalog/collections.ts';

export type Resource = Record<string, unknown> & { id: string; version: number };

export interface ListRequest {
  readonly filters: readonly { readonly condition: string; readonly value: unknown }[];
  readonly sort: { readonly field: string; readonly descending: boolean };
  readonly after: { readonly key: string; readonly id: string } | null;
  readonly limit: number;
}

const quote = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;

/** RFC 3339 in UTC with microseconds, whatever the session's TimeZone (and exact enough for cursors). */
const isoUtc = (expression: string) => `to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

function selectExpression(name: string, field: FieldDefinition): string[] {
  const column = quote(field.column);
  switch (field.type) {
    case 'date':
      return [`to_char(${column}, 'YYYY-MM-DD') AS ${quote(name)}`];
    case 'timestamptz':
      return [
        `${isoUtc(column)} AS ${quote(name)}`,
        ...(field.offsetColumn ? [`${quote(field.offsetColumn)} AS ${quote(`${name}__offset`)}`] : []),
      ];
    case 'numeric':
      return [`${column}::float8 AS ${quote(name)}`];
    default:
      return [`${column} AS ${quote(name)}`];
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
  const table = quote(def.table);
  const fields = Object.entries(def.fields);
  const selectList = [
    'id',
    ...fields.flatMap(([name, field]) => selectExpression(name, field)),
    `${isoUtc('created_at')} AS created_at`,
    `${isoUtc('updated_at')} AS updated_at`,
    'version',
  ].join(', ');
  const writeColumns = fields.flatMap(([, field]) => [field.column, ...(field.offsetColumn ? [field.offsetColumn] : [])]);

  const toResource = (row: Record<string, unknown>): Resource => {
    const resource: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row)) {
      if (key.endsWith('__offset') || key === 'sort_key') continue;
      const field = def.fields[key];
      resource[key] = field?.offsetColumn && typeof value === 'string' ? formatAtOffset(value, Number(row[`${key}__offset`] ?? 0)) : value;
    }
    return resource as Resource;
  };

  /** Values for writeColumns, in order, from a complete (validated) resource body. */
  const writeValues = (body: Record<string, unknown>): unknown[] =>
    fields.flatMap(([name, field]) => {
      const value = body[name] === undefined ? (field.default ?? null) : body[name];
      return field.offsetColumn ? [value, typeof value === 'string' ? utcOffsetMinutes(value) : 0] : [value];
    });

  const castFor = (column: string): string => {
    const entry = fields.find(([, f]) => f.column === column);
    if (entry) return CAST[entry[1].type];
    return 'smallint'; // an offset column
  };

  const sortColumn = (field: string): { column: string; sql: string; cast: string } => {
    const column = sortColumnOf(def, field);
    // Qualified: in ORDER BY a bare name means the output column of that name first, and for a
    // date or timestamp that is its formatted text, which no index serves.
    const sql = `${table}.${quote(column)}`;
    if (column === 'id') return { column, sql, cast: 'uuid' };
    if (column === 'created_at' || column === 'updated_at') return { column, sql, cast: 'timestamptz' };
    return { column, sql, cast: castFor(column) };
  };

  const tenantOf = (tx: ScopedTransaction): string => {
    if (!tx.tenantId) throw new TypeError(`${def.name} queries need a tenant-scoped transaction`);
    return tx.tenantId;
  };

  return {
    toResource,
    /** the SELECT/RETURNING list whose rows toResource turns into API representations */
    selectList,

    async findById(tx: ScopedTransaction, id: string, options: { lock?: boolean } = {}): Promise<Resource | undefined> {
      const [row] = await tx.query(
        `SELECT ${selectList} FROM ${table} WHERE tenant_id = $1 AND id = $2${options.lock ? ' FOR UPDATE' : ''}`,
        [tenantOf(tx), id],
      );
      return row ? toResource(row) : undefined;
    },

    /** Keyset page ordered by (sort field, id): stable under concurrent inserts, no repeats or gaps. */
    async list(tx: ScopedTransaction, request: ListRequest): Promise<{ resources: Resource[]; sortKeys: string[] }> {
      const params: unknown[] = [tenantOf(tx)];
      const param = (value: unknown) => {
        params.push(value);
        return `$${params.length}`;
      };
      const conditions = ['tenant_id = $1', ...request.filters.map((f) => f.condition.replaceAll('$?', param(f.value)))];
      const sort = sortColumn(request.sort.field);
      const direction = request.sort.descending ? 'DESC' : 'ASC';
      if (request.after) {
        const comparison = request.sort.descending ? '<' : '>';
        conditions.push(
          sort.column === 'id'
            ? `id ${comparison} ${param(request.after.id)}::uuid`
            : `(${sort.sql}, id) ${comparison} (${param(request.after.key)}::${sort.cast}, ${param(request.after.id)}::uuid)`,
        );
      }
      const orderBy = sort.column === 'id' ? `${sort.sql} ${direction}` : `${sort.sql} ${direction}, ${table}.id ${direction}`;
      const rows = await tx.query(
        `SELECT ${selectList}, ${sort.cast === 'timestamptz' ? isoUtc(sort.sql) : `${sort.sql}::text`} AS sort_key FROM ${table} WHERE ${conditions.join(' AND ')} ORDER BY ${orderBy} LIMIT ${param(request.limit)}`,
        params,
      );
      return { resources: rows.map(toResource), sortKeys: rows.map((r) => String(r.sort_key)) };
    },

    async insert(tx: ScopedTransaction, id: string, body: Record<string, unknown>): Promise<Resource> {
      const values = writeValues(body);
      const placeholders = writeColumns.map((column, i) => `$${i + 3}::${castFor(column)}`);
      const [row] = await tx.query(
        `INSERT INTO ${table} (tenant_id, id, ${writeColumns.map(quote).join(', ')}) VALUES ($1, $2, ${placeholders.join(', ')}) RETURNING ${selectList}`,
        [tenantOf(tx), id, ...values],
      );
      if (!row) throw new Error('insert returned no row');
      return toResource(row);
    },

    /** Replaces every field; only if the version still matches. undefined: no row at that id and version. */
    async update(tx: ScopedTransaction, id: string, version: number | null, body: Record<string, unknown>): Promise<Resource | undefined> {
      const values = writeValues(body);
      const assignments = writeColumns.map((column, i) => `${quote(column)} = $${i + 4}::${castFor(column)}`);
      const [row] = await tx.query(
        `UPDATE ${table} SET ${assignments.join(', ')}, version = version + 1, updated_at = now()
          WHERE tenant_id = $1 AND id = $2 AND ($3::integer IS NULL OR version = $3::integer)
          RETURNING ${selectList}`,
        [tenantOf(tx), id, version, ...values],
      );
      return row ? toResource(row) : undefined;
    },

    async delete(tx: ScopedTransaction, id: string, version: number | null): Promise<boolean> {
      const rows = await tx.query(
        `DELETE FROM ${table} WHERE tenant_id = $1 AND id = $2 AND ($3::integer IS NULL OR version = $3::integer) RETURNING id`,
        [tenantOf(tx), id, version],
      );
      return rows.length > 0;
    },

    async existingIds(tx: ScopedTransaction, ids: readonly string[]): Promise<Set<string>> {
      if (ids.length === 0) return new Set();
      const rows = await tx.query<{ id: string }>(`SELECT id FROM ${table} WHERE tenant_id = $1 AND id = ANY($2::uuid[])`, [
        tenantOf(tx),
        [...new Set(ids)],
      ]);
      return new Set(rows.map((r) => r.id));
    },
  };
}
export type CollectionQueries = ReturnType<typeof createCollectionQueries>;
