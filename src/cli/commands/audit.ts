/** audit: the admin audit log, newest first */
import type { Page } from '../admin-client.ts';
import type { AuditEvent } from '../../admin/admin-contract.ts';
import { defineCommand, type Command } from '../command.ts';
import { readOptions } from '../option-values.ts';
import type { Column } from '../output.ts';
import { printList } from '../list-output.ts';

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
      since: { type: 'string', value: 'when', description: 'from this time: ISO date-time, or a duration ago (24h, 7d)' },
      until: { type: 'string', value: 'when', description: 'up to this time: ISO date-time, or a duration ago' },
      limit: { type: 'string', value: 'n', description: 'page size' },
      all: { type: 'boolean', description: 'follow every page' },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'audit');
      const now = ctx.now();
      const query = {
        tenant: o.string('tenant'),
        action: o.string('action'),
        actor: o.string('actor'),
        since: o.instant('since', now),
        until: o.instant('until', now),
        limit: o.positiveInteger('limit'),
      };
      const api = ctx.api();
      const first = await api.get<Page<AuditEvent>>('/audit-events', query);
      await printList(ctx, api, first, { columns: AUDIT_COLUMNS, noun: 'event', all: o.flag('all'), empty: 'No audit events.' });
    },
  }),
];
