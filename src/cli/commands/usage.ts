/** usage: tokens issued, API calls and webhook deliveries per tenant, client and UTC day */
import type { UsageRow } from '../../admin/admin-contract.ts';
import { defineCommand, type Command } from '../command.ts';
import { printList } from '../list-output.ts';
import { readOptions } from '../option-values.ts';
import type { Column } from '../output.ts';
import type { Page } from '../admin-client.ts';

export const USAGE_COLUMNS: readonly Column<UsageRow>[] = [
  { header: 'DATE', value: (r) => r.date },
  { header: 'TENANT', value: (r) => r.tenant },
  { header: 'CLIENT', value: (r) => r.client_id ?? '(webhooks)' },
  { header: 'TOKENS', value: (r) => r.tokens },
  { header: 'API CALLS', value: (r) => r.api_calls },
  { header: 'WEBHOOKS', value: (r) => r.webhook_deliveries },
];

export const usageCommands: Command[] = [
  defineCommand({
    path: ['usage'],
    summary: 'Show tokens issued, API calls and webhook deliveries per tenant, client and day (UTC).',
    options: {
      tenant: { type: 'string', value: 'slug', description: 'only this tenant (default: every tenant; a tenant admin: its own)' },
      from: { type: 'string', value: 'YYYY-MM-DD', description: 'first day (default: 29 days before --to)' },
      to: { type: 'string', value: 'YYYY-MM-DD', description: 'last day, included (default: today); at most 366 days in all' },
      limit: { type: 'string', value: 'n', description: 'page size' },
      all: { type: 'boolean', description: 'follow every page' },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'usage');
      const api = ctx.api();
      const query = { tenant: o.string('tenant'), from: o.string('from'), to: o.string('to'), limit: o.positiveInteger('limit') };
      const first = await api.get<Page<UsageRow>>('/usage', query);
      await printList(ctx, api, first, {
        columns: USAGE_COLUMNS,
        noun: 'row',
        all: o.flag('all'),
        empty: 'No usage recorded in this range.',
      });
    },
  }),
];
