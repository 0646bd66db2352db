/**
 * Usage per tenant, client and UTC day, as GET /v1/usage answers it: the daily counts the usage
 * counter (db/usage-counts.ts) adds up from every instance, read by the owner (usage_daily is a
 * platform table). The date range rules are pure and unit-tested apart from the read.
 */
import type { Queryable } from '../../db/database.ts';
import { NO_CLIENT } from '../../db/usage-counts.ts';

/** The widest range one request may ask for: a year, leap day included. */
export const USAGE_MAX_RANGE_DAYS = 366;
/** The range when none is asked for: the 30 days up to today. */
export const USAGE_DEFAULT_RANGE_DAYS = 30;

const DAY_MS = 86_400_000;

/** One tenant's and client's usage on one UTC day. */
export interface UsageRow {
  /** YYYY-MM-DD, UTC */
  readonly date: string;
  /** the tenant's slug */
  readonly tenant: string;
  /** null for what has no client (webhook deliveries) */
  readonly client_id: string | null;
  readonly tokens: number;
  readonly api_calls: number;
  readonly webhook_deliveries: number;
}

export type UsageRange = { readonly from: string; readonly to: string } | { readonly error: string; readonly parameter: 'from' | 'to' };

const dayMs = (date: string) => Date.parse(`${date}T00:00:00Z`);
const dateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The days asked for (both ends included), from dates already checked to be YYYY-MM-DD: `to`
 * defaults to today (UTC), `from` to the 30 days up to `to`; `from` after `to`, or a range wider
 * than 366 days, is an error naming the parameter to change.
 */
export function usageRange(asked: { readonly from?: string | undefined; readonly to?: string | undefined }, now: number): UsageRange {
  const to = asked.to ?? dateOf(now);
  const from = asked.from ?? dateOf(dayMs(to) - (USAGE_DEFAULT_RANGE_DAYS - 1) * DAY_MS);
  if (from > to) return { error: `from (${from}) is after to (${to})`, parameter: 'from' };
  const days = (dayMs(to) - dayMs(from)) / DAY_MS + 1;
  if (days > USAGE_MAX_RANGE_DAYS)
    return {
      error: `the range from ${from} to ${to} is ${days} days; ask for at most ${USAGE_MAX_RANGE_DAYS} at a time`,
      parameter: 'from',
    };
  return { from, to };
}

/** Where a page ends: the last row's day, tenant and client (the order of the rows). */
export interface UsagePosition {
  readonly date: string;
  readonly tenantId: string;
  readonly clientId: string;
}

export interface UsageQuery {
  readonly environment: string;
  /** one tenant; undefined: every tenant of the environment */
  readonly tenantId?: string | undefined;
  readonly from: string;
  readonly to: string;
  readonly after?: UsagePosition | undefined;
  readonly limit: number;
}

/** Ordered by day, then tenant (by id), then client, keyset-paginated; `q` is the owner's. */
export async function listUsage(q: Queryable, query: UsageQuery): Promise<(UsageRow & { readonly position: UsagePosition })[]> {
  const params: unknown[] = [query.environment, query.from, query.to];
  const param = (value: unknown) => `$${params.push(value)}`;
  const conditions = ['t.environment = $1', 'd.day BETWEEN $2::date AND $3::date'];
  if (query.tenantId !== undefined) conditions.push(`d.tenant_id = ${param(query.tenantId)}::uuid`);
  if (query.after)
    conditions.push(
      `(d.day, d.tenant_id, d.client_id) > (${param(query.after.date)}::date, ${param(query.after.tenantId)}::uuid, ${param(query.after.clientId)})`,
    );
  const rows = await q.query<{
    day: string;
    tenant_id: string;
    slug: string;
    client_id: string;
    tokens: string;
    api_calls: string;
    webhook_deliveries: string;
  }>(
    `SELECT to_char(d.day, 'YYYY-MM-DD') AS day, d.tenant_id, t.slug, d.client_id, d.tokens, d.api_calls, d.webhook_deliveries
       FROM usage_daily d JOIN tenants t ON t.id = d.tenant_id
      WHERE ${conditions.join(' AND ')}
      ORDER BY d.day, d.tenant_id, d.client_id
      LIMIT ${param(query.limit)}`,
    params,
  );
  return rows.map((r) => ({
    date: r.day,
    tenant: r.slug,
    client_id: r.client_id === NO_CLIENT ? null : r.client_id,
    tokens: Number(r.tokens),
    api_calls: Number(r.api_calls),
    webhook_deliveries: Number(r.webhook_deliveries),
    position: { date: r.day, tenantId: r.tenant_id, clientId: r.client_id },
  }));
}
