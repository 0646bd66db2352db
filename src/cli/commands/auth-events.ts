/** auth-events: a tenant's token requests, newest first: issued, or refused and why */
import { apiPath, collectAll, type Page } from '../admin-client.ts';
import type { AuthEvent } from '../../admin/admin-contract.ts';
import { AUTH_EVENT_OUTCOMES, AUTH_REFUSAL_REASONS } from '../../catalog/auth-event-reasons.ts';
import { defineCommand, type Command } from '../command.ts';
import { readOptions } from '../option-values.ts';
import { formatCount, type Column } from '../output.ts';

export const AUTH_EVENT_COLUMNS: readonly Column<AuthEvent>[] = [
  { header: 'TIME', value: (e) => e.time },
  { header: 'CLIENT', value: (e) => e.client_id },
  { header: 'OUTCOME', value: (e) => e.outcome },
  { header: 'REASON', value: (e) => e.reason },
  { header: 'SOURCE', value: (e) => e.source_ip },
  { header: 'SCOPES', value: (e) => e.scopes.join(' ') },
  { header: 'JTI', value: (e) => e.jti },
];

export const authEventCommands: Command[] = [
  defineCommand({
    path: ['auth-events'],
    summary: "Show a tenant's token requests: which were issued, which refused and why.",
    args: ['tenant'],
    options: {
      client: { type: 'string', value: 'client_id', description: 'only this client' },
      outcome: { type: 'string', value: AUTH_EVENT_OUTCOMES.join('|'), description: 'only issued or only refused requests' },
      reason: { type: 'string', value: 'reason', description: `only this refusal reason: ${AUTH_REFUSAL_REASONS.join(', ')}` },
      since: { type: 'string', value: 'when', description: 'from this time: ISO date-time, or a duration ago (24h, 7d)' },
      until: { type: 'string', value: 'when', description: 'up to this time: ISO date-time, or a duration ago' },
      limit: { type: 'string', value: 'n', description: 'page size' },
      all: { type: 'boolean', description: 'follow every page' },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'auth-events');
      const now = ctx.now();
      const query = {
        client_id: o.string('client'),
        outcome: o.choice('outcome', AUTH_EVENT_OUTCOMES),
        reason: o.choice('reason', AUTH_REFUSAL_REASONS),
        since: o.instant('since', now),
        until: o.instant('until', now),
        limit: o.positiveInteger('limit'),
      };
      const api = ctx.api();
      let page = await api.get<Page<AuthEvent>>(apiPath`/tenants/${ctx.args.tenant as string}/auth-events`, query);
      if (o.flag('all')) {
        page = await collectAll(api, page, (n) => ctx.out.progress.update(`${formatCount(n, 'event')}…`));
        ctx.out.progress.done();
      }
      if (ctx.out.json) return ctx.out.result(page, () => undefined);
      ctx.out.table(AUTH_EVENT_COLUMNS, page.data, 'No token requests recorded.');
      if (page.next) ctx.out.note('More events: use --all, or a larger --limit.');
    },
  }),
];
