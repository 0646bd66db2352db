/**
 * The CLI against a scripted admin API (the contract, not the server): what it sends, what it
 * prints, what it exits with. The real server is exercised in test/e2e/cli.test.ts.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminClient, retryAfterSeconds } from '../../src/cli/admin-client.ts';
import { tenantTokenUrl } from '../../src/cli/commands/clients.ts';
import { resolveTarget, tenantOfTokenUrl } from '../../src/cli/credentials.ts';
import type { HttpRequest, HttpResponse } from '../../src/cli/http.ts';
import { runCli } from '../../src/cli/run.ts';

const ADMIN = 'http://admin.connect.localhost:3000/v1';
const TOKEN = 'http://authentication.connect.localhost:3000/platform/connect/token';

let dataDir: string;
beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-run-'));
  const entry = (env: string) => ({
    client_id: `admin-${env}`,
    client_secret: `secret-${env}`,
    scope: 'platform:admin',
    token_endpoint: TOKEN,
    admin_api: ADMIN,
  });
  fs.writeFileSync(
    path.join(dataDir, 'admin-credentials.json'),
    JSON.stringify({ environments: { production: entry('production'), sandbox: entry('sandbox') } }),
    { mode: 0o600 },
  );
});
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

type Route = (request: HttpRequest) => HttpResponse | undefined;

const json = (status: number, body: unknown, type = 'application/json'): HttpResponse => ({
  status,
  headers: { 'content-type': type },
  body: JSON.stringify(body),
});

const tenant = (slug: string, extra: Record<string, unknown> = {}) => ({
  id: `id-${slug}`,
  slug,
  environment: 'production',
  name: slug.toUpperCase(),
  status: 'ACTIVE',
  settings: { access_token_ttl: 3600, signing_alg: 'ES256', scopes: ['employees:read'], rate_limit: { per_client: 10, per_tenant: 100 } },
  created_at: '2026-11-23T10:00:00.000Z',
  updated_at: '2026-11-23T10:00:00.000Z',
  deleted_at: null,
  ...extra,
});

async function run(argv: string[], routes: Route[] = [], env: Record<string, string> = {}) {
  const requests: HttpRequest[] = [];
  let stdout = '';
  let stderr = '';
  const code = await runCli([...argv, '--data-dir', dataDir], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
    cwd: os.tmpdir(),
    now: () => new Date('2026-11-23T12:00:00Z'),
    http: async (request) => {
      requests.push(request);
      if (request.url === TOKEN) return json(200, { access_token: 'the-token', token_type: 'Bearer', expires_in: 300 });
      for (const route of routes) {
        const response = route(request);
        if (response) return response;
      }
      return json(404, { type: 'about:blank', title: 'Not Found', status: 404, detail: `no route for ${request.method} ${request.url}` });
    },
  });
  return { code, stdout, stderr, requests, api: requests.filter((r) => r.url !== TOKEN) };
}

const on =
  (method: string, url: string, response: HttpResponse): Route =>
  (request) =>
    request.method === method && request.url === url ? response : undefined;

describe('requests', () => {
  it("clients update --token-quota sends the quota (default: back to the tenant's) and shows it", async () => {
    const client = (token_quota: unknown) => ({
      client_id: 'erp',
      name: 'ERP',
      scopes: ['employees:read'],
      access_token_ttl: null,
      token_quota,
      token_endpoint_auth_method: 'client_secret_basic',
      status: 'enabled',
      disabled_at: null,
      last_used_at: null,
      created_at: '2026-11-23T10:00:00.000Z',
      updated_at: '2026-11-23T10:00:00.000Z',
      secrets: [],
    });
    const url = `${ADMIN}/tenants/acme/clients/erp`;
    const set = await run(
      ['clients', 'update', 'acme', 'erp', '--token-quota', 'per_hour=500,per_day=5000,mode=log'],
      [on('PATCH', url, json(200, client({ per_hour: 500, per_day: 5000, mode: 'log' })))],
    );
    expect(set.code).toBe(0);
    expect(JSON.parse(set.api[0]?.body ?? '')).toEqual({ token_quota: { per_hour: 500, per_day: 5000, mode: 'log' } });
    expect(set.stdout).toMatch(/^token quota +500\/hour, 5000\/day \(log\)$/m);
    const reset = await run(['clients', 'update', 'acme', 'erp', '--token-quota', 'default'], [on('PATCH', url, json(200, client(null)))]);
    expect(JSON.parse(reset.api[0]?.body ?? '')).toEqual({ token_quota: null });
    expect(reset.stdout).toMatch(/^token quota +tenant default$/m);
  });

  it('gets a client_credentials token with client_secret_basic, then calls the API with it', async () => {
    const result = await run(['tenants', 'get', 'acme'], [on('GET', `${ADMIN}/tenants/acme`, json(200, tenant('acme')))]);
    expect(result.code).toBe(0);
    const tokenRequest = result.requests[0] as HttpRequest;
    expect(tokenRequest.method).toBe('POST');
    expect(tokenRequest.headers?.authorization).toBe(`Basic ${Buffer.from('admin-production:secret-production').toString('base64')}`);
    expect(Object.fromEntries(new URLSearchParams(tokenRequest.body))).toEqual({
      grant_type: 'client_credentials',
      scope: 'platform:admin',
    });
    expect(result.api[0]?.headers?.authorization).toBe('Bearer the-token');
    expect(result.stdout).toMatch(/^slug +acme$/m);
    expect(result.stdout).toMatch(/^access token ttl +3600s \(1h\)$/m);
  });

  it('tenants create sends slug, name, status and merged settings', async () => {
    const result = await run(
      [
        'tenants',
        'create',
        'newco',
        '--name',
        'New Co',
        '--status',
        'pending',
        '--settings',
        '{"rate_limit":{"per_client":5}}',
        '--access-token-ttl',
        '10m',
        '--signing-alg',
        'eddsa',
        '--scopes',
        'employees:read,clockings:write',
      ],
      [on('POST', `${ADMIN}/tenants`, json(201, tenant('newco')))],
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.api[0]?.body ?? '')).toEqual({
      slug: 'newco',
      name: 'New Co',
      status: 'PENDING',
      settings: {
        rate_limit: { per_client: 5 },
        access_token_ttl: 600,
        signing_alg: 'EdDSA',
        scopes: ['employees:read', 'clockings:write'],
      },
    });
    expect(result.stdout).toContain('Created tenant newco');
  });

  it('tenants update can reset a setting with null', async () => {
    const result = await run(
      ['tenants', 'update', 'acme', '--settings', '{"access_token_ttl":null}'],
      [on('PATCH', `${ADMIN}/tenants/acme`, json(200, tenant('acme')))],
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.api[0]?.body ?? '')).toEqual({ settings: { access_token_ttl: null } });
  });

  it('tenants list --all follows next and --json prints one merged page', async () => {
    const second = `${ADMIN}/tenants?limit=1&cursor=abc`;
    const result = await run(
      ['tenants', 'list', '--limit', '1', '--all', '--json', '--status', 'active'],
      [
        on('GET', `${ADMIN}/tenants?status=ACTIVE&limit=1`, json(200, { data: [tenant('acme')], next: second })),
        on('GET', second, json(200, { data: [tenant('globex')], next: null })),
      ],
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ data: [tenant('acme'), tenant('globex')], next: null });
  });

  it('never follows a next link off the admin API', async () => {
    const result = await run(
      ['tenants', 'list', '--all'],
      [on('GET', `${ADMIN}/tenants`, json(200, { data: [tenant('acme')], next: 'http://evil.example/v1/tenants?cursor=x' }))],
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('refusing to follow a next link outside the admin API');
    expect(result.requests.some((r) => r.url.startsWith('http://evil.example'))).toBe(false);
  });

  it('prints a table with the expected columns, and says when there is more', async () => {
    const result = await run(
      ['tenants', 'list'],
      [on('GET', `${ADMIN}/tenants`, json(200, { data: [tenant('acme')], next: `${ADMIN}/tenants?cursor=x` }))],
    );
    expect(result.stdout.split('\n')[0]?.split(/\s{2,}/)).toEqual(['SLUG', 'NAME', 'ENV', 'STATUS', 'TOKEN TTL', 'ALG', 'CREATED']);
    expect(result.stdout).toMatch(/^acme +ACME +production +ACTIVE +1h +ES256 +2026-11-23T10:00:00Z$/m);
    expect(result.stderr).toContain('More tenants');
  });

  it('clients rotate-secret sends expires_in in seconds and shows the secret once', async () => {
    const client = {
      client_id: 'c1',
      name: 'Payroll',
      scopes: ['employees:read'],
      access_token_ttl: null,
      token_endpoint_auth_method: 'client_secret_basic',
      status: 'enabled',
      disabled_at: null,
      last_used_at: null,
      created_at: '2026-11-23T10:00:00Z',
      updated_at: '2026-11-23T10:00:00Z',
      secrets: [],
    };
    const result = await run(
      ['clients', 'rotate-secret', 'acme', 'c1', '--expires-in', '12h'],
      [on('POST', `${ADMIN}/tenants/acme/clients/c1/rotate-secret`, json(200, { client, client_secret: 'NEW-SECRET' }))],
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.api[0]?.body ?? '')).toEqual({ expires_in: 43_200 });
    expect(result.stdout).toMatch(/^client_secret +NEW-SECRET$/m);
    expect(result.stdout).toContain('will not be shown again');
    expect(result.stdout).toContain('keeps working for 12h');
  });

  it('clients create --dpop and clients update --dpop on|off send dpop_bound_access_tokens, and the record says so', async () => {
    const client = {
      client_id: 'c2',
      name: 'Bound',
      scopes: ['employees:read'],
      access_token_ttl: null,
      token_endpoint_auth_method: 'client_secret_basic',
      dpop_bound_access_tokens: true,
      status: 'enabled',
      disabled_at: null,
      last_used_at: null,
      created_at: '2026-11-23T10:00:00Z',
      updated_at: '2026-11-23T10:00:00Z',
      secrets: [],
    };
    const created = await run(
      ['clients', 'create', 'acme', '--name', 'Bound', '--scopes', 'employees:read', '--dpop'],
      [on('POST', `${ADMIN}/tenants/acme/clients`, json(201, { ...client, client_secret: 'S' }))],
    );
    expect(created.code).toBe(0);
    expect(JSON.parse(created.api[0]?.body ?? '')).toEqual({ name: 'Bound', scopes: ['employees:read'], dpop_bound_access_tokens: true });
    expect(created.stdout).toMatch(/^dpop bound +yes: token requests must carry a DPoP proof$/m);
    const plain = await run(
      ['clients', 'create', 'acme', '--name', 'Plain', '--scopes', 'employees:read'],
      [on('POST', `${ADMIN}/tenants/acme/clients`, json(201, { ...client, dpop_bound_access_tokens: false, client_secret: 'S' }))],
    );
    expect(JSON.parse(plain.api[0]?.body ?? '')).toEqual({ name: 'Plain', scopes: ['employees:read'] });
    expect(plain.stdout).toMatch(/^dpop bound +no$/m);
    const updated = await run(
      ['clients', 'update', 'acme', 'c2', '--dpop', 'off'],
      [on('PATCH', `${ADMIN}/tenants/acme/clients/c2`, json(200, { ...client, dpop_bound_access_tokens: false }))],
    );
    expect(JSON.parse(updated.api[0]?.body ?? '')).toEqual({ dpop_bound_access_tokens: false });
    const wrong = await run(['clients', 'update', 'acme', 'c2', '--dpop', 'maybe']);
    expect(wrong.code).toBe(2);
    expect(wrong.api).toHaveLength(0);
  });

  it('encodes path segments', async () => {
    const result = await run(['clients', 'get', 'acme', 'a/b?c'], [on('GET', `${ADMIN}/tenants/acme/clients/a%2Fb%3Fc`, json(200, {}))]);
    expect(result.api[0]?.url).toBe(`${ADMIN}/tenants/acme/clients/a%2Fb%3Fc`);
  });

  it('audit turns a duration ago into an instant', async () => {
    const result = await run(
      ['audit', '--since', '24h', '--tenant', 'acme'],
      [(r) => (r.url.startsWith(`${ADMIN}/audit-events`) ? json(200, { data: [], next: null }) : undefined)],
    );
    expect(result.code).toBe(0);
    expect(new URL(result.api[0]?.url ?? '').searchParams.get('since')).toBe('2026-11-22T12:00:00.000Z');
    expect(result.stdout).toBe('No audit events.\n');
  });

  it('uses another environment of the credentials file with --env', async () => {
    const result = await run(
      ['tenants', 'get', 'acme', '--env', 'sandbox'],
      [on('GET', `${ADMIN}/tenants/acme`, json(200, tenant('acme')))],
    );
    expect(result.requests[0]?.headers?.authorization).toBe(`Basic ${Buffer.from('admin-sandbox:secret-sandbox').toString('base64')}`);
  });
});

describe('failures', () => {
  it('a problem document: one line, its errors listed, exit 1', async () => {
    const result = await run(
      ['tenants', 'create', 'Bad Slug', '--name', 'x'],
      [
        on(
          'POST',
          `${ADMIN}/tenants`,
          json(
            422,
            {
              type: 'https://tenant-connect.dev/problems/validation-failed',
              title: 'Validation Failed',
              status: 422,
              detail: 'The tenant is not valid.',
              errors: [{ pointer: '/slug', detail: 'must match ^[a-z0-9-]+$' }],
            },
            'application/problem+json',
          ),
        ),
      ],
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error: Validation Failed (422): The tenant is not valid.\n  - /slug: must match ^[a-z0-9-]+$\n');
    expect(result.stdout).toBe('');
  });

  it('a 404', async () => {
    const result = await run(['tenants', 'get', 'nope']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: Not Found \(404\)/);
  });

  it('an OAuth error from the token endpoint', async () => {
    const requests: HttpRequest[] = [];
    let stderr = '';
    const code = await runCli(['tenants', 'list', '--data-dir', dataDir], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s) },
      env: {},
      cwd: os.tmpdir(),
      http: async (r) => {
        requests.push(r);
        return json(401, { error: 'invalid_client', error_description: 'client authentication failed' });
      },
    });
    expect(code).toBe(1);
    expect(stderr).toBe(`error: could not get an admin token from ${TOKEN}: invalid_client: client authentication failed\n`);
    expect(requests).toHaveLength(1);
  });

  it('something that is not JSON', async () => {
    const result = await run(
      ['tenants', 'get', 'acme'],
      [() => ({ status: 502, headers: { 'content-type': 'text/html' }, body: '<html>Bad Gateway</html>' })],
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('HTTP 502 <html>Bad Gateway</html>');
  });

  it('purge without --yes sends nothing, exit 2', async () => {
    const result = await run(['tenants', 'purge', 'acme']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('add --yes to confirm');
    expect(result.requests).toHaveLength(0);
  });

  it('a bad option value sends nothing, exit 2', async () => {
    const result = await run(['clients', 'rotate-secret', 'acme', 'c1', '--expires-in', 'soon']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--expires-in expects seconds or a duration like 7d');
    expect(result.requests).toHaveLength(0);
  });

  it('no credentials file: says where it looked and what else works', async () => {
    let stderr = '';
    const code = await runCli(['tenants', 'list', '--data-dir', '/nonexistent/dir'], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s) },
      env: {},
      cwd: os.tmpdir(),
    });
    expect(code).toBe(1);
    expect(stderr).toContain('/nonexistent/dir/admin-credentials.json does not exist');
    expect(stderr).toContain('--client-secret');
    expect(stderr).toContain('TENANT_CONNECT_CLIENT_SECRET');
  });

  it('an unknown environment names the ones there are', async () => {
    const result = await run(['tenants', 'list', '--env', 'staging']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no credentials for environment "staging" (it has: production, sandbox)');
  });

  it('connection refused: the server is not reachable, start it', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    let stderr = '';
    const code = await runCli(
      [
        'tenants',
        'list',
        '--admin-url',
        `http://admin.connect.localhost:${port}/v1`,
        '--token-url',
        `http://authentication.connect.localhost:${port}/platform/connect/token`,
        '--client-id',
        'a',
        '--client-secret',
        'b',
      ],
      { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) }, env: {}, cwd: os.tmpdir() },
    );
    expect(code).toBe(1);
    expect(stderr).toBe(
      `error: the server is not reachable at http://authentication.connect.localhost:${port} (connection refused). Is it running? Start it with 'npm start'.\n`,
    );
  });
});

describe('credentials', () => {
  it('a tenant token endpoint means a tenant admin', () => {
    expect(tenantOfTokenUrl('http://authentication.connect.localhost:3000/tenants/acme/connect/token')).toBe('acme');
    expect(tenantOfTokenUrl(TOKEN)).toBeUndefined();
    const target = resolveTarget({
      environment: 'production',
      dataDir: '/nowhere',
      adminUrl: `${ADMIN}/`,
      tokenUrl: 'http://authentication.connect.localhost:3000/tenants/acme/connect/token',
      clientId: 'a',
      clientSecret: 'b',
    });
    expect(target).toMatchObject({ scope: 'tenant:admin', tenant: 'acme', adminUrl: ADMIN });
  });

  it('flags override single fields of the file', () => {
    const target = resolveTarget({ environment: 'production', dataDir, clientSecret: 'override' });
    expect(target).toMatchObject({ clientId: 'admin-production', clientSecret: 'override', scope: 'platform:admin', tokenUrl: TOKEN });
  });
});

describe('tenantTokenUrl', () => {
  it("puts the tenant's issuer beside the platform's", () => {
    expect(tenantTokenUrl(TOKEN, 'acme')).toBe('http://authentication.connect.localhost:3000/tenants/acme/connect/token');
    expect(tenantTokenUrl('https://auth.example.com/base/tenants/x/connect/token', 'acme')).toBe(
      'https://auth.example.com/base/tenants/acme/connect/token',
    );
    expect(tenantTokenUrl('https://sso.example.com/oauth/token', 'acme')).toBeUndefined();
  });
});

describe('Retry-After', () => {
  it('reads seconds and dates', () => {
    expect(retryAfterSeconds('3')).toBe(3);
    expect(retryAfterSeconds(new Date(10_000).toUTCString(), 5_000)).toBe(5);
    expect(retryAfterSeconds('soon')).toBeUndefined();
    expect(retryAfterSeconds(undefined)).toBeUndefined();
  });

  it('waits as told on 429, then gives up after two retries or a long wait', async () => {
    const target = resolveTarget({ environment: 'production', dataDir });
    const slept: number[] = [];
    let calls = 0;
    const limited = (retryAfter: string) =>
      createAdminClient(
        target,
        async (request) => {
          if (request.url === TOKEN) return json(200, { access_token: 't' });
          calls++;
          return { ...json(429, { title: 'Too Many Requests', status: 429, detail: 'slow down' }), headers: { 'retry-after': retryAfter } };
        },
        { sleep: async (ms) => void slept.push(ms) },
      );
    await expect(limited('1').get('/tenants')).rejects.toThrow('Too Many Requests (429): slow down');
    expect(calls).toBe(3);
    expect(slept).toEqual([1000, 1000]);
    calls = 0;
    await expect(limited('3600').get('/tenants')).rejects.toThrow('Too Many Requests (429)');
    expect(calls).toBe(1);
  });
});
