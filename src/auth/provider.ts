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
 * client (its registered method is enforced and per_client charged there, once the secret matched).
 */
import { constants, createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, type SignKeyObjectInput } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { JWK } from 'jose';
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import Provider, { errors, ExternalSigningKey, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/database.ts';
import { DATABASE_RETRY_AFTER_SECONDS } from '../http/problem.ts';
import { RateLimitExceeded, type RateLimits } from '../http/rate-limits.ts';
import type { AuthRefusalReason } from '../catalog/auth-event-reasons.ts';
import { CLIENT_AUTH_METHODS, type ClientAuthMethod, DEFAULT_CLIENT_AUTH_METHOD } from '../catalog/client-auth-methods.ts';
import { TENANT_ADMIN_SCOPE } from '../catalog/scopes.ts';
import { SIGNING_ALGORITHMS } from '../catalog/signing-algorithms.ts';
import { effectiveSettings, tenantScopes } from '../tenancy/tenant-settings.ts';
import type { Tenant } from '../tenancy/tenants.ts';
import type { AuthEventInput } from './auth-events.ts';
import { matchClientSecret } from './client-secrets.ts';
import { CLIENT_ID_PATTERN } from './clients.ts';
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
  /** a client authenticated with the secret whose hash is given (feeds last_used_at) */
  readonly onClientAuthenticated?: (clientId: string, secretHash: string) => void;
  /** every published public key (next, current, retired) at the time of the request: the JWKS */
  readonly findPublicKeys: () => Promise<readonly JWK[]>;
  /** Cache-Control max-age of the JWKS */
  readonly jwksCacheSeconds: number;
  /** Koa prototypes to share with the other Providers of a pool (see sharePrototypes) */
  readonly sharedPrototypes?: SharedPrototypes;
  /** per_client, charged once a client has authenticated, and the failed-authentication throttle */
  readonly rateLimits?: RateLimits;
  /** where the Provider's error events are logged */
  readonly log?: Logger;
  /** whether the client id findClient just answered undefined for is disabled (not unknown) */
  readonly wasClientDisabled?: (clientId: string) => boolean;
  /** every token request's outcome, for the auth event log (auth-events.ts) */
  readonly onTokenOutcome?: (event: Omit<AuthEventInput, 'tenantId'>) => void;
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
    // oidc-provider always lists "openid"; no ID token is ever issued here
    scopes_supported: (body.scopes_supported as string[]).filter((s) => s !== 'openid'),
    // no authorization endpoint exists, so no response type is supported
    response_types_supported: [],
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
  async upsert(): Promise<never> {
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

function describeClient(client: ClientRecord, now: number) {
  const live = client.secrets.filter((s) => s.expiresAt === null || s.expiresAt > now);
  if (live.length === 0) return undefined;
  const method = client.authMethods.find((m) => (CLIENT_AUTH_METHODS as readonly string[]).includes(m));
  if (!method) return undefined;
  return {
    client_id: client.clientId,
    client_name: client.name,
    // not a secret: the hashes, read back only by compareClientSecret below
    client_secret: live.map((s) => s.hash).join(' '),
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: method,
    scope: client.scopes.join(' '),
    access_token_ttl: client.accessTokenTtl ?? undefined,
  };
}

/**
 * A client record's metadata, the same object for as long as the record is cached and none of its
 * live secrets expires (the next expiry is when the set of live secrets changes).
 */
const metadataOf = new WeakMap<ClientRecord, { metadata: ClientMetadata | undefined; until: number }>();

function clientMetadata(client: ClientRecord): ClientMetadata | undefined {
  const now = Math.floor(Date.now() / 1000);
  const known = metadataOf.get(client);
  if (known && now < known.until) return known.metadata;
  const metadata = describeClient(client, now);
  const until = Math.min(...client.secrets.map((s) => (s.expiresAt !== null && s.expiresAt > now ? s.expiresAt : Infinity)));
  metadataOf.set(client, { metadata, until });
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
  /** its replay check needs a persisted store this server lacks (a valid proof got a 500): off until
   * DPoP is built; a DPoP header is ignored and the token is an ordinary Bearer token */
  dPoP: { enabled: false },
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
  /** tokens are JWTs that resource servers verify with the JWKS; no stored token to look up */
  introspection: { enabled: false },
  /** no stored token to revoke; tokens are short-lived */
  revocation: { enabled: false },
} as const;

/** 429 in oidc-provider's own error shape: its handler renders it and emits grant.error. */
class TooManyRequests extends errors.OIDCProviderError {
  constructor(description: string) {
    super(429, 'too_many_requests');
    this.error_description = description;
  }
}

/** Refuses the request with 429 and Retry-After when the limit is what failed. */
function refuseRateLimited(ctx: Context, error: unknown): never {
  if (!(error instanceof RateLimitExceeded)) throw error;
  ctx.set('Retry-After', String(error.retryAfterSeconds));
  throw new TooManyRequests(
    error.scope === 'source' ? error.message : `more than ${error.limit} token requests per second for this ${error.scope}`,
  );
}

const CLIENT_ID = new RegExp(CLIENT_ID_PATTERN);

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
  if (error.error !== 'invalid_client') return REASON_OF_ERROR[error.error ?? ''] ?? 'other';
  if (noted) return noted;
  if (!presented) return 'unknown_client';
  // the client was found and no secret was compared: it authenticated with a method it is not
  // registered for (private_key_jwt is not offered, so no assertion is ever judged on its merits)
  return 'wrong_auth_method';
}

/**
 * Feeds the auth event log from oidc-provider's own events: grant.success, grant.error, and
 * server_error on the token route. Only the client id presented by Client.find (already checked
 * against the client id pattern), never a parameter as sent.
 */
function recordTokenOutcomes(
  provider: Provider,
  record: NonNullable<TenantProviderInput['onTokenOutcome']>,
  presentedIds: WeakMap<Context, string>,
  refusalReasons: WeakMap<Context, AuthRefusalReason>,
  knownScopes: readonly string[],
): void {
  provider.on('grant.success', (ctx) => {
    const token = ctx.oidc.entities.ClientCredentials;
    record({
      clientId: ctx.oidc.client?.clientId ?? presentedIds.get(ctx),
      outcome: 'issued',
      sourceIp: sourceOf(ctx),
      scopes: token?.scope ? token.scope.split(' ') : [],
      ...(token?.jti ? { jti: token.jti } : {}),
    });
  });
  const refused = (ctx: KoaContextWithOIDC, error: { error?: string }) => {
    const clientId = presentedIds.get(ctx);
    record({
      clientId,
      outcome: 'refused',
      reason: refusalReason(error, refusalReasons.get(ctx), clientId !== undefined),
      sourceIp: sourceOf(ctx),
      // what was asked for, as far as the tenant defines it: a parameter as sent is never stored
      scopes: typeof ctx.oidc.params?.scope === 'string' ? ctx.oidc.params.scope.split(' ').filter((s) => knownScopes.includes(s)) : [],
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
  const ttl = effectiveSettings(tenant.settings).access_token_ttl;
  const findClient = unavailableAsOAuthError(input.findClient);

  const Adapter = class extends NoPersistence {
    override async find(id: string) {
      if (this.name !== 'Client') return undefined;
      const client = await findClient(id);
      return client ? (clientMetadata(client) as never) : undefined;
    }
  };

  const configuration: Configuration = {
    adapter: Adapter as never,
    jwks: { keys: [input.signingKey ?? importSigningKey(keys.signingKey)] },
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
      clientAuthSigningAlgValues: [...SIGNING_ALGORITHMS],
      idTokenSigningAlgValues: [keys.signingKey.alg],
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      ...FEATURE_DECISIONS,
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
    routes: { token: TOKEN_PATH, jwks: JWKS_PATH },
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
  // why a token request's client authentication failed, where only our hooks know it
  const refusalReasons = new WeakMap<Context, AuthRefusalReason>();
  const rateLimits = input.rateLimits;

  /** Why Client.find found nothing to authenticate against. */
  const whyNoClient = (record: ClientRecord | undefined, id: string): AuthRefusalReason => {
    if (!record) return input.wasClientDisabled?.(id) ? 'client_disabled' : 'unknown_client';
    const now = Math.floor(Date.now() / 1000);
    // otherwise it is registered only for a method this server does not offer
    return record.secrets.some((s) => s.expiresAt === null || s.expiresAt > now) ? 'wrong_auth_method' : 'expired_secret';
  };

  provider.Client.find = async function find(id: string) {
    // no client has any other id: nothing to look up, nothing to count
    if (typeof id !== 'string' || !CLIENT_ID.test(id)) return undefined;
    const ctx = Provider.ctx;
    if (ctx?.oidc.route === 'token') {
      presentedIds.set(ctx, id);
      // a source that keeps failing as this client is refused before another secret is compared
      await rateLimits?.checkAuthFailures(tenant, id, sourceOf(ctx)).catch((error: unknown) => refuseRateLimited(ctx, error));
    }
    const record = await findClient(id);
    const metadata = record && clientMetadata(record);
    if (ctx?.oidc.route === 'token' && !metadata) refusalReasons.set(ctx, whyNoClient(record, id));
    if (!metadata) return undefined;
    let client = clientsByMetadata.get(metadata);
    if (!client) clientsByMetadata.set(metadata, (client = new ProviderClient(metadata)));
    return client;
  } as Provider['Client']['find'];

  // Called for both secret methods once oidc-provider has found the client, and only then: the
  // one point where a client is known to have authenticated.
  provider.Client.prototype.compareClientSecret = async function compareClientSecret(
    this: { clientId: string; clientSecret: string; clientAuthMethod: string },
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
    await rateLimits?.consumeClient('token', tenant, this.clientId).catch((error: unknown) => refuseRateLimited(ctx, error));
    input.onClientAuthenticated?.(this.clientId, matched);
    return true;
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
  provider.on('grant.error', (ctx, error) => {
    // every invalid_client after a client id was presented: a wrong secret, an unknown client, the other method
    const clientId = presentedIds.get(ctx);
    if (rateLimits && error.error === 'invalid_client' && clientId !== undefined) {
      void rateLimits.countAuthFailure(tenant, clientId, sourceOf(ctx));
    }
  });
  if (input.log) logProviderErrors(provider, tenant, input.log, (ctx) => presentedIds.get(ctx));
  if (input.onTokenOutcome) recordTokenOutcomes(provider, input.onTokenOutcome, presentedIds, refusalReasons, scopes);

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
