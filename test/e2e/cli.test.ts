/**
 * The CLI as a user runs it: a child process (the project's Node 24 on src/cli/main.ts) against a
 * real server on a fresh embedded database, with the credentials file the server writes.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI asynchronously: the server answers from this very process. */
function runCli(args: string[], options: { dataDir?: string; entry?: string[] } = {}): Promise<CliResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('TENANT_CONNECT_') && key !== 'DATA_DIR'));
  const argv = [...(options.entry ?? [MAIN]), ...args, ...(options.dataDir === undefined ? [] : ['--data-dir', options.dataDir])];
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, argv, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let server: TestServer;
let dataDir: string;
const cli = (...args: string[]) => runCli(args, { dataDir });

async function json<T>(...args: string[]): Promise<T> {
  const result = await cli(...args, '--json');
  if (result.code !== 0) throw new Error(`tenant-connect ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

function tokenUrl(slug: string): string {
  return server.url('authentication.connect.localhost', `/tenants/${slug}/connect/token`);
}

async function requestToken(slug: string, clientId: string, secret: string, scope = 'employees:read') {
  const response = await server.fetch(tokenUrl(slug), {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  server = await startTestServer('pglite', { env: { TENANT_PURGE_AFTER_DAYS: '0' } });
  dataDir = server.config.dataDir;
});
afterAll(async () => {
  await server?.close();
});

interface Tenant {
  slug: string;
  status: string;
  deleted_at: string | null;
  settings: { access_token_ttl: number };
}
interface Key {
  kid: string;
  alg: string;
  state: string;
  published: boolean;
  promote_at: string | null;
}
interface Client {
  client_id: string;
  status: string;
  secrets: unknown[];
}

describe('tenant-connect CLI against the real admin API', () => {
  it('finds its credentials in the data directory the server wrote', () => {
    const file = path.join(dataDir, 'admin-credentials.json');
    expect(fs.existsSync(file)).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('private_key_jwt: clients create --jwks-file, then set-keys; a jose assertion gets a token', async () => {
    await json<Tenant>('tenants', 'create', 'cli-signed', '--name', 'CLI Signed');
    const first = await generateKeyPair('ES256', { extractable: true });
    const firstJwk = { ...(await exportJWK(first.publicKey)), kid: 'first', alg: 'ES256' };
    const keysFile = path.join(dataDir, 'cli-signed-keys.json');
    fs.writeFileSync(keysFile, JSON.stringify({ keys: [firstJwk] }));
    const created = await cli(
      'clients',
      'create',
      'cli-signed',
      '--name',
      'Signed',
      '--scopes',
      'employees:read',
      '--auth-method',
      'private_key_jwt',
      '--jwks-file',
      keysFile,
    );
    expect(created.code).toBe(0);
    expect(created.stdout).not.toContain('client_secret');
    expect(created.stdout).toMatch(/^keys +EC kid=first$/m);
    const clientId = /^client_id +(\S+)$/m.exec(created.stdout)?.[1] as string;
    const issuer = server.url('authentication.connect.localhost', '/tenants/cli-signed');
    const signed = (key: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'], kid: string) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: clientId, sub: clientId, aud: issuer, jti: randomUUID(), iat: now, exp: now + 30 })
        .setProtectedHeader({ alg: 'ES256', kid })
        .sign(key);
    };
    const withAssertion = async (assertion: string) =>
      (
        await server.fetch(tokenUrl('cli-signed'), {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: assertion,
          }).toString(),
        })
      ).status;
    expect(await withAssertion(await signed(first.privateKey, 'first'))).toBe(200);

    const second = await generateKeyPair('ES256', { extractable: true });
    fs.writeFileSync(keysFile, JSON.stringify({ keys: [{ ...(await exportJWK(second.publicKey)), kid: 'second' }] }));
    const replaced = await json<{ jwks: { keys: { kid: string }[] } }>(
      'clients',
      'set-keys',
      'cli-signed',
      clientId,
      '--jwks-file',
      keysFile,
    );
    expect(replaced.jwks.keys.map((k) => k.kid)).toEqual(['second']);
    expect(await withAssertion(await signed(second.privateKey, 'second'))).toBe(200);
    expect(await withAssertion(await signed(first.privateKey, 'first'))).toBe(401);

    const refused = await cli('clients', 'set-keys', 'cli-signed', clientId, '--jwks-uri', 'http://keys.example/jwks.json');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/jwks_uri must use https/);
    const usage = await cli('clients', 'set-keys', 'cli-signed', clientId);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('give --jwks-file or --jwks-uri');
  });

  it('walkthrough: tenant, client, token, rotation, suspend, activate, delete, restore', async () => {
    const tenant = await json<Tenant>('tenants', 'create', 'cli-walk', '--name', 'CLI Walkthrough', '--access-token-ttl', '10m');
    expect(tenant).toMatchObject({ slug: 'cli-walk', status: 'ACTIVE', deleted_at: null, settings: { access_token_ttl: 600 } });

    const created = await cli('clients', 'create', 'cli-walk', '--name', 'Payroll', '--scopes', 'employees:read,employees:write');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('will not be shown again');
    const clientId = /^client_id +(\S+)$/m.exec(created.stdout)?.[1] as string;
    const firstSecret = /^client_secret +(\S+)$/m.exec(created.stdout)?.[1] as string;
    expect(clientId).toBeTruthy();
    expect(firstSecret).toBeTruthy();

    const first = await requestToken('cli-walk', clientId, firstSecret);
    expect(first.status).toBe(200);
    expect(first.body.expires_in).toBe(600);

    const rotated = await json<{ client: Client; client_secret: string }>(
      'clients',
      'rotate-secret',
      'cli-walk',
      clientId,
      '--expires-in',
      '1h',
    );
    expect(rotated.client.client_id).toBe(clientId);
    expect(rotated.client.secrets).toHaveLength(2);
    expect(rotated.client_secret).not.toBe(firstSecret);
    expect((await requestToken('cli-walk', clientId, firstSecret)).status).toBe(200);
    expect((await requestToken('cli-walk', clientId, rotated.client_secret)).status).toBe(200);

    const suspended = await cli('tenants', 'suspend', 'cli-walk');
    expect(suspended).toMatchObject({ code: 0, stdout: 'Tenant cli-walk suspended: status SUSPENDED.\n' });
    expect(await requestToken('cli-walk', clientId, rotated.client_secret)).toMatchObject({
      status: 400,
      body: { error: 'unauthorized_client' },
    });

    expect((await json<Tenant>('tenants', 'activate', 'cli-walk')).status).toBe('ACTIVE');
    expect((await requestToken('cli-walk', clientId, rotated.client_secret)).status).toBe(200);

    expect((await json<Tenant>('tenants', 'delete', 'cli-walk')).deleted_at).not.toBeNull();
    const gone = await cli('tenants', 'get', 'cli-walk');
    expect(gone.code).toBe(1);
    expect((await json<Tenant>('tenants', 'get', 'cli-walk', '--include-deleted')).deleted_at).not.toBeNull();
    expect(await json<Tenant>('tenants', 'restore', 'cli-walk')).toMatchObject({ status: 'ACTIVE', deleted_at: null });
    expect((await requestToken('cli-walk', clientId, rotated.client_secret)).status).toBe(200);

    const audit = await json<{ data: { action: string }[] }>('audit', '--tenant', 'cli-walk', '--all');
    expect(audit.data.map((e) => e.action)).toEqual(
      expect.arrayContaining([
        'tenant.create',
        'client.create',
        'client.rotate_secret',
        'tenant.suspend',
        'tenant.activate',
        'tenant.delete',
        'tenant.restore',
      ]),
    );
  }, 60_000);

  it('disables, updates and deletes a client', async () => {
    await json<Tenant>('tenants', 'create', 'cli-clients', '--name', 'CLI Clients');
    const client = await json<Client & { client_secret: string }>(
      'clients',
      'create',
      'cli-clients',
      '--name',
      'ERP',
      '--scopes',
      'employees:read',
    );
    expect((await json<Client>('clients', 'disable', 'cli-clients', client.client_id)).status).toBe('disabled');
    expect((await requestToken('cli-clients', client.client_id, client.client_secret)).status).not.toBe(200);
    expect((await json<Client>('clients', 'enable', 'cli-clients', client.client_id)).status).toBe('enabled');
    expect(await json<Client>('clients', 'update', 'cli-clients', client.client_id, '--name', 'ERP sync')).toMatchObject({
      name: 'ERP sync',
    });
    const deleted = await cli('clients', 'delete', 'cli-clients', client.client_id);
    expect(deleted).toMatchObject({ code: 0, stdout: `Deleted client ${client.client_id}.\n` });
    expect((await cli('clients', 'get', 'cli-clients', client.client_id)).code).toBe(1);
  });

  it('revokes a token by jti and a client’s tokens up to a second', async () => {
    await json<Tenant>('tenants', 'create', 'cli-revoke', '--name', 'CLI Revoke');
    const client = await json<Client & { client_secret: string }>(
      'clients',
      'create',
      'cli-revoke',
      '--name',
      'ERP',
      '--scopes',
      'employees:read',
    );
    const newToken = async () => (await requestToken('cli-revoke', client.client_id, client.client_secret)).body.access_token as string;
    const api = async (token: string) =>
      (
        await server.fetch(server.url('cli-revoke.connect.localhost', '/api/v1/employees?limit=1'), {
          headers: { authorization: `Bearer ${token}` },
        })
      ).status;
    const first = await newToken();
    const second = await newToken();
    const jti = decodeJwt(first).jti as string;

    // `--` before the jti: a jti may start with '-' (oidc-provider's ids are base64url), which the CLI
    // would read as an option; everything after `--` is positional, so --data-dir goes first
    const revoked = await runCli(['--data-dir', dataDir, 'tokens', 'revoke', 'cli-revoke', '--', jti]);
    expect(revoked.stderr).toBe('');
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(
      new RegExp(`^Token ${jti} of cli-revoke is revoked \\(listed until \\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z?\\)\\.\\n$`),
    );
    await eventually(async () => expect(await api(first)).toBe(401));
    expect(await api(second)).toBe(200);

    const cutoff = await json<{ client_id: string; issued_before: string }>('clients', 'revoke-tokens', 'cli-revoke', client.client_id);
    expect(cutoff.client_id).toBe(client.client_id);
    expect(Date.parse(cutoff.issued_before) / 1000).toBeGreaterThanOrEqual(decodeJwt(second).iat as number);
    await eventually(async () => expect(await api(second)).toBe(401));

    const future = await cli('clients', 'revoke-tokens', 'cli-revoke', client.client_id, '--issued-before', '2999-01-01T00:00:00Z');
    expect(future.code).toBe(1);
    expect(future.stderr).toContain('issued_before must not be in the future');
  });

  it('prints tables with the expected columns', async () => {
    const tenants = await cli('tenants', 'list');
    expect(tenants.code).toBe(0);
    const [header, ...rows] = tenants.stdout.trimEnd().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['SLUG', 'NAME', 'ENV', 'STATUS', 'TOKEN TTL', 'ALG', 'CREATED']);
    expect(rows.some((r) => /^acme\s+Acme/.test(r))).toBe(true);

    const clients = await cli('clients', 'list', 'acme');
    expect(clients.stdout.split('\n')[0]?.split(/\s{2,}/)).toEqual([
      'CLIENT ID',
      'NAME',
      'STATUS',
      'SCOPES',
      'SECRETS',
      'LAST USED',
      'CREATED',
    ]);
  });

  it('--json prints the API document as it is', async () => {
    const page = await json<{ data: Tenant[]; next: string | null }>('tenants', 'list', '--limit', '1');
    expect(page.data).toHaveLength(1);
    expect(typeof page.next).toBe('string');
    const all = await json<{ data: Tenant[]; next: null }>('tenants', 'list', '--limit', '1', '--all');
    expect(all.data.length).toBeGreaterThan(1);
    expect(all.next).toBeNull();
  });

  it('lists and rotates signing keys, re-encrypts them under the key-encryption key', async () => {
    await json<Tenant>('tenants', 'create', 'cli-keys', '--name', 'CLI Keys');
    const listed = await cli('keys', 'list', 'cli-keys');
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n')[0]?.split(/\s{2,}/)).toEqual([
      'KID',
      'ALG',
      'STATE',
      'PUBLISHED',
      'CREATED',
      'PROMOTE AT',
      'RETIRED',
      'NOT AFTER',
    ]);
    const [original] = (await json<{ data: Key[] }>('keys', 'list', 'cli-keys')).data;
    expect(original).toMatchObject({ state: 'current', published: true });

    const staged = await json<{ key: Key; retired: Key[] }>('keys', 'rotate', 'cli-keys');
    expect(staged.key).toMatchObject({ state: 'next', published: true });
    expect(staged.key.promote_at).not.toBeNull();
    const again = await cli('keys', 'rotate', 'cli-keys');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: Conflict \(409\): Key .* is already staged/);

    const now = await cli('keys', 'rotate', 'cli-keys', '--now', '--alg', 'EdDSA');
    expect(now.code).toBe(0);
    expect(now.stdout).toMatch(/^New key \S+ \(EdDSA\) signs from now on\./);
    const states = (await json<{ data: Key[] }>('keys', 'list', 'cli-keys')).data.map((k) => `${k.alg}:${k.state}`);
    expect(states).toContain('EdDSA:current');

    const kek = await json<{ tenants: number; reencrypted: number; already_current: number }>('kek', 'rotate');
    expect(kek.tenants).toBeGreaterThan(0);
    expect(kek.reencrypted + kek.already_current).toBeGreaterThan(0);
    expect((await cli('keys', 'rotate', 'cli-keys', '--now', '--delay', '1h')).code).toBe(2);
  });

  it('copies a production tenant to the sandbox, and only from production', async () => {
    await json<Tenant>('tenants', 'create', 'cli-sync', '--name', 'CLI Sync');
    await json<Client>('clients', 'create', 'cli-sync', '--name', 'ERP', '--scopes', 'employees:read');
    const synced = await cli('tenants', 'sandbox-sync', 'cli-sync');
    expect(synced).toMatchObject({ code: 0, stdout: 'Synced cli-sync to sandbox (tenant created): 1 client created, 0 updated.\n' });
    expect(await json<Tenant & { environment: string }>('tenants', 'get', 'cli-sync', '--env', 'sandbox')).toMatchObject({
      slug: 'cli-sync',
      environment: 'sandbox',
    });
    const fromSandbox = await cli('tenants', 'sandbox-sync', 'cli-sync', '--env', 'sandbox');
    expect(fromSandbox.code).toBe(1);
    expect(fromSandbox.stderr).toMatch(/^error: Conflict \(409\): .*production admin API/);
    const audit = await cli('audit', '--tenant', 'cli-sync');
    expect(audit.stdout.split('\n')[0]?.split(/\s{2,}/)).toEqual(['TIME', 'ENV', 'TENANT', 'ACTOR', 'ACTION', 'TARGET', 'REQUEST']);
  });

  it("resets a sandbox tenant's data, reloading the demo organisation on request, and never in production", async () => {
    const refused = await cli('tenants', 'sandbox-reset', 'acme', '--seed', 'demo');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: Conflict \(409\): Sandbox reset deletes data, so it runs only on the sandbox admin API/);
    const seeded = await json<{ tenant: string; environment: string; seed: string; loaded: Record<string, number> }>(
      'tenants',
      'sandbox-reset',
      'acme',
      '--seed',
      'demo',
      '--env',
      'sandbox',
    );
    expect(seeded).toMatchObject({ tenant: 'acme', environment: 'sandbox', seed: 'demo' });
    expect(seeded.loaded.employees).toBe(50);
    const emptied = await cli('tenants', 'sandbox-reset', 'acme', '--env', 'sandbox');
    expect(emptied.code).toBe(0);
    expect(emptied.stdout).toMatch(/^Reset acme \(sandbox\) at \S+Z: \d+ rows deleted\.\n/);
    expect(emptied.stdout).toContain('Syncs from before the reset get 410 with include_deleted: reload them in full.\n');
    const badSeed = await cli('tenants', 'sandbox-reset', 'acme', '--seed', 'prod', '--env', 'sandbox');
    expect(badSeed.code).toBe(2);
    expect(badSeed.stderr).toContain('--seed must be one of demo (got "prod")');
  });

  it("lists the platform's own admin clients as the tenant 'platform'", async () => {
    const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'admin-credentials.json'), 'utf8')) as {
      environments: Record<string, { client_id: string }>;
    };
    const page = await json<{ data: Client[] }>('clients', 'list', 'platform');
    expect(page.data.map((c) => c.client_id)).toContain(credentials.environments.production?.client_id);
  });

  it('purges a deleted tenant only with --yes', async () => {
    await json<Tenant>('tenants', 'create', 'cli-purge', '--name', 'Short-lived');
    await json<Tenant>('tenants', 'delete', 'cli-purge');
    const refused = await cli('tenants', 'purge', 'cli-purge');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');
    expect(await cli('tenants', 'purge', 'cli-purge', '--yes')).toMatchObject({ code: 0, stdout: 'Purged tenant cli-purge.\n' });
    expect((await cli('tenants', 'get', 'cli-purge', '--include-deleted')).code).toBe(1);
  });

  it("a tenant admin manages its own tenant's clients only", async () => {
    await json<Tenant>('tenants', 'create', 'cli-self', '--name', 'Self-service');
    const admin = await json<Client & { client_secret: string }>(
      'clients',
      'create',
      'cli-self',
      '--name',
      'Tenant admin',
      '--scopes',
      'tenant:admin',
    );
    const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'admin-credentials.json'), 'utf8')) as {
      environments: Record<string, { admin_api: string }>;
    };
    const asTenantAdmin = [
      '--admin-url',
      credentials.environments.production?.admin_api as string,
      '--token-url',
      tokenUrl('cli-self'),
      '--client-id',
      admin.client_id,
      '--client-secret',
      admin.client_secret,
    ];
    const own = await runCli(['clients', 'list', 'cli-self', '--json', ...asTenantAdmin]);
    expect(own.code).toBe(0);
    expect((JSON.parse(own.stdout) as { data: Client[] }).data.map((c) => c.client_id)).toContain(admin.client_id);
    const other = await runCli(['clients', 'list', 'acme', ...asTenantAdmin]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^error: /);
    const platformOnly = await runCli(['tenants', 'list', ...asTenantAdmin]);
    expect(platformOnly.code).toBe(1);
    expect(platformOnly.stderr).toMatch(/^error: Forbidden \(403\)/);
  });

  describe.concurrent('errors: one clear line, non-zero exit', () => {
    it('unknown command: usage, exit 2', async () => {
      const result = await cli('tenants', 'frobnicate');
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toContain('error: unknown command "tenants frobnicate"');
      expect(result.stderr).toContain("Run 'tenant-connect tenants --help' for usage.");
    });

    it('missing argument: usage, exit 2', async () => {
      const result = await cli('clients', 'get', 'acme');
      expect(result.code).toBe(2);
      expect(result.stderr.split('\n')[0]).toBe('error: missing <client_id>');
    });

    it('a tenant that does not exist: the problem, exit 1', async () => {
      const result = await cli('tenants', 'get', 'no-such-tenant');
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: Not Found \(404\): .*no-such-tenant/);
    });

    it('a validation failure lists what is wrong', async () => {
      const result = await cli('clients', 'create', 'acme', '--name', 'X', '--scopes', 'employees:read,no:such-scope');
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: Validation Failed \(422\)/);
      expect(result.stderr).toContain('/scopes/1');
    });

    it('server down: not reachable, start it with npm start', async () => {
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const { port } = closed.address() as net.AddressInfo;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const result = await runCli([
        'tenants',
        'list',
        '--admin-url',
        `http://admin.connect.localhost:${port}/v1`,
        '--token-url',
        `http://authentication.connect.localhost:${port}/platform/connect/token`,
        '--client-id',
        'x',
        '--client-secret',
        'y',
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`the server is not reachable at http://authentication.connect.localhost:${port}`);
      expect(result.stderr).toContain('npm start');
    });

    it('missing credentials file: where it looked, and what else to pass', async () => {
      const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-empty-'));
      try {
        const result = await runCli(['tenants', 'list'], { dataDir: empty });
        expect(result.code).toBe(1);
        expect(result.stderr.split('\n')[0]).toContain(`${path.join(empty, 'admin-credentials.json')} does not exist`);
        expect(result.stderr).toContain('--client-secret');
      } finally {
        fs.rmSync(empty, { recursive: true, force: true });
      }
    });

    it('wrong admin secret: the token endpoint says so', async () => {
      const result = await cli('tenants', 'list', '--client-secret', 'wrong');
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^error: could not get an admin token from .*: invalid_client/);
    });
  });

  it('the bin launcher passes arguments, output and exit code through', async () => {
    const ok = await runCli(['kek', 'generate'], { entry: [path.join(ROOT, 'bin', 'tenant-connect.mjs')] });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    const failed = await runCli(['tenants', 'get', 'no-such-tenant'], { dataDir, entry: [path.join(ROOT, 'bin', 'tenant-connect.mjs')] });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^error: Not Found \(404\)/);
  });
});

describe('auth-events', () => {
  it("shows a tenant's refused token requests with their reason, as JSON and as a table", async () => {
    const acme = server.credential('production', 'acme');
    expect((await requestToken('acme', acme.client_id, 'not-the-secret')).status).toBe(401);
    await server.booted.app.authEvents.flush();

    const page = await json<{ data: { client_id: string; outcome: string; reason: string }[] }>(
      'auth-events',
      'acme',
      '--client',
      acme.client_id,
      '--outcome',
      'refused',
    );
    expect(page.data[0]).toMatchObject({ client_id: acme.client_id, outcome: 'refused', reason: 'wrong_secret' });

    const table = await cli('auth-events', 'acme', '--reason', 'wrong_secret');
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]?.split(/\s{2,}/)).toEqual(['TIME', 'CLIENT', 'OUTCOME', 'REASON', 'SOURCE', 'SCOPES', 'JTI']);
    expect(table.stdout).not.toContain('not-the-secret');

    const wrong = await cli('auth-events', 'acme', '--reason', 'bad_luck');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--reason must be one of unknown_client, wrong_secret/);
  });

  it("shows a client's health, with its last refusal's reason", async () => {
    const acme = server.credential('production', 'acme');
    expect((await requestToken('acme', acme.client_id, 'still-not-the-secret')).status).toBe(401);
    await server.booted.app.authEvents.flush();
    const health = await json<{ last_refusal: { reason: string }; last_24h: { refusals: number } }>(
      'clients',
      'health',
      'acme',
      acme.client_id,
    );
    expect(health.last_refusal.reason).toBe('wrong_secret');
    expect(health.last_24h.refusals).toBeGreaterThanOrEqual(1);
    const record = await cli('clients', 'health', 'acme', acme.client_id);
    expect(record.code).toBe(0);
    expect(record.stdout).toMatch(/^last refusal +\S+ {2}wrong_secret {2}from /m);
    expect(record.stdout).toMatch(/^API calls \(24h\) +\d+ \(\d+ 4xx, \d+ of them 429\)$/m);
    expect(record.stdout).toMatch(/^token quota +none$/m);
    const missing = await cli('clients', 'health', 'acme', 'no-such-client');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No client "no-such-client" in this tenant/);
  });
});

describe('usage', () => {
  it('shows tokens, API calls and webhook deliveries per tenant, client and day, as JSON and as a table', async () => {
    const acme = server.credential('production', 'acme');
    const issued = await requestToken('acme', acme.client_id, acme.client_secret);
    expect(issued.status).toBe(200);
    const api = await server.fetch(server.url('acme.connect.localhost', '/api/v1/employees?limit=1'), {
      headers: { authorization: `Bearer ${issued.body.access_token as string}` },
    });
    expect(api.status).toBe(200);
    await server.booted.app.usageCounts.flush();

    const page = await json<{ data: { date: string; tenant: string; client_id: string | null; tokens: number; api_calls: number }[] }>(
      'usage',
      '--tenant',
      'acme',
    );
    const row = page.data.find((r) => r.client_id === acme.client_id && r.date === new Date().toISOString().slice(0, 10));
    expect(row).toMatchObject({ tenant: 'acme' });
    expect(row?.tokens).toBeGreaterThanOrEqual(1);
    expect(row?.api_calls).toBeGreaterThanOrEqual(1);

    const table = await cli('usage', '--from', new Date(Date.now() - 86_400_000).toISOString().slice(0, 10));
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]?.split(/\s{2,}/)).toEqual(['DATE', 'TENANT', 'CLIENT', 'TOKENS', 'API CALLS', 'WEBHOOKS']);
    expect(table.stdout).toMatch(new RegExp(`^\\d{4}-\\d{2}-\\d{2} +acme +${acme.client_id} +\\d+ +\\d+ +\\d+$`, 'm'));

    const reversed = await cli('usage', '--from', '2026-11-29', '--to', '2026-11-01');
    expect(reversed.code).toBe(1);
    expect(reversed.stderr).toContain('from (2026-11-29) is after to (2026-11-01)');
  });
});
