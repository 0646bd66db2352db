/**
 * `GET /` on each configured host: what this host is and where its documents are, as JSON for a
 * script (curl, which accepts anything, gets JSON) and as a small HTML page for a browser (which
 * asks for text/html first).
 * Every value comes from configuration or the tenant's record, never from the request.
 */
import type { Context } from 'koa';
import type { HostTarget, PublicUrls } from '../tenancy/hosts.ts';
import { ApiError } from './problem.ts';

export interface HostIndex {
  readonly name: string;
  readonly environment: string;
  readonly description: string;
  /** rel → URL; a `{tenant}` in a URL is a template, not a link */
  readonly links: Readonly<Record<string, string>>;
}

const LINK_TITLES: Record<string, string> = {
  docs: 'API reference (Swagger UI)',
  openapi: 'OpenAPI 3.1 document',
  api: 'API base URL',
  openid_configuration: 'OpenID Connect discovery',
  token_endpoint: 'token endpoint (client_credentials)',
  tenant_openid_configuration: 'a tenant’s OpenID Connect discovery',
  tenant_token_endpoint: 'a tenant’s token endpoint (client_credentials)',
  platform_openid_configuration: 'the platform issuer’s discovery (admin clients)',
};

/** What the host is; `tenantName` for a tenant host (the caller has found the tenant). */
export function describeHost(target: HostTarget, urls: PublicUrls, tenantName?: string): HostIndex {
  const { environment } = target;
  if (target.kind === 'authentication') {
    const tenants = `${urls.authenticationOrigin(environment)}/tenants/{tenant}`;
    return {
      name: 'tenant-connect authorization server',
      environment: environment.name,
      description: 'OAuth 2.0 client_credentials token endpoints and discovery: one issuer per tenant, at /tenants/{tenant}.',
      links: {
        tenant_openid_configuration: `${tenants}/.well-known/openid-configuration`,
        tenant_token_endpoint: `${tenants}/connect/token`,
        platform_openid_configuration: `${urls.platformIssuer(environment)}/.well-known/openid-configuration`,
      },
    };
  }
  if (target.kind === 'admin') {
    const base = `${urls.adminOrigin(environment)}/v1`;
    return {
      name: 'tenant-connect admin API',
      environment: environment.name,
      description: 'Tenants, clients, signing keys, webhooks and the audit log; needs a platform:admin (or tenant:admin) token.',
      links: {
        docs: `${base}/docs`,
        openapi: `${base}/openapi.json`,
        token_endpoint: `${urls.platformIssuer(environment)}/connect/token`,
      },
    };
  }
  const base = `${urls.tenantOrigin(environment, target.slug)}/api/v1`;
  const issuer = urls.issuer(environment, target.slug);
  return {
    name: `${tenantName ?? target.slug} — tenant-connect resource API`,
    environment: environment.name,
    description: 'This tenant’s API; every call needs an access token from its token endpoint.',
    links: {
      docs: `${base}/docs`,
      openapi: `${base}/openapi.json`,
      api: base,
      openid_configuration: `${issuer}/.well-known/openid-configuration`,
      token_endpoint: `${issuer}/connect/token`,
    },
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function renderHtml(index: HostIndex): string {
  const items = Object.entries(index.links).map(([rel, url]) => {
    const target = url.includes('{') ? `<code>${escapeHtml(url)}</code>` : `<a href="${escapeHtml(url)}">${escapeHtml(url)}</a>`;
    return `  <li>${escapeHtml(LINK_TITLES[rel] ?? rel)}: ${target}</li>`;
  });
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(index.name)}</title></head>
<body>
<h1>${escapeHtml(index.name)}</h1>
<p>${escapeHtml(index.description)} Environment: ${escapeHtml(index.environment)}.</p>
<ul>
${items.join('\n')}
</ul>
</body>
</html>
`;
}

/** Answers GET / (and HEAD); another method is 405. */
export function respondWithHostIndex(ctx: Context, index: HostIndex): void {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
    throw new ApiError('method-not-allowed', 'This page is read-only.', { headers: { Allow: 'GET, HEAD' } });
  }
  ctx.vary('Accept');
  // the HTML has no script, style or image: nothing may load, whatever a value might contain
  if (ctx.accepts('json', 'html') === 'html') {
    ctx.set('Content-Security-Policy', "default-src 'none'");
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = renderHtml(index);
  } else {
    ctx.body = index;
  }
}
