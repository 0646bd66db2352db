/**
 * The token endpoint when what it depends on fails mid-request:
 * - the database, while a private_key_jwt assertion's jti or a DPoP proof's jti is recorded: RFC
 *   6749's 503 temporarily_unavailable with Retry-After, nothing recorded (the same assertion or
 *   proof goes through once the database is back, and only once), no crash, recovery by itself.
 *   The fault is the loopback TCP proxy that resets every connection (as the revocation fault
 *   test); the client, its keys and the tenant are cached by a first request, so recording the jti
 *   is the one statement such a request runs. Postgres only (PGlite has no connection to break).
 * - a jwks_uri host that accepts the connection and never answers (or answers headers and never the
 *   body): the fetch gives up after its timeout (CLIENT_JWKS_FETCH.timeoutMs, 5 s, a constant: this
 *   test waits for it once), the request is 401 invalid_client, and the server answers everyone
 *   else meanwhile.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_JWKS_FETCH } from '../../src/catalog/client-auth-methods.ts';
import { adminClient, type AdminClient } from '../helpers/admin.ts';
import { assertion, presentAssertion, requestWithAssertion, signingKey } from '../helpers/client-assertions.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { proofKey, signProof } from '../helpers/dpop.ts';
import { eventually } from '../helpers/eventually.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { startServerBehindFaultProxy, type ServerBehindFaultProxy } from '../helpers/server-behind-fault-proxy.ts';
import type { TcpProxy } from '../helpers/tcp-proxy.ts';

const adminUrl = process.env.TEST_DATABASE_URL;
const UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; retry shortly' };
const REFUSED = { error: 'invalid_client', error_description: 'client authentication failed' };

async function createKeyClient(admin: AdminClient, body: Record<string, unknown>): Promise<string> {
  const created = await admin.call('POST', '/tenants/acme/clients', {
    name: 'signed assertions',
    scopes: ['employees:read'],
    token_endpoint_auth_method: 'private_key_jwt',
    ...body,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return (created.body as { client_id: string }).client_id;
}

describe.skipIf(!adminUrl)('the token endpoint with the database unreachable mid-request (Postgres)', () => {
  let faulty: ServerBehindFaultProxy;
  let proxy: TcpProxy;
  let server: TestServer;
  let admin: AdminClient;

  beforeAll(async () => {
    faulty = await startServerBehindFaultProxy(adminUrl as string);
    ({ proxy, server } = faulty);
    admin = await adminClient(server, { environment: 'sandbox' });
  });
  afterAll(async () => {
    await faulty?.close();
  });

  /** `send` while every database connection is reset: 503 temporarily_unavailable, and the process still serves */
  async function expectUnavailableWhileDown(send: () => Promise<Response>): Promise<void> {
    proxy.setMode('reset');
    try {
      const refused = await send();
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.json()).toEqual(UNAVAILABLE);
      expect((await server.fetch(server.url('127.0.0.1', '/healthz'))).status).toBe(200);
    } finally {
      proxy.setMode('forward');
    }
  }

  it("answers 503 temporarily_unavailable while a private_key_jwt assertion's jti cannot be recorded, records nothing, and recovers", async () => {
    const key = await signingKey('ES256');
    const clientId = await createKeyClient(admin, { jwks: { keys: [key.publicJwk] } });
    const { issuer, token_endpoint: tokenEndpoint } = server.credential('sandbox', 'acme');
    expect((await presentAssertion(server, tokenEndpoint, await assertion(key, clientId, issuer))).status).toBe(200);

    const jwt = await assertion(key, clientId, issuer);
    await expectUnavailableWhileDown(() => requestWithAssertion(server, tokenEndpoint, jwt));
    // the refused assertion was not recorded: it is accepted once the database is back, then never again
    await eventually(async () => expect((await presentAssertion(server, tokenEndpoint, jwt)).status).toBe(200), 10_000);
    expect(await presentAssertion(server, tokenEndpoint, jwt)).toMatchObject({ status: 401, body: REFUSED });
  });

  it("answers 503 temporarily_unavailable while a DPoP proof's jti cannot be recorded, records nothing, and recovers", async () => {
    const credential = server.credential('sandbox', 'acme');
    const request = (proof: string) =>
      server.fetch(credential.token_endpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${credential.client_id}:${credential.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          dpop: proof,
        },
        body: 'grant_type=client_credentials&scope=employees%3Aread',
      });
    const key = await proofKey();
    const proofFor = () => signProof(key, { htm: 'POST', htu: credential.token_endpoint });
    expect((await request(await proofFor())).status).toBe(200);

    const proof = await proofFor();
    await expectUnavailableWhileDown(() => request(proof));
    await eventually(async () => {
      const accepted = await request(proof);
      expect(accepted.status).toBe(200);
      expect(((await accepted.json()) as { token_type: string }).token_type).toBe('DPoP');
    }, 10_000);
    const replay = await request(proof);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
  });
});

describe.each(testDatabaseKinds())('a jwks_uri that never answers, on %s', (kind) => {
  let server: TestServer;
  let admin: AdminClient;
  /** accepts connections and holds them, reading nothing and writing nothing */
  let silent: net.Server;
  /** answers 200 and its headers, then never the body */
  let stalled: http.Server;
  const held = new Set<net.Socket>();
  let closedByServer = 0;

  const listen = async (target: net.Server) => {
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(target.address() as AddressInfo).port}/jwks.json`;
  };

  beforeAll(async () => {
    server = await startTestServer(kind);
    admin = await adminClient(server, { environment: 'sandbox' });
    silent = net.createServer((socket) => {
      held.add(socket);
      socket.resume(); // reads (and drops) the request, so it sees the server hang up
      socket.on('close', () => {
        closedByServer += 1;
        held.delete(socket);
      });
    });
    stalled = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys": [');
    });
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    stalled?.closeAllConnections();
    await Promise.all([silent, stalled].map((s) => new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()))));
    await server?.close();
  });

  it('refuses the token request with 401 invalid_client once the fetch times out, and serves everyone else meanwhile', async () => {
    const key = await signingKey('ES256');
    const { issuer, token_endpoint: tokenEndpoint, client_id, client_secret } = server.credential('sandbox', 'acme');
    const silentClient = await createKeyClient(admin, { jwks_uri: await listen(silent) });
    const stalledClient = await createKeyClient(admin, { jwks_uri: await listen(stalled) });

    const started = performance.now();
    const waiting = [silentClient, stalledClient].map(async (clientId) => {
      const answer = await presentAssertion(server, tokenEndpoint, await assertion(key, clientId, issuer));
      return { ...answer, afterMs: performance.now() - started };
    });

    // meanwhile: another client's token request and a health check, each answered at once
    await eventually(async () => expect(held.size).toBe(1));
    for (let i = 0; i < 3; i += 1) {
      const before = performance.now();
      const token = await server.fetch(tokenEndpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials&scope=employees%3Aread',
      });
      expect(token.status).toBe(200);
      expect((await server.fetch(server.url('127.0.0.1', '/healthz'))).status).toBe(200);
      expect(performance.now() - before).toBeLessThan(1000);
    }

    for (const answer of await Promise.all(waiting)) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(REFUSED);
      expect(answer.afterMs).toBeGreaterThanOrEqual(CLIENT_JWKS_FETCH.timeoutMs - 100);
      expect(answer.afterMs).toBeLessThan(CLIENT_JWKS_FETCH.timeoutMs + 3000);
    }
    // the server hung up on the silent host rather than leaving the connection open
    await eventually(async () => expect(closedByServer).toBe(1));
  }, 20_000);
});
