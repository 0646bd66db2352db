/**
 * Cross-instance invalidation with two real server processes on one Postgres: every admin change
 * made through instance A takes effect in instance B, whose caches were warm, within a second.
 * Postgres only (PGlite is one process by design); runs when TEST_DATABASE_URL is set.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminCredentialsFile } from '../../src/admin/operator/bootstrap.ts';
import { createFreshDatabase, type FreshDatabase } from '../helpers/databases.ts';
import { issuedAccessToken, requestClientCredentials } from '../helpers/admin.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePort, type ServerProcess, startServerProcess, stopServerProcess } from '../helpers/processes.ts';
import { loopbackFetch } from '../helpers/server.ts';

describe.skipIf(!process.env.TEST_DATABASE_URL)('two server processes on one Postgres', () => {
  let database: FreshDatabase;
  let dataDir: string;
  const instances: { process: ServerProcess; port: number }[] = [];
  let adminToken: string;
  let admin: AdminCredentialsFile['environments'][string];

  const a = () => instances[0]?.port ?? 0;
  const b = () => instances[1]?.port ?? 0;
  const tokenUrl = (port: number) => `http://authentication.connect.localhost:${port}/tenants/twinco/connect/token`;
  const apiUrl = (port: number) => `http://twinco.connect.localhost:${port}/api/v1/employees?limit=1`;

  const token = (port: number, clientId: string, secret: string) => requestClientCredentials(tokenUrl(port), clientId, secret);

  const api = async (port: number, accessToken: string) =>
    (await loopbackFetch(apiUrl(port), { headers: { authorization: `Bearer ${accessToken}` } })).status;
  async function onA(method: string, pathname: string, body?: unknown) {
    const response = await loopbackFetch(`http://admin.connect.localhost:${a()}/v1${pathname}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status >= 300) throw new Error(`${method} ${pathname}: ${response.status} ${await response.text()} (token ${adminToken})`);
    return (await response.json()) as Record<string, unknown>;
  }

  beforeAll(async () => {
    database = await createFreshDatabase('postgres');
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-two-'));
    const env = {
      DATABASE_URL: database.url ?? '',
      DATA_DIR: dataDir,
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
      SEED_DEMO: 'false',
      // both instances serve the same public URLs (issuer, audience), as behind one load balancer
      PUBLIC_PORT: '80',
    };
    // one after the other: the second finds the platform and its admin client already there
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const started = startServerProcess({ ...env, PORT: String(port) });
      instances.push({ process: started, port });
      await started.ready;
    }
    const file = JSON.parse(fs.readFileSync(path.join(dataDir, 'admin-credentials.json'), 'utf8')) as AdminCredentialsFile;
    admin = file.environments.production as typeof admin;
    adminToken = await issuedAccessToken(
      admin.token_endpoint.replace('.localhost/', `.localhost:${a()}/`),
      admin.client_id,
      admin.client_secret,
    );
  }, 60_000);

  afterAll(async () => {
    for (const instance of instances) await stopServerProcess(instance.process.child);
    await database?.drop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('applies suspend, activate, secret rotation, disable, settings and delete made on A to B within 1 s', async () => {
    await onA('POST', '/tenants', { slug: 'twinco', name: 'Twin Co' });
    const client = (await onA('POST', '/tenants/twinco/clients', { name: 'sync', scopes: ['employees:read'] })) as {
      client_id: string;
      client_secret: string;
    };
    // B's caches are warm: its Provider, client record, keys and a verified token
    const issued = await token(b(), client.client_id, client.client_secret);
    expect(issued.status).toBe(200);
    const accessToken = issued.body.access_token as string;
    expect(await api(b(), accessToken)).toBe(200);

    const elapsed: Record<string, number> = {};
    await onA('POST', '/tenants/twinco/suspend');
    elapsed.suspend = await eventually(async () => {
      expect(await token(b(), client.client_id, client.client_secret)).toEqual({
        status: 400,
        body: { error: 'unauthorized_client', error_description: 'tenant is not active' },
      });
      expect(await api(b(), accessToken)).toBe(403);
    });
    await onA('POST', '/tenants/twinco/activate');
    elapsed.activate = await eventually(async () => expect(await api(b(), accessToken)).toBe(200));

    await onA('PATCH', '/tenants/twinco', { settings: { access_token_ttl: 120 } });
    elapsed.settings = await eventually(async () =>
      expect((await token(b(), client.client_id, client.client_secret)).body.expires_in).toBe(120),
    );

    const rotated = (await onA('POST', `/tenants/twinco/clients/${client.client_id}/rotate-secret`, { expires_in: 0 })) as {
      client_secret: string;
    };
    elapsed.rotate = await eventually(async () => {
      expect((await token(b(), client.client_id, client.client_secret)).body).toMatchObject({ error: 'invalid_client' });
      expect((await token(b(), client.client_id, rotated.client_secret)).status).toBe(200);
    });

    await onA('POST', `/tenants/twinco/clients/${client.client_id}/disable`);
    elapsed.disable = await eventually(async () => expect(await api(b(), accessToken)).toBe(401));

    await onA('DELETE', '/tenants/twinco');
    elapsed.delete = await eventually(async () => {
      const discovery = await loopbackFetch(
        `http://authentication.connect.localhost:${b()}/tenants/twinco/.well-known/openid-configuration`,
      );
      expect(discovery.status).toBe(404);
    });
    for (const [change, ms] of Object.entries(elapsed)) expect(ms, change).toBeLessThan(1000);
  });

  it('refuses on B within 1 s a token revoked on A, by the client (RFC 7009) and by an operator (revoke-tokens)', async () => {
    await onA('POST', '/tenants', { slug: 'revokeco', name: 'Revoke Co' });
    const client = (await onA('POST', '/tenants/revokeco/clients', { name: 'sync', scopes: ['employees:read'] })) as {
      client_id: string;
      client_secret: string;
    };
    const url = (port: number, pathname: string) =>
      `http://${pathname.startsWith('/api') ? 'revokeco' : 'authentication'}.connect.localhost:${port}${pathname}`;
    const tokenOn = async (port: number) => {
      const issued = await requestClientCredentials(url(port, '/tenants/revokeco/connect/token'), client.client_id, client.client_secret);
      return issued.body.access_token as string;
    };
    const apiOn = async (port: number, accessToken: string) =>
      (await loopbackFetch(url(port, '/api/v1/employees?limit=1'), { headers: { authorization: `Bearer ${accessToken}` } })).status;

    // B's caches are warm: its Provider, the client, the keys, the tenant's revocation list, the verified tokens
    const revokedByClient = await tokenOn(b());
    const revokedByOperator = await tokenOn(b());
    expect(await apiOn(b(), revokedByClient)).toBe(200);
    expect(await apiOn(b(), revokedByOperator)).toBe(200);

    const revocation = await loopbackFetch(url(a(), '/tenants/revokeco/connect/revocation'), {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: revokedByClient }).toString(),
    });
    expect(revocation.status).toBe(200);
    const elapsed: Record<string, number> = {};
    elapsed.revocation = await eventually(async () => expect(await apiOn(b(), revokedByClient)).toBe(401));
    expect(await apiOn(b(), revokedByOperator)).toBe(200);

    await onA('POST', `/tenants/revokeco/clients/${client.client_id}/revoke-tokens`);
    elapsed.revokeTokens = await eventually(async () => expect(await apiOn(b(), revokedByOperator)).toBe(401));
    for (const [change, ms] of Object.entries(elapsed)) expect(ms, change).toBeLessThan(1000);
  });

  it('refuses on B a client assertion used on A, and B takes keys replaced on A within 1 s', async () => {
    await onA('POST', '/tenants', { slug: 'twinsign', name: 'Twin Sign' });
    const first = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = async (pair: typeof first, kid: string) => ({ ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256' });
    const client = (await onA('POST', '/tenants/twinsign/clients', {
      name: 'signed',
      scopes: ['employees:read'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [await publicJwk(first, 'first')] },
    })) as { client_id: string };
    // both instances serve the public URLs of PUBLIC_PORT 80: one issuer
    const issuer = 'http://authentication.connect.localhost/tenants/twinsign';
    const signed = (pair: typeof first, kid: string) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: client.client_id, sub: client.client_id, aud: issuer, jti: randomUUID(), iat: now, exp: now + 30 })
        .setProtectedHeader({ alg: 'ES256', kid })
        .sign(pair.privateKey);
    };
    const present = async (port: number, assertion: string) => {
      const response = await loopbackFetch(`http://authentication.connect.localhost:${port}/tenants/twinsign/connect/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }).toString(),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };

    const once = await signed(first, 'first');
    expect((await present(a(), once)).status).toBe(200);
    expect(await present(b(), once)).toEqual({
      status: 401,
      body: { error: 'invalid_client', error_description: 'client authentication failed' },
    });

    const second = await generateKeyPair('ES256', { extractable: true });
    await onA('PUT', `/tenants/twinsign/clients/${client.client_id}/jwks`, { jwks: { keys: [await publicJwk(second, 'second')] } });
    const elapsed = await eventually(async () => {
      expect((await present(b(), await signed(second, 'second'))).status).toBe(200);
      expect((await present(b(), await signed(first, 'first'))).status).toBe(401);
    });
    expect(elapsed).toBeLessThan(1000);
  });
});
