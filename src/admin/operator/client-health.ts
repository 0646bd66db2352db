/**
 * One client's integration health in one answer, for the support question "what happened to my
 * client?": its last issued token and last refusal (the auth event log), when it last
 * authenticated and last called the API, the last 24 hours' counts (tokens and refusals from the
 * auth event log; API calls, 4xx and 429 from the usage counts), its token quota and how much of
 * it is used, the tenant's webhook deliveries that are failing, and its secrets that expire within
 * 14 days. Read in one transaction scoped to the tenant (the usage tables are the owner's).
 */
import type { AuthRefusalReason } from '../../catalog/auth-event-reasons.ts';
import { DEFAULT_TOKEN_QUOTA_MODE, type TokenQuota, type TokenQuotaMode } from '../../catalog/token-quotas.ts';
import type { Queryable } from '../../db/database.ts';
import { effectiveSettings } from '../../tenancy/tenant-settings.ts';
import type { Tenant } from '../../tenancy/tenants.ts';

/** How far ahead an expiring secret is reported. */
export const SECRET_EXPIRY_WARNING_DAYS = 14;
/** The window of the counts. */
export const HEALTH_WINDOW_HOURS = 24;

export interface ClientHealth {
  readonly client_id: string;
  readonly status: 'enabled' | 'disabled';
  readonly last_token_issued: { readonly time: string; readonly jti: string | null; readonly scopes: string[] } | null;
  readonly last_refusal: { readonly time: string; readonly reason: AuthRefusalReason; readonly source_ip: string | null } | null;
  /** the client's last successful authentication (last_used_at, written at most every LAST_USED_FLUSH_MS) */
  readonly last_used_at: string | null;
  /** the client's last resource API request, whatever its answer (the usage counts, up to USAGE_FLUSH_MS behind) */
  readonly last_api_call: string | null;
  readonly last_24h: {
    readonly tokens_issued: number;
    readonly refusals: number;
    readonly refusals_by_reason: Record<string, number>;
    /** resource API requests in the current UTC hour and the 24 before it, and those answered 4xx, and 429 */
    readonly api_calls: number;
    readonly api_4xx: number;
    readonly api_429: number;
  };
  /** the token quota that applies to the client and what it used of it; null: none applies */
  readonly quota: ClientQuotaUse | null;
  /** the tenant's deliveries that gave up (failed) or are being retried after a failed attempt */
  readonly webhook_deliveries_failing: { readonly failed: number; readonly retrying: number };
  readonly secrets_expiring: { readonly id: string; readonly expires_at: string }[];
}

export interface ClientQuotaUse {
  /** client: its own token_quota; tenant: the tenant's token_quota setting */
  readonly source: 'client' | 'tenant';
  readonly per_hour: number | null;
  readonly per_day: number | null;
  readonly mode: TokenQuotaMode;
  /** tokens issued in the current UTC hour and day, as the quota counts them (up to USAGE_FLUSH_MS behind) */
  readonly used: { readonly this_hour: number; readonly today: number };
}

const iso = (value: Date | string) => new Date(value).toISOString();

/** The quota that applies: the client's own replaces the tenant's as a whole; none without a window. */
export function applicableQuota(
  clientQuota: TokenQuota | null,
  tenantSettings: Tenant['settings'],
): { source: 'client' | 'tenant'; quota: TokenQuota } | undefined {
  const source = clientQuota ? 'client' : 'tenant';
  const quota = clientQuota ?? effectiveSettings(tenantSettings).token_quota;
  if (quota.per_hour === undefined && quota.per_day === undefined) return undefined;
  return { source, quota };
}

/** undefined when the tenant has no such client. `tx` is scoped to the tenant. */
export async function readClientHealth(
  tx: Queryable,
  tenant: Pick<Tenant, 'id' | 'settings'>,
  clientId: string,
): Promise<ClientHealth | undefined> {
  const tenantId = tenant.id;
  const [client] = await tx.query<{ id: string; disabled: boolean; last_used_at: Date | null; token_quota: TokenQuota | null }>(
    `SELECT id, disabled_at IS NOT NULL AS disabled, last_used_at, token_quota FROM clients WHERE tenant_id = $1 AND client_id = $2`,
    [tenantId, clientId],
  );
  if (!client) return undefined;
  const [issued] = await tx.query<{ occurred_at: Date; jti: string | null; scopes: string[] }>(
    `SELECT occurred_at, jti, scopes FROM auth_events
      WHERE tenant_id = $1 AND client_id = $2 AND outcome = 'issued' ORDER BY id DESC LIMIT 1`,
    [tenantId, clientId],
  );
  const [refused] = await tx.query<{ occurred_at: Date; reason: AuthRefusalReason; source_ip: string | null }>(
    `SELECT occurred_at, reason, source_ip FROM auth_events
      WHERE tenant_id = $1 AND client_id = $2 AND outcome = 'refused' ORDER BY id DESC LIMIT 1`,
    [tenantId, clientId],
  );
  const counts = await tx.query<{ outcome: string; reason: string | null; n: number }>(
    `SELECT outcome, reason, count(*)::int AS n FROM auth_events
      WHERE tenant_id = $1 AND client_id = $2 AND occurred_at > now() - make_interval(hours => $3)
      GROUP BY outcome, reason`,
    [tenantId, clientId, HEALTH_WINDOW_HOURS],
  );
  const [deliveries] = await tx.query<{ failed: number; retrying: number }>(
    `SELECT count(*) FILTER (WHERE status = 'failed')::int AS failed,
            count(*) FILTER (WHERE status = 'pending' AND attempts > 0)::int AS retrying
       FROM webhook_deliveries WHERE tenant_id = $1 AND status IN ('failed', 'pending')`,
    [tenantId],
  );
  const expiring = await tx.query<{ id: string; expires_at: Date }>(
    `SELECT id, expires_at FROM client_secrets
      WHERE tenant_id = $1 AND client_id = $2 AND expires_at > now() AND expires_at <= now() + make_interval(days => $3)
      ORDER BY expires_at`,
    [tenantId, client.id, SECRET_EXPIRY_WARNING_DAYS],
  );
  // whole UTC hours: the current one and the 24 before it, so at least the last 24 hours (date_bin
  // from the epoch, not date_trunc, which follows the session's TimeZone and so its half-hour zones)
  const [api] = await tx.query<{ api_calls: string | null; api_4xx: string | null; api_429: string | null; this_hour: string | null }>(
    `SELECT sum(api_calls) AS api_calls, sum(api_4xx) AS api_4xx, sum(api_429) AS api_429,
            sum(tokens) FILTER (WHERE hour = date_bin('1 hour', now(), timestamptz 'epoch')) AS this_hour
       FROM usage_hourly
      WHERE tenant_id = $1 AND client_id = $2 AND hour >= date_bin('1 hour', now(), timestamptz 'epoch') - make_interval(hours => $3)`,
    [tenantId, clientId, HEALTH_WINDOW_HOURS],
  );
  const [lastCall] = await tx.query<{ last_api_call_at: Date; today: string | null }>(
    `SELECT (SELECT max(last_api_call_at) FROM usage_daily WHERE tenant_id = $1 AND client_id = $2) AS last_api_call_at,
            (SELECT tokens FROM usage_daily WHERE tenant_id = $1 AND client_id = $2 AND day = (now() AT TIME ZONE 'UTC')::date) AS today`,
    [tenantId, clientId],
  );
  const applicable = applicableQuota(client.token_quota, tenant.settings);
  const refusalsByReason: Record<string, number> = {};
  for (const row of counts) if (row.outcome === 'refused' && row.reason) refusalsByReason[row.reason] = row.n;
  return {
    client_id: clientId,
    status: client.disabled ? 'disabled' : 'enabled',
    last_token_issued: issued ? { time: iso(issued.occurred_at), jti: issued.jti, scopes: issued.scopes } : null,
    last_refusal: refused ? { time: iso(refused.occurred_at), reason: refused.reason, source_ip: refused.source_ip } : null,
    last_used_at: client.last_used_at ? iso(client.last_used_at) : null,
    last_api_call: lastCall?.last_api_call_at ? iso(lastCall.last_api_call_at) : null,
    last_24h: {
      tokens_issued: counts.find((r) => r.outcome === 'issued')?.n ?? 0,
      refusals: Object.values(refusalsByReason).reduce((sum, n) => sum + n, 0),
      refusals_by_reason: refusalsByReason,
      api_calls: Number(api?.api_calls ?? 0),
      api_4xx: Number(api?.api_4xx ?? 0),
      api_429: Number(api?.api_429 ?? 0),
    },
    quota: applicable
      ? {
          source: applicable.source,
          per_hour: applicable.quota.per_hour ?? null,
          per_day: applicable.quota.per_day ?? null,
          mode: applicable.quota.mode ?? DEFAULT_TOKEN_QUOTA_MODE,
          used: { this_hour: Number(api?.this_hour ?? 0), today: Number(lastCall?.today ?? 0) },
        }
      : null,
    webhook_deliveries_failing: { failed: deliveries?.failed ?? 0, retrying: deliveries?.retrying ?? 0 },
    secrets_expiring: expiring.map((s) => ({ id: s.id, expires_at: iso(s.expires_at) })),
  };
}
