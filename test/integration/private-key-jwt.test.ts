/**
 * private_key_jwt (RFC 7523) end to end: clients registered through the admin API with an inline
 * JWK Set or a jwks_uri, tokens obtained with openid-client's PrivateKeyJwt and with hand-made
 * jose assertions, and every refusal: 401 invalid_client with the generic description, the reason
 * in the log only.
 */
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { JWK } from 'jose';
import * as openid from 'openid-client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, type AdminClient, platformCredential } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { assertion, nowSeconds, presentAssertion, type SigningKey, signingKey } from '../helpers/client-assertions.ts';
import { loopbackFetch, startTestServer, type TestServer } from '../helpers/server.ts';

const REFUSED = { error: 'invalid_client', error_description: 'client authentication failed' };

/** Log records written by the server under test, to find the reason of a refusal. */
function capturedLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  /** the reason logged for the last refused token request of this client */
  const reasonFor = (clientId: string) =>
    String(lines.filter((l) => l.msg === 'token request refused' && l.client_id === clientId).at(-1)?.detail);
  return { log: pino({ level: 'info' }, stream), lines, reasonFor };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Retries `attempt` (a change notification is asynchronous) until it answers `status`, for at most a second. */
async function withinASecond(attempt: () => Promise<number>, status: number): Promise<number> {
  let seen = await attempt();
  for (let i = 0; i < 20 && seen !== status; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    seen = await attempt();
  }
  return seen;
}

describe.each(testDatabaseKinds())('private_key_jwt on %s', (kind) => {
  let server: TestServer;
  let admin: AdminClient;
  let skewMs = 0;
  const captured = capturedLog();
  const sandbox = () => server.credential('sandbox', 'acme');
  const present = (jwt: string, tokenEndpoint = sandbox().token_endpoint) => presentAssertion(server, tokenEndpoint, jwt);

  async function createKeyClient(body: Record<string, unknown>, slug = 'acme', caller?: AdminClient) {
    const created = await (caller ?? admin).call('POST', `/tenants/${slug}/clients`, {
      name: 'signed assertions',
      scopes: ['employees:read'],
      token_endpoint_auth_method: 'private_key_jwt',
      ...body,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body as { client_id: string } & Record<string, unknown>;
  }

  beforeAll(async () => {
    server = await startTestServer(kind, { log: captured.log, now: () => Date.now() + skewMs });
    admin = await adminClient(server, { environment: 'sandbox' });
  });
  afterAll(async () => {
    await server?.close();
  });

  describe('with an inline JWK Set', () => {
    let key: SigningKey;
    let clientId: string;

    beforeAll(async () => {
      key = await signingKey('ES256');
      clientId = (await createKeyClient({ jwks: { keys: [key.publicJwk] } })).client_id;
    });

    it('is registered without a secret and shows its public keys', async () => {
      const shown = await admin.call('GET', `/tenants/acme/clients/${clientId}`);
      expect(shown.body).toMatchObject({
        client_id: clientId,
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [key.publicJwk] },
        jwks_uri: null,
        secrets: [],
      });
      expect(shown.body).not.toHaveProperty('client_secret');
    });

    it('gets a token through openid-client (PrivateKeyJwt), discovering the issuer, and calls the API with it', async () => {
      const config = await openid.discovery(
        new URL(sandbox().issuer),
        clientId,
        undefined,
        openid.PrivateKeyJwt({ key: key.privateKey, kid: key.publicJwk.kid }),
        { [openid.customFetch]: loopbackFetch, execute: [openid.allowInsecureRequests] },
      );
      expect(config.serverMetadata().token_endpoint_auth_methods_supported).toContain('private_key_jwt');
      expect(config.serverMetadata().token_endpoint_auth_signing_alg_values_supported).toEqual(['ES256', 'EdDSA', 'PS256', 'RS256']);
      const tokens = await openid.clientCredentialsGrant(config, { scope: 'employees:read' });
      expect(tokens.token_type.toLowerCase()).toBe('bearer');
      const api = await server.fetch(`${sandbox().api_base}/employees?limit=1`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      });
      expect(api.status).toBe(200);
    });

    it('gets a token with a plain jose assertion, aud = the issuer', async () => {
      const answer = await present(await assertion(key, clientId, sandbox().issuer));
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ token_type: 'Bearer', scope: 'employees:read' });
    });

    it('accepts each other asymmetric algorithm: EdDSA, PS256, RS256', async () => {
      for (const alg of ['EdDSA', 'PS256', 'RS256'] as const) {
        const other = await signingKey(alg);
        const created = await createKeyClient({ jwks: { keys: [other.publicJwk] } });
        expect((await present(await assertion(other, created.client_id, sandbox().issuer))).status, alg).toBe(200);
      }
    });

    const refusals: [string, (k: SigningKey, id: string) => Promise<string>, RegExp][] = [
      ['aud as an array holding the issuer', (k, id) => assertion(k, id, [sandbox().issuer]), /single string/],
      ['aud = the token endpoint URL', (k, id) => assertion(k, id, sandbox().token_endpoint), /aud must be the issuer/],
      [
        "aud = the other environment's issuer",
        (k, id) => assertion(k, id, server.credential('production', 'acme').issuer),
        /audience \(aud\) must equal|aud must be the issuer/,
      ],
      [
        "aud = another tenant's issuer",
        (k, id) => assertion(k, id, server.credential('sandbox', 'globex').issuer),
        /audience \(aud\) must equal|aud must be the issuer/,
      ],
      ['expired', (k, id) => assertion(k, id, sandbox().issuer, { iat: nowSeconds() - 120, exp: nowSeconds() - 60 }), /exp/],
      [
        'too long-lived (an hour)',
        (k, id) => assertion(k, id, sandbox().issuer, { iat: nowSeconds(), exp: nowSeconds() + 3600 }),
        /lives 3600 s; at most 60 s/,
      ],
      ['iss is not the client (sub is)', (k, id) => assertion(k, id, sandbox().issuer, { iss: 'someone-else' }), /iss/],
      ['no jti', (k, id) => assertion(k, id, sandbox().issuer, { jti: undefined }), /jti/],
      [
        'unknown kid (signed by a key the client never registered)',
        async (_k, id) => assertion(await signingKey('ES256', 'not-registered'), id, sandbox().issuer),
        /no applicable key|matching/i,
      ],
      [
        'the registered kid, signed by another key',
        async (k, id) => assertion({ ...(await signingKey('ES256')), publicJwk: k.publicJwk }, id, sandbox().issuer),
        /signature/i,
      ],
      [
        'HS256 signed with the public key as its secret',
        async (k, id) => {
          const now = nowSeconds();
          const input = `${b64({ alg: 'HS256', kid: k.publicJwk.kid })}.${b64({ iss: id, sub: id, aud: sandbox().issuer, jti: randomUUID(), iat: now, exp: now + 30 })}`;
          return `${input}.${createHmac('sha256', JSON.stringify(k.publicJwk)).update(input).digest('base64url')}`;
        },
        /alg/,
      ],
      [
        'alg none',
        async (_k, id) => {
          const now = nowSeconds();
          return `${b64({ alg: 'none' })}.${b64({ iss: id, sub: id, aud: sandbox().issuer, jti: randomUUID(), iat: now, exp: now + 30 })}.`;
        },
        /alg/,
      ],
    ];

    it.each(refusals)('refuses %s with 401 invalid_client, the reason only in the log', async (_name, make, reason) => {
      // a client of its own: the failed-authentication throttle counts per client and source
      const own = await signingKey('ES256');
      const { client_id: ownId } = await createKeyClient({ jwks: { keys: [own.publicJwk] } });
      const answer = await present(await make(own, ownId));
      expect(answer).toEqual({ status: 401, body: REFUSED });
      expect(captured.reasonFor(ownId)).toMatch(reason);
    });

    it('refuses a replayed assertion: the first use works, the second is 401 invalid_client', async () => {
      const own = await signingKey('ES256');
      const { client_id: ownId } = await createKeyClient({ jwks: { keys: [own.publicJwk] } });
      const once = await assertion(own, ownId, sandbox().issuer);
      expect((await present(once)).status).toBe(200);
      expect(await present(once)).toEqual({ status: 401, body: REFUSED });
      expect(captured.reasonFor(ownId)).toMatch(/used before/);
    });

    it('records each jti once, atomically: of ten concurrent uses of one assertion exactly one gets a token', async () => {
      const own = await signingKey('ES256');
      const { client_id: ownId } = await createKeyClient({ jwks: { keys: [own.publicJwk] } });
      const once = await assertion(own, ownId, sandbox().issuer);
      const answers = await Promise.all(Array.from({ length: 10 }, () => present(once)));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
      expect(answers.filter((a) => a.status === 401 && a.body.error === 'invalid_client')).toHaveLength(9);
    });

    it("refuses the assertion at another tenant's and at the other environment's token endpoint", async () => {
      for (const [environment, slug] of [
        ['sandbox', 'globex'],
        ['production', 'acme'],
      ] as const) {
        const elsewhere = server.credential(environment, slug);
        // aud names the issuer it is presented to: only the client is foreign there
        const answer = await present(await assertion(key, clientId, elsewhere.issuer), elsewhere.token_endpoint);
        expect(answer, `${environment}/${slug}`).toEqual({ status: 401, body: REFUSED });
      }
    });

    it('refuses a client secret from a private_key_jwt client, and an assertion from a secret client', async () => {
      const { client_id: clientId } = await createKeyClient({ jwks: { keys: [key.publicJwk] } });
      const basic = await server.fetch(sandbox().token_endpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${clientId}:tcs_anything`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
      });
      expect(basic.status).toBe(401);
      expect(await basic.json()).toEqual(REFUSED);
      const secretClient = sandbox().client_id;
      expect(await present(await assertion(key, secretClient, sandbox().issuer))).toEqual({ status: 401, body: REFUSED });
    });

    it('keeps a row per used jti, in the tenant, until the assertion expires', async () => {
      const [tenant] = await server.booted.db.admin.query<{ id: string }>(
        `SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`,
      );
      const rows = await server.booted.db.admin.scoped(tenant?.id ?? '', (tx) =>
        tx.query<{ ttl: number }>(
          `SELECT extract(epoch FROM expires_at - now())::int AS ttl FROM client_assertion_jtis WHERE client_id = $1`,
          [clientId],
        ),
      );
      expect(rows.length).toBeGreaterThan(0);
      // at most the longest accepted life (60 s) plus oidc-provider's clock tolerance (15 s)
      for (const row of rows) expect(row.ttl).toBeLessThanOrEqual(75);
    });

    it('deletes expired jti rows of the tenant as new ones come, a few per insert', async () => {
      const [tenant] = await server.booted.db.admin.query<{ id: string }>(
        `SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`,
      );
      const tenantId = tenant?.id ?? '';
      const expired = () =>
        server.booted.db.admin.scoped(tenantId, (tx) =>
          // the oldest expired rows go first: these, an hour old, before any of this run's own
          tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM client_assertion_jtis WHERE client_id = 'long-gone'`),
        );
      await server.booted.db.admin.scoped(tenantId, (tx) =>
        tx.query(
          `INSERT INTO client_assertion_jtis (tenant_id, client_id, jti_hash, expires_at)
           SELECT $1, 'long-gone', 'old-' || g, now() - interval '1 hour' FROM generate_series(1, 6) AS g`,
          [tenantId],
        ),
      );
      expect((await expired())[0]?.n).toBe(6);
      expect((await present(await assertion(key, clientId, sandbox().issuer))).status).toBe(200);
      expect((await expired())[0]?.n).toBe(2);
      expect((await present(await assertion(key, clientId, sandbox().issuer))).status).toBe(200);
      expect((await expired())[0]?.n).toBe(0);
    });

    it('replaces the keys with PUT …/jwks: the new key works within a second, the old one no more (audited)', async () => {
      const next = await signingKey('ES256');
      const changed = await admin.call('PUT', `/tenants/acme/clients/${clientId}/jwks`, { jwks: { keys: [next.publicJwk] } });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ jwks: { keys: [next.publicJwk] }, jwks_uri: null });
      expect(await withinASecond(async () => (await present(await assertion(next, clientId, sandbox().issuer))).status, 200)).toBe(200);
      expect((await present(await assertion(key, clientId, sandbox().issuer))).status).toBe(401);
      const audit = await admin.call<{ data: { action: string; target: { id: string } }[] }>(
        'GET',
        '/audit-events?tenant=acme&action=client.set_keys',
      );
      expect(audit.body.data.map((e) => [e.action, e.target.id])).toContainEqual(['client.set_keys', clientId]);
      key = next;
    });
  });

  describe('registration', () => {
    it.each([
      ['a private key (d)', (jwk: JWK) => ({ jwks: { keys: [{ ...jwk, d: 'AAAA' }] } }), '/jwks'],
      ['a symmetric key', () => ({ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }), '/jwks'],
      ['no keys at all', () => ({}), '/jwks'],
      ['both jwks and jwks_uri', (jwk: JWK) => ({ jwks: { keys: [jwk] }, jwks_uri: 'https://keys.example/jwks.json' }), '/jwks_uri'],
      ['a jwks_uri with a private address', () => ({ jwks_uri: 'https://10.0.0.8/jwks.json' }), '/jwks_uri'],
      ['a jwks_uri that is not https', () => ({ jwks_uri: 'http://keys.example/jwks.json' }), '/jwks_uri'],
    ])('refuses %s with 422 naming the member', async (_name, body, pointer) => {
      const key = await signingKey('ES256');
      const answer = await admin.call('POST', '/tenants/acme/clients', {
        name: 'refused',
        scopes: ['employees:read'],
        token_endpoint_auth_method: 'private_key_jwt',
        ...body(key.publicJwk),
      });
      expect(answer.status).toBe(422);
      expect(answer.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(JSON.stringify(answer.body)).toContain(pointer);
    });

    it('refuses keys for a secret client, and switching to private_key_jwt before keys exist', async () => {
      const key = await signingKey('ES256');
      const withKeys = await admin.call('POST', '/tenants/acme/clients', {
        name: 'secret with keys',
        scopes: ['employees:read'],
        jwks: { keys: [key.publicJwk] },
      });
      expect(withKeys.status).toBe(422);
      const switched = await admin.call('PATCH', `/tenants/acme/clients/${sandbox().client_id}`, {
        token_endpoint_auth_method: 'private_key_jwt',
      });
      expect(switched.status).toBe(422);
      expect(switched.body).toMatchObject({ detail: expect.stringContaining(`/clients/${sandbox().client_id}/jwks`) });
    });

    it('lets a tenant:admin client register a private_key_jwt client of its own tenant only', async () => {
      const self = await admin.call<{ client_id: string; client_secret: string }>('POST', '/tenants/acme/clients', {
        name: 'self-service',
        scopes: ['tenant:admin'],
      });
      const config = await openid.discovery(
        new URL(sandbox().issuer),
        self.body.client_id,
        undefined,
        openid.ClientSecretBasic(self.body.client_secret),
        { [openid.customFetch]: loopbackFetch, execute: [openid.allowInsecureRequests] },
      );
      const token = (await openid.clientCredentialsGrant(config, { scope: 'tenant:admin' })).access_token;
      const tenantAdmin = await adminClient(server, { environment: 'sandbox', token });
      const key = await signingKey('EdDSA');
      const own = await createKeyClient({ jwks: { keys: [key.publicJwk] } }, 'acme', tenantAdmin);
      expect(own.token_endpoint_auth_method).toBe('private_key_jwt');
      const foreign = await tenantAdmin.call('POST', '/tenants/globex/clients', {
        name: 'foreign',
        scopes: ['employees:read'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [key.publicJwk] },
      });
      expect(foreign.status).toBe(404);
    });
  });

  describe('with a jwks_uri (loopback allowed, as in development)', () => {
    let keysServer: http.Server;
    let served: JWK[] = [];
    let fetches = 0;
    let jwksUri: string;

    beforeAll(async () => {
      keysServer = http.createServer((_req, res) => {
        fetches += 1;
        res.setHeader('content-type', 'application/json');
        // a day's max-age, which must not keep a set here beyond 10 minutes
        res.setHeader('cache-control', 'max-age=86400');
        res.end(JSON.stringify({ keys: served }));
      });
      await new Promise<void>((resolve) => keysServer.listen(0, '127.0.0.1', resolve));
      jwksUri = `http://127.0.0.1:${(keysServer.address() as AddressInfo).port}/jwks.json`;
    });
    afterAll(async () => {
      skewMs = 0;
      await new Promise<void>((resolve) => keysServer.close(() => resolve()));
    });

    it('fetches the set once, refetches for an unknown kid at most once a minute, and keeps a set at most 10 minutes', async () => {
      const first = await signingKey('ES256');
      served = [first.publicJwk];
      const { client_id: clientId } = await createKeyClient({ jwks_uri: jwksUri });
      const statusWith = async (k: SigningKey) => (await present(await assertion(k, clientId, sandbox().issuer))).status;

      expect(await statusWith(first)).toBe(200);
      expect(await statusWith(first)).toBe(200);
      expect(fetches).toBe(1);

      // the client rotates: its new kid is unknown here, and the set was fetched less than a minute ago
      const second = await signingKey('ES256');
      served = [first.publicJwk, second.publicJwk];
      expect(await statusWith(second)).toBe(401);
      expect(captured.reasonFor(clientId)).toMatch(/no applicable key|matching/i);
      expect(fetches).toBe(1);

      skewMs += 61_000; // a minute later the unknown kid refetches, once
      expect(await statusWith(second)).toBe(200);
      expect(fetches).toBe(2);
      const stranger = await signingKey('ES256', 'never-published');
      expect(await statusWith(stranger)).toBe(401);
      expect(await statusWith(stranger)).toBe(401);
      expect(fetches).toBe(2);

      skewMs += 10 * 60_000; // older than 10 minutes, whatever its max-age said: fetched again
      expect(await statusWith(first)).toBe(200);
      expect(fetches).toBe(3);
    });

    it('takes a new jwks_uri from PUT …/jwks within a second', async () => {
      const key = await signingKey('PS256');
      const { client_id: clientId } = await createKeyClient({ jwks: { keys: [(await signingKey('ES256')).publicJwk] } });
      served = [key.publicJwk];
      const changed = await admin.call('PUT', `/tenants/acme/clients/${clientId}/jwks`, { jwks_uri: jwksUri });
      expect(changed.body).toMatchObject({ jwks: null, jwks_uri: jwksUri });
      expect(await withinASecond(async () => (await present(await assertion(key, clientId, sandbox().issuer))).status, 200)).toBe(200);
    });

    it('refuses the assertion when the jwks_uri serves a private key', async () => {
      const key = await signingKey('ES256');
      const { client_id: clientId } = await createKeyClient({ jwks_uri: jwksUri });
      served = [{ ...key.publicJwk, d: 'private' } as JWK];
      expect(await present(await assertion(key, clientId, sandbox().issuer))).toEqual({ status: 401, body: REFUSED });
      expect(captured.reasonFor(clientId)).toMatch(/private member "d"/);
    });
  });

  it('serves the platform issuer too: a private_key_jwt platform admin client calls the admin API', async () => {
    const production = await adminClient(server, { environment: 'production' });
    const key = await signingKey('RS256');
    const { client_id: clientId } = await createKeyClient(
      { jwks: { keys: [key.publicJwk] }, scopes: ['platform:admin'] },
      'platform',
      production,
    );
    const tokenEndpoint = platformCredential(server, 'production').token_endpoint;
    const issuer = tokenEndpoint.replace(/\/connect\/token$/, '');
    const metadata = (await (await server.fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata.token_endpoint_auth_methods_supported).toContain('private_key_jwt');
    const answer = await presentAssertion(server, tokenEndpoint, await assertion(key, clientId, issuer), 'platform:admin');
    expect(answer.status).toBe(200);
    const asAdmin = await adminClient(server, { environment: 'production', token: answer.body.access_token as string });
    expect((await asAdmin.call('GET', '/tenants')).status).toBe(200);
  });

  it('sandbox sync copies the key reference: the same private key signs for the sandbox issuer', async () => {
    const production = await adminClient(server, { environment: 'production' });
    const key = await signingKey('ES256');
    const { client_id: clientId } = await createKeyClient({ jwks: { keys: [key.publicJwk] } }, 'acme', production);
    const synced = await production.call('POST', '/tenants/acme/sandbox-sync');
    expect(synced.status).toBe(200);
    const mirrored = await admin.call('GET', `/tenants/acme/clients/${clientId}`);
    expect(mirrored.body).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] }, jwks_uri: null });
    expect((await present(await assertion(key, clientId, sandbox().issuer))).status).toBe(200);
    // each environment accepts only its own issuer as aud
    expect((await present(await assertion(key, clientId, server.credential('production', 'acme').issuer))).status).toBe(401);
  });

  it.runIf(kind === 'postgres')('refuses an assertion replayed to a second instance on the same Postgres', async () => {
    const second = await startTestServer(kind, { sharedDatabase: server });
    try {
      const key = await signingKey('ES256');
      const { client_id: clientId } = await createKeyClient({ jwks: { keys: [key.publicJwk] } });
      const once = await assertion(key, clientId, sandbox().issuer);
      expect((await present(once)).status).toBe(200);
      expect(await presentAssertion(second, sandbox().token_endpoint, once)).toEqual({ status: 401, body: REFUSED });
      // and the other way round
      const another = await assertion(key, clientId, sandbox().issuer);
      expect((await presentAssertion(second, sandbox().token_endpoint, another)).status).toBe(200);
      expect(await present(another)).toEqual({ status: 401, body: REFUSED });
    } finally {
      await second.close();
    }
  });
});

describe.each(testDatabaseKinds())('private_key_jwt jwks_uri where loopback is not allowed, on %s', (kind) => {
  let server: TestServer;
  let keysServer: http.Server;
  let fetches = 0;
  let port = 0;
  const captured = capturedLog();

  beforeAll(async () => {
    server = await startTestServer(kind, { env: { WEBHOOK_ALLOW_LOOPBACK: 'false' }, log: captured.log });
    keysServer = http.createServer((_req, res) => {
      fetches += 1;
      res.end('{"keys":[]}');
    });
    await new Promise<void>((resolve) => keysServer.listen(0, '127.0.0.1', resolve));
    port = (keysServer.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => keysServer?.close(() => resolve()));
    await server?.close();
  });

  it('refuses to register a loopback jwks_uri (422)', async () => {
    const admin = await adminClient(server, { environment: 'sandbox' });
    for (const uri of [
      `http://127.0.0.1:${port}/jwks.json`,
      `https://127.0.0.1:${port}/jwks.json`,
      `https://localhost:${port}/jwks.json`,
    ]) {
      const answer = await admin.call('POST', '/tenants/acme/clients', {
        name: 'loopback keys',
        scopes: ['employees:read'],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks_uri: uri,
      });
      expect(answer.status, uri).toBe(422);
      expect(JSON.stringify(answer.body)).toMatch(/must not point at this machine/);
    }
  });

  it('refuses, at fetch time, a stored jwks_uri that points at loopback: 401 invalid_client, nothing fetched', async () => {
    const admin = await adminClient(server, { environment: 'sandbox' });
    const key = await signingKey('ES256');
    const created = await admin.call<{ client_id: string }>('POST', '/tenants/acme/clients', {
      name: 'keys moved',
      scopes: ['employees:read'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks_uri: 'https://keys.example/jwks.json',
    });
    expect(created.status).toBe(201);
    const clientId = created.body.client_id;
    // written past the admin API (a row from a deployment that allowed loopback, or psql), before
    // any token request: nothing ever resolves keys.example
    const [tenant] = await server.booted.db.admin.query<{ id: string }>(
      `SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`,
    );
    await server.booted.db.admin.scoped(tenant?.id ?? '', (tx) =>
      tx.query(`UPDATE clients SET jwks_uri = $3 WHERE tenant_id = $1 AND client_id = $2`, [
        tenant?.id,
        clientId,
        `https://127.0.0.1:${port}/jwks.json`,
      ]),
    );
    const credential = server.credential('sandbox', 'acme');
    const answer = await presentAssertion(server, credential.token_endpoint, await assertion(key, clientId, credential.issuer));
    expect(answer).toEqual({ status: 401, body: REFUSED });
    expect(captured.reasonFor(clientId)).toMatch(/must not point at this machine/);
    expect(fetches).toBe(0);
  });
});
