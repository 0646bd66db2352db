/** clients health: one client's integration health, the first answer of every support ticket */
import { apiPath } from '../admin-client.ts';
import type { ClientHealth } from '../../admin/admin-contract.ts';
import { defineCommand, type Command } from '../command.ts';
import { formatRecord } from '../output.ts';

/** "2 of 10 this hour, 5 of 100 today (tenant's, enforce)", or "none" */
function quotaLine(quota: ClientHealth['quota']): string {
  if (!quota) return 'none';
  const windows = [
    quota.per_hour === null ? `${quota.used.this_hour} this hour` : `${quota.used.this_hour} of ${quota.per_hour} this hour`,
    quota.per_day === null ? `${quota.used.today} today` : `${quota.used.today} of ${quota.per_day} today`,
  ];
  return `${windows.join(', ')} (${quota.source === 'client' ? "the client's own" : "the tenant's"}, ${quota.mode})`;
}

export function clientHealthRecord(h: ClientHealth): string {
  const reasons = Object.entries(h.last_24h.refusals_by_reason)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return formatRecord([
    ['client_id', h.client_id],
    ['status', h.status],
    ['last token', h.last_token_issued ? `${h.last_token_issued.time}  jti ${h.last_token_issued.jti ?? '-'}` : 'never (in the log)'],
    ['last refusal', h.last_refusal ? `${h.last_refusal.time}  ${h.last_refusal.reason}  from ${h.last_refusal.source_ip ?? '-'}` : 'none'],
    ['last used', h.last_used_at],
    ['last API call', h.last_api_call ?? 'none recorded'],
    ['tokens (24h)', h.last_24h.tokens_issued],
    ['refusals (24h)', reasons ? `${h.last_24h.refusals} (${reasons})` : h.last_24h.refusals],
    ['API calls (24h)', `${h.last_24h.api_calls} (${h.last_24h.api_4xx} 4xx, ${h.last_24h.api_429} of them 429)`],
    ['token quota', quotaLine(h.quota)],
    ['webhooks failing', `${h.webhook_deliveries_failing.failed} failed, ${h.webhook_deliveries_failing.retrying} retrying (whole tenant)`],
    [
      'secrets expiring',
      h.secrets_expiring.length ? h.secrets_expiring.map((s) => `${s.id} at ${s.expires_at}`).join(', ') : 'none within 14 days',
    ],
  ]);
}

export const clientHealthCommands: Command[] = [
  defineCommand({
    path: ['clients', 'health'],
    summary:
      "Show a client's health: last token, last refusal and why, last API call, 24-hour counts, quota use, failing webhooks, expiring secrets.",
    args: ['tenant', 'client_id'],
    async run(ctx) {
      const health = await ctx
        .api()
        .get<ClientHealth>(apiPath`/tenants/${ctx.args.tenant as string}/clients/${ctx.args.client_id as string}/health`);
      ctx.out.result(health, () => clientHealthRecord(health));
    },
  }),
];
