/** A small JSON client for one tenant's API in tests: a token, and requests that return status, headers and body. */
import type { DemoCredential } from '../../src/admin/operator/demo-seed.ts';
import { accessToken, type TestServer } from './server.ts';

export interface ApiResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

export interface ApiClient {
  readonly credential: DemoCredential;
  readonly token: string;
  request<T = Record<string, unknown>>(
    method: string,
    path: string,
    options?: { body?: unknown; headers?: Record<string, string>; token?: string },
  ): Promise<ApiResponse<T>>;
  /** the first resource of a collection */
  first(path: string): Promise<Record<string, unknown> & { id: string; version: number }>;
}

export async function apiClient(server: TestServer, environment: string, tenant: string): Promise<ApiClient> {
  const credential = server.credential(environment, tenant);
  const token = await accessToken(server, credential);
  const request = async <T>(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; token?: string } = {},
  ) => {
    const response = await server.fetch(`${credential.api_base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${options.token ?? token}`,
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers as unknown as Headers, body: (text ? JSON.parse(text) : undefined) as T };
  };
  return {
    credential,
    token,
    request,
    async first(path) {
      const list = await request<{ data: (Record<string, unknown> & { id: string; version: number })[] }>('GET', `${path}?limit=1`);
      const found = list.body.data[0];
      if (!found) throw new Error(`no ${path} in ${environment}/${tenant}`);
      return found;
    },
  };
}
