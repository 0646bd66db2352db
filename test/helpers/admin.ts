/** Calls the admin API as a real client would: a client_credentials token, then JSON over HTTP. */
import type { AdminCredential } from '../../src/admin/operator/bootstrap.ts';
import { loopbackFetch, type TestServer } from './server.ts';

export interface AdminResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

export function platformCredential(server: TestServer, environment = 'production'): AdminCredential {
  const credential = server.booted.admin.credentials[environment];
  if (!credential) throw new Error(`no bootstrap admin credential for ${environment}`);
  return credential;
}

/** client_credentials with client_secret_basic, as a standard client sends it, over loopback. */
export async function requestClientCredentials(
  tokenEndpoint: string,
  clientId: string,
  clientSecret: string,
  scope?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await loopbackFetch(tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** An access token, or the test fails with what the token endpoint said. */
export async function issuedAccessToken(tokenEndpoint: string, clientId: string, clientSecret: string, scope?: string): Promise<string> {
  const { status, body } = await requestClientCredentials(tokenEndpoint, clientId, clientSecret, scope);
  if (status !== 200) throw new Error(`token request failed: ${status} ${JSON.stringify(body)}`);
  return body.access_token as string;
}

export async function platformToken(server: TestServer, environment = 'production'): Promise<string> {
  const credential = platformCredential(server, environment);
  return issuedAccessToken(credential.token_endpoint, credential.client_id, credential.client_secret);
}

/** An admin API caller for one environment; `token` defaults to a fresh platform admin token. */
export async function adminClient(server: TestServer, options: { environment?: string; token?: string } = {}) {
  const environment = options.environment ?? 'production';
  const base = platformCredential(server, environment).admin_api;
  const token = options.token ?? (await platformToken(server, environment));
  return {
    base,
    token,
    async call<T = Record<string, unknown>>(
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<AdminResponse<T>> {
      const response = await server.fetch(path.startsWith('http') ? path : `${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T };
    },
  };
}
export type AdminClient = Awaited<ReturnType<typeof adminClient>>;
