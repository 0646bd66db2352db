/**
 * One oidc-provider per (environment, tenant): the client_credentials grant, JWT access tokens
 * per RFC 9068 for the tenant's API, and discovery that advertises only what is real.
 *
 * This is the one file that reaches past oidc-provider's configuration: Client#compareClientSecret
 * is replaced so secrets are stored as hashes (the maintainers' answer in panva/node-oidc-provider#104:
 * it is compatible as long as no HS* / client_secret_jwt feature needs the clear secret, and none
 * is enabled here). For speed with many tenants (see bench/RESULTS.md), Client.find keeps the Client
 * built from a cached record, all Providers share Koa's (empty) context prototypes, and the signing
 * key is an ExternalSigningKey imported once per key record.
 */
import { constants, createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, type SignKeyObjectInput } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { JWK } from 'jose';
import Provider, { errors, ExternalSigningKey, type Configuration } from 'oidc-provider';
import { PLATFORM_ADMIN_SCOPE, TENANT_ADMIN_SCOPE } from '../catalog/scopes.ts';
import type { Tenant } from '../tenancy/tenants.ts';
import { DEFAULT_ACCESS_TOKEN_TTL, DEFAULT_SCOPES } from '../tenancy/tenants.ts';
import { matchClientSecret } from './client-secrets.ts';
import type { ClientRecord, TenantKeys } from './tenant-credentials.ts';

export const TOKEN_PATH = '/connect/token';
export const JWKS_PATH = '/.well-known/jwks.json';
export const OIDC_DISCOVERY_PATH = '/.well-known/openid-configuration';
export const OAUTH_METADATA_PATH = '/.well-known/oauth-authorization-server';

/** Marks a request for the RFC 8414 document, which the same discovery route serves. */
export const OAUTH_METADATA_REQUEST = Symbol('oauth-authorization-server metadata');

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
}

/** Every scope the tenant's issuer can grant. */
export function tenantScopes(tenant: Tenant): string[] {
  if (tenant.kind === 'platform') return [PLATFORM_ADMIN_SCOPE];
  return [...(tenant.settings.scopes ?? DEFAULT_SCOPES)];
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
  const method = client.authMethods.find((m) => m === 'client_secret_basic' || m === 'client_secret_post');
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
    if (!['ES256', 'PS256', 'RS256', 'EdDSA'].includes(jwk.alg)) throw new TypeError(`unsupported signing algorithm ${String(jwk.alg)}`);
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

export function createTenantProvider(input: TenantProviderInput): Provider {
  const { tenant, audience, adminAudience, keys } = input;
  const scopes = tenantScopes(tenant);
  // A tenant's issuer serves two resources: its API (every scope but tenant:admin) and, for
  // tenant:admin alone, the admin API. The platform issuer serves only the admin API.
  const resourceScopes = (resource: string) =>
    resource === adminAudience ? scopes.filter((s) => s === TENANT_ADMIN_SCOPE) : scopes.filter((s) => s !== TENANT_ADMIN_SCOPE);
  const requestedScopes = (ctx: { oidc: { params?: Record<string, unknown> } }) =>
    typeof ctx.oidc.params?.scope === 'string' ? ctx.oidc.params.scope.split(' ') : undefined;
  const ttl = tenant.settings.access_token_ttl ?? DEFAULT_ACCESS_TOKEN_TTL;

  const Adapter = class extends NoPersistence {
    override async find(id: string) {
      if (this.name !== 'Client') return undefined;
      const client = await input.findClient(id);
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
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: keys.signingKey.alg,
    },
    enabledJWA: {
      // no symmetric algorithm anywhere: the stored "secret" is a hash and must never become a key
      clientAuthSigningAlgValues: ['ES256', 'EdDSA', 'PS256', 'RS256'],
      idTokenSigningAlgValues: [keys.signingKey.alg],
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: {
      externalSigningSupport: { enabled: true, ack: 'experimental-01' },
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      resourceIndicators: {
        enabled: true,
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
  provider.Client.find = async function find(id: string) {
    if (typeof id !== 'string' || !id.length) return undefined;
    const record = await input.findClient(id);
    const metadata = record && clientMetadata(record);
    if (!metadata) return undefined;
    let client = clientsByMetadata.get(metadata);
    if (!client) clientsByMetadata.set(metadata, (client = new ProviderClient(metadata)));
    return client;
  } as Provider['Client']['find'];

  provider.Client.prototype.compareClientSecret = function compareClientSecret(
    this: { clientId: string; clientSecret: string },
    presented: string,
  ) {
    const matched = matchClientSecret(presented, this.clientSecret.split(' '));
    if (matched !== undefined) input.onClientAuthenticated?.(this.clientId, matched);
    return matched !== undefined;
  };

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
