/**
 * An event as the outside sees it: the body of every webhook delivery and an item of the events
 * feed (GET /api/v1/events) alike, so a consumer handles both with one parser and deduplicates
 * them by `id` (the webhook-id header).
 */
export interface EventDocument {
  readonly id: string;
  readonly type: string;
  /** the tenant's slug */
  readonly tenant: string;
  readonly environment: string;
  readonly occurred_at: string;
  readonly data: unknown;
}

export function eventDocument(row: {
  readonly event_id: string;
  readonly type: string;
  readonly slug: string;
  readonly environment: string;
  readonly occurred_at: Date | string;
  readonly data: unknown;
}): EventDocument {
  return {
    id: row.event_id,
    type: row.type,
    tenant: row.slug,
    environment: row.environment,
    occurred_at: new Date(row.occurred_at).toISOString(),
    data: row.data,
  };
}
