/** What the event logs' commands (audit, auth-events) share: a time range, paging, and how a page is shown. */
import type { Page, Query } from '../admin-client.ts';
import type { CommandContext } from '../command.ts';
import { printList } from '../list-output.ts';
import type { OptionReader } from '../option-values.ts';
import type { Column } from '../output.ts';

export const TIME_RANGE_PAGE_OPTIONS = {
  since: { type: 'string', value: 'when', description: 'from this time: ISO date-time, or a duration ago (24h, 7d)' },
  until: { type: 'string', value: 'when', description: 'up to this time: ISO date-time, or a duration ago' },
  limit: { type: 'string', value: 'n', description: 'page size' },
  all: { type: 'boolean', description: 'follow every page' },
} as const;

/** since, until and limit as the admin API's query parameters */
export function timeRangeQuery(o: OptionReader, now: Date) {
  return { since: o.instant('since', now), until: o.instant('until', now), limit: o.positiveInteger('limit') };
}

/** GETs the first page (every page with --all) and prints it as JSON or a table. */
export async function showEvents<T>(
  ctx: CommandContext,
  o: OptionReader,
  request: { path: string; query: Query; columns: readonly Column<T>[]; empty: string },
): Promise<void> {
  const api = ctx.api();
  const first = await api.get<Page<T>>(request.path, request.query);
  await printList(ctx, api, first, { columns: request.columns, noun: 'event', all: o.flag('all'), empty: request.empty });
}
