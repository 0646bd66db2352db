/**
 * One tenant's revoked access tokens, in memory: what the bearer check and introspection ask on
 * every request, with no I/O (token-revocations.ts loads and feeds it). A token is revoked when
 * its jti is listed, or when its iat is at or before its client's cutoff second. Entries only
 * accumulate (a revocation is never undone, a cutoff only moves later), so the order in which a
 * load and the change notifications arrive does not matter. Each entry stays until its token has
 * expired, then goes at the next sweep: the size follows the number of live revoked tokens.
 */

/** How long past a token's exp it stays listed: more than the verifiers' clock tolerance. */
export const REVOCATION_RETENTION_SECONDS = 60;
/** A time-based sweep at most this often, however few revocations arrive. */
const SWEEP_INTERVAL_SECONDS = 60;
/** Below this many entries, additions alone never trigger a sweep. */
const MIN_SWEEP_SIZE = 64;

/** The claims of a verified access token that decide whether it is revoked. */
export interface RevocableToken {
  readonly jti: string;
  readonly client_id: string;
  readonly iat: number;
}

export function createTenantDenylist(nowSeconds: number) {
  /** jti → the second after which it may be forgotten */
  const tokens = new Map<string, number>();
  /** client_id → tokens issued at or before `issuedBefore` are revoked, until `until` */
  const cutoffs = new Map<string, { issuedBefore: number; until: number }>();
  let nextSweepAt = nowSeconds + SWEEP_INTERVAL_SECONDS;
  let sweepAtSize = MIN_SWEEP_SIZE;

  function sweep(now: number): void {
    for (const [jti, until] of tokens) if (until < now) tokens.delete(jti);
    for (const [clientId, cutoff] of cutoffs) if (cutoff.until < now) cutoffs.delete(clientId);
    nextSweepAt = now + SWEEP_INTERVAL_SECONDS;
    // amortised: the next sweep by size comes after as many additions as there are entries left
    sweepAtSize = Math.max(MIN_SWEEP_SIZE, 2 * (tokens.size + cutoffs.size));
  }

  function sweepIfDue(now: number): void {
    if (now >= nextSweepAt || tokens.size + cutoffs.size >= sweepAtSize) sweep(now);
  }

  return {
    /** Lists a jti until its token's exp (plus the retention margin). */
    addToken(jti: string, exp: number, now: number): void {
      const until = exp + REVOCATION_RETENTION_SECONDS;
      if (until < now) return;
      tokens.set(jti, Math.max(tokens.get(jti) ?? 0, until));
      sweepIfDue(now);
    },
    /** Revokes a client's tokens issued at or before `issuedBefore` (epoch seconds), until `exp`. */
    addCutoff(clientId: string, issuedBefore: number, exp: number, now: number): void {
      const until = exp + REVOCATION_RETENTION_SECONDS;
      if (until < now) return;
      const known = cutoffs.get(clientId);
      cutoffs.set(clientId, {
        issuedBefore: Math.max(known?.issuedBefore ?? -Infinity, issuedBefore),
        until: Math.max(known?.until ?? 0, until),
      });
      sweepIfDue(now);
    },
    isRevoked(token: RevocableToken, now: number): boolean {
      if (now >= nextSweepAt) sweep(now);
      if (tokens.has(token.jti)) return true;
      const cutoff = cutoffs.get(token.client_id);
      return cutoff !== undefined && token.iat <= cutoff.issuedBefore;
    },
    /** entries held (expired ones included until the next sweep) */
    get size(): number {
      return tokens.size + cutoffs.size;
    },
  };
}
export type TenantDenylist = ReturnType<typeof createTenantDenylist>;
