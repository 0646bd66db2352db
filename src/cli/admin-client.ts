/**
 * The admin API as the CLI sees it: a client_credentials token (client_secret_basic) fetched once
 * per run, then JSON requests with `Authorization: Bearer`. Problem documents become
 * ApiProblemError, OAuth errors from the token endpoint a one-line CliError.
 */
import type { AdminTarget } from './credentials.ts';
import { ApiProblemError, CliError, isProblem } from './errors.ts';
import type { HttpClient, HttpResponse } from './http.ts';
import type { Page } from '../admin/admin-contract.ts';

export type { Page };
export type Query = Record<string, string | number | boolean | undefined>;

export interface AdminClient {
  readonly target: AdminTarget;
  get<T>(path: string, query?: Query): Promise<T>;
  post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
  put<T>(path: string, body: unknown): Promise<T>;
  delete<T>(path: string): Promise<T>;
  /** GET an absolute URL the API handed out (a `next` link); it must be under the admin API */
  follow<T>(url: string): Promise<T>;
}

export interface RequestOptions {
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** `/tenants/{slug}`-style paths with each value encoded as one segment */
export function apiPath(strings: TemplateStringsArray, ...values: string[]): string {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i] as string) : ''), '');
}

export function buildUrl(base: string, path: string, query: Query = {}): string {
  const url = new URL(base.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
  return url.toString();
}

function parseJson(response: HttpResponse): unknown {
  if (!response.body) return undefined;
  try {
    return JSON.parse(response.body);
  } catch {
    return undefined;
  }
}

function unexpected(response: HttpResponse, url: string): CliError {
  const snippet = response.body.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new CliError(`unexpected answer from ${url}: HTTP ${response.status}${snippet ? ` ${snippet}` : ''}`);
}

/** How long a 429 (any request) or a 503 (reads) is worth waiting for, per Retry-After, and how often. */
const MAX_RETRY_WAIT_S = 30;
const MAX_RETRIES = 2;

/** Retry-After in seconds (delta form; an HTTP date counts from now), if it is one */
export function retryAfterSeconds(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

export interface AdminClientOptions {
  readonly sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The request again after the server's Retry-After, when it asks to slow down (or is briefly down, for reads). */
export function retryingAfter(rawHttp: HttpClient, sleep: (ms: number) => Promise<void> = realSleep): HttpClient {
  return async (request) => {
    for (let attempt = 0; ; attempt++) {
      const response = await rawHttp(request);
      const retryable = response.status === 429 || (response.status === 503 && request.method === 'GET');
      const wait = retryable ? retryAfterSeconds(response.headers['retry-after']) : undefined;
      if (wait === undefined || wait > MAX_RETRY_WAIT_S || attempt >= MAX_RETRIES) return response;
      await sleep(wait * 1000);
    }
  };
}

export function createAdminClient(target: AdminTarget, rawHttp: HttpClient, options: AdminClientOptions = {}): AdminClient {
  let token: Promise<string> | undefined;
  const http = retryingAfter(rawHttp, options.sleep);

  async function fetchToken(): Promise<string> {
    const basic = Buffer.from(`${encodeURIComponent(target.clientId)}:${encodeURIComponent(target.clientSecret)}`).toString('base64');
    const response = await http({
      method: 'POST',
      url: target.tokenUrl,
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: target.scope }).toString(),
      timeoutMs: DEFAULT_TIMEOUT_MS,
    });
    const body = parseJson(response) as { access_token?: unknown; error?: unknown; error_description?: unknown } | undefined;
    if (response.status === 200 && typeof body?.access_token === 'string') return body.access_token;
    if (typeof body?.error === 'string') {
      const description = typeof body.error_description === 'string' ? `: ${body.error_description}` : '';
      throw new CliError(`could not get an admin token from ${target.tokenUrl}: ${body.error}${description}`);
    }
    throw unexpected(response, target.tokenUrl);
  }

  async function send<T>(method: string, url: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    token ??= fetchToken();
    const response = await http({
      method,
      url,
      headers: {
        authorization: `Bearer ${await token}`,
        accept: 'application/json, application/problem+json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
    const parsed = parseJson(response);
    if (response.status >= 200 && response.status < 300) {
      if (response.status !== 204 && response.body && parsed === undefined) throw unexpected(response, url);
      return parsed as T;
    }
    if (isProblem(parsed)) throw new ApiProblemError(response.status, parsed);
    throw unexpected(response, url);
  }

  const base = new URL(target.adminUrl);
  return {
    target,
    get: (path, query) => send('GET', buildUrl(target.adminUrl, path, query), undefined),
    post: (path, body, options) => send('POST', buildUrl(target.adminUrl, path), body ?? {}, options),
    patch: (path, body) => send('PATCH', buildUrl(target.adminUrl, path), body),
    put: (path, body) => send('PUT', buildUrl(target.adminUrl, path), body),
    delete: (path) => send('DELETE', buildUrl(target.adminUrl, path), undefined),
    follow(url) {
      const next = new URL(url, target.adminUrl);
      // the bearer token goes only where the admin API lives
      if (next.origin !== base.origin || !next.pathname.startsWith(base.pathname)) {
        return Promise.reject(new CliError(`refusing to follow a next link outside the admin API: ${next.toString()}`));
      }
      return send('GET', next.toString(), undefined);
    },
  };
}

/** Every page from a list endpoint, following `next`; `onPage` sees the running count. */
export async function collectAll<T>(client: AdminClient, first: Page<T>, onPage?: (count: number) => void): Promise<Page<T>> {
  const data = [...first.data];
  let next = first.next ?? null;
  onPage?.(data.length);
  while (next) {
    const page = await client.follow<Page<T>>(next);
    data.push(...page.data);
    next = page.next ?? null;
    onPage?.(data.length);
  }
  return { data, next: null };
}
