/**
 * `authentication.<domain>`: hands requests for /tenants/<tenant>/… to that tenant's Provider.
 * Only the endpoints we offer are passed on; the Host and scheme the Provider sees are the
 * canonical ones from configuration, so nothing a caller sends is reflected into metadata.
 */
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import type { EnvironmentConfig } from '../config/config.ts';
import { ApiError } from '../http/problem.ts';
import { isValidTenantSlug, type PublicUrls } from '../tenancy/hosts.ts';
import type { TenantCache } from '../tenancy/tenants.ts';
import type { ProviderPool } from './provider-pool.ts';
import { JWKS_PATH, OAUTH_METADATA_PATH, OAUTH_METADATA_REQUEST, OIDC_DISCOVERY_PATH, TOKEN_PATH } from './provider.ts';

/** The endpoints offered, and the methods each answers. */
const PROVIDER_PATHS = new Map([
  [TOKEN_PATH, ['POST']],
  [JWKS_PATH, ['GET', 'HEAD']],
  [OIDC_DISCOVERY_PATH, ['GET', 'HEAD']],
  [OAUTH_METADATA_PATH, ['GET', 'HEAD']],
]);
const FORWARDING_HEADERS = ['x-forwarded-host', 'x-forwarded-port', 'x-forwarded-for', 'forwarded'];

interface ProviderRequest {
  readonly slug: string;
  readonly endpoint: string;
  readonly oauthMetadata: boolean;
}

/** /tenants/<slug><endpoint>, or RFC 8414's /.well-known/oauth-authorization-server/tenants/<slug>. */
export function parseProviderPath(path: string): ProviderRequest | undefined {
  const rfc8414 = /^\/\.well-known\/oauth-authorization-server\/tenants\/([^/]+)$/.exec(path);
  if (rfc8414?.[1]) return { slug: rfc8414[1], endpoint: OIDC_DISCOVERY_PATH, oauthMetadata: true };
  const match = /^\/tenants\/([^/]+)(\/.*)$/.exec(path);
  if (!match?.[1] || !match[2] || !PROVIDER_PATHS.has(match[2])) return undefined;
  if (match[2] === OAUTH_METADATA_PATH) return { slug: match[1], endpoint: OIDC_DISCOVERY_PATH, oauthMetadata: true };
  return { slug: match[1], endpoint: match[2], oauthMetadata: false };
}

function oauthError(ctx: Context, status: number, error: string, description: string): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
}

export function createAuthenticationHost(deps: {
  tenants: TenantCache;
  providers: ProviderPool;
  urls: PublicUrls;
  protocol: 'http' | 'https';
}) {
  return async function serveAuthenticationHost(ctx: Context, environment: EnvironmentConfig): Promise<void> {
    const request = parseProviderPath(ctx.path);
    if (!request || !isValidTenantSlug(request.slug)) throw new ApiError('not-found', 'Nothing is served at this address.');
    const tenant = await deps.tenants.getTenant(environment.name, request.slug);
    if (!tenant) throw new ApiError('not-found', 'Nothing is served at this address.');
    const methods = PROVIDER_PATHS.get(request.endpoint) ?? [];
    if (!methods.includes(ctx.method)) {
      ctx.set('Allow', methods.join(', '));
      oauthError(ctx, 405, 'invalid_request', `${ctx.method} is not allowed here; use ${methods.join(' or ')}`);
      return;
    }

    if (request.endpoint === TOKEN_PATH && tenant.status !== 'ACTIVE') {
      oauthError(ctx, 400, 'unauthorized_client', 'tenant is not active');
      return;
    }

    const { handle } = await deps.providers.getProvider(environment, tenant);
    const req = ctx.req as IncomingMessage & { originalUrl?: string; [OAUTH_METADATA_REQUEST]?: boolean };
    const search = ctx.querystring ? `?${ctx.querystring}` : '';
    // oidc-provider derives its mount path from originalUrl minus url (the Express convention)
    req.originalUrl = `/tenants/${request.slug}${request.endpoint}${search}`;
    req.url = `${request.endpoint}${search}`;
    req.headers.host = deps.urls.host(`authentication.${environment.domain}`);
    req.headers['x-forwarded-proto'] = deps.protocol;
    for (const name of FORWARDING_HEADERS) delete req.headers[name];
    if (request.oauthMetadata) req[OAUTH_METADATA_REQUEST] = true;

    ctx.respond = false; // the Provider writes the response itself
    await handle(req, ctx.res);
  };
}
