/**
 * The six operations of a collection, declared from its definition: list, get, create, replace,
 * patch and delete. Each declaration gives the router entry, its checks and its OpenAPI operation;
 * each handler reads top to bottom as named steps.
 */
import type { Database, ScopedTransaction } from '../../db/database.ts';
import { uuidv7 } from '../../db/ids.ts';
import { ApiError } from '../../http/problem.ts';
import { deleteError, writeError } from '../database-errors.ts';
import { createOnce, IDEMPOTENCY_KEY } from '../idempotency.ts';
import { decodeCursor, encodeCursor } from '../../http/pagination.ts';
import { apiRoute, type ApiContext, notFound, resourceId } from '../route-steps.ts';
import { problemResponse, type RouteSpec } from '../../http/route-spec.ts';
import { compileBodyValidator, compileResponseValidator } from '../../http/validation.ts';
import { ETAG, etagOf, IF_MATCH, ifMatchVersions } from '../write-preconditions.ts';
import { enqueueEvents } from '../../webhooks/outbox.ts';
import { createCollectionQueries, findResourceResetAt, type Resource, type Tombstone } from './collection-queries.ts';
import { resyncReason } from './sync-window.ts';
import { collectionSchemas, listSchema, NO_QUERY_SCHEMA, TOMBSTONE_SCHEMA } from './collection-schemas.ts';
import type { CollectionDefinition, JsonSchema } from '../../catalog/collections.ts';

export function checkRules(def: CollectionDefinition, resource: Record<string, unknown>, prefix = ''): void {
  const broken = def.rules
    .filter((rule) => !rule.holds(resource))
    .map((rule) => ({ pointer: `${prefix}${rule.pointer}`, detail: rule.detail }));
  if (broken.length) throw new ApiError('validation-failed', broken.map((b) => b.detail).join('; '), { members: { errors: broken } });
}

export interface CollectionRouteDeps {
  readonly db: Database;
  /** how long tombstones are kept (TOMBSTONE_RETENTION_DAYS): how far back include_deleted reaches */
  readonly tombstoneRetentionDays: number;
  readonly now: () => number;
}

/** include_deleted walks one order, updated_at, and filters only by updated_since: tombstones have nothing else. */
function checkIncludeDeleted(def: CollectionDefinition, query: Record<string, unknown>, sentSort: unknown): string {
  const problems: { pointer: string; detail: string }[] = [];
  if (typeof query.updated_since !== 'string') {
    problems.push({
      pointer: '/query/updated_since',
      detail: 'include_deleted=true needs updated_since (a full load needs no tombstones)',
    });
  }
  if (sentSort !== undefined && sentSort !== 'updated_at') {
    problems.push({
      pointer: '/query/sort',
      detail: 'with include_deleted=true the list is in updated_at order: leave sort out or send sort=updated_at',
    });
  }
  for (const filter of def.filters) {
    if (filter.name !== 'updated_since' && query[filter.name] !== undefined) {
      problems.push({
        pointer: `/query/${filter.name}`,
        detail: `include_deleted=true combines only with updated_since, not ${filter.name}`,
      });
    }
  }
  if (problems.length) throw new ApiError('invalid-query', problems.map((p) => p.detail).join('; '), { members: { errors: problems } });
  return query.updated_since as string;
}

/** Rows and tombstones, each already in (key, id) order: one order, as a sync applies them. */
function mergeByKey(
  rows: { items: Resource[]; keys: string[] },
  tombstones: Tombstone[],
  limit: number,
): { items: (Resource | Tombstone)[]; keys: string[] } {
  const items: (Resource | Tombstone)[] = [];
  const keys: string[] = [];
  let r = 0;
  let t = 0;
  while (items.length < limit && (r < rows.items.length || t < tombstones.length)) {
    const row = rows.items[r];
    const tombstone = tombstones[t];
    const rowKey = rows.keys[r] ?? '';
    // fixed-width UTC timestamps and lower-case uuids: text order is the database's order
    const takeRow =
      row !== undefined &&
      (tombstone === undefined || rowKey < tombstone.deleted_at || (rowKey === tombstone.deleted_at && row.id < tombstone.id));
    if (takeRow) {
      items.push(row);
      keys.push(rowKey);
      r += 1;
    } else if (tombstone) {
      items.push(tombstone);
      keys.push(tombstone.deleted_at);
      t += 1;
    }
  }
  return { items, keys };
}

/**
 * "a contract", "an employee": by the first letter, which is right for every collection noun here
 * (none starts with a silent h or a "you" sound; the summary test names each expected phrase).
 */
export function withArticle(noun: string): string {
  return `${/^[aeiou]/i.test(noun) ? 'an' : 'a'} ${noun}`;
}

const NO_SUCH_RESOURCE = problemResponse('no such resource in this tenant');
const TAKEN = problemResponse('a unique value is taken');
const STALE = problemResponse('If-Match does not match the current version');
const IF_MATCH_MISSING = problemResponse('If-Match is required');
/** what a PUT or PATCH of one resource may answer besides 200 */
const CHANGE_ERRORS = {
  404: NO_SUCH_RESOURCE,
  409: TAKEN,
  412: STALE,
  422: problemResponse('invalid body or a reference to nothing'),
  428: IF_MATCH_MISSING,
};

export interface CollectionRoutes {
  readonly routes: RouteSpec<ApiContext>[];
  /** the document's named schemas, the very objects the routes declare */
  readonly components: Record<string, JsonSchema>;
}

export function collectionRoutes(def: CollectionDefinition, deps: CollectionRouteDeps): CollectionRoutes {
  const queries = createCollectionQueries(def);
  const schemas = collectionSchemas(def);
  const validateWrite = compileBodyValidator(schemas.write);
  const checkResource = compileResponseValidator(schemas.resource, def.title);
  const checkList = compileResponseValidator(listSchema(schemas.resource), `${def.title}List`);
  const base = `/${def.path}`;
  const name = def.title;
  const label = withArticle(def.singular.replace('_', ' '));
  const read = `${def.path}:read`;
  const write = `${def.path}:write`;
  const params = { id: resourceId(def.singular) };
  const writeBody = {
    schema: schemas.write,
    validate(sent: unknown) {
      const body = validateWrite(sent);
      checkRules(def, body);
      return body;
    },
  };
  const translateWriteError = (error: unknown): never => {
    throw writeError(error, def) ?? error;
  };

  const respondWith = (ctx: ApiContext, status: number, body: Resource) => {
    checkResource(body);
    ctx.status = status;
    ctx.set('ETag', etagOf(body.version));
    ctx.body = body;
  };

  const lockCurrent = async (tx: ScopedTransaction, id: string, versions: number[] | null) => {
    const current = await queries.findById(tx, id, { lock: true });
    if (!current) throw notFound(def.singular);
    if (versions && !versions.includes(current.version)) {
      throw new ApiError(
        'precondition-failed',
        `The ${def.singular.replace('_', ' ')} has changed: its current ETag is ${etagOf(current.version)}. GET it again and reapply your change.`,
      );
    }
    return current;
  };

  /** updated_since=…&include_deleted=true: changed rows and tombstones, or 410 when deletions may be missing. */
  async function readWithDeletions(ctx: ApiContext, query: Record<string, unknown>, limit: number) {
    const since = checkIncludeDeleted(def, query, ctx.query.sort);
    const after = typeof query.cursor === 'string' ? decodeCursor(query.cursor, 'updated_at') : null;
    const reader = deps.db.reader(ctx.state.tenant.id);
    const resetAt = await findResourceResetAt(reader);
    const reason = resyncReason({
      updatedSince: Date.parse(since),
      now: deps.now(),
      tombstoneRetentionDays: deps.tombstoneRetentionDays,
      resetAt,
    });
    if (reason) {
      throw new ApiError(
        'resync-required',
        `A full resync is needed: ${reason}. Load the whole collection again without updated_since, then continue from the time that load started.`,
        {
          members: { errors: [{ pointer: '/query/updated_since', detail: reason }] },
        },
      );
    }
    const sort = { field: 'updated_at', descending: false };
    const filters = def.filters.filter((f) => f.name === 'updated_since').map((f) => ({ condition: f.condition, value: since }));
    // rows first, then tombstones: a row deleted between the two reads shows up in both (upsert,
    // then delete, in that order), never in neither
    const page = await queries.list(reader, { filters, sort, after, limit: limit + 1 });
    const tombstones = await queries.listTombstones(reader, { since, after, limit: limit + 1 });
    return mergeByKey({ items: page.resources, keys: page.sortKeys }, tombstones, limit + 1);
  }

  /** PUT and PATCH: the new values from the locked current version, written if it is still current. */
  const changeResource = async (
    ctx: ApiContext,
    id: string,
    versions: number[] | null,
    valuesOf: (current: Resource) => Record<string, unknown>,
  ) => {
    const updated = await deps.db.scoped(ctx.state.tenant.id, async (tx) => {
      const current = await lockCurrent(tx, id, versions);
      const changed = await queries.update(tx, id, current.version, valuesOf(current)).catch(translateWriteError);
      if (changed) await enqueueEvents(tx, [{ type: `${def.singular}.updated`, data: changed }]);
      return changed;
    });
    if (!updated) throw notFound(def.singular);
    respondWith(ctx, 200, updated);
  };

  /** what PUT, PATCH and DELETE of one resource share: its path and scope, no query, If-Match */
  const writeOne = { path: `${base}/:id`, tags: [name], scope: write, query: NO_QUERY_SCHEMA, headers: [IF_MATCH], params };

  const routes = [
    apiRoute({
      method: 'get',
      path: base,
      operationId: `list${name}s`,
      summary: `List ${def.path.replace('-', ' ')}`,
      tags: [name],
      scope: read,
      query: schemas.listQuery,
      responses: {
        200: {
          description: 'a page; follow `next` (or the Link header) for more; tombstones only with include_deleted=true',
          schema: schemas.list,
          headers: { Link: { schema: { type: 'string' } } },
        },
        410: problemResponse('include_deleted=true with an updated_since older than the deletions kept: load the whole collection again'),
      },
      async handler(ctx, { query }) {
        const limit = query.limit as number;
        let sortSpec = query.sort as string;
        let items: (Resource | Tombstone)[];
        let keys: string[];
        if (query.include_deleted === true) {
          sortSpec = 'updated_at';
          ({ items, keys } = await readWithDeletions(ctx, query, limit));
        } else {
          const sort = { field: sortSpec.replace(/^-/, ''), descending: sortSpec.startsWith('-') };
          const after = typeof query.cursor === 'string' ? decodeCursor(query.cursor, sortSpec) : null;
          const filters = def.filters
            .filter((f) => query[f.name] !== undefined)
            .map((f) => ({ condition: f.condition, value: query[f.name] }));
          const page = await queries.list(deps.db.reader(ctx.state.tenant.id), { filters, sort, after, limit: limit + 1 });
          items = page.resources;
          keys = page.sortKeys;
        }
        const data = items.slice(0, limit);
        const last = data.at(-1);
        let next: string | null = null;
        if (items.length > limit && last) {
          const params = new URLSearchParams(
            Object.entries(ctx.query).filter(([k, v]) => k !== 'cursor' && typeof v === 'string') as [string, string][],
          );
          params.set('cursor', encodeCursor(sortSpec, { key: keys[limit - 1] ?? last.id, id: last.id }));
          next = `${ctx.state.origin}/api/v1${base}?${params}`;
          ctx.set('Link', `<${next}>; rel="next"`);
        }
        const body = { data, next };
        checkList(body);
        ctx.body = body;
      },
    }),

    apiRoute({
      method: 'post',
      path: base,
      operationId: `create${name}`,
      summary: `Create ${label}`,
      tags: [name],
      scope: write,
      query: NO_QUERY_SCHEMA,
      headers: [IDEMPOTENCY_KEY],
      body: writeBody,
      responses: {
        201: {
          description: 'created',
          schema: schemas.resource,
          headers: { ...ETAG, Location: { schema: { type: 'string', format: 'uri' } } },
        },
        409: TAKEN,
        422: problemResponse('invalid body, a reference to nothing, or an Idempotency-Key reused for another request'),
      },
      async handler(ctx, { body, headers }) {
        await createOnce(ctx, deps.db, { key: headers[IDEMPOTENCY_KEY.name] as string | undefined, body }, async (tx) => {
          const created = await queries.insert(tx, uuidv7(), body).catch(translateWriteError);
          checkResource(created);
          await enqueueEvents(tx, [{ type: `${def.singular}.created`, data: created }]);
          return {
            status: 201,
            headers: { Location: `${ctx.state.origin}/api/v1${base}/${created.id}`, ETag: etagOf(created.version) },
            body: created,
          };
        });
      },
    }),

    apiRoute({
      method: 'get',
      path: `${base}/:id`,
      operationId: `get${name}`,
      summary: `Get ${label}`,
      tags: [name],
      scope: read,
      query: NO_QUERY_SCHEMA,
      params,
      responses: { 200: { description: 'the resource', schema: schemas.resource, headers: ETAG }, 404: NO_SUCH_RESOURCE },
      async handler(ctx, input) {
        const found = await queries.findById(deps.db.reader(ctx.state.tenant.id), input.params.id as string);
        if (!found) throw notFound(def.singular);
        respondWith(ctx, 200, found);
      },
    }),

    apiRoute({
      method: 'put',
      ...writeOne,
      operationId: `replace${name}`,
      summary: `Replace ${label}`,
      body: writeBody,
      responses: { 200: { description: 'replaced', schema: schemas.resource, headers: ETAG }, ...CHANGE_ERRORS },
      async handler(ctx, { body, headers, params }) {
        await changeResource(ctx, params.id as string, ifMatchVersions(headers), () => body);
      },
    }),

    apiRoute({
      method: 'patch',
      ...writeOne,
      operationId: `patch${name}`,
      summary: `Change some fields of ${label} (JSON merge patch)`,
      body: { schema: schemas.patch, mediaTypes: ['application/merge-patch+json', 'application/json'] },
      responses: { 200: { description: 'changed', schema: schemas.resource, headers: ETAG }, ...CHANGE_ERRORS },
      async handler(ctx, { body: patch, headers, params }) {
        await changeResource(ctx, params.id as string, ifMatchVersions(headers), (current) => {
          const merged = Object.fromEntries(
            Object.keys(def.fields).map((field) => [field, field in patch ? patch[field] : current[field]]),
          );
          checkRules(def, merged);
          return merged;
        });
      },
    }),

    apiRoute({
      method: 'delete',
      ...writeOne,
      operationId: `delete${name}`,
      summary: `Delete ${label}`,
      responses: {
        204: { description: 'deleted' },
        404: NO_SUCH_RESOURCE,
        409: problemResponse('other resources still refer to it'),
        412: STALE,
        428: IF_MATCH_MISSING,
      },
      async handler(ctx, { headers, params }) {
        const id = params.id as string;
        const versions = ifMatchVersions(headers);
        await deps.db.scoped(ctx.state.tenant.id, async (tx) => {
          const current = await lockCurrent(tx, id, versions);
          await queries.delete(tx, id, current.version).catch((error: unknown) => {
            throw deleteError(error, def) ?? error;
          });
          await enqueueEvents(tx, [{ type: `${def.singular}.deleted`, data: { id } }]);
        });
        ctx.status = 204;
      },
    }),
  ];

  const components = {
    [name]: schemas.resource,
    [`${name}Write`]: schemas.write,
    [`${name}Patch`]: schemas.patch,
    [`${name}List`]: schemas.list,
    Tombstone: TOMBSTONE_SCHEMA,
  };
  return { routes, components };
}
