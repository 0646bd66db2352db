/** webhooks create | list | get | update | delete | rotate-secret | test | deliveries | redeliver */
import { DELIVERY_STATUSES } from '../../catalog/delivery-statuses.ts';
import { DEFAULT_LIMIT, MAX_LIMIT } from '../../catalog/page-limits.ts';
import { apiPath, collectAll, type AdminClient, type Page } from '../admin-client.ts';
import type {
  WebhookDelivery,
  WebhookDeliveryWithEvent,
  WebhookSecretRotationResult,
  WebhookSubscription,
  WebhookSubscriptionWithSecret,
} from '../../admin/admin-contract.ts';
import { defineCommand, type Command, type CommandContext } from '../command.ts';
import { formatDuration } from '../duration.ts';
import { CliError, UsageError } from '../errors.ts';
import { readOptions, type OptionReader } from '../option-values.ts';
import { formatDate, formatRecord, type Column } from '../output.ts';
import { printList } from '../list-output.ts';

export const WEBHOOK_SECRET_WARNING = 'Store the signing secret now: it will not be shown again.';

/** how long `webhooks test --wait` waits for the first attempt, and how often it looks */
const WAIT_MS = 30_000;
const WAIT_POLL_MS = 500;

export const SUBSCRIPTION_COLUMNS: readonly Column<WebhookSubscription>[] = [
  { header: 'ID', value: (s) => s.id },
  { header: 'URL', value: (s) => s.url },
  { header: 'EVENTS', value: (s) => s.event_types },
  { header: 'ENABLED', value: (s) => s.enabled },
  { header: 'CREATED', value: (s) => s.created_at },
  { header: 'DESCRIPTION', value: (s) => s.description },
];

export const DELIVERY_COLUMNS: readonly Column<WebhookDelivery>[] = [
  { header: 'ID', value: (d) => d.id },
  { header: 'EVENT', value: (d) => d.event_type },
  { header: 'STATUS', value: (d) => d.status },
  { header: 'ATTEMPTS', value: (d) => d.attempts },
  { header: 'LAST CODE', value: (d) => d.last_status_code },
  { header: 'NEXT ATTEMPT', value: (d) => d.next_attempt_at },
  { header: 'CREATED', value: (d) => d.created_at },
  { header: 'LAST ERROR', value: (d) => d.last_error },
];

export function subscriptionRecord(s: WebhookSubscription, secret?: string): string {
  return formatRecord([
    ['id', s.id],
    ...(secret === undefined ? [] : [['secret', secret] as const]),
    ['url', s.url],
    ['events', s.event_types],
    ['description', s.description],
    ['enabled', s.enabled],
    ...(s.disabled_reason ? [['disabled reason', s.disabled_reason] as const] : []),
    ...(s.previous_secret_expires_at ? [['previous secret', `also signs until ${formatDate(s.previous_secret_expires_at)}`] as const] : []),
    ['created', s.created_at],
    ['updated', s.updated_at],
  ]);
}

export function deliveryRecord(d: WebhookDelivery): string {
  return formatRecord([
    ['id', d.id],
    ['event id', d.event_id],
    ['event type', d.event_type],
    ['status', d.status],
    ['attempts', d.attempts],
    ['last attempt', d.last_attempt_at],
    ['last code', d.last_status_code],
    ['last error', d.last_error],
    ['next attempt', d.next_attempt_at],
    ['delivered', d.delivered_at],
    ['created', d.created_at],
  ]);
}

function printSecret(ctx: CommandContext, value: unknown, human: string): void {
  ctx.out.result(value, () => `${human}\n${WEBHOOK_SECRET_WARNING}\n`);
  if (ctx.out.json) ctx.out.note(WEBHOOK_SECRET_WARNING);
}

const webhookPath = (ctx: CommandContext) => apiPath`/tenants/${ctx.args.tenant as string}/webhooks/${ctx.args.id as string}`;

/** The delivery once its first attempt is recorded (or it ended without one), or as it is after WAIT_MS. */
async function awaitAttempt(api: AdminClient, path: string, delivery: WebhookDelivery): Promise<WebhookDelivery> {
  const deadline = Date.now() + WAIT_MS;
  let latest = delivery;
  while (latest.status === 'pending' && latest.attempts === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    latest = await api.get<WebhookDelivery>(path);
  }
  return latest;
}

function outcome(d: WebhookDelivery): string {
  const code = d.last_status_code === null ? '' : `HTTP ${d.last_status_code}`;
  if (d.status === 'delivered') return `Delivered (${code || 'ok'}, attempt ${d.attempts}).`;
  // last_error already names the HTTP status when there was one
  const why = d.last_error ?? (code || 'no attempt yet');
  if (d.status === 'failed') return `Failed: ${why}.`;
  if (d.attempts === 0) return `Still pending after ${WAIT_MS / 1000}s: is a delivery worker running?`;
  return `Not delivered: ${why}; next attempt ${formatDate(d.next_attempt_at)}.`;
}

/** `--events a,b` */
function eventTypes(o: OptionReader, command: string): string[] | undefined {
  const list = o.list('events');
  if (list && !list.length) throw new UsageError('--events needs at least one event type, e.g. employee.*', command);
  return list;
}

export const webhookCommands: Command[] = [
  defineCommand({
    path: ['webhooks', 'create'],
    summary: "Subscribe a URL to a tenant's events; prints the signing secret once.",
    args: ['tenant'],
    options: {
      url: {
        type: 'string',
        value: 'url',
        description: 'where to POST the events: https (http://localhost only where the server allows it) (required)',
      },
      events: {
        type: 'string',
        value: 'a,b',
        description: 'event types, comma-separated: employee.created, a wildcard employee.*, or * (required)',
      },
      description: { type: 'string', value: 'text', description: 'what it is for' },
      disabled: { type: 'boolean', description: 'create it disabled (no deliveries until enabled)' },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'webhooks create');
      const url = o.required('url');
      o.required('events');
      const body = {
        url,
        event_types: eventTypes(o, 'webhooks create'),
        description: o.string('description'),
        enabled: o.flag('disabled') ? false : undefined,
      };
      const created = await ctx.api().post<WebhookSubscriptionWithSecret>(apiPath`/tenants/${ctx.args.tenant as string}/webhooks`, body);
      printSecret(ctx, created, `Created webhook ${created.id} for ${ctx.args.tenant}.\n\n${subscriptionRecord(created, created.secret)}`);
    },
  }),
  defineCommand({
    path: ['webhooks', 'list'],
    summary: "List a tenant's webhook subscriptions.",
    args: ['tenant'],
    async run(ctx) {
      const api = ctx.api();
      const first = await api.get<Page<WebhookSubscription>>(apiPath`/tenants/${ctx.args.tenant as string}/webhooks`);
      const page = await collectAll(api, first);
      if (ctx.out.json) return ctx.out.result(page, () => undefined);
      ctx.out.table(SUBSCRIPTION_COLUMNS, page.data, 'No webhooks.');
    },
  }),
  defineCommand({
    path: ['webhooks', 'get'],
    summary: 'Show one webhook subscription (never its secret).',
    args: ['tenant', 'id'],
    async run(ctx) {
      const subscription = await ctx.api().get<WebhookSubscription>(webhookPath(ctx));
      ctx.out.result(subscription, () => subscriptionRecord(subscription));
    },
  }),
  defineCommand({
    path: ['webhooks', 'update'],
    summary: "Change a webhook's URL, events or description, or enable or disable it.",
    args: ['tenant', 'id'],
    options: {
      url: { type: 'string', value: 'url', description: 'new receiver URL' },
      events: { type: 'string', value: 'a,b', description: 'the event types from now on (replaces the list)' },
      description: { type: 'string', value: 'text', description: 'new description' },
      enable: { type: 'boolean', description: 'deliver again (also after the receiver answered 410 Gone)' },
      disable: { type: 'boolean', description: 'stop delivering (pending deliveries fail)' },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'webhooks update');
      if (o.flag('enable') && o.flag('disable')) throw new UsageError('give either --enable or --disable, not both', 'webhooks update');
      const body = {
        url: o.string('url'),
        event_types: eventTypes(o, 'webhooks update'),
        description: o.string('description'),
        enabled: o.flag('enable') ? true : o.flag('disable') ? false : undefined,
      };
      if (Object.values(body).every((v) => v === undefined)) {
        throw new UsageError('nothing to change: give --url, --events, --description, --enable or --disable', 'webhooks update');
      }
      const subscription = await ctx.api().patch<WebhookSubscription>(webhookPath(ctx), body);
      ctx.out.result(subscription, () => `Updated webhook ${subscription.id}.\n\n${subscriptionRecord(subscription)}`);
    },
  }),
  defineCommand({
    path: ['webhooks', 'delete'],
    summary: 'Delete a webhook subscription and its delivery history.',
    args: ['tenant', 'id'],
    async run(ctx) {
      await ctx.api().delete<unknown>(webhookPath(ctx));
      ctx.out.result(undefined, () => `Deleted webhook ${ctx.args.id}.\n`);
    },
  }),
  defineCommand({
    path: ['webhooks', 'rotate-secret'],
    summary: 'Issue a new signing secret; the old one also signs for a grace period.',
    args: ['tenant', 'id'],
    options: {
      grace: {
        type: 'string',
        value: 'duration',
        description:
          'how long the old secret keeps signing beside the new one: seconds, 24h, 7d (at most); 0 = stops now (server default: 24h)',
      },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'webhooks rotate-secret');
      const grace = o.duration('grace');
      const result = await ctx.api().post<WebhookSecretRotationResult>(`${webhookPath(ctx)}/rotate-secret`, { grace_seconds: grace });
      const until = result.subscription.previous_secret_expires_at;
      const old = until
        ? `The old secret also signs until ${formatDate(until)}${grace === undefined ? '' : ` (${formatDuration(grace)})`}.`
        : 'The old secret no longer signs.';
      printSecret(
        ctx,
        result,
        `New signing secret for webhook ${result.subscription.id}. ${old}\n\n${subscriptionRecord(result.subscription, result.secret)}`,
      );
    },
  }),
  defineCommand({
    path: ['webhooks', 'test'],
    summary: 'Send a webhook.test event to one subscription.',
    args: ['tenant', 'id'],
    options: {
      wait: {
        type: 'boolean',
        description: `wait (up to ${WAIT_MS / 1000}s) for the first attempt and print its outcome; exit 1 unless delivered`,
      },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'webhooks test');
      const api = ctx.api();
      const queued = await api.post<WebhookDelivery>(`${webhookPath(ctx)}/test`);
      if (!o.flag('wait')) {
        return ctx.out.result(
          queued,
          () =>
            `Queued a ${queued.event_type} event: delivery ${queued.id}.\n` +
            `Follow it with: tenant-connect webhooks deliveries ${ctx.args.tenant} ${ctx.args.id}\n`,
        );
      }
      ctx.out.progress.update(`delivery ${queued.id}: waiting for the first attempt…`);
      const delivery = await awaitAttempt(api, `${webhookPath(ctx)}${apiPath`/deliveries/${queued.id}`}`, queued).finally(() =>
        ctx.out.progress.done(),
      );
      const delivered = delivery.status === 'delivered';
      ctx.out.result(delivery, () => (delivered ? `Delivery ${delivery.id} (${delivery.event_type}): ${outcome(delivery)}\n` : undefined));
      if (!delivered) throw new CliError(`the test event was not delivered (delivery ${delivery.id}): ${outcome(delivery)}`);
    },
  }),
  defineCommand({
    path: ['webhooks', 'deliveries'],
    summary: "A subscription's deliveries, newest first: status, attempts, the receiver's last answer.",
    args: ['tenant', 'id'],
    options: {
      status: { type: 'string', value: 'status', description: `only ${DELIVERY_STATUSES.join(', ')}` },
      limit: { type: 'string', value: 'n', description: `page size (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})` },
      all: { type: 'boolean', description: 'follow every page' },
    },
    async run(ctx) {
      const o = readOptions(ctx.options, 'webhooks deliveries');
      const query = { status: o.choice('status', DELIVERY_STATUSES), limit: o.positiveInteger('limit') };
      const api = ctx.api();
      const first = await api.get<Page<WebhookDelivery>>(`${webhookPath(ctx)}/deliveries`, query);
      await printList(ctx, api, first, {
        columns: DELIVERY_COLUMNS,
        noun: 'delivery',
        plural: 'deliveries',
        all: o.flag('all'),
        empty: 'No deliveries.',
      });
    },
  }),
  defineCommand({
    path: ['webhooks', 'delivery'],
    summary: 'Show one delivery and the event body every attempt sends.',
    args: ['tenant', 'id', 'delivery_id'],
    async run(ctx) {
      const delivery = await ctx
        .api()
        .get<WebhookDeliveryWithEvent>(`${webhookPath(ctx)}${apiPath`/deliveries/${ctx.args.delivery_id as string}`}`);
      ctx.out.result(delivery, () => `${deliveryRecord(delivery)}\nevent (the body sent):\n${JSON.stringify(delivery.event, null, 2)}\n`);
    },
  }),
  defineCommand({
    path: ['webhooks', 'redeliver'],
    summary: 'Deliver the event of a past delivery again (a new delivery, same event id).',
    args: ['tenant', 'id', 'delivery_id'],
    async run(ctx) {
      const delivery = await ctx
        .api()
        .post<WebhookDelivery>(`${webhookPath(ctx)}${apiPath`/deliveries/${ctx.args.delivery_id as string}/redeliver`}`);
      ctx.out.result(delivery, () => `Queued delivery ${delivery.id}: ${delivery.event_type} (event ${delivery.event_id}) again.\n`);
    },
  }),
  defineCommand({
    path: ['webhooks', 'event-types'],
    summary: 'List every event type a subscription may name.',
    notes: 'Subscriptions may also name every type of a resource (employee.*) or all of them (*).',
    async run(ctx) {
      const api = ctx.api();
      const page = await collectAll(api, await api.get<Page<{ type: string }>>('/webhook-event-types'));
      if (ctx.out.json) return ctx.out.result(page, () => undefined);
      ctx.out.table([{ header: 'TYPE', value: (t: { type: string }) => t.type }], page.data, 'No event types.');
    },
  }),
];
