/**
 * Revoked access tokens, across instances. The access tokens are JWTs that no table stores, so a
 * revocation is a row that lists the token until it expires: its jti in `revoked_tokens` (the
 * revocation endpoint, an operator's revocation by jti), or a second in `client_token_cutoffs` up to which every
 * token of one client is revoked (an operator after a leaked secret). Each instance keeps a tenant's
 * list in memory (token-denylist.ts) from the first request that needs it: loaded once, in one
 * round trip, then fed by the change notifications each insert sends at commit. After a
 * reconnect, when notifications may have been missed, every list is dropped and loaded again.
 */
import { LRUCache } from 'lru-cache';
import type { Database, Queryable } from '../db/database.ts';
import type { Change } from './change-notifications.ts';
import { createTenantDenylist, REVOCATION_RETENTION_SECONDS, type RevocableToken, type TenantDenylist } from './token-denylist.ts';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from './tenant-settings.ts';

const toDate = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString();

/** Drops the tenant's rows nobody needs any more: their tokens expired (the retention margin ago). */
async function deleteExpired(tx: Queryable, table: 'revoked_tokens' | 'client_token_cutoffs', tenantId: string): Promise<void> {
  await tx.query(`DELETE FROM ${table} WHERE tenant_id = $1 AND expires_at < now() - make_interval(secs => $2)`, [
    tenantId,
    REVOCATION_RETENTION_SECONDS,
  ]);
}

/**
 * Lists a token's jti until `exp` (a revocation already listed is kept, with the later expiry).
 * `clientId` is null when an operator revokes a jti alone.
 */
export async function insertRevokedToken(
  tx: Queryable,
  tenantId: string,
  token: { readonly jti: string; readonly clientId: string | null; readonly exp: number },
): Promise<void> {
  await deleteExpired(tx, 'revoked_tokens', tenantId);
  await tx.query(
    `INSERT INTO revoked_tokens (tenant_id, jti, client_id, expires_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
      WHERE revoked_tokens.expires_at < EXCLUDED.expires_at`,
    [tenantId, token.jti, token.clientId, toDate(token.exp)],
  );
}

/** An operator's revocation of a jti alone: no token is stored, so it stays listed as long as any token may live. */
export function operatorRevocationExpiry(nowSeconds: number): number {
  return nowSeconds + MAX_ACCESS_TOKEN_TTL_SECONDS;
}

/**
 * Revokes every token of a client issued at or before the second `issuedBefore` (epoch seconds).
 * A cutoff only moves later: the answer is the one in force, which an earlier revocation may
 * have set later than asked.
 */
export async function insertClientCutoff(tx: Queryable, tenantId: string, clientId: string, issuedBefore: number): Promise<number> {
  await deleteExpired(tx, 'client_token_cutoffs', tenantId);
  const [row] = await tx.query<{ issued_before: number }>(
    `INSERT INTO client_token_cutoffs (tenant_id, client_id, issued_before, expires_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id, client_id) DO UPDATE
       SET issued_before = greatest(client_token_cutoffs.issued_before, EXCLUDED.issued_before),
           expires_at = greatest(client_token_cutoffs.expires_at, EXCLUDED.expires_at)
     RETURNING extract(epoch FROM issued_before)::float8 AS issued_before`,
    [tenantId, clientId, toDate(issuedBefore), toDate(issuedBefore + MAX_ACCESS_TOKEN_TTL_SECONDS)],
  );
  return Number(row?.issued_before ?? issuedBefore);
}

/** Every revocation of a tenant still in force, in one statement. */
async function loadDenylist(db: Database, tenantId: string, list: TenantDenylist, now: number): Promise<void> {
  const rows = await db.reader(tenantId).query<{ kind: 'token' | 'cutoff'; id: string; issued_before: number | null; exp: number }>(
    `SELECT 'token' AS kind, jti AS id, NULL::float8 AS issued_before, extract(epoch FROM expires_at)::float8 AS exp
       FROM revoked_tokens WHERE tenant_id = $1 AND expires_at > now() - make_interval(secs => $2)
     UNION ALL
     SELECT 'cutoff', client_id, extract(epoch FROM issued_before)::float8, extract(epoch FROM expires_at)::float8
       FROM client_token_cutoffs WHERE tenant_id = $1 AND expires_at > now() - make_interval(secs => $2)`,
    [tenantId, REVOCATION_RETENTION_SECONDS],
  );
  for (const row of rows) {
    const exp = Math.floor(Number(row.exp));
    if (row.kind === 'token') list.addToken(row.id, exp, now);
    else list.addCutoff(row.id, Math.floor(Number(row.issued_before)), exp, now);
  }
}

interface LoadedList {
  readonly list: TenantDenylist;
  /** settles when the tenant's rows are in the list (notifications are applied meanwhile too) */
  readonly ready: Promise<void>;
  loaded: boolean;
}

export function createTokenRevocations(db: Database, options: { readonly maxTenants: number; readonly now?: () => number }) {
  const nowSeconds = () => Math.floor((options.now?.() ?? Date.now()) / 1000);
  const lists = new LRUCache<string, LoadedList>({ max: options.maxTenants });

  function listOf(tenantId: string): LoadedList {
    const known = lists.get(tenantId);
    if (known) return known;
    const list = createTenantDenylist(nowSeconds());
    const entry: LoadedList = {
      list,
      loaded: false,
      ready: loadDenylist(db, tenantId, list, nowSeconds()).then(
        () => {
          entry.loaded = true;
        },
        (error: unknown) => {
          // the next request loads again; this one fails (a database outage answers 503)
          if (lists.peek(tenantId) === entry) lists.delete(tenantId);
          throw error;
        },
      ),
    };
    lists.set(tenantId, entry);
    return entry;
  }

  return {
    /** Whether a verified token of the tenant is revoked (the first question of a tenant loads its list). */
    async isRevoked(tenantId: string, token: RevocableToken): Promise<boolean> {
      const entry = listOf(tenantId);
      if (!entry.loaded) await entry.ready;
      return entry.list.isRevoked(token, nowSeconds());
    },
    /** The revocation endpoint: lists the token (as the runtime role) and, in this instance, at once. */
    async revokeToken(tenantId: string, token: { readonly jti: string; readonly clientId: string; readonly exp: number }): Promise<void> {
      await db.scoped(tenantId, (tx) => insertRevokedToken(tx, tenantId, token));
      lists.peek(tenantId)?.list.addToken(token.jti, token.exp, nowSeconds());
    },
    /** A revocation another instance (or this one's admin API) committed. */
    onChange(change: Change): void {
      if (change.kind !== 'revoked_token' && change.kind !== 'client_cutoff') return;
      const list = lists.peek(change.tenant)?.list;
      if (change.kind === 'revoked_token') list?.addToken(change.id, change.exp, nowSeconds());
      else list?.addCutoff(change.id, change.issuedBefore, change.exp, nowSeconds());
    },
    /** After missed notifications: every list is loaded again when next asked. */
    clear(): void {
      lists.clear();
    },
    /** revocations held in memory, over every tenant (expired ones until their sweep) */
    get size(): number {
      let total = 0;
      for (const entry of lists.values()) total += entry.list.size;
      return total;
    },
  };
}
export type TokenRevocations = ReturnType<typeof createTokenRevocations>;
