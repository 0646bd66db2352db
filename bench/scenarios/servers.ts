/**
 * Starting our server and the baselines for a scenario, and the load each one takes: the same
 * requests, byte for byte where the protocol allows, to 127.0.0.1 with the host in the Host header.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ApiBaselineInfo, ApiBaselineOptions } from '../baselines/api-koa.ts';
import type { TokenBaselineInfo, TokenBaselineOptions } from '../baselines/token-provider.ts';
import { basicAuthorization, fetchToken, loopbackRequest, TOKEN_CONTENT_TYPE, tokenRequestBody } from '../http.ts';
import type { LoadTarget } from '../load.ts';
import type { ServerProcess } from '../processes.ts';
import type { ScenarioContext } from '../scenario.ts';
import type { BenchTenant, OursInfo, OursOptions } from '../servers/ours.ts';

export type Ours = ServerProcess<OursInfo>;

export interface OursStartOptions {
  tenants: number;
  employees?: number;
  providerPoolSize?: number;
  tenantCacheSize?: number;
  allEnvironments?: boolean;
  /** provision in a process of its own first, so the server's memory holds nothing of it */
  provisionApart?: boolean;
  /** revoked tokens listed in the second tenant (see OursOptions) */
  revokedTokens?: number;
  /** private_key_jwt: a client per tenant registered with this public key */
  keyClientJwk?: OursOptions['keyClientJwk'];
}

export async function startOurs(context: ScenarioContext, options: OursStartOptions): Promise<Ours> {
  const [ours] = await startOursVariants(context, options, [{ name: 'ours' }]);
  if (!ours) throw new Error('no server started');
  return ours;
}

/**
 * Servers of ours on one database and one set of tenants, each with its own settings (e.g. the
 * auth event log on and off). More than one variant provisions apart, once.
 */
export async function startOursVariants(
  context: ScenarioContext,
  options: OursStartOptions,
  variants: readonly { readonly name: string; readonly authEvents?: boolean; readonly env?: Record<string, string> }[],
): Promise<Ours[]> {
  const base: OursOptions = {
    databaseUrl: context.database.url,
    keyEncryptionKey: context.keyEncryptionKey,
    tenants: options.tenants,
    employees: options.employees ?? 0,
    ...(options.providerPoolSize ? { providerPoolSize: options.providerPoolSize } : {}),
    ...(options.tenantCacheSize ? { tenantCacheSize: options.tenantCacheSize } : {}),
    ...(options.allEnvironments ? { allEnvironments: true } : {}),
    ...(options.revokedTokens ? { revokedTokens: options.revokedTokens } : {}),
    ...(options.keyClientJwk ? { keyClientJwk: options.keyClientJwk } : {}),
  };
  const script = new URL('../servers/ours.ts', import.meta.url);
  const settingsOf = (variant: (typeof variants)[number]) => (variant.authEvents === undefined ? {} : { authEvents: variant.authEvents });
  const [only] = variants;
  if (!options.provisionApart && variants.length === 1 && only)
    return [await context.start<OursInfo>(only.name, script, { ...base, ...settingsOf(only) }, only.env)];
  const tenantsFile = path.join(os.tmpdir(), `tenant-connect-bench-tenants-${process.pid}-${Date.now()}.json`);
  try {
    const provisioner = await context.start<OursInfo>('provisioning', script, { ...base, tenantsFile, provisionOnly: true });
    await provisioner.stop();
    const started: Ours[] = [];
    for (const variant of variants)
      started.push(await context.start<OursInfo>(variant.name, script, { ...base, ...settingsOf(variant), tenantsFile }, variant.env));
    return started;
  } finally {
    fs.rmSync(tenantsFile, { force: true });
  }
}

/** authentication.<domain> of the tenant's environment (production when no tenant is named) */
export function authenticationHost(ours: Ours, tenant?: BenchTenant): string {
  return `authentication.${tenant?.domain ?? ours.info.domain}:${ours.info.port}`;
}

export function tenantHost(ours: Ours, tenant: BenchTenant): string {
  return `${tenant.slug}.${tenant.domain}:${ours.info.port}`;
}

export function issuerOf(ours: Ours, tenant: BenchTenant): string {
  return `http://${authenticationHost(ours)}/tenants/${tenant.slug}`;
}

export function audienceOf(ours: Ours, tenant: BenchTenant): string {
  return `http://${tenantHost(ours, tenant)}`;
}

export function firstTenant(ours: Ours): BenchTenant {
  const tenant = ours.info.tenants[0];
  if (!tenant) throw new Error('our server has no provisioned tenant');
  return tenant;
}

export function tokenPath(tenant: BenchTenant): string {
  return `/tenants/${tenant.slug}/connect/token`;
}

/**
 * client_credentials POSTs to our token endpoint: one tenant, or one of `tenants` each time, chosen
 * by `pick` (an index into `tenants`; uniformly at random by default).
 */
export function oursTokenTarget(
  ours: Ours,
  variant: string,
  tenants: readonly BenchTenant[],
  pick: () => number = () => Math.floor(Math.random() * tenants.length),
): LoadTarget {
  const [first] = tenants;
  if (!first) throw new Error('no tenant to load');
  const shapes = tenants.map((t) => ({
    path: tokenPath(t),
    headers: { host: authenticationHost(ours, t), authorization: basicAuthorization(t.clientId, t.clientSecret) },
  }));
  return {
    variant,
    port: ours.info.port,
    pid: ours.pid,
    method: 'POST',
    path: tokenPath(first),
    headers: { ...(shapes[0] as (typeof shapes)[number]).headers, 'content-type': TOKEN_CONTENT_TYPE },
    body: tokenRequestBody(ours.info.scope),
    ...(tenants.length > 1 ? { vary: () => shapes[pick()] as (typeof shapes)[number] } : {}),
  };
}

/** One token for each of `tenants` (`concurrency` at a time): their Providers built and pooled. */
export async function fetchTokens(ours: Ours, tenants: readonly BenchTenant[], concurrency = 4): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tenants.length) {
      const tenant = tenants[next++] as BenchTenant;
      await fetchToken(
        ours.info.port,
        authenticationHost(ours, tenant),
        tokenPath(tenant),
        tenant.clientId,
        tenant.clientSecret,
        ours.info.scope,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tenants.length) }, worker));
}

export type TokenBaseline = ServerProcess<TokenBaselineInfo>;

/** Bare oidc-provider with the same issuer, audience and scope as `tenant` on our server. */
export async function startTokenBaseline(context: ScenarioContext, ours: Ours, tenant: BenchTenant): Promise<TokenBaseline> {
  const options: TokenBaselineOptions = {
    audience: audienceOf(ours, tenant),
    issuerOrigin: `http://${authenticationHost(ours)}`,
    slug: tenant.slug,
    scope: ours.info.scope,
  };
  const baseline = await context.start<TokenBaselineInfo>('baseline', new URL('../baselines/token-provider.ts', import.meta.url), options);
  // fail before any load if it does not issue a token
  await fetchToken(
    baseline.info.port,
    authenticationHost(ours),
    baseline.info.tokenPath,
    baseline.info.clientId,
    baseline.info.clientSecret,
    ours.info.scope,
  );
  return baseline;
}

export function baselineTokenTarget(ours: Ours, baseline: TokenBaseline): LoadTarget {
  return {
    variant: 'baseline',
    port: baseline.info.port,
    pid: baseline.pid,
    method: 'POST',
    path: baseline.info.tokenPath,
    headers: {
      host: authenticationHost(ours),
      authorization: basicAuthorization(baseline.info.clientId, baseline.info.clientSecret),
      'content-type': TOKEN_CONTENT_TYPE,
    },
    body: tokenRequestBody(ours.info.scope),
  };
}

export type ApiBaseline = ServerProcess<ApiBaselineInfo>;

/** The Koa + jose + pg baseline, trusting the same keys, issuer and audience as our API for `tenant`. */
export async function startApiBaseline(context: ScenarioContext, ours: Ours, tenant: BenchTenant): Promise<ApiBaseline> {
  if (!context.database.url) throw new Error('the API baseline needs Postgres');
  const jwks = await loopbackRequest({
    port: ours.info.port,
    host: authenticationHost(ours),
    path: `/tenants/${tenant.slug}/.well-known/jwks.json`,
  });
  if (jwks.status !== 200) throw new Error(`JWKS of ${tenant.slug}: ${jwks.status} ${jwks.body}`);
  const options: ApiBaselineOptions = {
    databaseUrl: context.database.url,
    tenantId: tenant.id,
    issuer: issuerOf(ours, tenant),
    audience: audienceOf(ours, tenant),
    publicKeys: (JSON.parse(jwks.body) as { keys: ApiBaselineOptions['publicKeys'] }).keys,
    scope: ours.info.scope,
  };
  return context.start<ApiBaselineInfo>('baseline', new URL('../baselines/api-koa.ts', import.meta.url), options);
}

/** GETs of `path()` with the same bearer token and Host header, to ours or to the baseline. */
export function apiTarget(
  variant: string,
  server: { port: number; pid: number },
  host: string,
  token: string,
  path: () => string,
  fixed: boolean,
): LoadTarget {
  const headers = { host, authorization: `Bearer ${token}` };
  return {
    variant,
    port: server.port,
    pid: server.pid,
    method: 'GET',
    path: path(),
    headers,
    ...(fixed ? {} : { vary: () => ({ path: path(), headers: {} }) }),
  };
}
