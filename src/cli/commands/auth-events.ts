/** auth-events: a tenant's token requests, newest first: issued, or refused and why */
import { apiPath } from '../admin-client.ts';
import type { AuthEvent } from '../../admin/admin-contract.ts';
import { AUTH_EVENT_OUTCOMES, AUTH_REFUSAL_REASONS } from '../../catalog/auth-event-reasons.ts';
import { defineCommand, type Command } from '../command.ts';
import { readOptions } from '../option-values.ts';
import type { Column } from '../output.ts';
import { showEvents, TIME_RANGE_PAGE_OPTIONS, timeRangeQuery } from './event-lists.ts';

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
      ...TIME_RANGE_PAGE_OPTIONS,
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'auth-events');
      const query = {
        client_id: o.string('client'),
        outcome: o.choice('outcome', AUTH_EVENT_OUTCOMES),
        reason: o.choice('reason', AUTH_REFUSAL_REASONS),
        ...timeRangeQuery(o, ctx.now()),
      };
      const path = apiPath`/tenants/${ctx.args.tenant as string}/auth-events`;
      await showEvents(ctx, o, { path, query, columns: AUTH_EVENT_COLUMNS, empty: 'No token requests recorded.' });
    },
  }),
];
