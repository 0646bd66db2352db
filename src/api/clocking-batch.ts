/**
 * POST /api/v1/clockings/batch: up to 1,000 clockings in one all-or-nothing transaction, as
 * terminals and importers send them. Either 201 with the new ids in item order, or 422 naming
 * every failing item and why (nothing is written then).
 */
import type Router from '@koa/router';
import type { Database } from '../db/database.ts';
import { uuidv7 } from '../db/ids.ts';
import { ApiError } from '../http/problem.ts';
import { enqueueEvents } from '../webhooks/outbox.ts';
import { createCollectionQueries, utcOffsetMinutes } from './collections/collection-queries.ts';
import { NO_QUERY_SCHEMA, writeSchema } from './collections/collection-schemas.ts';
import { collectionByName, type JsonSchema } from '../catalog/collections.ts';
import { writeError } from './database-errors.ts';
import { parseIdempotencyKey, requestFingerprint, withIdempotency } from './idempotency.ts';
import { type ApiContext, type ApiState, scope } from './route-steps.ts';
import { compileBodyValidator, compileItemChecker, compileQueryValidator, type FailedMember } from '../http/validation.ts';

export const MAX_BATCH_ITEMS = 1000;

const clockings = collectionByName('clockings');
const clockingQueries = createCollectionQueries(clockings);
const employeeQueries = createCollectionQueries(collectionByName('employees'));
const activityQueries = createCollectionQueries(collectionByName('activity_definitions'));

export const batchRequestSchema: JsonSchema = {
  type: 'object',
  properties: { items: { type: 'array', minItems: 1, maxItems: MAX_BATCH_ITEMS, items: writeSchema(clockings) } },
  required: ['items'],
  additionalProperties: false,
};

export const batchResponseSchema: JsonSchema = {
  type: 'object',
  properties: { ids: { type: 'array', items: { type: 'string', format: 'uuid' }, description: 'the new clockings’ ids, in item order' } },
  required: ['ids'],
  additionalProperties: false,
};

interface ClockingItem {
  employee_id: string;
  timestamp: string;
  direction: 'in' | 'out';
  activity_definition_id?: string | null;
  source_device?: string | null;
}

export function registerClockingBatch(router: Router<ApiState>, deps: { db: Database }) {
  const validateEnvelope = compileBodyValidator({
    type: 'object',
    properties: { items: { type: 'array', minItems: 1, maxItems: MAX_BATCH_ITEMS } },
    required: ['items'],
    additionalProperties: false,
  });
  const checkItem = compileItemChecker(writeSchema(clockings));
  const validateNoQuery = compileQueryValidator(NO_QUERY_SCHEMA);

  router.post('/clockings/batch', scope('clockings:write'), async function createClockingBatch(ctx: ApiContext) {
    validateNoQuery(ctx.query);
    const body = validateEnvelope(ctx.state.body);
    const items = body.items as unknown[];

    const failures: FailedMember[] = [];
    items.forEach((item, index) => failures.push(...checkItem(item, `/items/${index}`)));
    if (failures.length) throw batchFailed(failures, items.length);
    const valid = items as ClockingItem[];
    const idempotencyKey = parseIdempotencyKey(ctx.get('idempotency-key'));

    const result = await deps.db.scoped(ctx.state.tenant.id, async (tx) => {
      const insert = async () => {
        const [knownEmployees, knownActivities] = await Promise.all([
          employeeQueries.existingIds(
            tx,
            valid.map((i) => i.employee_id),
          ),
          activityQueries.existingIds(
            tx,
            valid.map((i) => i.activity_definition_id).filter((id): id is string => typeof id === 'string'),
          ),
        ]);
        valid.forEach((item, index) => {
          if (!knownEmployees.has(item.employee_id))
            failures.push({ pointer: `/items/${index}/employee_id`, detail: 'employee_id does not refer to an existing employee' });
          if (item.activity_definition_id && !knownActivities.has(item.activity_definition_id)) {
            failures.push({
              pointer: `/items/${index}/activity_definition_id`,
              detail: 'activity_definition_id does not refer to an existing activity definition',
            });
          }
        });
        if (failures.length) throw batchFailed(failures, items.length);

        const ids = valid.map(() => uuidv7());
        const rows = await tx
          .query(
            `INSERT INTO clockings (tenant_id, id, employee_id, occurred_at, utc_offset_minutes, direction, activity_definition_id, source_device)
             SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[], $5::smallint[], $6::text[], $7::uuid[], $8::text[])
             RETURNING ${clockingQueries.selectList}`,
            [
              tx.tenantId,
              ids,
              valid.map((i) => i.employee_id),
              valid.map((i) => i.timestamp),
              valid.map((i) => utcOffsetMinutes(i.timestamp)),
              valid.map((i) => i.direction),
              valid.map((i) => i.activity_definition_id ?? null),
              valid.map((i) => i.source_device ?? null),
            ],
          )
          .catch((error: unknown) => {
            // a referenced row deleted between the check and the insert
            throw writeError(error, clockings, '/items') ?? error;
          });
        // one clocking.created per item, in item order, in this transaction
        const created = new Map(rows.map((row) => [row.id as string, clockingQueries.toResource(row)]));
        await enqueueEvents(
          tx,
          ids.map((id) => ({ type: 'clocking.created', data: created.get(id) })),
        );
        return { status: 201, headers: {}, body: { ids } };
      };
      if (!idempotencyKey) return { ...(await insert()), replayed: false };
      return withIdempotency(
        tx,
        { clientId: ctx.state.claims.client_id, key: idempotencyKey, fingerprint: requestFingerprint(ctx.method, ctx.path, body) },
        insert,
      );
    });
    ctx.status = result.status;
    if (result.replayed) ctx.set('Idempotent-Replayed', 'true');
    ctx.body = result.body;
  });
}

function batchFailed(failures: FailedMember[], total: number): ApiError {
  const failedItems = [...new Set(failures.map((f) => Number(/^\/items\/(\d+)/.exec(f.pointer)?.[1])))].sort((a, b) => a - b);
  return new ApiError('validation-failed', `${failedItems.length} of ${total} clockings are invalid; nothing was written.`, {
    members: { failed_items: failedItems, errors: failures },
  });
}
