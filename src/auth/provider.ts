/**
 * One oidc-provider per (environment, tenant): the client_credentials grant, JWT access tokens
 * per RFC 9068 for the tenant's API, and discovery that advertises only what is real.
 *
 * This is the one file that reaches past oidc-provider's configuration: Client#compareClientSecret
 * is replaced so secrets are stored as hashes (the maintainers' answer in panva/node-oidc-provider#104:
 * it is compatible as long as no HS* / client_secret_jwt feature needs the clear secret, and none
 * is enabled here). For speed with many tenants (see bench/RESULTS.md), Client.find keeps the Client
 * built from a cached record, all Providers share Koa's (empty) context prototypes, and the signing
 * key is an ExternalSigningKey imported once per key record. The same two hooks are where a token
 * request's client is known, whatever the method: Client.find is asked for the presented client id
 * (the failed-authentication throttle refuses there), compareClientSecret runs only for a found
 * client (its registered method is enforced, and per_client and the token quota charged there, once
 * the secret matched).
 * ReplayDetection.unique (its one static, asked once per DPoP proof and per client assertion) is
 * replaced too: the library's find-then-save under a key without the tenant becomes one atomic
 * statement in the tenant's scope.
 *
 * private_key_jwt (RFC 7523) uses the library's own client authentication, tightened through its
 * documented hook assertJwtClientAuthClaimsAndHeader (client-assertions.ts); the keys reach it as
 * inline `jwks` metadata (a jwks_uri is fetched by client-jwks.ts, not by oidc-provider), and the
 * assertion's jti is recorded by one atomic insert (assertion-replay.ts), where per_client and the
 * token quota are charged once the assertion is accepted.
 */
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
  type SignKeyObjectInput,
} from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { JWK } from 'jose';
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import Provider, { errors, ExternalSigningKey, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/database.ts';
import { DATABASE_RETRY_AFTER_SECONDS } from '../http/problem.ts';
import { RateLimitExceeded, type RateLimits, reportLimits, TokenQuotaExceeded } from '../http/rate-limits.ts';
import type { AuthRefusalReason } from '../catalog/auth-event-reasons.ts';
import {
  CLIENT_ASSERTION_ALGORITHMS,
  CLIENT_AUTH_METHODS,
  type ClientAuthMethod,
  DEFAULT_CLIENT_AUTH_METHOD,
  SECRET_AUTH_METHODS,
} from '../catalog/client-auth-methods.ts';
import { TENANT_ADMIN_SCOPE } from '../catalog/scopes.ts';
import { SIGNING_ALGORITHMS } from '../catalog/signing-algorithms.ts';
import { DPOP_SIGNING_ALGORITHMS } from '../catalog/dpop-algorithms.ts';
import { effectiveSettings, tenantScopes } from '../tenancy/tenant-settings.ts';
import type { Tenant } from '../tenancy/tenants.ts';
import { type AccessTokenState, createAccessTokenEndpoints, INTROSPECTION_PATH, REVOCATION_PATH } from './access-token-endpoints.ts';
import type { AuthEventInput } from './auth-events.ts';
import { type ClientAssertionChecks } from './client-assertions.ts';
import { matchClientSecret } from './client-secrets.ts';
import { CLIENT_ID_PATTERN } from './clients.ts';
import type { ReplayDetection } from './replay-detection.ts';
import type { ClientRecord, TenantKeys } from './tenant-credentials.ts';

export const TOKEN_PATH = '/connect/token';
export const JWKS_PATH = '/.well-known/jwks.json';
export const OIDC_DISCOVERY_PATH = '/.well-known/openid-configuration';
export const OAUTH_METADATA_PATH = '/.well-known/oauth-authorization-server';

/** Marks a request for the RFC 8414 document, which the same discovery route serves. */
export const OAUTH_METADATA_REQUEST = Symbol('oauth-authorization-server metadata');

/** What the authentication host knows of a request and the Provider cannot (it sees no forwarding headers). */
export interface RequestFacts {
  readonly requestId: string;
  /** the caller's address (X-Forwarded-For only with TRUST_PROXY) */
  readonly source: string;
}
/** Carries RequestFacts on the IncomingMessage handed to the Provider. */
export const REQUEST_FACTS = Symbol('request facts');

export interface TenantProviderInput {
  readonly tenant: Tenant;
  readonly issuer: string;
  /** the default resource: the tenant's API origin (the platform's: the admin API origin) */
  readonly audience: string;
  /** the admin API origin, for a tenant's `tenant:admin` tokens (RFC 8707 resource) */
  readonly adminAudience?: string;
  readonly keys: TenantKeys;
  /** keys.signingKey already imported (importSigningKey): a rebuilt Provider of the tenant reuses it */
  readonly signingKey?: ExternalSigningKey;
  readonly findClient: (clientId: string) => Promise<ClientRecord | undefined>;
  /** a client authenticated with the secret whose hash is given, or with a private key (feeds last_used_at) */
  readonly onClientAuthenticated?: (clientId: string, secretHash: string | undefined) => void;
  /** private_key_jwt: this tenant's assertion rules, key sets and jti records (client-assertions.ts) */
  readonly clientAssertions: ClientAssertionChecks;
  /** every published public key (next, current, retired) at the time of the request: the JWKS */
  readonly findPublicKeys: () => Promise<readonly JWK[]>;
  /** Cache-Control max-age of the JWKS */
  readonly jwksCacheSeconds: number;
  /** Koa prototypes to share with the other Providers of a pool (see sharePrototypes) */
  readonly sharedPrototypes?: SharedPrototypes;
  /** per_client and the token quota, charged once a client has authenticated, and the failed-authentication throttle */
  readonly rateLimits?: RateLimits;
  /** where the Provider's error events are logged */
  readonly log?: Logger;
  /** revocation and introspection of the JWT access tokens (access-token-endpoints.ts) */
  readonly accessTokens?: AccessTokenState;
  /** DPoP at the token endpoint: where proof ids are claimed, and the secret (32 bytes) its nonces derive from */
  readonly dpop: { readonly replayDetection: ReplayDetection; readonly nonceSecret: Buffer };
  /** whether the client id findClient just answered undefined for is disabled (not unknown) */
  readonly wasClientDisabled?: (clientId: string) => boolean;
  /** every token request's outcome, for the auth event log (auth-events.ts) */
  readonly onTokenOutcome?: (event: AuthEventInput) => void;
}

/** The scopes of the tenant's resource API (what its OpenAPI document lists). */
export function apiScopes(tenant: Tenant): string[] {
  return tenantScopes(tenant).filter((s) => s !== TENANT_ADMIN_SCOPE);
}

/** Only fields that describe something this server really does (RFC 8414 / OIDC Discovery). */
function describeMetadata(body: Record<string, unknown>, oauthOnly: boolean): Record<string, unknown> {
  const kept: Record<string, unknown> = {
    issuer: body.issuer,
    token_endpoint: body.token_endpoint,
    jwks_uri: body.jwks_uri,
    grant_types_supported: body.grant_types_supported,
    token_endpoint_auth_methods_supported: body.token_endpoint_auth_methods_supported,
    dpop_signing_alg_values_supported: body.dpop_signing_alg_values_supported,
    // private_key_jwt: the assertion algorithms (oidc-provider lists them whenever a JWT method is on)
    ...((body.token_endpoint_auth_methods_supported as string[]).includes('private_key_jwt')
      ? { token_endpoint_auth_signing_alg_values_supported: body.token_endpoint_auth_signing_alg_values_supported }
      : {}),
    // oidc-provider always lists "openid"; no ID token is ever issued here
    scopes_supported: (body.scopes_supported as string[]).filter((s) => s !== 'openid'),
    // no authorization endpoint exists, so no response type is supported
    response_types_supported: [],
    // RFC 7009 and RFC 7662, for this server's JWT access tokens (access-token-endpoints.ts). The
    // Provider authenticates clients alike at all three endpoints; RFC 8414 would otherwise read
    // the omitted lists as client_secret_basic alone.
    revocation_endpoint: body.revocation_endpoint,
    revocation_endpoint_auth_methods_supported: body.token_endpoint_auth_methods_supported,
    introspection_endpoint: body.introspection_endpoint,
    introspection_endpoint_auth_methods_supported: body.token_endpoint_auth_methods_supported,
    // RFC 9701 signed answers: with the tenant's one signing key (the ID token list names its alg)
    introspection_signing_alg_values_supported: body.id_token_signing_alg_values_supported,
  };
  if (!oauthOnly) {
    // OpenID Discovery requires these two even of a server that issues no ID tokens; strict
    // parsers (Nimbus, Spring Security) refuse the document without them.
    kept.subject_types_supported = body.subject_types_supported;
    kept.id_token_signing_alg_values_supported = body.id_token_signing_alg_values_supported;
  }
  return kept;
}

/**
 * A database that cannot answer is RFC 6749's `temporarily_unavailable` with 503 and Retry-After on
 * the OAuth endpoints, never oidc-provider's 500 server_error (which it makes of any error that is
 * not its own) nor a problem document. The lookups oidc-provider calls throw it as the library's
 * own error, which its error handler renders; answerTemporarilyUnavailable covers the rest.
 */
export function temporarilyUnavailable(cause: unknown): InstanceType<typeof errors.TemporarilyUnavailable> {
  const error = new errors.TemporarilyUnavailable('the service is temporarily unavailable; retry shortly', { cause });
  // the library's class is a 400; the condition is the server's (RFC 6749 §5.2 names no status)
  return Object.assign(error, { status: 503, statusCode: 503 });
}

function unavailableAsOAuthError<A extends unknown[], R>(lookup: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await lookup(...args);
    } catch (error) {
      throw isDatabaseUnavailable(error) ? temporarilyUnavailable(error) : error;
    }
  };
}

/** Koa middleware: a database failure escaping below becomes the 503 answer; every 503 gets Retry-After. */
export async function answerTemporarilyUnavailable(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    if (!isDatabaseUnavailable(error)) throw error;
    ctx.status = 503;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; retry shortly' };
  }
  if (ctx.status === 503) ctx.set('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
}

class NoPersistence {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  async upsert(..._args: unknown[]): Promise<never> {
    throw new TypeError(`oidc-provider model ${this.name} is not persisted: enable its storage before its feature`);
  }
  async find(_id: string): Promise<unknown> {
    return undefined;
  }
  async findByUserCode(): Promise<undefined> {
    return undefined;
  }
  async findByUid(): Promise<undefined> {
    return undefined;
  }
  async consume(): Promise<void> {}
  async destroy(): Promise<void> {}
  async revokeByGrantId(): Promise<void> {}
}

type ClientMetadata = NonNullable<ReturnType<typeof describeClient>>;

function describeClient(client: ClientRecord, now: number, keys: readonly JWK[] | undefined) {
  const method = client.authMethods.find((m) => (CLIENT_AUTH_METHODS as readonly string[]).includes(m));
  if (!method) return undefined;
  const live = client.secrets.filter((s) => s.expiresAt === null || s.expiresAt > now);
  if ((SECRET_AUTH_METHODS as readonly string[]).includes(method) && live.length === 0) return undefined;
  if (method === 'private_key_jwt' && !keys) return undefined;
  return {
    client_id: client.clientId,
    client_name: client.name,
    // not a secret: the hashes, read back only by compareClientSecret below (a private_key_jwt client has none)
    client_secret: method === 'private_key_jwt' ? undefined : live.map((s) => s.hash).join(' '),
    // private_key_jwt: the public keys, inline or as last fetched from the jwks_uri (client-jwks.ts)
    jwks: method === 'private_key_jwt' ? { keys: keys as JWK[] } : undefined,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: method,
    scope: client.scopes.join(' '),
    access_token_ttl: client.accessTokenTtl ?? undefined,
    dpop_bound_access_tokens: client.dpopBoundAccessTokens,
  };
}

/**
 * A client record's metadata, the same object for as long as the record is cached and none of its
 * live secrets expires (the next expiry is when the set of live secrets changes).
 */
const metadataOf = new WeakMap<ClientRecord, { metadata: ClientMetadata | undefined; until: number; keys: readonly JWK[] | undefined }>();

/** `keys`: a private_key_jwt client's public keys (a jwks_uri's fetched set is a new array when it changes). */
function clientMetadata(client: ClientRecord, keys?: readonly JWK[]): ClientMetadata | undefined {
  const now = Math.floor(Date.now() / 1000);
  const known = metadataOf.get(client);
  if (known && now < known.until && known.keys === keys) return known.metadata;
  const metadata = describeClient(client, now, keys);
  const until = Math.min(...client.secrets.map((s) => (s.expiresAt !== null && s.expiresAt > now ? s.expiresAt : Infinity)));
  metadataOf.set(client, { metadata, until, keys });
  return metadata;
}

/**
 * A tenant's current signing key as node:crypto key objects, imported once and signing on the
 * libuv thread pool. oidc-provider's default path structuredClones the private JWK for every
 * Provider and has jose import it again (its import cache is keyed by that clone) before signing
 * through WebCrypto. Given an ExternalSigningKey (oidc-provider's externalSigningSupport) it builds
 * the same compact JWS (header `alg`, `typ`, `kid`) and asks the key for the signature bytes. The
 * Provider pool keeps recently used ones by key record, so a rebuilt Provider of the same tenant
 * reuses it; nothing is shared between tenants.
 */
class TenantSigningKey extends ExternalSigningKey {
  readonly #jwk: TenantKeys['signingKey'];
  #publicKey: KeyObject | undefined;
  #signWith: SignKeyObjectInput | undefined;

  constructor(jwk: TenantKeys['signingKey']) {
    super();
    if (!(SIGNING_ALGORITHMS as readonly string[]).includes(jwk.alg))
      throw new TypeError(`unsupported signing algorithm ${String(jwk.alg)}`);
    this.#jwk = jwk;
    // the base class stores both behind accessors (its typings call them read-only)
    Object.assign(this, { kid: jwk.kid, alg: jwk.alg });
  }

  // The public parameters oidc-provider publishes in the JWKS, read from the JWK itself (the base
  // class would export a public KeyObject to JWK for them); never `d` or the RSA private parts.
  override get kty(): string {
    return this.#jwk.kty as string;
  }
  override get crv(): string | undefined {
    return this.#jwk.crv;
  }
  override get x(): string | undefined {
    return this.#jwk.x;
  }
  override get y(): string | undefined {
    return this.#jwk.y;
  }
  override get n(): string | undefined {
    return this.#jwk.n;
  }
  override get e(): string | undefined {
    return this.#jwk.e;
  }

  /** the public key (for verifying; not used to issue tokens) */
  override keyObject(): KeyObject {
    const { kty, crv, x, y, n, e } = this.#jwk;
    this.#publicKey ??= createPublicKey({ key: { kty, crv, x, y, n, e } as never, format: 'jwk' });
    return this.#publicKey;
  }

  override async sign(data: Uint8Array): Promise<Uint8Array> {
    // imported on the first signature: a Provider built only for discovery or the JWKS never needs it
    this.#signWith ??= signingOptions(this.#jwk.alg, createPrivateKey({ key: this.#jwk as never, format: 'jwk' }));
    const signWith = this.#signWith;
    // with a callback node:crypto signs on the libuv thread pool, as WebCrypto does: the event
    // loop's thread (the bottleneck under load) does not spend the signature's CPU
    return new Promise((resolve, reject) =>
      sign(this.#jwk.alg === 'EdDSA' ? null : 'sha256', data, signWith, (error, signature) => (error ? reject(error) : resolve(signature))),
    );
  }
}

function signingOptions(alg: TenantKeys['signingKey']['alg'], key: KeyObject): SignKeyObjectInput {
  switch (alg) {
    case 'ES256':
      return { key, dsaEncoding: 'ieee-p1363' };
    case 'PS256':
      return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    case 'RS256':
      return { key, padding: constants.RSA_PKCS1_PADDING };
    default:
      return { key };
  }
}

/** A tenant's signing key as oidc-provider's ExternalSigningKey (import it once, reuse it per key record). */
export function importSigningKey(jwk: TenantKeys['signingKey']): ExternalSigningKey {
  return new TenantSigningKey(jwk);
}

/**
 * The Koa prototypes every Provider's request contexts inherit from, shared. Koa gives each
 * application its own (empty) `context`, `request` and `response` objects to inherit from, so with
 * a thousand Providers a thousand prototype chains reach the same functions, and every property
 * access in Koa and oidc-provider on a ctx sees a thousand object shapes (megamorphic inline
 * caches: part of why 1,000 pooled tenants cost more per token than one). Neither Koa nor oidc-provider
 * writes to these objects (per-request state lives on each ctx, the app is `ctx.app`), so sharing
 * them changes nothing but the shapes.
 */
export type KoaPrototypes = Pick<Provider, 'context' | 'request' | 'response'>;

/** Holds the prototypes the Providers of one pool share (the first Provider's). */
export interface SharedPrototypes {
  value?: KoaPrototypes;
}

function sharePrototypes(provider: Provider, shared: SharedPrototypes): void {
  shared.value ??= { context: provider.context, request: provider.request, response: provider.response };
  provider.context = shared.value.context;
  provider.request = shared.value.request;
  provider.response = shared.value.response;
}

/**
 * Every oidc-provider feature this server decides, with why. Each one the library turns on by
 * default is here (test/unit/tenant-provider.test.ts compares with the library's defaults), so an
 * upgrade that turns on another one fails a test instead of serving it silently.
 */
export const FEATURE_DECISIONS = {
  // on by default:
  /** a development login page; there are no end users here */
  devInteractions: { enabled: false },
  /** RFC 9449: a token requested with a proof is bound to its key (cnf.jkt, token_type DPoP). Proof
   * ids are claimed atomically in the tenant's database table (createTenantProvider replaces
   * ReplayDetection.unique), never replayed; nonces per tenant (its dpop.require_nonce setting) */
  dPoP: { enabled: true, allowReplay: false },
  /** PAR feeds an authorization endpoint, and there is none */
  pushedAuthorizationRequests: { enabled: false },
  /** RFC 8707: the audience of every token is a resource (configured per tenant below) */
  resourceIndicators: { enabled: true },
  /** no end-user sessions to end */
  rpInitiatedLogout: { enabled: false },
  /** no end users, so nothing to describe */
  userinfo: { enabled: false },
  // off by default:
  /** the one grant this server serves */
  clientCredentials: { enabled: true },
  /** tenant keys sign through node:crypto key objects imported once (TenantSigningKey) */
  externalSigningSupport: { enabled: true, ack: 'experimental-01' },
  /** RFC 7662 for API gateways. oidc-provider introspects only opaque tokens and refuses a JWT (which
   * every access token here is) with unsupported_token_type: it authenticates the caller, and
   * access-token-endpoints.ts answers for the JWT. No opaque token exists, so its policy never runs. */
  introspection: { enabled: true, allowedPolicy: async () => false },
  /** RFC 7009, the same way: the Provider authenticates the client, access-token-endpoints.ts lists
   * the JWT's jti until it expires (no opaque or refresh token exists for its own handling) */
  revocation: { enabled: true, allowedPolicy: async () => false },
  /** its signer runs only for the opaque tokens it introspects itself; access-token-endpoints.ts
   * signs RFC 9701 answers with the tenant's key */
  jwtIntrospection: { enabled: false },
} as const;

/** 429 in oidc-provider's own error shape: its handler renders it and emits grant.error. */
class TooManyRequests extends errors.OIDCProviderError {
  constructor(description: string) {
    super(429, 'too_many_requests');
    this.error_description = description;
  }
}

/** Refuses the request with 429 and Retry-After when a limit or the client's token quota is what failed. */
function refuseRateLimited(ctx: Context, error: unknown): never {
  if (error instanceof TokenQuotaExceeded) {
    ctx.set('Retry-After', String(error.retryAfterSeconds));
    reportLimits(ctx.res, error.states);
    throw new TooManyRequests(error.message);
  }
  if (!(error instanceof RateLimitExceeded)) throw error;
  ctx.set('Retry-After', String(error.retryAfterSeconds));
  reportLimits(ctx.res, [error.state]);
  throw new TooManyRequests(
    error.scope === 'source' ? error.message : `more than ${error.limit} token requests per second for this ${error.scope}`,
  );
}

const CLIENT_ID = new RegExp(CLIENT_ID_PATTERN);
/** the endpoints where a client authenticates: a source failing there is throttled the same way */
const CLIENT_AUTHENTICATING_ROUTES = new Set(['token', 'revocation', 'introspection']);

const factsOf = (ctx: Context): RequestFacts | undefined =>
  (ctx.req as IncomingMessage & { [REQUEST_FACTS]?: RequestFacts })[REQUEST_FACTS];

/** The caller's address as the authentication host saw it (the Provider's own ctx.ip, without one). */
const sourceOf = (ctx: Context): string => factsOf(ctx)?.source ?? ctx.ip;

/** client_secret in the body is client_secret_post; otherwise oidc-provider read it from Basic. */
function secretMethodUsed(ctx: KoaContextWithOIDC): ClientAuthMethod {
  return ctx.oidc.params?.client_secret ? 'client_secret_post' : 'client_secret_basic';
}

/** The client_id of an HTTP Basic header (RFC 6749 §2.3.1 form-encodes it), for logs only. */
export function basicClientId(authorization: string): string | undefined {
  if (!/^basic /i.test(authorization)) return undefined;
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Logs oidc-provider's server_error (any endpoint), Koa's own 5xx outside an endpoint's handler,
 * and every refused token request, with the tenant, the client id as presented (authenticated or
 * not) and the request id; never a secret or a parameter.
 */
function logProviderErrors(provider: Provider, tenant: Tenant, log: Logger, presentedId: (ctx: Context) => string | undefined): void {
  const who = (ctx: Context) => {
    const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
    const param = oidc?.params?.client_id;
    const clientId = presentedId(ctx) ?? (typeof param === 'string' ? param : basicClientId(ctx.get('authorization')));
    return {
      tenant: tenant.slug,
      environment: tenant.environment,
      route: oidc?.route,
      client_id: clientId?.slice(0, 200),
      request_id: factsOf(ctx)?.requestId,
    };
  };
  provider.on('server_error', (ctx, error) => log.error({ ...who(ctx), err: error }, 'oidc-provider server_error'));
  provider.on('grant.error', (ctx, error) =>
    log.info({ ...who(ctx), status: error.statusCode, error: error.error, detail: error.error_detail }, 'token request refused'),
  );
  // Koa's own event (outside oidc-provider's typings): the app's default listener would print to stderr
  (provider as Koa).on('error', (error: Error & { status?: number }, ctx: Context) => {
    if ((error.status ?? 500) >= 500) log.error({ ...who(ctx), err: error }, 'oidc-provider error outside an endpoint');
  });
}

/** oidc-provider's error codes on the token endpoint, as auth event reasons. */
const REASON_OF_ERROR: Readonly<Record<string, AuthRefusalReason>> = {
  invalid_scope: 'invalid_scope',
  invalid_target: 'invalid_target',
  too_many_requests: 'rate_limited',
  temporarily_unavailable: 'temporarily_unavailable',
  unsupported_grant_type: 'unsupported_grant_type',
  unauthorized_client: 'unauthorized_client',
  invalid_request: 'invalid_request',
};

/** Why a token request was refused, from the error and what the authentication hooks noted. */
function refusalReason(error: { error?: string }, noted: AuthRefusalReason | undefined, presented: boolean): AuthRefusalReason {
  // 429: the client's token quota when that is what refused it, else a rate limit
  if (error.error === 'too_many_requests' && noted === 'quota_exceeded') return noted;
  if (error.error !== 'invalid_client') return REASON_OF_ERROR[error.error ?? ''] ?? 'other';
  if (noted) return noted;
  if (!presented) return 'unknown_client';
  // the client was found, no secret was compared and it presented no assertion of its own: it
  // authenticated with a method it is not registered for
  return 'wrong_auth_method';
}

/**
 * Feeds the auth event log from oidc-provider's own events: grant.success, grant.error, and
 * server_error on the token route. Only the client id presented by Client.find (already checked
 * against the client id pattern), never a parameter as sent.
 */
function recordTokenOutcomes(
  provider: Provider,
  tenantId: string,
  record: NonNullable<TenantProviderInput['onTokenOutcome']>,
  presentedIds: WeakMap<Context, string>,
  refusalReasons: WeakMap<Context, AuthRefusalReason>,
  knownScopes: readonly string[],
): void {
  provider.on('grant.success', (ctx) => {
    const token = ctx.oidc.entities.ClientCredentials;
    // the one object a token request adds: the scope as the token carries it, split by the database
    record({
      tenantId,
      clientId: ctx.oidc.client?.clientId ?? presentedIds.get(ctx),
      outcome: 'issued',
      sourceIp: sourceOf(ctx),
      scope: token?.scope ?? '',
      jti: token?.jti,
    });
  });
  const refused = (ctx: KoaContextWithOIDC, error: { error?: string }) => {
    const clientId = presentedIds.get(ctx);
    const asked = ctx.oidc.params?.scope;
    record({
      tenantId,
      clientId,
      outcome: 'refused',
      reason: refusalReason(error, refusalReasons.get(ctx), clientId !== undefined),
      sourceIp: sourceOf(ctx),
      // what was asked for, as far as the tenant defines it: a parameter as sent is never stored
      scope:
        typeof asked === 'string'
          ? asked
              .split(' ')
              .filter((s) => knownScopes.includes(s))
              .join(' ')
          : '',
    });
  };
  provider.on('grant.error', refused);
  provider.on('server_error', (ctx, error) => {
    if (ctx.oidc?.route === 'token') refused(ctx, error as { error?: string });
  });
}

export function createTenantProvider(input: TenantProviderInput): Provider {
  const { tenant, audience, adminAudience, keys } = input;
  const scopes = tenantScopes(tenant);
  // A tenant's issuer serves two resources: its API (every scope but tenant:admin) and, for
  // tenant:admin alone, the admin API. The platform issuer serves only the admin API.
  const resourceScopes = (resource: string) =>
    resource === adminAudience ? scopes.filter((s) => s === TENANT_ADMIN_SCOPE) : scopes.filter((s) => s !== TENANT_ADMIN_SCOPE);
  const requestedScopes = (ctx: { oidc: { params?: Record<string, unknown> } }) =>
    typeof ctx.oidc.params?.scope === 'string' ? ctx.oidc.params.scope.split(' ') : undefined;
  const { access_token_ttl: ttl, dpop } = effectiveSettings(tenant.settings);
  const requireNonce = dpop.require_nonce;
  const findClient = unavailableAsOAuthError(input.findClient);
  const signingKey = input.signingKey ?? importSigningKey(keys.signingKey);

  const assertions = input.clientAssertions;
  const Adapter = class extends NoPersistence {
    override async find(id: string) {
      if (this.name !== 'Client') return undefined;
      const client = await findClient(id);
      return client ? (clientMetadata(client, client.jwks?.keys) as never) : undefined;
    }
  };

  const configuration: Configuration = {
    adapter: Adapter as never,
    jwks: { keys: [signingKey] },
    clients: [],
    extraClientMetadata: { properties: ['access_token_ttl'] },
    responseTypes: [],
    scopes,
    claims: {},
    clientAuthMethods: [...CLIENT_AUTH_METHODS],
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: DEFAULT_CLIENT_AUTH_METHOD,
      id_token_signed_response_alg: keys.signingKey.alg,
    },
    enabledJWA: {
      // no symmetric algorithm anywhere: the stored "secret" is a hash and must never become a key
      clientAuthSigningAlgValues: [...CLIENT_ASSERTION_ALGORITHMS],
      idTokenSigningAlgValues: [keys.signingKey.alg],
      dPoPSigningAlgValues: [...DPOP_SIGNING_ALGORITHMS],
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // private_key_jwt: aud = the issuer alone, a short life, iss = sub (client-assertions.ts)
    assertJwtClientAuthClaimsAndHeader: (ctx, claims, header, client) =>
      assertions.assertClaimsAndHeader(ctx, claims as Record<string, unknown>, header as Record<string, unknown>, client),
    features: {
      ...FEATURE_DECISIONS,
      dPoP: {
        ...FEATURE_DECISIONS.dPoP,
        // a nonce from another tenant's Provider never verifies here: each tenant's secret is its own
        nonceSecret: input.dpop.nonceSecret,
        requireNonce: () => requireNonce,
      },
      resourceIndicators: {
        ...FEATURE_DECISIONS.resourceIndicators,
        // asking for tenant:admin means asking for the admin API, without naming it as `resource`
        // (or, without `scope`, when tenant:admin is all the client may have)
        defaultResource: (ctx, client) => {
          if (!adminAudience) return audience;
          const requested = requestedScopes(ctx);
          const wanted = requested ?? client.scope?.split(' ') ?? [];
          const forAdmin = requested
            ? wanted.includes(TENANT_ADMIN_SCOPE)
            : wanted.length > 0 && wanted.every((s) => s === TENANT_ADMIN_SCOPE);
          return forAdmin ? adminAudience : audience;
        },
        useGrantedResource: () => true,
        // Runs before oidc-provider checks the requested scopes against the client's, so this is
        // where a scope this tenant does not define is refused (oidc-provider would drop it
        // silently) and where a request without `scope` gets every scope the client is allowed
        // for that resource, as Auth0 and Keycloak do for client_credentials.
        getResourceServerInfo: (ctx, resourceIndicator, client) => {
          // oidc-provider would refuse a bound client's request without a proof only later, as
          // invalid_grant; RFC 9449's own error says what is missing (the proof, when sent, is
          // validated before this point)
          if (client.dpopBoundAccessTokens && !ctx.get('DPoP')) {
            throw new errors.InvalidDpopProof('this client must send a DPoP proof (RFC 9449) with its token requests');
          }
          if (resourceIndicator !== audience && resourceIndicator !== adminAudience) {
            throw new errors.InvalidTarget(
              `this authorization server issues tokens only for ${[audience, adminAudience].filter(Boolean).join(' and ')}`,
            );
          }
          const offered = resourceScopes(resourceIndicator);
          const requested = requestedScopes(ctx);
          if (requested) {
            const unknown = requested.find((s) => !offered.includes(s));
            if (unknown !== undefined) {
              const detail = scopes.includes(unknown)
                ? `${TENANT_ADMIN_SCOPE} is for the admin API: request it alone`
                : 'requested scope is not allowed';
              throw new errors.InvalidScope(detail, unknown);
            }
          } else if (ctx.oidc.params && client.scope) {
            ctx.oidc.params.scope = client.scope
              .split(' ')
              .filter((s) => offered.includes(s))
              .join(' ');
          }
          return {
            scope: offered.join(' '),
            audience: resourceIndicator,
            // extra client metadata is exposed camel-cased on the Client instance
            accessTokenTTL: (client as unknown as { accessTokenTtl?: number }).accessTokenTtl ?? ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: keys.signingKey.alg } },
          };
        },
      },
    },
    // A browser may call the token endpoint only from the origin of the API its tokens are for
    // (the reference page there authorizes with it; the platform's: the admin API). The default
    // refuses every origin for confidential clients. Preflights: refuseForeignPreflight below.
    clientBasedCORS: (_ctx, origin) => origin === audience,
    routes: { token: TOKEN_PATH, jwks: JWKS_PATH, revocation: REVOCATION_PATH, introspection: INTROSPECTION_PATH },
    ttl: { ClientCredentials: ttl },
    renderError: async (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  };

  const provider = new Provider(input.issuer, configuration);
  // URLs come from the canonical Host and X-Forwarded-Proto that the tenancy layer sets; the
  // caller's own headers never reach this point.
  provider.proxy = true;
  if (input.sharedPrototypes) sharePrototypes(provider, input.sharedPrototypes);

  // oidc-provider's Client.find hashes JSON.stringify(metadata) on every request to find the Client
  // it built for the same metadata; the metadata object is already stable per cached record
  // (clientMetadata above), so the Client built from it is kept with it. What a Client is built
  // from, and how (the constructor validates the metadata), is unchanged; no static clients or
  // client ID metadata documents are configured.
  const ProviderClient = provider.Client as unknown as { new (metadata: ClientMetadata): InstanceType<Provider['Client']> };
  const clientsByMetadata = new WeakMap<ClientMetadata, InstanceType<Provider['Client']>>();
  // the client id each token request presented: oidc-provider asks Client.find for it before it
  // compares any secret, whatever the method
  const presentedIds = new WeakMap<Context, string>();
  // the record each Client was built from: its token quota is not oidc-provider metadata
  const recordsByClient = new WeakMap<InstanceType<Provider['Client']>, ClientRecord>();
  // why a token request's client authentication failed, where only our hooks know it
  const refusalReasons = new WeakMap<Context, AuthRefusalReason>();
  const rateLimits = input.rateLimits;

  /**
   * Once a client has authenticated for a token: its per_client limit, then its token quota. A
   * revocation or an introspection is neither (the tenant's own count: RateLimitSurface).
   */
  async function chargeAuthenticatedClient(ctx: KoaContextWithOIDC, client: InstanceType<Provider['Client']>): Promise<void> {
    if (!rateLimits || ctx.oidc.route !== 'token') return;
    try {
      reportLimits(ctx.res, [await rateLimits.consumeClient('token', tenant, client.clientId)]);
      const quota = recordsByClient.get(client)?.tokenQuota;
      reportLimits(ctx.res, await rateLimits.chargeTokenQuota(tenant, client.clientId, quota));
    } catch (error) {
      if (error instanceof TokenQuotaExceeded) refusalReasons.set(ctx, 'quota_exceeded');
      refuseRateLimited(ctx, error);
    }
  }

  /** Why Client.find found nothing to authenticate against. */
  const whyNoClient = (record: ClientRecord | undefined, id: string): AuthRefusalReason => {
    if (!record) return input.wasClientDisabled?.(id) ? 'client_disabled' : 'unknown_client';
    // registered only for methods this server does not offer; else a secret client whose secrets all expired
    const method = record.authMethods.find((m) => (CLIENT_AUTH_METHODS as readonly string[]).includes(m));
    if (method === undefined) return 'wrong_auth_method';
    return (SECRET_AUTH_METHODS as readonly string[]).includes(method) ? 'expired_secret' : 'assertion_refused';
  };

  provider.Client.find = async function find(id: string) {
    // no client has any other id: nothing to look up, nothing to count
    if (typeof id !== 'string' || !CLIENT_ID.test(id)) return undefined;
    const ctx = Provider.ctx;
    if (ctx && CLIENT_AUTHENTICATING_ROUTES.has(ctx.oidc.route)) {
      presentedIds.set(ctx, id);
      // a source that keeps failing as this client is refused before another secret is compared
      await rateLimits?.checkAuthFailures(tenant, id, sourceOf(ctx)).catch((error: unknown) => refuseRateLimited(ctx, error));
    }
    const record = await findClient(id);
    // private_key_jwt: its keys (a jwks_uri's are fetched here, before oidc-provider verifies)
    const assertion = ctx?.oidc.params?.client_assertion;
    // A key client presenting an assertion: whatever invalid_client follows is that assertion's refusal
    // (no keys to check it with, oidc-provider's signature and time checks, client-assertions.ts's claim
    // and replay checks); a quota or limit refusal after it notes its own reason.
    if (ctx && record?.authMethods.includes('private_key_jwt') && assertion !== undefined) refusalReasons.set(ctx, 'assertion_refused');
    const keys = record && (await assertions.keysOf(record, assertion));
    const metadata = record && clientMetadata(record, keys);
    if (ctx?.oidc.route === 'token' && !metadata) refusalReasons.set(ctx, whyNoClient(record, id));
    if (!metadata) return undefined;
    let client = clientsByMetadata.get(metadata);
    if (!client) clientsByMetadata.set(metadata, (client = new ProviderClient(metadata)));
    recordsByClient.set(client, record);
    return client;
  } as Provider['Client']['find'];

  // Called for both secret methods once oidc-provider has found the client, and only then: the
  // one point where a client is known to have authenticated.
  provider.Client.prototype.compareClientSecret = async function compareClientSecret(
    this: InstanceType<Provider['Client']> & { clientSecret: string; clientAuthMethod: string },
    presented: string,
  ) {
    const ctx = Provider.ctx;
    if (!ctx) throw new TypeError('a client secret is compared only within a request');
    // oidc-provider accepts either secret method from a client registered with one of them
    if (secretMethodUsed(ctx) !== this.clientAuthMethod) {
      refusalReasons.set(ctx, 'wrong_auth_method');
      throw new errors.InvalidClientAuth(`the client authenticates with ${this.clientAuthMethod}, not ${secretMethodUsed(ctx)}`);
    }
    const matched = matchClientSecret(presented, this.clientSecret.split(' '));
    if (matched === undefined) {
      refusalReasons.set(ctx, 'wrong_secret');
      return false;
    }
    await chargeAuthenticatedClient(ctx, this);
    input.onClientAuthenticated?.(this.clientId, matched);
    return true;
  };

  // oidc-provider's own ReplayDetection reads, then writes, a key without the tenant. Here each id is
  // one atomic statement in the tenant's scope, shared by every instance and Provider: the request's
  // client assertion goes to its jti record (client-assertions.ts, which then charges per_client, as a
  // secret match does), anything else (a DPoP proof) to the replay claims (replay-detection.ts).
  const { replayDetection } = input.dpop;
  const recordAssertion = unavailableAsOAuthError(assertions.recordReplayId);
  const claimProof = unavailableAsOAuthError((iss: string, jti: string, exp: number) => replayDetection.claim(tenant.id, iss, jti, exp));
  provider.ReplayDetection.unique = async (iss: string, jti: string, exp: number): Promise<boolean> => {
    const ctx = Provider.ctx;
    // the id oidc-provider would store (models/replay_detection.js), which client-assertions.ts expects
    const id = createHash('sha256').update(`${iss}${jti}`).digest('base64url');
    if ((await recordAssertion(ctx, id, exp - Math.floor(Date.now() / 1000))) === 'recorded') {
      if (ctx?.oidc.client) {
        await chargeAuthenticatedClient(ctx, ctx.oidc.client);
        input.onClientAuthenticated?.(ctx.oidc.client.clientId, undefined);
      }
      return true;
    }
    return claimProof(iss, jti, exp);
  };

  provider.use(answerTemporarilyUnavailable);
  // oidc-provider answers every origin's preflight (no client is known yet) and applies
  // clientBasedCORS only to the POST itself; a preflight from another origin gets no CORS headers
  // here, so the browser refuses before it sends any credentials.
  provider.use(async function refuseForeignPreflight(ctx, next) {
    if (ctx.method !== 'OPTIONS' || ctx.path !== TOKEN_PATH || ctx.get('origin') === audience) return next();
    ctx.vary('Origin');
    ctx.status = 204;
  });
  // every invalid_client after a client id was presented: a wrong secret, an unknown client, the other method
  const countAuthFailure = (ctx: KoaContextWithOIDC, error: errors.OIDCProviderError) => {
    const clientId = presentedIds.get(ctx);
    if (rateLimits && error.error === 'invalid_client' && clientId !== undefined) {
      void rateLimits.countAuthFailure(tenant, clientId, sourceOf(ctx));
    }
  };
  provider.on('grant.error', countAuthFailure);
  provider.on('revocation.error', countAuthFailure);
  provider.on('introspection.error', countAuthFailure);
  if (input.log) logProviderErrors(provider, tenant, input.log, (ctx) => presentedIds.get(ctx));
  if (input.onTokenOutcome) recordTokenOutcomes(provider, tenant.id, input.onTokenOutcome, presentedIds, refusalReasons, scopes);

  if (input.accessTokens) {
    provider.use(
      createAccessTokenEndpoints({
        ...input.accessTokens,
        tenant,
        issuer: input.issuer,
        audiences: [audience, ...(adminAudience ? [adminAudience] : [])],
        findPublicKeys: input.findPublicKeys,
        findClient,
        signingKey,
      }),
    );
  }

  provider.use(async (ctx, next) => {
    await next();
    // The Provider knows only the key it signs with; verifiers need the staged and the retired
    // ones too (see key-rotation.ts), read from the key cache on each request so a retired key
    // leaves at its not_after. Verifiers may cache the set for JWKS_CACHE_SECONDS, which is why a
    // key is staged at least that long before it signs.
    if (ctx.oidc?.route === 'jwks' && ctx.status === 200) {
      ctx.body = { keys: await input.findPublicKeys() };
      ctx.set('Cache-Control', `public, max-age=${input.jwksCacheSeconds}`);
      return;
    }
    if (ctx.oidc?.route === 'discovery' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      const oauthOnly = (ctx.req as IncomingMessage & { [OAUTH_METADATA_REQUEST]?: boolean })[OAUTH_METADATA_REQUEST] === true;
      ctx.body = describeMetadata(ctx.body as Record<string, unknown>, oauthOnly);
    }
  });

  return provider;
}
