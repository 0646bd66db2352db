/**
 * DPoP server nonces (RFC 9449 §8, §9) at the resource API and the admin API, for a tenant whose
 * setting `dpop.require_nonce` is on. Stateless, so any instance accepts what another issued: a
 * nonce is HKDF-SHA256 of a 60-second time step (the salt, 8 bytes big-endian) with the tenant's
 * nonce secret, info "DPoP", base64url — oidc-provider's construction for the token endpoint's
 * nonces (lib/helpers/challenge.js), with the same per-tenant secret (server.ts derives it).
 * Issued: the current step's. Accepted: the previous, current and next step's, so a nonce lives
 * 60 to 120 s, and an instance whose clock runs a little ahead (the next step) is not refused.
 */
import { hkdfSync, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';

export const NONCE_STEP_SECONDS = 60;

/** The nonce of one time step (seconds since the epoch / NONCE_STEP_SECONDS, rounded down). */
export function dpopNonce(secret: Buffer, step: number): string {
  const salt = Buffer.alloc(8);
  salt.writeBigUInt64BE(BigInt(step));
  return Buffer.from(hkdfSync('sha256', secret, salt, 'DPoP', 32)).toString('base64url');
}

export function nonceStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / NONCE_STEP_SECONDS);
}

/** The nonces accepted at `nowMs`: the previous, the current and the next step's (the current is issued). */
export function acceptedNonces(secret: Buffer, nowMs: number): readonly [string, string, string] {
  const step = nonceStep(nowMs);
  return [dpopNonce(secret, step - 1), dpopNonce(secret, step), dpopNonce(secret, step + 1)];
}

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Why a proof's `nonce` claim is refused (RFC 9449 use_dpop_nonce), or undefined when it is one of `accepted`. */
export function nonceFault(nonce: unknown, accepted: readonly string[]): string | undefined {
  if (nonce === undefined) return 'This resource requires a DPoP nonce: send the one in the DPoP-Nonce header in the proof.';
  if (typeof nonce === 'string' && accepted.some((value) => sameString(value, nonce))) return undefined;
  return "The DPoP proof's nonce is invalid or expired: send the one in the DPoP-Nonce header.";
}

/** What the DPoP verifier asks of one tenant's nonces (http/dpop-proof.ts). */
export interface DpopNonceCheck {
  /** the nonce to send in DPoP-Nonce now */
  readonly current: string;
  /** why the proof's `nonce` claim is refused, or undefined when it is accepted (nonceFault) */
  fault(nonce: unknown): string | undefined;
}

/**
 * Each tenant's nonces: its secret derived once, its accepted nonces computed once per step (three
 * HKDFs per request would cost for nothing); bounded by `maxTenants`.
 */
export function createDpopNonces(options: { secretOf: (tenantId: string) => Buffer; maxTenants: number; now?: () => number }) {
  const now = options.now ?? Date.now;
  const tenants = new LRUCache<string, { secret: Buffer; step: number; accepted: readonly [string, string, string] }>({
    max: options.maxTenants,
  });

  return function noncesOf(tenantId: string): DpopNonceCheck {
    const nowMs = now();
    const step = nonceStep(nowMs);
    let entry = tenants.get(tenantId);
    if (!entry || entry.step !== step) {
      const secret = entry?.secret ?? options.secretOf(tenantId);
      entry = { secret, step, accepted: acceptedNonces(secret, nowMs) };
      tenants.set(tenantId, entry);
    }
    const { accepted } = entry;
    return { current: accepted[1], fault: (nonce) => nonceFault(nonce, accepted) };
  };
}
export type DpopNonces = ReturnType<typeof createDpopNonces>;
