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
import { createCollectionQueries, type Resource } from './collection-queries.ts';
import { listQuerySchema, listSchema, NO_QUERY_SCHEMA, patchSchema, resourceSchema, writeSchema } from './collection-schemas.ts';
import type { CollectionDefinition } from '../../catalog/collections.ts';

export function checkRules(def: CollectionDefinition, resource: Record<string, unknown>, prefix = ''): void {
  const broken = def.rules
    .filter((rule) => !rule.holds(resource))
    .map((rule) => ({ pointer: `${prefix}${rule.pointer}`, detail: rule.detail }));
  if (broken.length) throw new ApiError('validation-failed', broken.map((b) => b.detail).join('; '), { members: { errors: broken } });
}

export function registerCollectionRoutes(router: Router<ApiState>, def: CollectionDefinition, deps: { db: Database }) {
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

  router.get(base, requireRead, async function listResources(ctx: ApiContext) {
    const query = validateListQuery(ctx.query);
    const sortSpec = query.sort as string;
    const sort = { field: sortSpec.replace(/^-/, ''), descending: sortSpec.startsWith('-') };
    const after = typeof query.cursor === 'string' ? decodeCursor(query.cursor, sortSpec) : null;
    const limit = query.limit as number;
    const filters = def.filters.filter((f) => query[f.name] !== undefined).map((f) => ({ condition: f.condition, value: query[f.name] }));
    const page = await queries.list(deps.db.reader(ctx.state.tenant.id), { filters, sort, after, limit: limit + 1 });
    const data = page.resources.slice(0, limit);
    const last = data.at(-1);
    let next: string | null = null;
    if (page.resources.length > limit && last) {
      const params = new URLSearchParams(
        Object.entries(ctx.query).filter(([k, v]) => k !== 'cursor' && typeof v === 'string') as [string, string][],
      );
      params.set('cursor', encodeCursor(sortSpec, { key: page.sortKeys[limit - 1] ?? last.id, id: last.id }));
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
