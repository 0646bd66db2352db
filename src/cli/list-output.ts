/** How a list command answers: one page, or every page with --all, as JSON or as a table. */
import { type AdminClient, collectAll, type Page } from './admin-client.ts';
import type { CommandContext } from './command.ts';
import { type Column, formatCount } from './output.ts';

export interface ListOutput<T> {
  readonly columns: readonly Column<T>[];
  /** what the progress line counts while pages arrive */
  readonly noun: string;
  readonly plural?: string;
  /** follow every page */
  readonly all: boolean;
  /** the line shown instead of an empty table */
  readonly empty: string;
}

/** The first page, or all of them (counting as they come); a hint when more pages are left. */
export async function printList<T>(ctx: CommandContext, api: AdminClient, first: Page<T>, list: ListOutput<T>): Promise<void> {
  const plural = list.plural ?? `${list.noun}s`;
  let page = first;
  if (list.all) {
    page = await collectAll(api, page, (n) => ctx.out.progress.update(`${formatCount(n, list.noun, plural)}…`));
    ctx.out.progress.done();
  }
  if (ctx.out.json) return ctx.out.result(page, () => undefined);
  ctx.out.table(list.columns, page.data, list.empty);
  if (page.next) ctx.out.note(`More ${plural}: use --all, or a larger --limit.`);
}
