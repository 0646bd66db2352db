/** audit: the admin audit log, newest first */
import type { AuditEvent } from '../../admin/admin-contract.ts';
import { defineCommand, type Command } from '../command.ts';
import { readOptions } from '../option-values.ts';
import type { Column } from '../output.ts';
import { showEvents, TIME_RANGE_PAGE_OPTIONS, timeRangeQuery } from './event-lists.ts';

export const AUDIT_COLUMNS: readonly Column<AuditEvent>[] = [
  { header: 'TIME', value: (e) => e.occurred_at },
  { header: 'ENV', value: (e) => e.environment },
  { header: 'TENANT', value: (e) => e.tenant?.slug },
  { header: 'ACTOR', value: (e) => e.actor?.client_id },
  { header: 'ACTION', value: (e) => e.action },
  { header: 'TARGET', value: (e) => (e.target ? `${e.target.type}:${e.target.id}` : null) },
  { header: 'REQUEST', value: (e) => e.request_id },
];

export const auditCommands: Command[] = [
  defineCommand({
    path: ['audit'],
    summary: 'Show the audit log of admin actions.',
    options: {
      tenant: { type: 'string', value: 'slug', description: 'only events about this tenant' },
      action: { type: 'string', value: 'action', description: 'only this action, e.g. tenant.suspend' },
      actor: { type: 'string', value: 'client_id', description: 'only events by this admin client' },
      ...TIME_RANGE_PAGE_OPTIONS,
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'audit');
      const query = { tenant: o.string('tenant'), action: o.string('action'), actor: o.string('actor'), ...timeRangeQuery(o, ctx.now()) };
      await showEvents(ctx, o, { path: '/audit-events', query, columns: AUDIT_COLUMNS, empty: 'No audit events.' });
    },
  }),
];
