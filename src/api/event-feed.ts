/**
 * GET /api/v1/events: every event of the tenant, oldest first, with the types and payloads of its
 * webhooks (an event's id is the deliveries' webhook-id, so the two deduplicate together). Page
 * with `after=<event id>` and `limit`, following `next`; filter by `type` (webhook patterns) and
 * `created_after`. A consumer back from an outage pages from the last event id it processed.
 */
import type { Database } from '../db/database.ts';
import { ApiError } from '../http/problem.ts';
import { problemResponse, type RouteSpec } from '../http/route-spec.ts';
import { compileResponseValidator } from '../http/validation.ts';
import { PAGE_LIMIT, MAX_LIMIT } from '../catalog/page-limits.ts';
import type { JsonSchema } from '../catalog/collections.ts';
import { EVENTS_READ_SCOPE } from '../catalog/scopes.ts';
import { EVENT_PATTERN } from '../webhooks/events.ts';
import { eventDocument } from '../webhooks/event-document.ts';
import { findFeedPosition, readEventFeed } from '../webhooks/event-feed-queries.ts';
import { apiRoute, type ApiContext } from './route-steps.ts';

const uuid = { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' } as const;
const MAX_TYPE_PATTERNS = 20;

export const eventFeedQuerySchema: JsonSchema = {
  type: 'object',
  properties: {
    after: { ...uuid, description: 'the id of the last event you processed: the page starts after it' },
    limit: { ...PAGE_LIMIT, description: `page size, 1 to ${MAX_LIMIT}` },
    type: {
      type: 'string',
      maxLength: 1000,
      pattern: `^${EVENT_PATTERN.source.slice(1, -1)}(,${EVENT_PATTERN.source.slice(1, -1)}){0,${MAX_TYPE_PATTERNS - 1}}$`,
      description: 'comma-separated webhook patterns: `*`, `employee.*` or `employee.created`',
    },
    created_after: {
      type: 'string',
      format: 'date-time',
      pattern: '(Z|z|[+-][0-9]{2}:[0-9]{2})$',
      description: 'only events that occurred after this instant (RFC 3339)',
    },
  },
  additionalProperties: false,
};

export const eventSchema: JsonSchema = {
  type: 'object',
  description: 'an event, exactly as its webhook delivery sends it',
  properties: {
    id: { type: 'string', format: 'uuid', description: 'the webhook-id of its deliveries' },
    type: { type: 'string', description: 'e.g. employee.created, tenant.suspended, client.secret_rotated' },
    tenant: { type: 'string', description: "the tenant's slug" },
    environment: { type: 'string' },
    occurred_at: { type: 'string', format: 'date-time' },
    data: { description: 'the resource as the API represents it, `{ "id" }` for a deletion' },
  },
  required: ['id', 'type', 'tenant', 'environment', 'occurred_at', 'data'],
  additionalProperties: false,
};

export const eventListSchema: JsonSchema = {
  type: 'object',
  properties: {
    data: { type: 'array', items: eventSchema },
    next: { type: ['string', 'null'], description: 'URL of the next page; null when you are caught up (poll again with after=<last id>)' },
  },
  required: ['data', 'next'],
  additionalProperties: false,
};

/** As the document names it: the list's items by reference to the Event component. */
const eventListComponent: JsonSchema = {
  ...eventListSchema,
  properties: { ...(eventListSchema.properties as object), data: { type: 'array', items: { $ref: '#/components/schemas/Event' } } },
};

export interface EventFeedDeps {
  readonly db: Database;
  /** EVENT_RETENTION_DAYS: how far back the feed reaches */
  readonly eventRetentionDays: number;
  readonly now: () => number;
}

export function eventFeedRoute(deps: EventFeedDeps): { route: RouteSpec<ApiContext>; components: Record<string, JsonSchema> } {
  const checkList = compileResponseValidator(eventListSchema, 'EventList');

  const route = apiRoute({
    method: 'get',
    path: '/events',
    operationId: 'listEvents',
    summary: 'List the events of the tenant, oldest first (the webhooks’ types and payloads)',
    tags: ['Event'],
    scope: EVENTS_READ_SCOPE,
    query: eventFeedQuerySchema,
    responses: {
      200: {
        description: 'a page; follow `next` while it is not null, then poll with after=<the last id>',
        schema: eventListComponent,
        headers: { Link: { schema: { type: 'string' } } },
      },
      410: problemResponse('`after` names no event of this feed (unknown, or older than the events kept): page from created_after'),
    },
    async handler(ctx, { query }) {
      const limit = query.limit as number;
      const { tenant } = ctx.state;
      const reader = deps.db.reader(tenant.id);
      let after = null;
      if (typeof query.after === 'string') {
        after = (await findFeedPosition(reader, query.after)) ?? null;
        if (!after) {
          const since = new Date(deps.now() - deps.eventRetentionDays * 86_400_000).toISOString();
          throw new ApiError(
            'resync-required',
            `No event ${query.after} in this feed: events are kept ${deps.eventRetentionDays} days (EVENT_RETENTION_DAYS). Page from created_after=${since} and skip the ids you already processed.`,
            { members: { errors: [{ pointer: '/query/after', detail: 'unknown or expired event id' }] } },
          );
        }
      }
      const rows = await readEventFeed(reader, {
        after,
        types: typeof query.type === 'string' ? query.type.split(',') : [],
        createdAfter: typeof query.created_after === 'string' ? query.created_after : null,
        limit: limit + 1,
      });
      const data = rows.slice(0, limit).map((row) =>
        eventDocument({
          event_id: row.id,
          type: row.type,
          slug: tenant.slug,
          environment: tenant.environment,
          occurred_at: row.occurred_at,
          data: row.data,
        }),
      );
      const last = data.at(-1);
      let next: string | null = null;
      if (rows.length > limit && last) {
        const params = new URLSearchParams(
          Object.entries(ctx.query).filter(([k, v]) => k !== 'after' && typeof v === 'string') as [string, string][],
        );
        params.set('after', last.id);
        next = `${ctx.state.origin}/api/v1/events?${params}`;
        ctx.set('Link', `<${next}>; rel="next"`);
      }
      const body = { data, next };
      checkList(body);
      ctx.body = body;
    },
  });
  return { route, components: { Event: eventSchema, EventList: eventListComponent } };
}
