/**
 * The six operations of a collection, generated from its definition: list, get, create, replace,
 * patch and delete. Each reads top to bottom as named steps.
 */
import type Router from '@koa/router';
import type { Database } from '../../db/database.ts';
import { uuidv7 } from '../../db/ids.ts';
import { ApiError } from '../../http/problem.ts';
import { deleteError, writeError } from '../database-errors.ts';
import { parseIdempotencyKey, requestFingerprint, withIdempotency } from '../idempotency.ts';
import { decodeCursor, encodeCursor } from '../../http/pagination.ts';
import { type ApiContext, type ApiState, notFound, resourceId, scope } from '../route-steps.ts';
import { compileBodyValidator, compileQueryValidator, compileResponseValidator } from '../../http/validation.ts';
import { etagOf, requireIfMatch } from '../write-preconditions.ts';
import { enqueueEvents } from '../../webhooks/outbox.ts';
import { createCollectionQueries, findResourceResetAt, type Resource, type Tombstone } from './collection-queries.ts';
import { resyncReason } from './sync-window.ts';
import { listQuerySchema, listSchema, NO_QUERY_SCHEMA, patchSchema, resourceSchema, writeSchema } from './collection-schemas.ts';
import type { CollectionDefinition } from '../../catalog/collections.ts';

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

export function registerCollectionRoutes(router: Router<ApiState>, def: CollectionDefinition, deps: CollectionRouteDeps) {
  const queries = createCollectionQueries(def);
  const validateListQuery = compileQueryValidator(listQuerySchema(def));
  const validateNoQuery = compileQueryValidator(NO_QUERY_SCHEMA);
  const validateWrite = compileBodyValidator(writeSchema(def));
  const validatePatch = compileBodyValidator(patchSchema(def));
  const resource = resourceSchema(def);
  const checkResource = compileResponseValidator(resource, def.title);
  const checkList = compileResponseValidator(listSchema(resource), `${def.title}List`);
  const base = `/${def.path}`;
  const requireRead = scope(`${def.path}:read`);
  const requireWrite = scope(`${def.path}:write`);

  const respondWith = (ctx: ApiContext, status: number, body: Resource) => {
    checkResource(body);
    ctx.status = status;
    ctx.set('ETag', etagOf(body.version));
    ctx.body = body;
  };

  const lockCurrent = async (tx: Parameters<Parameters<Database['scoped']>[1]>[0], id: string, versions: number[] | null) => {
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

  router.get(base, requireRead, async function listResources(ctx: ApiContext) {
    const query = validateListQuery(ctx.query);
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
      const filters = def.filters.filter((f) => query[f.name] !== undefined).map((f) => ({ condition: f.condition, value: query[f.name] }));
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
  });

  router.post(base, requireWrite, async function createResource(ctx: ApiContext) {
    validateNoQuery(ctx.query);
    const body = validateWrite(ctx.state.body);
    checkRules(def, body);
    const idempotencyKey = parseIdempotencyKey(ctx.get('idempotency-key'));
    const result = await deps.db.scoped(ctx.state.tenant.id, async (tx) => {
      const create = async () => {
        const created = await queries.insert(tx, uuidv7(), body).catch((error: unknown) => {
          throw writeError(error, def) ?? error;
        });
        checkResource(created);
        await enqueueEvents(tx, [{ type: `${def.singular}.created`, data: created }]);
        return {
          status: 201,
          headers: { Location: `${ctx.state.origin}/api/v1${base}/${created.id}`, ETag: etagOf(created.version) },
          body: created,
        };
      };
      if (!idempotencyKey) return { ...(await create()), replayed: false };
      return withIdempotency(
        tx,
        { clientId: ctx.state.claims.client_id, key: idempotencyKey, fingerprint: requestFingerprint(ctx.method, ctx.path, body) },
        create,
      );
    });
    ctx.status = result.status;
    ctx.set(result.headers);
    if (result.replayed) ctx.set('Idempotent-Replayed', 'true');
    ctx.body = result.body;
  });

  router.get(`${base}/:id`, requireRead, async function getResource(ctx: ApiContext) {
    validateNoQuery(ctx.query);
    const id = resourceId(ctx, def.singular);
    const found = await queries.findById(deps.db.reader(ctx.state.tenant.id), id);
    if (!found) throw notFound(def.singular);
    respondWith(ctx, 200, found);
  });

  router.put(`${base}/:id`, requireWrite, async function replaceResource(ctx: ApiContext) {
    validateNoQuery(ctx.query);
    const { versions } = requireIfMatch(ctx);
    const id = resourceId(ctx, def.singular);
    const body = validateWrite(ctx.state.body);
    checkRules(def, body);
    const updated = await deps.db.scoped(ctx.state.tenant.id, async (tx) => {
      const current = await lockCurrent(tx, id, versions);
      const replaced = await queries.update(tx, id, current.version, body).catch((error: unknown) => {
        throw writeError(error, def) ?? error;
      });
      if (replaced) await enqueueEvents(tx, [{ type: `${def.singular}.updated`, data: replaced }]);
      return replaced;
    });
    if (!updated) throw notFound(def.singular);
    respondWith(ctx, 200, updated);
  });

  router.patch(`${base}/:id`, requireWrite, async function patchResource(ctx: ApiContext) {
    validateNoQuery(ctx.query);
    const { versions } = requireIfMatch(ctx);
    const id = resourceId(ctx, def.singular);
    const patch = validatePatch(ctx.state.body);
    const updated = await deps.db.scoped(ctx.state.tenant.id, async (tx) => {
      const current = await lockCurrent(tx, id, versions);
      const merged = Object.fromEntries(Object.keys(def.fields).map((name) => [name, name in patch ? patch[name] : current[name]]));
      checkRules(def, merged);
      const patched = await queries.update(tx, id, current.version, merged).catch((error: unknown) => {
        throw writeError(error, def) ?? error;
      });
      if (patched) await enqueueEvents(tx, [{ type: `${def.singular}.updated`, data: patched }]);
      return patched;
    });
    if (!updated) throw notFound(def.singular);
    respondWith(ctx, 200, updated);
  });

  router.delete(`${base}/:id`, requireWrite, async function deleteResource(ctx: ApiContext) {
    validateNoQuery(ctx.query);
    const { versions } = requireIfMatch(ctx);
    const id = resourceId(ctx, def.singular);
    await deps.db.scoped(ctx.state.tenant.id, async (tx) => {
      const current = await lockCurrent(tx, id, versions);
      await queries.delete(tx, id, current.version).catch((error: unknown) => {
        throw deleteError(error, def) ?? error;
      });
      await enqueueEvents(tx, [{ type: `${def.singular}.deleted`, data: { id } }]);
    });
    ctx.status = 204;
  });

  return queries;
}
