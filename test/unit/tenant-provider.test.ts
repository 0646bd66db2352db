/**
 * createTenantProvider on its own (no database): tokens signed with every algorithm a tenant may
 * choose verify against the JWKS the Provider publishes, which holds no private part; a client
 * record's secrets apply, and a changed record (new secret) or an expired secret takes effect.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientAssertionChecks } from '../../src/auth/client-assertions.ts';
import { generateClientSecret, hashClientSecret } from '../../src/auth/client-secrets.ts';
import {
  createTenantProvider,
  FEATURE_DECISIONS,
  REQUEST_FACTS,
  type RequestFacts,
  type TenantProviderInput,
} from '../../src/auth/provider.ts';
import { generateSigningKey } from '../../src/auth/signing-keys.ts';
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from '../../src/catalog/signing-algorithms.ts';
import type { ReplayDetection } from '../../src/auth/replay-detection.ts';
import type { ClientRecord, TenantKeys } from '../../src/auth/tenant-credentials.ts';
import type { Tenant } from '../../src/tenancy/tenants.ts';

const ISSUER_ORIGIN = 'http://authentication.example.test';
const AUDIENCE = 'http://acme.example.test';

function tenant(slug: string): Tenant {
  return { id: `id-${slug}`, kind: 'tenant', environment: 'production', slug, name: slug, status: 'ACTIVE', settings: {} };
}

function clientRecord(clientId: string, secrets: { hash: string; expiresAt: number | null }[]): ClientRecord {
  return {
    clientId,
    name: clientId,
    authMethods: ['client_secret_basic'],
    scopes: ['employees:read'],
    accessTokenTtl: null,
    tokenQuota: null,
    dpopBoundAccessTokens: false,
    secrets,
    jwks: null,
    jwksUri: null,
  };
}

interface Served {
  readonly port: number;
  readonly records: Map<string, ClientRecord>;
  close(): Promise<void>;
}

function inMemoryReplayDetection(): ReplayDetection {
  const seen = new Set<string>();
  return {
    claim: async (tenantId, iss, jti) => {
      const key = JSON.stringify([tenantId, iss, jti]);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    },
  };
}

async function serve(slug: string, keys: TenantKeys, extra: Partial<TenantProviderInput> = {}): Promise<Served> {
  const records = new Map<string, ClientRecord>();
  const provider = createTenantProvider({
    tenant: tenant(slug),
    issuer: `${ISSUER_ORIGIN}/tenants/${slug}`,
    audience: AUDIENCE,
    keys,
    findClient: async (clientId) => records.get(clientId),
    findPublicKeys: async () => keys.publicKeys,
    jwksCacheSeconds: 300,
    // no database here: proof ids are remembered in this process (test/integration covers the table)
    dpop: { replayDetection: inMemoryReplayDetection(), nonceSecret: Buffer.alloc(32, 1) },
    clientAssertions: createClientAssertionChecks({
      issuer: `${ISSUER_ORIGIN}/tenants/${slug}`,
      maxLifetimeSeconds: 60,
      recordOnce: async () => true,
      remoteKeys: async () => [],
    }),
    ...extra,
  });
  const callback = provider.callback();
  const server = http.createServer((req, res) => {
    // what the authentication host does: the mount path from originalUrl, the canonical Host
    const url = req.url ?? '/';
    Object.assign(req, { originalUrl: `/tenants/${slug}${url}` });
    req.headers.host = 'authentication.example.test';
    req.headers['x-forwarded-proto'] = 'http';
    const facts: RequestFacts = { requestId: String(req.headers['x-request-id'] ?? 'none'), source: '192.0.2.1' };
    Object.assign(req, { [REQUEST_FACTS]: facts });
    void callback(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    records,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function request(port: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function tokenRequest(port: number, clientId: string, secret: string, headers: Record<string, string> = {}) {
  return request(port, '/connect/token', {
    method: 'POST',
    headers: {
      ...headers,
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=employees%3Aread',
  });
}

async function keysFor(alg: SigningAlgorithm): Promise<TenantKeys> {
  const key = await generateSigningKey(alg);
  return { signingKey: key.privateJwk as TenantKeys['signingKey'], publicKeys: [key.publicJwk] };
}

describe('tenant Provider signing', () => {
  it.each(SIGNING_ALGORITHMS)('issues %s tokens that verify against its JWKS, which has no private part', async (alg) => {
    const keys = await keysFor(alg);
    const served = await serve(`signing-${alg.toLowerCase()}`, keys);
    try {
      const secret = generateClientSecret();
      served.records.set('client-a', clientRecord('client-a', [{ hash: hashClientSecret(secret), expiresAt: null }]));
      const token = await tokenRequest(served.port, 'client-a', secret);
      expect(token.status).toBe(200);
      const jwks = await request(served.port, '/.well-known/jwks.json');
      expect(jwks.status).toBe(200);
      const published = jwks.body.keys as Record<string, unknown>[];
      expect(published).toHaveLength(1);
      expect(published[0]).toMatchObject({ kid: keys.signingKey.kid, alg, use: 'sig' });
      for (const privatePart of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(published[0]).not.toHaveProperty(privatePart);

      const { payload, protectedHeader } = await jwtVerify(token.body.access_token as string, createLocalJWKSet(jwks.body as never), {
        issuer: `${ISSUER_ORIGIN}/tenants/signing-${alg.toLowerCase()}`,
        audience: AUDIENCE,
        typ: 'at+jwt',
        algorithms: [alg],
      });
      expect(protectedHeader).toMatchObject({ alg, typ: 'at+jwt', kid: keys.signingKey.kid });
      expect(payload).toMatchObject({ client_id: 'client-a', sub: 'client-a', scope: 'employees:read' });
    } finally {
      await served.close();
    }
  });
});

describe('tenant Provider clients', () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve('clients', await keysFor('ES256'));
  });
  afterAll(() => served.close());

  it('accepts the secret of the record it is given, and a rotated one as soon as the record changes', async () => {
    const [first, second] = [generateClientSecret(), generateClientSecret()];
    served.records.set('client-b', clientRecord('client-b', [{ hash: hashClientSecret(first), expiresAt: null }]));
    expect((await tokenRequest(served.port, 'client-b', first)).status).toBe(200);
    expect((await tokenRequest(served.port, 'client-b', first)).status).toBe(200);
    expect((await tokenRequest(served.port, 'client-b', second)).status).toBe(401);

    // a new record (what the credential cache returns after an invalidation)
    served.records.set('client-b', clientRecord('client-b', [{ hash: hashClientSecret(second), expiresAt: null }]));
    expect((await tokenRequest(served.port, 'client-b', second)).status).toBe(200);
    expect((await tokenRequest(served.port, 'client-b', first)).status).toBe(401);
  });

  it('stops accepting a secret when it expires, though the record object stays the same', async () => {
    const [expiring, lasting] = [generateClientSecret(), generateClientSecret()];
    const soon = Math.floor(Date.now() / 1000) + 2;
    served.records.set(
      'client-c',
      clientRecord('client-c', [
        { hash: hashClientSecret(expiring), expiresAt: soon },
        { hash: hashClientSecret(lasting), expiresAt: null },
      ]),
    );
    expect((await tokenRequest(served.port, 'client-c', expiring)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, (soon + 1) * 1000 - Date.now()));
    expect((await tokenRequest(served.port, 'client-c', expiring)).status).toBe(401);
    expect((await tokenRequest(served.port, 'client-c', lasting)).status).toBe(200);
  });

  it('answers invalid_client for an unknown client', async () => {
    const response = await tokenRequest(served.port, 'nobody', generateClientSecret());
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('invalid_client');
  });
});

describe('tenant Provider configuration', () => {
  it('decides every feature oidc-provider turns on by default, so an upgrade cannot turn one on silently', async () => {
    // the library's own defaults module (internal, untyped: imported by a name TypeScript does not resolve)
    const defaultsModule = 'oidc-provider/lib/helpers/defaults.js';
    const { defaults } = (await import(defaultsModule)) as { defaults: { features: Record<string, { enabled: boolean }> } };
    const onByDefault = Object.entries(defaults.features)
      .filter(([, feature]) => feature.enabled)
      .map(([name]) => name)
      .sort();
    expect(onByDefault).toEqual([
      'dPoP',
      'devInteractions',
      'pushedAuthorizationRequests',
      'resourceIndicators',
      'rpInitiatedLogout',
      'userinfo',
    ]);
    const decided = FEATURE_DECISIONS as Record<string, { enabled: boolean }>;
    for (const name of onByDefault) expect(typeof decided[name]?.enabled, name).toBe('boolean');
    expect(decided.dPoP).toEqual({ enabled: true, allowReplay: false });
  });
});

describe('tenant Provider error logs', () => {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  let served: Served;
  let failing = false;
  beforeAll(async () => {
    const keys = await keysFor('ES256');
    served = await serve('logged', keys, {
      log,
      findClient: async (clientId) => {
        if (failing) throw new Error('the database went away');
        return served.records.get(clientId);
      },
    });
  });
  afterAll(() => served.close());

  it('logs a refused token request with tenant, environment, the client id as presented and the request id, never the secret', async () => {
    const secret = generateClientSecret();
    served.records.set('client-l', clientRecord('client-l', [{ hash: hashClientSecret(generateClientSecret()), expiresAt: null }]));
    lines.length = 0;
    expect((await tokenRequest(served.port, 'client-l', secret, { 'x-request-id': 'req-refused' })).status).toBe(401);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'token request refused',
        tenant: 'logged',
        environment: 'production',
        route: 'token',
        client_id: 'client-l',
        request_id: 'req-refused',
        status: 401,
        error: 'invalid_client',
        detail: 'invalid secret provided',
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain(secret);
  });

  it('logs a 500 (server_error) on the token path with the same fields and the cause', async () => {
    lines.length = 0;
    failing = true;
    try {
      const secret = generateClientSecret();
      const response = await tokenRequest(served.port, 'client-unreadable', secret, { 'x-request-id': 'req-500' });
      expect(response).toEqual({ status: 500, body: { error: 'server_error', error_description: 'oops! something went wrong' } });
      expect(lines).toEqual([
        expect.objectContaining({
          level: 50,
          msg: 'oidc-provider server_error',
          tenant: 'logged',
          environment: 'production',
          route: 'token',
          client_id: 'client-unreadable',
          request_id: 'req-500',
          err: expect.objectContaining({ message: 'the database went away' }),
        }),
      ]);
      expect(JSON.stringify(lines)).not.toContain(secret);
    } finally {
      failing = false;
    }
  });
});
