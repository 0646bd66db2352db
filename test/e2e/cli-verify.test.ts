/**
 * `tenant-connect verify` as a user runs it: a child process with a credentials file, against the
 * real server on a fresh database (it must pass, and read-only must write nothing), and against a
 * loopback fake that accepts any token (it must fail, and say which checks).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoCredential } from '../../src/admin/operator/demo-seed.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');
const RUN_TIMEOUT_MS = 90_000;

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface VerifyCheck {
  group: string;
  name: string;
  expected: string;
  observed: string;
  result: 'pass' | 'fail' | 'skip';
}

interface VerifyReport {
  ok: boolean;
  allow_writes: boolean;
  summary: { checks: number; passed: number; failed: number; skipped: number };
  checks: VerifyCheck[];
}

const GROUPS = [
  'baseline',
  'tokens across tenants',
  'foreign resource ids',
  'tenant_id in the query',
  'forged tokens',
  'host reflection',
  'unknown tenant',
  'access_token in the query',
  'foreign writes',
];

/** The CLI as a child process; asynchronous, since the server answers from this very process. */
function runVerify(args: string[]): Promise<CliResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('TENANT_CONNECT_') && key !== 'DATA_DIR'));
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [MAIN, 'verify', ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function writeCredentials(dir: string, credentials: readonly unknown[]): string {
  const file = path.join(dir, `credentials-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(credentials, null, 2), { mode: 0o600 });
  return file;
}

/** stdout is exactly one JSON document */
function report(result: CliResult): VerifyReport {
  return JSON.parse(result.stdout) as VerifyReport;
}

const COLLECTION_TABLES = ['employees', 'org_units', 'contracts', 'activity_definitions', 'clockings', 'absences'];

/** Per tenant and table: row count and last update, plus outbox events and idempotency keys (every API write leaves
 * one). Read as the runtime role, under row level security: the owner may be a superuser, which bypasses it. */
async function dataFingerprint(server: TestServer): Promise<Record<string, string>> {
  const { db } = server.booted;
  const tenants = await db.admin.query<{ id: string; environment: string; slug: string }>(
    'SELECT id, environment, slug FROM tenants ORDER BY id',
  );
  const fingerprint: Record<string, string> = {};
  for (const tenant of tenants) {
    for (const table of COLLECTION_TABLES) {
      const [row] = await db
        .reader(tenant.id)
        .query<{ n: string; last: string | null }>(`SELECT count(*)::text AS n, max(updated_at)::text AS last FROM ${table}`);
      fingerprint[`${tenant.environment}/${tenant.slug}/${table}`] = `${row?.n} ${row?.last}`;
    }
    for (const table of ['outbox_events', 'idempotency_keys']) {
      const [row] = await db.reader(tenant.id).query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
      fingerprint[`${tenant.environment}/${tenant.slug}/${table}`] = String(row?.n);
    }
  }
  return fingerprint;
}

describe.each(testDatabaseKinds())('tenant-connect verify against the server on %s', (kind) => {
  let server: TestServer;
  let dir: string;
  let credentialsFile: string;

  beforeAll(async () => {
    server = await startTestServer(kind);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-verify-'));
    credentialsFile = writeCredentials(dir, server.credentials);
  }, 120_000); // a boot with demo data on a shared, busy machine
  afterAll(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it(
    'passes every probe on the demo tenants, prints only the JSON document on stdout, and writes nothing',
    async () => {
      expect(server.credentials.map((c) => `${c.environment}/${c.tenant}`).sort()).toEqual([
        'production/acme',
        'production/globex',
        'sandbox/acme',
        'sandbox/globex',
      ]);
      const before = await dataFingerprint(server);
      expect(before['production/acme/employees']).toMatch(/^50 \d{4}-/); // the fingerprint sees the tenant's rows

      const result = await runVerify(['--credentials', credentialsFile, '--json']);

      expect(result.stderr).not.toMatch(/error/);
      expect(result.code).toBe(0);
      const parsed = report(result);
      expect(parsed.ok).toBe(true);
      expect(parsed.allow_writes).toBe(false);
      expect(parsed.checks.filter((c) => c.result === 'fail')).toEqual([]);
      // the only check not run read-only is the write group, and it says so
      expect(parsed.checks.filter((c) => c.result === 'skip')).toEqual([
        expect.objectContaining({ group: 'foreign writes', observed: 'not run: read-only (--allow-writes)' }),
      ]);
      expect(parsed.summary).toEqual({ checks: parsed.checks.length, passed: parsed.checks.length - 1, failed: 0, skipped: 1 });
      // 4 tenants: 3 others each, both directions
      const count = (group: string) => parsed.checks.filter((c) => c.group === group).length;
      expect(count('tokens across tenants')).toBe(12);
      expect(count('foreign resource ids')).toBe(12);
      expect(count('forged tokens')).toBe(16);
      expect(count('host reflection')).toBe(6);
      expect(count('unknown tenant')).toBe(6);
      expect(parsed.checks.find((c) => c.name === 'production/acme token on production/globex API')).toMatchObject({
        expected: '401',
        observed: '401 invalid_token',
        result: 'pass',
      });
      expect(parsed.checks.find((c) => c.name === 'production/acme alg none')).toMatchObject({
        observed: '401 invalid_token',
        result: 'pass',
      });
      expect(parsed.checks.find((c) => c.name === 'production/acme /employees?tenant_id=globex')).toMatchObject({
        observed: '400 tenant-in-request',
        result: 'pass',
      });
      expect(parsed.checks.find((c) => c.name === 'production/globex asks for a production/acme id (/employees/{id})')).toMatchObject({
        observed: '404, same as a missing id',
        result: 'pass',
      });
      // a progress line per group, on stderr
      for (const group of GROUPS) expect(result.stderr).toContain(`verify: ${group}: `);

      expect(await dataFingerprint(server)).toEqual(before);
    },
    RUN_TIMEOUT_MS,
  );

  it(
    'prints a table of checks and a summary for people',
    async () => {
      const result = await runVerify(['--credentials', credentialsFile]);
      expect(result.code).toBe(0);
      const lines = result.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^GROUP\s+CHECK\s+EXPECTED\s+OBSERVED\s+RESULT$/);
      expect(lines.find((l) => l.includes('production/acme token on sandbox/acme API'))).toMatch(/\s401\s+401 invalid_token\s+pass$/);
      expect(lines.at(-1)).toMatch(/^\d+ checks: \d+ passed, 0 failed, 1 skipped$/);
      expect(result.stderr).toContain('verify: 4 tenants (production/acme, production/globex, sandbox/acme, sandbox/globex), read-only');
    },
    RUN_TIMEOUT_MS,
  );

  it(
    'with --allow-writes probes foreign GET, PATCH and DELETE on records it creates, then deletes them',
    async () => {
      const before = await dataFingerprint(server);
      const result = await runVerify(['--credentials', credentialsFile, '--allow-writes', '--json']);
      expect(result.stderr).not.toMatch(/error/);
      expect(result.code).toBe(0);
      const parsed = report(result);
      const writes = parsed.checks.filter((c) => c.group === 'foreign writes');
      // per owner: create, 3 others × GET/PATCH/DELETE, read back, delete
      expect(writes).toHaveLength(4 * (1 + 3 * 3 + 2));
      expect(writes.every((c) => c.result === 'pass')).toBe(true);
      expect(writes.filter((c) => / PATCH /.test(c.name)).map((c) => c.observed)).toEqual(Array(12).fill('404, same as a missing id'));

      const { db } = server.booted;
      const tenants = await db.admin.query<{ id: string }>('SELECT id FROM tenants');
      for (const tenant of tenants) {
        const left = await db.reader(tenant.id).query("SELECT code FROM org_units WHERE code LIKE 'tenant-connect-verify-%'");
        expect(left).toEqual([]);
      }
      // the fingerprint the read-only test compares does see writes: created and deleted, yet not the same
      const after = await dataFingerprint(server);
      expect(after['production/acme/org_units']?.split(' ')[0]).toBe(before['production/acme/org_units']?.split(' ')[0]);
      expect(Number(after['production/acme/idempotency_keys'])).toBe(Number(before['production/acme/idempotency_keys']) + 1);
    },
    RUN_TIMEOUT_MS,
  );
});

describe('tenant-connect verify usage', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-verify-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('needs --credentials (exit 2) and at least two tenants (exit 1), before sending anything', async () => {
    const missing = await runVerify([]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('error: missing --credentials');

    const one = writeCredentials(dir, [
      {
        environment: 'production',
        tenant: 'acme',
        client_id: 'x',
        client_secret: 'y',
        issuer: 'http://127.0.0.1:9/tenants/acme',
        token_endpoint: 'http://127.0.0.1:9/tenants/acme/connect/token',
        api_base: 'http://127.0.0.1:9/api/v1',
      },
    ]);
    const single = await runVerify(['--credentials', one]);
    expect(single.code).toBe(1);
    expect(single.stderr).toContain('holds 1 tenant credential(s): isolation needs at least two tenants');
    expect(single.stdout).toBe('');
  });
});

/**
 * A deliberately broken deployment on loopback: a real ES256 token endpoint and JWKS, but an API
 * that answers 200 to any token or none, and discovery that builds its URLs from X-Forwarded-Host.
 */
async function startLeakyApi(): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    requests.push(`${req.method} ${url.pathname}`);
    const host = (req.headers['x-forwarded-host'] as string | undefined) ?? req.headers.host ?? '';
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const tenant = /^\/tenants\/([^/]+)/.exec(url.pathname)?.[1] ?? /^\/([^/]+)\/api\/v1\//.exec(url.pathname)?.[1];
    if (req.method === 'POST' && url.pathname.endsWith('/connect/token')) {
      req.resume();
      req.on('end', () => {
        void new SignJWT({ client_id: `client-${tenant}`, scope: 'employees:read' })
          .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
          .setIssuer(`http://${req.headers.host}/tenants/${tenant}`)
          .setSubject(`client-${tenant}`)
          .setAudience(`http://${req.headers.host}`)
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(privateKey)
          .then((token) => send(200, { access_token: token, token_type: 'Bearer', scope: 'employees:read' }));
      });
      return;
    }
    if (url.pathname.endsWith('/.well-known/openid-configuration')) {
      return send(200, {
        issuer: `http://${req.headers.host}/tenants/${tenant}`,
        token_endpoint: `http://${host}/tenants/${tenant}/connect/token`,
        jwks_uri: `http://${req.headers.host}/jwks`,
      });
    }
    if (url.pathname === '/jwks') return send(200, { keys: [jwk] });
    if (url.pathname.endsWith('/employees'))
      return send(200, { data: [{ id: `0190a3b2-0000-7000-8000-${tenant === 'a' ? 'aaaaaaaaaaaa' : 'bbbbbbbbbbbb'}` }] });
    if (url.pathname.includes('/employees/')) return send(200, { id: url.pathname.split('/').pop() });
    send(404, { title: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('tenant-connect verify against a deployment that leaks', () => {
  let fake: Awaited<ReturnType<typeof startLeakyApi>>;
  let dir: string;
  beforeAll(async () => {
    fake = await startLeakyApi();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-verify-'));
  });
  afterAll(async () => {
    await fake?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(
    'exits 1 and marks each broken promise as failed, still one JSON document on stdout, and sends no write',
    async () => {
      const credentials: DemoCredential[] = ['a', 'b'].map((tenant) => ({
        environment: 'production',
        tenant,
        client_id: `client-${tenant}`,
        client_secret: 'secret',
        scope: 'employees:read',
        issuer: `${fake.url}/tenants/${tenant}`,
        token_endpoint: `${fake.url}/tenants/${tenant}/connect/token`,
        api_base: `${fake.url}/${tenant}/api/v1`,
      }));
      const result = await runVerify(['--credentials', writeCredentials(dir, credentials), '--json']);

      expect(result.code).toBe(1);
      const parsed = report(result);
      expect(parsed.ok).toBe(false);
      const byName = (name: string) => parsed.checks.find((c) => c.name === name);
      expect(byName('production/a token on production/b API')).toMatchObject({ expected: '401', observed: '200', result: 'fail' });
      expect(byName('production/b asks for a production/a id (/employees/{id})')).toMatchObject({ observed: '200', result: 'fail' });
      expect(byName('production/a alg none')).toMatchObject({ observed: '200', result: 'fail' });
      expect(byName('production/a HS256 keyed with the public key PEM')).toMatchObject({ observed: '200', result: 'fail' });
      expect(byName('production/a /employees?tenant_id=b')).toMatchObject({ expected: '400', observed: '200', result: 'fail' });
      expect(byName('production/a /employees?access_token=<its own valid token>')).toMatchObject({ observed: '200', result: 'fail' });
      expect(byName('X-Forwarded-Host forged on production/a discovery')).toMatchObject({
        observed: '200, reflected in token_endpoint',
        result: 'fail',
      });
      // the baseline holds: the failures are the server's, not verify's
      expect(byName('production/a token on its own API (/employees)')).toMatchObject({ result: 'pass' });
      expect(parsed.summary.failed).toBe(parsed.checks.filter((c) => c.result === 'fail').length);
      expect(result.stderr).toContain(`error: ${parsed.summary.failed} of ${parsed.summary.checks} checks failed`);
      expect(result.stderr).toContain('- tokens across tenants: production/a token on production/b API: 200');

      // read-only: token requests and GETs, nothing else
      const writes = fake.requests.filter((r) => !r.startsWith('GET ') && !/^POST \/tenants\/[^/]+\/connect\/token$/.test(r));
      expect(writes).toEqual([]);
    },
    RUN_TIMEOUT_MS,
  );
});
