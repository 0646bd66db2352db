/**
 * Verifies bearer tokens in process with jose against the tenant's own published keys: signature,
 * `typ: at+jwt`, an algorithm allow-list, `iss` = this tenant's issuer in this environment, `aud` =
 * this host's origin, `exp`/`nbf` with a small skew. Verified claims are cached by the token's
 * hash until `exp`, keyed by tenant so a token verified for one tenant means nothing for another.
 */
import { createHash } from 'node:crypto';
import { createLocalJWKSet, errors as joseErrors, type JWK, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';
import { SIGNING_ALGORITHMS } from '../catalog/signing-algorithms.ts';
import type { Change } from '../tenancy/change-notifications.ts';
import { DEFAULT_TENANT_SETTINGS } from '../tenancy/tenant-settings.ts';
import type { Tenant } from '../tenancy/tenants.ts';
import type { DpopNonces } from './dpop-nonces.ts';
import type { DpopPresentation, DpopVerifier } from './dpop-proof.ts';
import { ApiError } from './problem.ts';
import type { LimitState } from './rate-limit-policy.ts';
import { RateLimitExceeded, type RateLimits } from './rate-limits.ts';

export interface AccessTokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string | string[];
  readonly client_id: string;
  readonly scope?: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
  /** RFC 9449: the thumbprint of the key a DPoP-bound token is bound to */
  readonly cnf?: { readonly jkt?: string };
}

export interface TokenExpectation {
  readonly tenantId: string;
  readonly issuer: string;
  readonly audience: string;
  readonly publicKeys: readonly JWK[];
}

const CLOCK_SKEW_SECONDS = 5;

export function bearerChallenge(realm: string, error?: { code: string; description: string; scope?: string }): string {
  const parts = [`realm="${realm}"`];
  if (error) {
    parts.push(`error="${error.code}"`, `error_description="${error.description.replace(/["\\]/g, '')}"`);
    if (error.scope) parts.push(`scope="${error.scope}"`);
  }
  return `Bearer ${parts.join(', ')}`;
}

function invalidToken(realm: string, description: string): ApiError {
  return new ApiError('invalid-token', description, {
    headers: { 'WWW-Authenticate': bearerChallenge(realm, { code: 'invalid_token', description }) },
  });
}

/** The token from `Authorization: Bearer …`; RFC 6750 §2.1 only (no query or body tokens). */
export function extractBearerToken(authorization: string | undefined, realm: string): string {
  // no credentials, or another scheme: a bare challenge, without an error code (RFC 6750 §3.1)
  if (!authorization || !/^bearer(?: |$)/i.test(authorization)) {
    throw new ApiError('invalid-token', 'An access token is required: send Authorization: Bearer <token>.', {
      headers: { 'WWW-Authenticate': bearerChallenge(realm) },
    });
  }
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  if (!match?.[1]) {
    throw invalidToken(realm, 'The Authorization header must be "Bearer <token>".');
  }
  return match[1];
}

interface VerifiedToken {
  readonly tenantId: string;
  readonly claims: AccessTokenClaims;
  /**
   * the kid that verified it: a cached verdict holds only while that key is still published (an
   * emergency rotation withdraws a key, and the tokens it signed must stop at once)
   */
  readonly kid: string | undefined;
}

/**
 * The verifier, with its cache of verified tokens as a holder of per-tenant state: the tenant
 * runtime hands it every change (a client's change drops that client's tokens; the tenant's or
 * its keys' change, all of the tenant's), and `clear()` after missed notifications. Key sets are
 * kept by the published key list they were made from, so a new list makes a new set.
 */
export function createAccessTokenVerifier(options: { cacheSize: number; now?: () => number }) {
  const now = options.now ?? (() => Date.now());
  const keySets = new WeakMap<readonly JWK[], ReturnType<typeof createLocalJWKSet>>();
  // each tenant's cache keys, so a change drops only that tenant's tokens (kept by dispose:
  // whatever leaves the cache, evicted, expired or deleted, leaves its tenant's set)
  const keysOfTenant = new Map<string, Set<string>>();
  const verified =
    options.cacheSize > 0
      ? new LRUCache<string, VerifiedToken>({
          max: options.cacheSize,
          dispose: (entry, key) => {
            const keys = keysOfTenant.get(entry.tenantId);
            keys?.delete(key);
            if (keys?.size === 0) keysOfTenant.delete(entry.tenantId);
          },
        })
      : undefined;

  function keySetFor(keys: readonly JWK[]) {
    let set = keySets.get(keys);
    if (!set) {
      set = createLocalJWKSet({ keys: [...keys] });
      keySets.set(keys, set);
    }
    return set;
  }

  function remember(cacheKey: string, entry: VerifiedToken): void {
    verified?.set(cacheKey, entry, { ttl: Math.max(1, (entry.claims.exp + CLOCK_SKEW_SECONDS) * 1000 - now()) });
    let keys = keysOfTenant.get(entry.tenantId);
    if (!keys) keysOfTenant.set(entry.tenantId, (keys = new Set()));
    keys.add(cacheKey);
  }

  /** Drops the tenant's verified tokens, or only those of one client. */
  function forget(tenantId: string, clientId?: string): void {
    for (const key of [...(keysOfTenant.get(tenantId) ?? [])]) {
      if (clientId === undefined || verified?.peek(key)?.claims.client_id === clientId) verified?.delete(key);
    }
  }

  async function verifyAccessToken(token: string, expected: TokenExpectation): Promise<AccessTokenClaims> {
    const cacheKey = verified && `${expected.tenantId}.${expected.audience}.${createHash('sha256').update(token).digest('base64url')}`;
    const cached = cacheKey ? verified?.get(cacheKey) : undefined;
    if (cached && cached.claims.exp + CLOCK_SKEW_SECONDS > now() / 1000 && expected.publicKeys.some((k) => k.kid === cached.kid)) {
      return cached.claims;
    }

    let claims: AccessTokenClaims;
    let kid: string | undefined;
    try {
      const result = await jwtVerify<AccessTokenClaims>(token, keySetFor(expected.publicKeys), {
        issuer: expected.issuer,
        audience: expected.audience,
        typ: 'at+jwt',
        algorithms: [...SIGNING_ALGORITHMS],
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
        currentDate: new Date(now()),
      });
      claims = result.payload;
      kid = result.protectedHeader.kid;
    } catch (error) {
      throw invalidToken(expected.audience, describeVerificationFailure(error));
    }
    if (typeof claims.client_id !== 'string' || claims.sub !== claims.client_id) {
      throw invalidToken(expected.audience, 'The access token is not a client credentials token of this tenant.');
    }
    if (cacheKey) remember(cacheKey, { tenantId: expected.tenantId, claims, kid });
    return claims;
  }

  return Object.assign(verifyAccessToken, {
    onChange(change: Change): void {
      forget(change.tenant, change.kind === 'client' && change.id !== null ? change.id : undefined);
    },
    clear(): void {
      verified?.clear();
    },
  });
}
export type AccessTokenVerifier = ReturnType<typeof createAccessTokenVerifier>;

function describeVerificationFailure(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'The access token has expired.';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'aud' || error.claim === 'iss') return 'The access token was not issued for this tenant and environment.';
    if (error.claim === 'nbf' || error.claim === 'iat') return 'The access token is not valid yet.';
    if (error.claim === 'typ') return 'The token is not an access token (typ must be at+jwt).';
    return `The access token has an invalid "${error.claim}" claim.`;
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'The access token is signed with an algorithm that is not accepted.';
  return 'The access token is invalid.';
}

export function requireScope(claims: AccessTokenClaims, scope: string, realm: string): void {
  const granted = (claims.scope ?? '').split(' ');
  if (!granted.includes(scope)) {
    throw new ApiError('insufficient-scope', `This request requires the scope "${scope}".`, {
      headers: {
        'WWW-Authenticate': bearerChallenge(realm, { code: 'insufficient_scope', description: `requires scope ${scope}`, scope }),
      },
      members: { required_scope: scope },
    });
  }
}

/** What bearer authentication reads of the tenant runtime (its keys and clients are auth/'s). */
export interface BearerLookups {
  getTenant(environment: string, slug: string): Promise<Tenant | undefined>;
  readonly credentials: {
    getKeys(tenantId: string): Promise<{ readonly publicKeys: readonly JWK[] } | undefined>;
    getClient(tenantId: string, clientId: string): Promise<object | undefined>;
  };
}

/** Whether a verified token was revoked since it was issued (tenancy/token-revocations.ts). */
export interface RevocationCheck {
  isRevoked(tenantId: string, claims: AccessTokenClaims): Promise<boolean>;
}

/** A tenant that can be asked about tokens: it exists (not deleted) and has published keys. */
export interface TokenIssuer {
  readonly tenant: Tenant;
  readonly publicKeys: readonly JWK[];
}

/** What one API requires of a token; the two APIs word some refusals differently (tests pin both). */
export interface BearerRequirement {
  readonly issuer: string;
  /** the origin the token must be issued for, and the challenge's realm */
  readonly audience: string;
  /** the challenge's error_description when the token's client is disabled or deleted */
  readonly clientGone: string;
  readonly scope?: string;
  /** the problem's detail when the tenant is not ACTIVE; omitted: the status is not checked */
  readonly inactive?: string;
  /** the surface charged to the tenant's and the client's rate limits; omitted: none */
  readonly rateLimit?: 'api';
  /** how the request presented the token (RFC 9449, http/dpop-proof.ts); omitted: as Bearer, no proof */
  readonly presented?: DpopPresentation;
  /** told the state of the limits charged (also when one refuses), for the response's RateLimit fields */
  readonly onRateLimit?: (states: readonly (LimitState | undefined)[]) => void;
  /**
   * told the nonce a DPoP request's next proof should carry, when the token's tenant requires
   * nonces (dpop.require_nonce), before anything can refuse: the DPoP-Nonce header of every answer
   * to a DPoP request (RFC 9449 §8.2), so a client rotates without a refusal
   */
  readonly onDpopNonce?: (nonce: string) => void;
  /** told the token's client once the token is valid and its client exists, before the scope, status
   * and rate limit are checked: whatever the answer, it is this client's (the usage counts) */
  readonly onClient?: (clientId: string) => void;
}

const PRESENTED_AS_BEARER: DpopPresentation = { scheme: 'Bearer', proof: undefined, method: '', url: '' };

/**
 * Who is asking, for the resource API and the admin API: the tenant (and its keys) by name, then a
 * token verified against those keys and not revoked, its client still enabled, the scope, the
 * tenant's status and the rate limit, in that order.
 */
export function createBearerAuthentication(deps: {
  runtime: BearerLookups;
  verifyAccessToken: AccessTokenVerifier;
  rateLimits: RateLimits;
  revocations: RevocationCheck;
  checkSenderConstraint: DpopVerifier;
  dpopNonces: DpopNonces;
}) {
  const { runtime } = deps;

  async function findIssuer(environment: string, slug: string): Promise<TokenIssuer | undefined> {
    const tenant = await runtime.getTenant(environment, slug);
    const keys = tenant && (await runtime.credentials.getKeys(tenant.id));
    return tenant && keys ? { tenant, publicKeys: keys.publicKeys } : undefined;
  }

  async function authenticate(token: string, { tenant, publicKeys }: TokenIssuer, required: BearerRequirement): Promise<AccessTokenClaims> {
    const { audience } = required;
    const presented = required.presented ?? PRESENTED_AS_BEARER;
    // the token's tenant's setting: its issuer's (the platform's for a platform:admin token); the
    // stored value over its default, read alone (per request, effectiveSettings would merge them all)
    const requireNonce = tenant.settings.dpop?.require_nonce ?? DEFAULT_TENANT_SETTINGS.dpop.require_nonce;
    const nonces = presented.scheme === 'DPoP' && requireNonce ? deps.dpopNonces(tenant.id) : undefined;
    if (nonces) required.onDpopNonce?.(nonces.current);
    const claims = await deps.verifyAccessToken(token, { tenantId: tenant.id, issuer: required.issuer, audience, publicKeys });
    await deps.checkSenderConstraint(claims, token, presented, audience, tenant.id, nonces);
    if (await deps.revocations.isRevoked(tenant.id, claims)) throw invalidToken(audience, 'The access token has been revoked.');
    // a token outlives its client: a disabled or deleted client's tokens stop here (cached record,
    // dropped by the change notification within a second of the change)
    if (!(await runtime.credentials.getClient(tenant.id, claims.client_id))) {
      throw new ApiError('invalid-token', 'The client this token was issued to is disabled or no longer exists.', {
        headers: { 'WWW-Authenticate': bearerChallenge(audience, { code: 'invalid_token', description: required.clientGone }) },
      });
    }
    required.onClient?.(claims.client_id);
    if (required.scope !== undefined) requireScope(claims, required.scope, audience);
    if (required.inactive !== undefined && tenant.status !== 'ACTIVE') throw new ApiError('tenant-suspended', required.inactive);
    if (required.rateLimit) await chargeRateLimit(required.rateLimit, required, tenant, claims.client_id);
    return claims;
  }

  async function chargeRateLimit(surface: 'api', required: BearerRequirement, tenant: Tenant, clientId: string): Promise<void> {
    try {
      required.onRateLimit?.(await deps.rateLimits.consume(surface, tenant, clientId));
    } catch (error) {
      if (!(error instanceof RateLimitExceeded)) throw error;
      required.onRateLimit?.([error.state]);
      throw new ApiError(
        'rate-limited',
        `This ${error.scope} may make ${error.limit} requests per second; retry after the Retry-After delay.`,
        {
          headers: { 'Retry-After': String(error.retryAfterSeconds) },
        },
      );
    }
  }

  return { findIssuer, authenticate };
}
export type BearerAuthentication = ReturnType<typeof createBearerAuthentication>;
