/**
 * Postgres constraint violations turned into the request errors they mean. Constraint names
 * follow Postgres's defaults (<table>_tenant_id_<column>_fkey / _key), so the column is read from
 * them; every foreign key includes tenant_id, so another tenant's id fails exactly like one that
 * never existed and nothing here can reveal which it was.
 */
import { ApiError } from '../http/problem.ts';
import { COLLECTIONS, type CollectionDefinition } from '../catalog/collections.ts';

interface PostgresError {
  readonly code?: string;
  readonly constraint?: string;
  readonly table?: string;
}

function columnOf(error: PostgresError, table: string, suffix: string): string | undefined {
  const prefix = `${table}_tenant_id_`;
  const name = error.constraint ?? '';
  return name.startsWith(prefix) && name.endsWith(suffix) ? name.slice(prefix.length, -suffix.length) : undefined;
}

/** For a write to `def`: a reference to nothing, a duplicate, a violated check. */
export function writeError(error: unknown, def: CollectionDefinition, pointerPrefix = ''): ApiError | undefined {
  const pg = error as PostgresError;
  if (pg.code === '23503' && pg.table === def.table) {
    const column = columnOf(pg, def.table, '_fkey') ?? 'reference';
    const field = Object.entries(def.fields).find(([, f]) => f.column === column);
    const target = field?.[1].references ? COLLECTIONS.find((c) => c.name === field[1].references)?.singular.replace('_', ' ') : undefined;
    const name = field?.[0] ?? column;
    const detail = `${name} does not refer to an existing ${target ?? 'resource'}`;
    return new ApiError('invalid-reference', detail, { members: { errors: [{ pointer: `${pointerPrefix}/${name}`, detail }] } });
  }
  if (pg.code === '23505') {
    const column = columnOf(pg, def.table, '_key');
    const name = Object.entries(def.fields).find(([, f]) => f.column === column)?.[0] ?? column ?? 'value';
    const detail = `another ${def.singular.replace('_', ' ')} already has this ${name}`;
    return new ApiError('conflict', detail, { members: { errors: [{ pointer: `${pointerPrefix}/${name}`, detail }] } });
  }
  if (pg.code === '23514' || pg.code?.startsWith('22')) {
    return new ApiError('validation-failed', 'A value is out of range for this resource.', {
      members: { errors: [{ pointer: pointerPrefix || '/', detail: 'value out of range' }] },
    });
  }
  return undefined;
}

/** For a delete from `def`: rows of the tenant that still point at it. */
export function deleteError(error: unknown, def: CollectionDefinition): ApiError | undefined {
  const pg = error as PostgresError;
  if (pg.code !== '23503' || !pg.table) return undefined;
  const referencing = COLLECTIONS.find((c) => c.table === pg.table);
  const column = referencing ? columnOf(pg, referencing.table, '_fkey') : undefined;
  const path = referencing?.path ?? pg.table;
  return new ApiError(
    'still-referenced',
    `This ${def.singular.replace('_', ' ')} is still referenced by ${path}${column ? ` (${column})` : ''}; delete or change those first.`,
    {
      members: { referenced_by: { collection: path, ...(column ? { field: column } : {}) } },
    },
  );
}
