/**
 * For the limit and quota tests: a tenant with chosen settings and one client, the parsed
 * RateLimit fields of a response, the value of a metric, and waiting out the last seconds of an
 * hour (token quotas count in fixed UTC hours).
 */
import { createClient } from '../../src/auth/clients.ts';
import { createKeyEncryption, loadKeyEncryptionKey } from '../../src/auth/key-encryption.ts';
import { provisionTenant } from '../../src/admin/operator/provisioning.ts';
import type { TestServer } from './server.ts';

export interface TenantCredential {
  readonly environment: string;
  readonly tenant: string;
  readonly tenantId: string;
  readonly client_id: string;
  readonly client_secret: string;
  readonly scope: string;
  readonly issuer: string;
  readonly token_endpoint: string;
  readonly api_base: string;
}

/** A sandbox tenant with `settings` and one client (employees:read), provisioned directly. */
export async function provisionTenantWithClient(
  server: TestServer,
  slug: string,
  settings: Record<string, unknown> = {},
): Promise<TenantCredential> {
  const encryption = createKeyEncryption(loadKeyEncryptionKey(undefined, server.config.dataDir).key);
  const { id } = await provisionTenant(server.booted.db, encryption, {
    environment: 'sandbox',
    slug,
    name: slug,
    settings: { scopes: ['employees:read'], ...settings },
  });
  const { clientId, clientSecret } = await createClient(server.booted.db, id, { name: 'test', scopes: ['employees:read'] });
  const issuer = `http://authentication.connect-sandbox.localhost:${server.port}/tenants/${slug}`;
  return {
    environment: 'sandbox',
    tenant: slug,
    tenantId: id,
    client_id: clientId,
    client_secret: clientSecret,
    scope: 'employees:read',
    issuer,
    token_endpoint: `${issuer}/connect/token`,
    api_base: `http://${slug}.connect-sandbox.localhost:${server.port}/api/v1`,
  };
}

/** The same credential reached through another instance's port. */
export function throughPort<T extends { token_endpoint: string; api_base: string; issuer: string }>(credential: T, port: number): T {
  const swap = (url: string) => {
    const parsed = new URL(url);
    parsed.port = String(port);
    return parsed.toString().replace(/\/$/, '');
  };
  return {
    ...credential,
    token_endpoint: swap(credential.token_endpoint),
    api_base: swap(credential.api_base),
    issuer: swap(credential.issuer),
  };
}

/** `"tenant";r=999;t=1, "client";r=99;t=1` → { tenant: { r: 999, t: 1 }, client: { r: 99, t: 1 } } */
export function parseLimitFields(value: string | null): Record<string, Record<string, number>> {
  const parsed: Record<string, Record<string, number>> = {};
  for (const item of (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, ...params] = item.split(';');
    const match = /^"([a-z-]+)"$/.exec(name ?? '');
    if (!match?.[1]) throw new Error(`not a String item: ${item}`);
    parsed[match[1]] = Object.fromEntries(
      params.map((p) => {
        const [key, number] = p.split('=');
        if (!key || !/^\d+$/.test(number ?? '')) throw new Error(`not an integer parameter: ${p}`);
        return [key, Number(number)];
      }),
    );
  }
  return parsed;
}

/** A sample's value in the server's Prometheus text, e.g. metricValue(server, 'x_total{mode="log"}'); 0 when absent. */
export async function metricValue(
  server: { booted: { app: Pick<TestServer['booted']['app'], 'metrics'> } },
  sample: string,
): Promise<number> {
  const text = await server.booted.app.metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** Token quotas count in fixed UTC hours: a test that counts a few tokens starts well inside one. */
export async function awayFromTheHourBoundary(marginMs = 15_000): Promise<void> {
  const msToHour = 3_600_000 - (Date.now() % 3_600_000);
  if (msToHour < marginMs) await new Promise((resolve) => setTimeout(resolve, msToHour + 1000));
}

/** Seconds until the current UTC hour ends. */
export const secondsToTheHour = (): number => Math.ceil((3_600_000 - (Date.now() % 3_600_000)) / 1000);
