/**
 * One client's integration health in one answer, for the support question "what happened to my
 * client?": its last issued token and last refusal (the auth event log), when it last
 * authenticated, the last 24 hours' counts, the tenant's webhook deliveries that are failing, and
 * its secrets that expire within 14 days. Read in one transaction scoped to the tenant.
 */
import type { AuthRefusalReason } from '../../catalog/auth-event-reasons.ts';
import type { Queryable } from '../../db/database.ts';

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
  readonly last_24h: { readonly tokens_issued: number; readonly refusals: number; readonly refusals_by_reason: Record<string, number> };
  /** the tenant's deliveries that gave up (failed) or are being retried after a failed attempt */
  readonly webhook_deliveries_failing: { readonly failed: number; readonly retrying: number };
  readonly secrets_expiring: { readonly id: string; readonly expires_at: string }[];
}

const iso = (value: Date | string) => new Date(value).toISOString();

/** undefined when the tenant has no such client. `tx` is scoped to the tenant. */
export async function readClientHealth(tx: Queryable, tenantId: string, clientId: string): Promise<ClientHealth | undefined> {
  const [client] = await tx.query<{ id: string; disabled: boolean; last_used_at: Date | null }>(
    `SELECT id, disabled_at IS NOT NULL AS disabled, last_used_at FROM clients WHERE tenant_id = $1 AND client_id = $2`,
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
  const refusalsByReason: Record<string, number> = {};
  for (const row of counts) if (row.outcome === 'refused' && row.reason) refusalsByReason[row.reason] = row.n;
  return {
    client_id: clientId,
    status: client.disabled ? 'disabled' : 'enabled',
    last_token_issued: issued ? { time: iso(issued.occurred_at), jti: issued.jti, scopes: issued.scopes } : null,
    last_refusal: refused ? { time: iso(refused.occurred_at), reason: refused.reason, source_ip: refused.source_ip } : null,
    last_used_at: client.last_used_at ? iso(client.last_used_at) : null,
    last_24h: {
      tokens_issued: counts.find((r) => r.outcome === 'issued')?.n ?? 0,
      refusals: Object.values(refusalsByReason).reduce((sum, n) => sum + n, 0),
      refusals_by_reason: refusalsByReason,
    },
    webhook_deliveries_failing: { failed: deliveries?.failed ?? 0, retrying: deliveries?.retrying ?? 0 },
    secrets_expiring: expiring.map((s) => ({ id: s.id, expires_at: iso(s.expires_at) })),
  };
}
