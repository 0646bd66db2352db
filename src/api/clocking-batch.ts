/**
 * POST /api/v1/clockings/batch: up to 1,000 clockings in one all-or-nothing transaction, as
 * terminals and importers send them. Either 201 with the new ids in item order, or 422 naming
 * every failing item and why (nothing is written then).
 */
import type { Database, ScopedTransaction } from '../db/database.ts';
import { uuidv7 } from '../db/ids.ts';
import { ApiError } from '../http/problem.ts';
import { enqueueEvents } from '../webhooks/outbox.ts';
import { createCollectionQueries, utcOffsetMinutes } from './collections/collection-queries.ts';
import { NO_QUERY_SCHEMA, writeSchema } from './collections/collection-schemas.ts';
import { collectionByName, type JsonSchema } from '../catalog/collections.ts';
import { writeError } from './database-errors.ts';
import { createOnce, IDEMPOTENCY_KEY } from './idempotency.ts';
import { apiRoute, type ApiContext } from './route-steps.ts';
import { problemResponse, type RouteSpec } from '../http/route-spec.ts';
import { compileBodyValidator, compileItemChecker, type FailedMember } from '../http/validation.ts';

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

const envelopeSchema: JsonSchema = {
  type: 'object',
  properties: { items: { type: 'array', minItems: 1, maxItems: MAX_BATCH_ITEMS } },
  required: ['items'],
  additionalProperties: false,
};

export function clockingBatchRoute(deps: { db: Database }): { route: RouteSpec<ApiContext>; components: Record<string, JsonSchema> } {
  const validateEnvelope = compileBodyValidator(envelopeSchema);
  const checkItem = compileItemChecker(writeSchema(clockings));

  /** The envelope, then every item: one answer names every failing item. */
  function validateBatch(sent: unknown): Record<string, unknown> {
    const body = validateEnvelope(sent);
    const items = body.items as unknown[];
    const failures = items.flatMap((item, index) => checkItem(item, `/items/${index}`));
    if (failures.length) throw batchFailed(failures, items.length);
    return body;
  }

  /** Every item's references exist in this tenant (checked here to name each failing item). */
  async function checkReferences(tx: ScopedTransaction, items: readonly ClockingItem[]): Promise<void> {
    const [knownEmployees, knownActivities] = await Promise.all([
      employeeQueries.existingIds(
        tx,
        items.map((i) => i.employee_id),
      ),
      activityQueries.existingIds(
        tx,
        items.map((i) => i.activity_definition_id).filter((id): id is string => typeof id === 'string'),
      ),
    ]);
    const failures: FailedMember[] = [];
    items.forEach((item, index) => {
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
  }

  async function insertClockings(tx: ScopedTransaction, items: readonly ClockingItem[]): Promise<string[]> {
    const ids = items.map(() => uuidv7());
    const rows = await tx
      .query(
        `INSERT INTO clockings (tenant_id, id, employee_id, occurred_at, utc_offset_minutes, direction, activity_definition_id, source_device)
         SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[], $5::smallint[], $6::text[], $7::uuid[], $8::text[])
         RETURNING ${clockingQueries.selectList}`,
        [
          tx.tenantId,
          ids,
          items.map((i) => i.employee_id),
          items.map((i) => i.timestamp),
          items.map((i) => utcOffsetMinutes(i.timestamp)),
          items.map((i) => i.direction),
          items.map((i) => i.activity_definition_id ?? null),
          items.map((i) => i.source_device ?? null),
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
    return ids;
  }

  const route = apiRoute({
    method: 'post',
    path: '/clockings/batch',
    operationId: 'createClockingBatch',
    summary: `Create up to ${MAX_BATCH_ITEMS} clockings at once, all or nothing`,
    tags: ['Clocking'],
    scope: 'clockings:write',
    query: NO_QUERY_SCHEMA,
    headers: [IDEMPOTENCY_KEY],
    body: { schema: batchRequestSchema, validate: validateBatch },
    responses: {
      201: { description: 'all created; ids in item order', schema: batchResponseSchema },
      422: problemResponse(
        'some items are invalid: `failed_items` and `errors` (pointers like /items/3/direction) say which; nothing was written',
      ),
    },
    async handler(ctx, { body, headers }) {
      const items = body.items as ClockingItem[];
      await createOnce(ctx, deps.db, { key: headers[IDEMPOTENCY_KEY.name] as string | undefined, body }, async (tx) => {
        await checkReferences(tx, items);
        return { status: 201, headers: {}, body: { ids: await insertClockings(tx, items) } };
      });
    },
  });
  return { route, components: { ClockingBatch: batchRequestSchema, ClockingBatchResult: batchResponseSchema } };
}

function batchFailed(failures: FailedMember[], total: number): ApiError {
  const failedItems = [...new Set(failures.map((f) => Number(/^\/items\/(\d+)/.exec(f.pointer)?.[1])))].sort((a, b) => a - b);
  return new ApiError('validation-failed', `${failedItems.length} of ${total} clockings are invalid; nothing was written.`, {
    members: { failed_items: failedItems, errors: failures },
  });
}
