/**
 * Who is asking, from the Host header alone. Only configured hosts get past this point, so no
 * unvalidated host can reach a Provider (oidc-provider would reflect it into discovery URLs).
 */
import type { EnvironmentConfig } from '../config/config.ts';

export const TENANT_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The platform issuer's tenant row (authentication.<domain>/platform); reserved below. */
export const PLATFORM_SLUG = 'platform';

/** Subdomains that name a platform service, never a tenant. */
export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  'authentication',
  'auth',
  'admin',
  'api',
  'www',
  'app',
  'apps',
  'platform',
  'login',
  'logout',
  'oauth',
  'oidc',
  'sso',
  'id',
  'identity',
  'account',
  'accounts',
  'connect',
  'static',
  'assets',
  'cdn',
  'docs',
  'developer',
  'developers',
  'status',
  'health',
  'metrics',
  'mail',
  'smtp',
  'webhooks',
  'internal',
  'system',
  'root',
  'localhost',
  'sandbox',
  'production',
  'staging',
  'test',
]);

export type HostTarget =
  | { readonly kind: 'authentication'; readonly environment: EnvironmentConfig }
  | { readonly kind: 'admin'; readonly environment: EnvironmentConfig }
  | { readonly kind: 'tenant'; readonly environment: EnvironmentConfig; readonly slug: string };

export function isValidTenantSlug(slug: string): boolean {
  return TENANT_SLUG.test(slug) && !RESERVED_SLUGS.has(slug);
}

/** Lower-cased host name without port or trailing dot; undefined when the value is not a DNS name. */
export function normalizeHostname(hostHeader: string | undefined): string | undefined {
  if (!hostHeader || hostHeader.length > 260) return undefined;
  const match = /^([A-Za-z0-9.-]+?)\.?(?::(\d{1,5}))?$/.exec(hostHeader.trim());
  if (!match?.[1]) return undefined;
  const name = match[1].toLowerCase();
  if (name.startsWith('.') || name.includes('..')) return undefined;
  return name;
}

export function resolveHostTarget(hostHeader: string | undefined, environments: readonly EnvironmentConfig[]): HostTarget | undefined {
  const hostname = normalizeHostname(hostHeader);
  if (!hostname) return undefined;
  for (const environment of environments) {
    const suffix = `.${environment.domain}`;
    if (!hostname.endsWith(suffix)) continue;
    const label = hostname.slice(0, -suffix.length);
    if (label === 'authentication') return { kind: 'authentication', environment };
    if (label === 'admin') return { kind: 'admin', environment };
    if (isValidTenantSlug(label)) return { kind: 'tenant', environment, slug: label };
    return undefined;
  }
  return undefined;
}

/** Public URLs come from configuration, never from the request. */
export interface PublicUrls {
  authenticationOrigin(environment: EnvironmentConfig): string;
  tenantOrigin(environment: EnvironmentConfig, slug: string): string;
  issuer(environment: EnvironmentConfig, slug: string): string;
  /** the platform issuer: tokens for platform admin clients */
  platformIssuer(environment: EnvironmentConfig): string;
  /** the admin API's origin: the audience of admin tokens */
  adminOrigin(environment: EnvironmentConfig): string;
  host(hostname: string): string;
}

export function createPublicUrls(protocol: 'http' | 'https', port: number): PublicUrls {
  const defaultPort = protocol === 'https' ? 443 : 80;
  const host = (hostname: string) => (port === defaultPort ? hostname : `${hostname}:${port}`);
  const authenticationOrigin = (environment: EnvironmentConfig) => `${protocol}://${host(`authentication.${environment.domain}`)}`;
  return {
    host,
    authenticationOrigin,
    tenantOrigin: (environment, slug) => `${protocol}://${host(`${slug}.${environment.domain}`)}`,
    issuer: (environment, slug) => `${authenticationOrigin(environment)}/tenants/${slug}`,
    platformIssuer: (environment) => `${authenticationOrigin(environment)}/platform`,
    adminOrigin: (environment) => `${protocol}://${host(`admin.${environment.domain}`)}`,
  };
}
