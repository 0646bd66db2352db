/**
 * `authentication.<domain>`: hands requests for /tenants/<tenant>/… to that tenant's Provider.
 * Only the endpoints we offer are passed on; the Host and scheme the Provider sees are the
 * canonical ones from configuration, so nothing a caller sends is reflected into metadata.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import type { EnvironmentConfig } from '../config/config.ts';
import { ApiError } from '../http/problem.ts';
import { RateLimitExceeded, type RateLimits, reportLimits } from '../http/rate-limits.ts';
import { requestIdOf } from '../http/request-id.ts';
import { isValidTenantSlug, PLATFORM_SLUG, type PublicUrls } from '../tenancy/hosts.ts';
import type { TenantRuntime } from '../tenancy/tenant-runtime.ts';
import type { AuthEventLog } from './auth-events.ts';
import type { ProviderPool } from './provider-pool.ts';
import { CLIENT_ID_PATTERN } from './clients.ts';
import type { TenantCredentials } from './tenant-credentials.ts';
import { INTROSPECTION_PATH, REVOCATION_PATH } from './access-token-endpoints.ts';
import {
  basicClientId,
  JWKS_PATH,
  OAUTH_METADATA_PATH,
  OAUTH_METADATA_REQUEST,
  OIDC_DISCOVERY_PATH,
  REQUEST_FACTS,
  type RequestFacts,
  TOKEN_PATH,
} from './provider.ts';

/** The endpoints offered, and the methods each answers. */
const PROVIDER_PATHS = new Map([
  [TOKEN_PATH, ['POST', 'OPTIONS']], // OPTIONS: a browser's CORS preflight (see clientBasedCORS in provider.ts)
  [REVOCATION_PATH, ['POST']], // server to server: no browser preflight is answered
  [INTROSPECTION_PATH, ['POST']],
  [JWKS_PATH, ['GET', 'HEAD']],
  [OIDC_DISCOVERY_PATH, ['GET', 'HEAD']],
  [OAUTH_METADATA_PATH, ['GET', 'HEAD']],
]);
const CLIENT_ID = new RegExp(CLIENT_ID_PATTERN);
const FORWARDING_HEADERS = ['x-forwarded-host', 'x-forwarded-port', 'x-forwarded-for', 'forwarded'];

interface ProviderRequest {
  /** the issuer's path below the origin: /tenants/<slug> or /platform */
  readonly base: string;
  readonly kind: 'tenant' | 'platform';
  readonly slug: string;
  readonly endpoint: string;
  readonly oauthMetadata: boolean;
}

/** /tenants/<slug><endpoint> or /platform<endpoint>, or RFC 8414's
 * /.well-known/oauth-authorization-server/tenants/<slug> (…/platform). */
export function parseProviderPath(path: string): ProviderRequest | undefined {
  const rfc8414 = /^\/\.well-known\/oauth-authorization-server(\/tenants\/[^/]+|\/platform)$/.exec(path);
  const match = rfc8414 ? [path, rfc8414[1], OAUTH_METADATA_PATH] : /^(\/tenants\/[^/]+|\/platform)(\/.*)$/.exec(path);
  const base = match?.[1];
  const endpoint = match?.[2];
  if (!base || !endpoint || !PROVIDER_PATHS.has(endpoint)) return undefined;
  const platform = base === `/${PLATFORM_SLUG}`;
  const slug = platform ? PLATFORM_SLUG : base.slice('/tenants/'.length);
  if (!platform && !isValidTenantSlug(slug)) return undefined;
  const oauthMetadata = endpoint === OAUTH_METADATA_PATH;
  return { base, kind: platform ? 'platform' : 'tenant', slug, endpoint: oauthMetadata ? OIDC_DISCOVERY_PATH : endpoint, oauthMetadata };
}

function oauthError(ctx: Context, status: number, error: string, description: string): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
}

export function createAuthenticationHost(deps: {
  runtime: TenantRuntime<TenantCredentials, ProviderPool>;
  urls: PublicUrls;
  rateLimits: RateLimits;
  protocol: 'http' | 'https';
  /** refusals decided here, before a Provider sees the request */
  authEvents?: AuthEventLog;
}) {
  return async function serveAuthenticationHost(ctx: Context, environment: EnvironmentConfig): Promise<void> {
    const requestId = requestIdOf(ctx);
    const request = parseProviderPath(ctx.path);
    if (!request) throw new ApiError('not-found', 'Nothing is served at this address.');
    const tenant = await deps.runtime.getTenant(environment.name, request.slug);
    if (!tenant || tenant.kind !== request.kind) throw new ApiError('not-found', 'Nothing is served at this address.');
    const methods = PROVIDER_PATHS.get(request.endpoint) ?? [];
    if (!methods.includes(ctx.method)) {
      ctx.set('Allow', methods.join(', '));
      oauthError(ctx, 405, 'invalid_request', `${ctx.method} is not allowed here; use ${methods.join(' or ')}`);
      return;
    }

    // a preflight asks for nothing: no status check, nothing charged
    const tokenRequest = request.endpoint === TOKEN_PATH && ctx.method === 'POST';
    // no body is parsed before the Provider: the client id of a Basic header, when it has the shape of one
    const refuse = (reason: 'tenant_not_active' | 'rate_limited') => {
      const presented = basicClientId(ctx.get('authorization'));
      const clientId = presented !== undefined && CLIENT_ID.test(presented) ? presented : undefined;
      deps.authEvents?.record({ tenantId: tenant.id, clientId, outcome: 'refused', reason, sourceIp: ctx.ip, scope: '' });
    };
    if (tokenRequest && tenant.status !== 'ACTIVE') {
      refuse('tenant_not_active');
      oauthError(ctx, 400, 'unauthorized_client', 'tenant is not active');
      return;
    }
    // every POST is a client's request (token, revocation, introspection)
    if (ctx.method === 'POST') {
      // The tenant's limit protects the service, so it is charged before any work (revocation and
      // introspection on their own count: RateLimitSurface); the client's (per_client, token
      // requests only) and the failed-authentication throttle are the Provider's, where the client
      // id is known whatever the method (see provider.ts).
      try {
        reportLimits(ctx.res, [await deps.rateLimits.consumeTenant(tokenRequest ? 'token' : 'revocation-introspection', tenant)]);
      } catch (error) {
        if (!(error instanceof RateLimitExceeded)) throw error;
        reportLimits(ctx.res, [error.state]);
        // the auth event log holds token requests; a revocation or introspection refused here is only counted
        if (tokenRequest) refuse('rate_limited');
        ctx.set('Retry-After', String(error.retryAfterSeconds));
        const counted = tokenRequest ? 'token requests' : 'revocation and introspection requests';
        oauthError(ctx, 429, 'too_many_requests', `more than ${error.limit} ${counted} per second for this tenant`);
        return;
      }
    }

    const { handle } = await deps.runtime.providers.getProvider(environment, tenant);
    const req = ctx.req as IncomingMessage & { originalUrl?: string; [OAUTH_METADATA_REQUEST]?: boolean; [REQUEST_FACTS]?: RequestFacts };
    const search = ctx.querystring ? `?${ctx.querystring}` : '';
    // oidc-provider derives its mount path from originalUrl minus url (the Express convention)
    req.originalUrl = `${request.base}${request.endpoint}${search}`;
    req.url = `${request.endpoint}${search}`;
    // ctx.ip honours X-Forwarded-For only with TRUST_PROXY (the app's `proxy`): read before it is deleted
    req[REQUEST_FACTS] = { requestId, source: ctx.ip };
    req.headers.host = deps.urls.host(`authentication.${environment.domain}`);
    req.headers['x-forwarded-proto'] = deps.protocol;
    for (const name of FORWARDING_HEADERS) delete req.headers[name];
    if (request.oauthMetadata) req[OAUTH_METADATA_REQUEST] = true;

    ctx.respond = false; // the Provider writes the response itself
    await handle(req, ctx.res);
  };
}
