/** tenants create | list | get | update | suspend | activate | restore | delete | purge | sandbox-sync | sandbox-reset */
import { SIGNING_ALGORITHMS } from '../../catalog/signing-algorithms.ts';
import { TENANT_STATUSES } from '../../catalog/tenant-statuses.ts';
import { apiPath, type Page } from '../admin-client.ts';
import type { SandboxResetResult, SandboxSyncResult, Tenant } from '../../admin/admin-contract.ts';
import { defineCommand, type Command, type CommandContext, type OptionSpec } from '../command.ts';
import { UsageError } from '../errors.ts';
import { readOptions } from '../option-values.ts';
import { formatCount, formatRecord, type Column } from '../output.ts';
import { formatDuration } from '../duration.ts';
import { printList } from '../list-output.ts';
import { describeTokenQuota } from './clients.ts';

const SETTINGS_OPTIONS: Record<string, OptionSpec> = {
  settings: { type: 'string', value: 'json', description: 'settings as a JSON object; a key set to null goes back to its default' },
  'access-token-ttl': {
    type: 'string',
    value: 'seconds',
    description: 'access token lifetime (settings.access_token_ttl), e.g. 600 or 10m',
  },
  'signing-alg': {
    type: 'string',
    value: 'alg',
    description: `token signing algorithm (settings.signing_alg): ${SIGNING_ALGORITHMS.join(', ')}`,
  },
  scopes: { type: 'string', value: 'a,b', description: 'scopes the tenant offers (settings.scopes), comma-separated' },
};

/** --settings merged with the single-setting flags (the flags win) */
function settingsFrom(ctx: CommandContext, command: string): Record<string, unknown> | undefined {
  const o = readOptions(ctx.options, command);
  const settings: Record<string, unknown> = { ...o.jsonObject('settings') };
  const ttl = o.duration('access-token-ttl');
  if (ttl !== undefined) settings.access_token_ttl = ttl;
  const alg = o.choice('signing-alg', SIGNING_ALGORITHMS);
  if (alg !== undefined) settings.signing_alg = alg;
  const scopes = o.list('scopes');
  if (scopes !== undefined) settings.scopes = scopes;
  return Object.keys(settings).length || o.string('settings') !== undefined ? settings : undefined;
}

export const TENANT_COLUMNS: readonly Column<Tenant>[] = [
  { header: 'SLUG', value: (t) => t.slug },
  { header: 'NAME', value: (t) => t.name },
  { header: 'ENV', value: (t) => t.environment },
  { header: 'STATUS', value: (t) => (t.deleted_at ? `${t.status} (deleted)` : t.status) },
  {
    header: 'TOKEN TTL',
    value: (t) => (typeof t.settings?.access_token_ttl === 'number' ? formatDuration(t.settings.access_token_ttl) : null),
  },
  { header: 'ALG', value: (t) => t.settings?.signing_alg },
  { header: 'CREATED', value: (t) => t.created_at },
];

export function tenantRecord(t: Tenant): string {
  const s = t.settings ?? {};
  const known = new Set(['access_token_ttl', 'signing_alg', 'scopes', 'rate_limit', 'token_quota']);
  const rest = Object.entries(s).filter(([key]) => !known.has(key));
  return formatRecord([
    ['slug', t.slug],
    ['name', t.name],
    ['id', t.id],
    ['environment', t.environment],
    ['status', t.status],
    ['access token ttl', typeof s.access_token_ttl === 'number' ? `${s.access_token_ttl}s (${formatDuration(s.access_token_ttl)})` : null],
    ['signing alg', s.signing_alg],
    ['scopes', s.scopes],
    ['rate limit', s.rate_limit ? `per client ${s.rate_limit.per_client ?? '-'}, per tenant ${s.rate_limit.per_tenant ?? '-'}` : null],
    ['token quota', s.token_quota ? describeTokenQuota(s.token_quota) : null],
    ...rest.map(([key, value]) => [key, value] as const),
    ['created', t.created_at],
    ['updated', t.updated_at],
    ['deleted', t.deleted_at],
  ]);
}

function tenantAction(action: 'suspend' | 'activate' | 'restore', summary: string, done: string): Command {
  const restore = action === 'restore';
  return defineCommand({
    path: ['tenants', action],
    summary,
    args: ['slug'],
    ...(restore
      ? {
          options: {
            status: {
              type: 'string',
              value: 'status',
              description: `status after the restore: ${TENANT_STATUSES.join(', ')} (default ACTIVE)`,
            },
          },
        }
      : {}),
    async run(ctx) {
      const body = restore ? { status: readOptions(ctx.options, 'tenants restore').choice('status', TENANT_STATUSES) } : {};
      const tenant = await ctx.api().post<Tenant>(apiPath`/tenants/${ctx.args.slug as string}/${action}`, body);
      ctx.out.result(tenant, () => `Tenant ${tenant.slug} ${done}: status ${tenant.status}${tenant.deleted_at ? ' (deleted)' : ''}.\n`);
    },
  });
}

export const tenantCommands: Command[] = [
  defineCommand({
    path: ['tenants', 'create'],
    summary: 'Create a tenant (its signing key and issuer come with it).',
    args: ['slug'],
    options: {
      name: { type: 'string', value: 'name', description: 'display name (required)' },
      status: { type: 'string', value: 'status', description: `initial status: ${TENANT_STATUSES.join(', ')} (server default if omitted)` },
      ...SETTINGS_OPTIONS,
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'tenants create');
      const body = {
        slug: ctx.args.slug,
        name: o.required('name'),
        status: o.choice('status', TENANT_STATUSES),
        settings: settingsFrom(ctx, 'tenants create'),
      };
      const tenant = await ctx.api().post<Tenant>('/tenants', body);
      ctx.out.result(tenant, () => `Created tenant ${tenant.slug} in ${tenant.environment}.\n\n${tenantRecord(tenant)}`);
    },
  }),
  defineCommand({
    path: ['tenants', 'list'],
    summary: 'List tenants.',
    options: {
      status: { type: 'string', value: 'status', description: `only this status: ${TENANT_STATUSES.join(', ')}` },
      search: { type: 'string', value: 'text', description: 'only tenants whose slug or name contains this' },
      'include-deleted': { type: 'boolean', description: 'also soft-deleted tenants' },
      limit: { type: 'string', value: 'n', description: 'page size' },
      all: { type: 'boolean', description: 'follow every page' },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'tenants list');
      const query = {
        status: o.choice('status', TENANT_STATUSES),
        q: o.string('search'),
        include_deleted: o.flag('include-deleted') ? 'true' : undefined,
        limit: o.positiveInteger('limit'),
      };
      const api = ctx.api();
      const first = await api.get<Page<Tenant>>('/tenants', query);
      await printList(ctx, api, first, { columns: TENANT_COLUMNS, noun: 'tenant', all: o.flag('all'), empty: 'No tenants.' });
    },
  }),
  defineCommand({
    path: ['tenants', 'get'],
    summary: 'Show one tenant.',
    args: ['slug'],
    options: { 'include-deleted': { type: 'boolean', description: 'find it even when soft-deleted' } },
    async run(ctx) {
      const o = readOptions(ctx.options, 'tenants get');
      const tenant = await ctx
        .api()
        .get<Tenant>(apiPath`/tenants/${ctx.args.slug as string}`, { include_deleted: o.flag('include-deleted') ? 'true' : undefined });
      ctx.out.result(tenant, () => tenantRecord(tenant));
    },
  }),
  defineCommand({
    path: ['tenants', 'update'],
    summary: "Change a tenant's name or settings (given settings replace, null resets a setting to its default).",
    args: ['slug'],
    options: { name: { type: 'string', value: 'name', description: 'new display name' }, ...SETTINGS_OPTIONS },
    async run(ctx) {
      const o = readOptions(ctx.options, 'tenants update');
      const body = { name: o.string('name'), settings: settingsFrom(ctx, 'tenants update') };
      if (body.name === undefined && body.settings === undefined) {
        throw new UsageError('nothing to change: give --name, --settings or a setting flag', 'tenants update');
      }
      const tenant = await ctx.api().patch<Tenant>(apiPath`/tenants/${ctx.args.slug as string}`, body);
      ctx.out.result(tenant, () => `Updated tenant ${tenant.slug}.\n\n${tenantRecord(tenant)}`);
    },
  }),
  tenantAction('suspend', 'Suspend a tenant: its token endpoint and API refuse everything until activated.', 'suspended'),
  tenantAction('activate', 'Activate a tenant (PENDING or SUSPENDED → ACTIVE).', 'activated'),
  tenantAction('restore', 'Restore a soft-deleted tenant.', 'restored'),
  defineCommand({
    path: ['tenants', 'delete'],
    summary: 'Soft-delete a tenant (restore brings it back; purge removes it for good).',
    args: ['slug'],
    async run(ctx) {
      const tenant = await ctx.api().delete<Tenant>(apiPath`/tenants/${ctx.args.slug as string}`);
      ctx.out.result(tenant, () => `Deleted tenant ${ctx.args.slug} (soft: 'tenants restore ${ctx.args.slug}' undoes it).\n`);
    },
  }),
  defineCommand({
    path: ['tenants', 'purge'],
    summary: 'Remove a soft-deleted tenant and all its data for good.',
    args: ['slug'],
    options: { yes: { type: 'boolean', description: 'confirm: this cannot be undone' } },
    async run(ctx) {
      const slug = ctx.args.slug as string;
      if (!readOptions(ctx.options, 'tenants purge').flag('yes')) {
        throw new UsageError(`purging ${slug} deletes all its data for good; add --yes to confirm`, 'tenants purge');
      }
      const result = await ctx.api().post<unknown>(apiPath`/tenants/${slug}/purge`, { confirm: slug });
      ctx.out.result(result, () => `Purged tenant ${slug}.\n`);
    },
  }),
  defineCommand({
    path: ['tenants', 'sandbox-sync'],
    summary: "Copy a production tenant's settings and clients to its sandbox twin (creating it if needed).",
    args: ['slug'],
    notes: 'Runs against the production admin API (the default --env).',
    async run(ctx) {
      ctx.out.progress.update(`syncing ${ctx.args.slug} to the sandbox…`);
      const result = await ctx
        .api()
        .post<SandboxSyncResult>(
          apiPath`/tenants/${ctx.args.slug as string}/sandbox-sync`,
          {},
          {
            timeoutMs: 600_000,
          },
        )
        .finally(() => ctx.out.progress.done());
      ctx.out.result(
        result,
        () =>
          `Synced ${result.tenant.slug} to ${result.tenant.environment}${result.created ? ' (tenant created)' : ''}: ${formatCount(result.clients_created, 'client')} created, ${result.clients_updated} updated.\n`,
      );
    },
  }),
  defineCommand({
    path: ['tenants', 'sandbox-reset'],
    summary: "Delete every resource row of a tenant's sandbox, then optionally load the demo organisation.",
    args: ['slug'],
    options: { seed: { type: 'string', value: 'demo', description: 'load the demo organisation after the reset' } },
    notes: 'Runs against the sandbox admin API only (--env sandbox); the production admin API refuses it with 409.',
    async run(ctx) {
      const slug = ctx.args.slug as string;
      const seed = readOptions(ctx.options, 'tenants sandbox-reset').choice('seed', ['demo'] as const);
      ctx.out.progress.update(`resetting the sandbox data of ${slug}…`);
      const result = await ctx
        .api()
        .post<SandboxResetResult>(apiPath`/tenants/${slug}/sandbox-reset`, seed ? { seed } : {}, { timeoutMs: 600_000 })
        .finally(() => ctx.out.progress.done());
      const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
      ctx.out.result(
        result,
        () =>
          `Reset ${result.tenant} (${result.environment}) at ${result.reset_at}: ${formatCount(total(result.deleted), 'row')} deleted` +
          `${result.seed ? `, the ${result.seed} organisation loaded (${formatCount(total(result.loaded), 'row')})` : ''}.\n` +
          `${formatRecord(Object.entries(result.deleted).map(([collection, n]) => [collection, `${n} deleted${result.seed ? `, ${result.loaded[collection] ?? 0} loaded` : ''}`]))}` +
          `Syncs from before the reset get 410 with include_deleted: reload them in full.\n`,
      );
    },
  }),
];
