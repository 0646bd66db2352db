/**
 * DPoP (RFC 9449) end to end, with oauth4webapi as the caller: a token requested with a proof is
 * bound to the proof's key and works at the resource API and the admin API with proofs of that
 * key; every refusal answers 401 with RFC 9449 §7.1's challenge and the APIs' usual problem body;
 * the token endpoint refuses a bound client without a proof, any malformed proof (400, never a
 * 500), a replayed proof (also on a second instance on the same Postgres), and asks for a nonce
 * when the tenant requires one.
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/auth/clients.ts';
import { DPOP_SIGNING_ALGORITHMS } from '../../src/catalog/dpop-algorithms.ts';
import { PROBLEM_TYPE_BASE } from '../../src/http/problem.ts';
import { adminClient } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { eventually } from '../helpers/eventually.ts';
import { forgedProof, proofKey, signProof } from '../helpers/dpop.ts';
import { loopbackFetch, startTestServer, type TestServer } from '../helpers/server.ts';
import { claimsOf } from '../helpers/tokens.ts';

const ALGS = DPOP_SIGNING_ALGORITHMS.join(' ');
const insecure = { [oauth.customFetch]: loopbackFetch, [oauth.allowInsecureRequests]: true } as const;

interface Registered {
  readonly client: oauth.Client;
  readonly auth: oauth.ClientAuth;
}

describe.each(testDatabaseKinds())('DPoP on %s', (kind) => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  /** a client registered with dpop_bound_access_tokens, and one without */
  let bound: Registered;
  let plain: Registered;
  let tenantAdmin: Registered;
  let tenantId: string;

  const credential = () => server.credential('sandbox', 'acme');
  const apiOrigin = () => new URL(credential().api_base).origin;
  const employeesUrl = () => `${credential().api_base}/employees`;

  beforeAll(async () => {
    server = await startTestServer(kind);
    const [tenant] = await server.booted.db.admin.query<{ id: string }>(
      `SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`,
    );
    tenantId = tenant?.id ?? '';
    const register = async (name: string, scopes: string[], dpopBoundAccessTokens: boolean): Promise<Registered> => {
      const created = await createClient(server.booted.db, tenantId, { name, scopes, dpopBoundAccessTokens });
      return { client: { client_id: created.clientId }, auth: oauth.ClientSecretBasic(created.clientSecret) };
    };
    bound = await register('dpop bound', ['employees:read'], true);
    plain = await register('plain', ['employees:read'], false);
    tenantAdmin = await register('dpop admin', ['tenant:admin'], false);
    const issuer = new URL(credential().issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
  });
  afterAll(async () => {
    await server?.close();
  });

  /** A token through oauth4webapi, bound to `handle`'s key when one is given. */
  async function tokenFor(who: Registered, scope: string, handle?: oauth.DPoPHandle) {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      who.client,
      who.auth,
      { scope },
      {
        ...insecure,
        ...(handle ? { DPoP: handle } : {}),
      },
    );
    return oauth.processClientCredentialsResponse(as, who.client, response);
  }

  /** fetch that remembers the headers of each request (to replay a proof oauth4webapi sent) */
  function recordingFetch(sent: Headers[]): typeof fetch {
    return ((url: string, init?: RequestInit) => {
      sent.push(new Headers(init?.headers));
      return loopbackFetch(url, init);
    }) as typeof fetch;
  }

  const problem = (detail: string) => ({ type: `${PROBLEM_TYPE_BASE}invalid-token`, title: 'Unauthorized', status: 401, detail });
  // a quoted-string without escapes (as the Bearer challenges): the description loses its quotes
  const challenge = (realm: string, error: string, description: string) =>
    `DPoP realm="${realm}", error="${error}", error_description="${description.replaceAll('"', '')}", algs="${ALGS}"`;

  async function expectRefusal(response: Response, realm: string, error: string, detail: string): Promise<void> {
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(challenge(realm, error, detail));
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toEqual(problem(detail));
  }

  it('binds a token requested with a proof to its key, and the API answers calls with proofs of that key', async () => {
    const handle = oauth.DPoP(bound.client, await oauth.generateKeyPair('ES256'));
    const token = await tokenFor(bound, 'employees:read', handle);
    expect(token.token_type).toBe('dpop');
    expect(claimsOf(token.access_token).cnf).toEqual({ jkt: await handle.calculateThumbprint() });
    // a fresh proof for every request: the second call is not a replay
    for (let i = 0; i < 2; i += 1) {
      const response = await oauth.protectedResourceRequest(token.access_token, 'GET', new URL(employeesUrl()), undefined, undefined, {
        ...insecure,
        DPoP: handle,
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { data: unknown[] }).data.length).toBeGreaterThan(0);
    }
  });

  it('gives a client that is not bound a DPoP token when it sends a proof, and a Bearer token when it does not', async () => {
    const handle = oauth.DPoP(plain.client, await oauth.generateKeyPair('Ed25519'));
    const dpop = await tokenFor(plain, 'employees:read', handle);
    expect(dpop.token_type).toBe('dpop');
    expect(claimsOf(dpop.access_token).cnf).toEqual({ jkt: await handle.calculateThumbprint() });
    const bearer = await tokenFor(plain, 'employees:read');
    expect(bearer.token_type).toBe('bearer');
    expect(claimsOf(bearer.access_token)).not.toHaveProperty('cnf');
    const response = await server.fetch(employeesUrl(), { headers: { authorization: `Bearer ${bearer.access_token}` } });
    expect(response.status).toBe(200);
  });

  describe('refusals at the resource API', () => {
    let token: string;
    let key: Awaited<ReturnType<typeof proofKey>>;
    beforeAll(async () => {
      key = await proofKey();
      const handle = oauth.DPoP(bound.client, { privateKey: key.privateKey, publicKey: key.publicKey });
      token = (await tokenFor(bound, 'employees:read', handle)).access_token;
    });
    const get = (headers: Record<string, string>) => server.fetch(employeesUrl(), { headers });
    const dpop = async (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, signWith = key) => ({
      authorization: `DPoP ${token}`,
      dpop: await signProof(signWith, { htm: 'GET', htu: employeesUrl(), token }, claims, header),
    });

    it('accepts a proof made by hand with the same checks (the baseline of the cases below)', async () => {
      expect((await get(await dpop())).status).toBe(200);
    });

    it('refuses a replayed proof', async () => {
      const headers = await dpop();
      expect((await get(headers)).status).toBe(200);
      await expectRefusal(
        await get(headers),
        apiOrigin(),
        'invalid_dpop_proof',
        'This DPoP proof was used already; send a new proof with every request.',
      );
    });

    it('refuses a proof oauth4webapi sent, replayed', async () => {
      const sent: Headers[] = [];
      const handle = oauth.DPoP(bound.client, { privateKey: key.privateKey, publicKey: key.publicKey });
      const first = await oauth.protectedResourceRequest(token, 'GET', new URL(employeesUrl()), undefined, undefined, {
        [oauth.customFetch]: recordingFetch(sent),
        [oauth.allowInsecureRequests]: true,
        DPoP: handle,
      });
      expect(first.status).toBe(200);
      const replayed = await get({ authorization: sent[0]?.get('authorization') ?? '', dpop: sent[0]?.get('dpop') ?? '' });
      await expectRefusal(
        replayed,
        apiOrigin(),
        'invalid_dpop_proof',
        'This DPoP proof was used already; send a new proof with every request.',
      );
    });

    it('refuses a proof for another URL (htu)', async () => {
      const detail = `The DPoP proof is not for this URL (htu must be "${employeesUrl()}").`;
      await expectRefusal(await get(await dpop({ htu: `${credential().api_base}/org-units` })), apiOrigin(), 'invalid_dpop_proof', detail);
      // another tenant's host, same path
      const globex = employeesUrl().replace('//acme.', '//globex.');
      await expectRefusal(await get(await dpop({ htu: globex })), apiOrigin(), 'invalid_dpop_proof', detail);
    });

    it('ignores the query and fragment of htu, as RFC 9449 §4.3 says', async () => {
      expect((await get(await dpop({ htu: `${employeesUrl()}?limit=1#x` }))).status).toBe(200);
    });

    it('refuses a proof for another method (htm)', async () => {
      await expectRefusal(
        await get(await dpop({ htm: 'POST' })),
        apiOrigin(),
        'invalid_dpop_proof',
        'The DPoP proof is not for this method (htm must be "GET").',
      );
    });

    it('refuses a proof without ath, and one for another token', async () => {
      await expectRefusal(
        await get(await dpop({ ath: undefined })),
        apiOrigin(),
        'invalid_dpop_proof',
        'The DPoP proof must have an ath (the hash of the access token).',
      );
      await expectRefusal(
        await get(await dpop({ ath: 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg' })),
        apiOrigin(),
        'invalid_dpop_proof',
        'The DPoP proof is not for this access token (ath).',
      );
    });

    it("refuses another key's proof", async () => {
      const other = await proofKey();
      await expectRefusal(
        await get(await dpop({}, { jwk: other.jwk }, other)),
        apiOrigin(),
        'invalid_dpop_proof',
        'The DPoP proof is not signed by the key this token is bound to.',
      );
      // the bound key's jwk in the header, signed by another key
      await expectRefusal(
        await get(await dpop({}, {}, { ...other, jwk: key.jwk })),
        apiOrigin(),
        'invalid_dpop_proof',
        "The DPoP proof's signature is invalid.",
      );
    });

    it('refuses a proof too old or from the future', async () => {
      const now = Math.floor(Date.now() / 1000);
      for (const iat of [now - 120, now + 60]) {
        await expectRefusal(
          await get(await dpop({ iat })),
          apiOrigin(),
          'invalid_dpop_proof',
          "The DPoP proof's iat is outside the accepted window (60 s).",
        );
      }
    });

    it('refuses a bound token sent as Bearer, and a DPoP request without a proof', async () => {
      await expectRefusal(
        await get({ authorization: `Bearer ${token}` }),
        apiOrigin(),
        'invalid_token',
        'This access token is bound to a DPoP key: send it as "Authorization: DPoP" with a proof.',
      );
      await expectRefusal(
        await get({ authorization: `DPoP ${token}` }),
        apiOrigin(),
        'invalid_dpop_proof',
        'A DPoP proof is required in the DPoP header.',
      );
    });

    it('refuses an unbound token sent as DPoP', async () => {
      const bearer = (await tokenFor(plain, 'employees:read')).access_token;
      const headers = { authorization: `DPoP ${bearer}`, dpop: await signProof(key, { htm: 'GET', htu: employeesUrl(), token: bearer }) };
      await expectRefusal(
        await get(headers),
        apiOrigin(),
        'invalid_token',
        'This access token is not bound to a DPoP key: send it as "Authorization: Bearer".',
      );
    });

    it('refuses every malformed proof with 401 invalid_dpop_proof, never a 500', async () => {
      const payload = { htm: 'GET', htu: employeesUrl(), iat: Math.floor(Date.now() / 1000), jti: 'x' };
      const cases: [string, string, string][] = [
        ['garbage', 'garbage', 'The DPoP header is not a signed JWT.'],
        ['two proofs', `${(await dpop()).dpop}, ${(await dpop()).dpop}`, "The DPoP proof's signature is invalid."],
        ['wrong typ', (await dpop({}, { typ: 'JWT' })).dpop, 'The DPoP proof must have typ "dpop+jwt".'],
        [
          'HS256',
          forgedProof({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.jwk }, payload),
          `The DPoP proof must be signed with one of ${DPOP_SIGNING_ALGORITHMS.join(', ')}.`,
        ],
        [
          'alg none',
          forgedProof({ alg: 'none', typ: 'dpop+jwt', jwk: key.jwk }, payload, ''),
          `The DPoP proof must be signed with one of ${DPOP_SIGNING_ALGORITHMS.join(', ')}.`,
        ],
        ['missing jwk', (await dpop({}, { jwk: undefined })).dpop, 'The DPoP proof must carry its public key in the "jwk" header.'],
        [
          'jwk not an object',
          forgedProof({ alg: 'ES256', typ: 'dpop+jwt', jwk: 'key' }, payload),
          'The DPoP proof must carry its public key in the "jwk" header.',
        ],
        [
          'private jwk in header',
          (await dpop({}, { jwk: { ...key.jwk, d: 'AAAA' } })).dpop,
          'The DPoP proof\'s "jwk" header must be a public key.',
        ],
        [
          'symmetric jwk',
          forgedProof({ alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'AAAA' } }, payload),
          'The DPoP proof\'s "jwk" header must be a public key.',
        ],
        [
          'incomplete jwk',
          forgedProof({ alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: 'EC', crv: 'P-256' } }, payload),
          'The DPoP proof\'s "jwk" header is not a valid key.',
        ],
        ['bad signature', forgedProof({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk }, payload), "The DPoP proof's signature is invalid."],
        ['jti missing', (await dpop({ jti: undefined })).dpop, 'The DPoP proof must have a jti of 1 to 256 characters.'],
        ['jti too long', (await dpop({ jti: 'j'.repeat(300) })).dpop, 'The DPoP proof must have a jti of 1 to 256 characters.'],
        ['iat a string', (await dpop({ iat: 'now' })).dpop, 'The DPoP proof must have a numeric iat.'],
      ];
      for (const [name, proof, detail] of cases) {
        const response = await get({ authorization: `DPoP ${token}`, dpop: proof });
        expect(response.status, name).toBe(401);
        expect(response.headers.get('www-authenticate'), name).toBe(challenge(apiOrigin(), 'invalid_dpop_proof', detail));
        expect(await response.json(), name).toEqual(problem(detail));
      }
      const malformed = await get({ authorization: `DPoP ${token} extra`, dpop: (await dpop()).dpop });
      await expectRefusal(malformed, apiOrigin(), 'invalid_token', 'The Authorization header must be "DPoP <token>".');
    });
  });

  describe('the admin API', () => {
    it('accepts a DPoP-bound tenant:admin token with proofs, and refuses it as Bearer', async () => {
      const handle = oauth.DPoP(tenantAdmin.client, await oauth.generateKeyPair('ES256'));
      const token = await tokenFor(tenantAdmin, 'tenant:admin', handle);
      expect(token.token_type).toBe('dpop');
      const adminOrigin = server.url('admin.connect-sandbox.localhost', '');
      const clients = new URL(`${adminOrigin}/v1/tenants/acme/clients`);
      const response = await oauth.protectedResourceRequest(token.access_token, 'GET', clients, undefined, undefined, {
        ...insecure,
        DPoP: handle,
      });
      expect(response.status).toBe(200);
      const listed = ((await response.json()) as { data: { client_id: string; dpop_bound_access_tokens: boolean }[] }).data;
      expect(listed.find((c) => c.client_id === bound.client.client_id)?.dpop_bound_access_tokens).toBe(true);
      await expectRefusal(
        await server.fetch(clients.href, { headers: { authorization: `Bearer ${token.access_token}` } }),
        adminOrigin,
        'invalid_token',
        'This access token is bound to a DPoP key: send it as "Authorization: DPoP" with a proof.',
      );
      // a token the admin API does not take, sent as DPoP, is refused in that scheme
      const apiToken = await tokenFor(bound, 'employees:read', handle);
      await expectRefusal(
        await server.fetch(clients.href, {
          headers: {
            authorization: `DPoP ${apiToken.access_token}`,
            dpop: await signProof(await proofKey(), { htm: 'GET', htu: clients.href, token: apiToken.access_token }),
          },
        }),
        adminOrigin,
        'invalid_token',
        'The access token was not issued for this tenant and environment.',
      );
      const key = await proofKey();
      await expectRefusal(
        await server.fetch(clients.href, {
          headers: {
            authorization: `DPoP ${token.access_token}`,
            dpop: await signProof(key, { htm: 'GET', htu: clients.href, token: token.access_token }),
          },
        }),
        adminOrigin,
        'invalid_dpop_proof',
        'The DPoP proof is not signed by the key this token is bound to.',
      );
    });
  });

  it('lets a tenant:admin client bind another client through the admin API, which its next token request must honour', async () => {
    const handle = oauth.DPoP(tenantAdmin.client, await oauth.generateKeyPair('ES256'));
    const adminToken = (await tokenFor(tenantAdmin, 'tenant:admin', handle)).access_token;
    const url = new URL(server.url('admin.connect-sandbox.localhost', `/v1/tenants/acme/clients/${plain.client.client_id}`));
    const bind = async (bound: boolean) => {
      const response = await oauth.protectedResourceRequest(
        adminToken,
        'PATCH',
        url,
        new Headers({ 'content-type': 'application/json' }),
        JSON.stringify({ dpop_bound_access_tokens: bound }),
        { ...insecure, DPoP: handle },
      );
      expect(response.status).toBe(200);
      expect(((await response.json()) as { dpop_bound_access_tokens: boolean }).dpop_bound_access_tokens).toBe(bound);
    };
    const withoutProof = () => oauth.clientCredentialsGrantRequest(as, plain.client, plain.auth, { scope: 'employees:read' }, insecure);
    await bind(true);
    try {
      // the client's cached record is dropped by the change notification
      await eventually(async () => {
        const refused = await withoutProof();
        expect(refused.status).toBe(400);
        expect(((await refused.json()) as { error: string }).error).toBe('invalid_dpop_proof');
      });
    } finally {
      await bind(false);
    }
    await eventually(async () => expect((await withoutProof()).status).toBe(200));
  });

  it('registers a bound client through the platform admin API, and sandbox-sync copies the binding', async () => {
    const admin = await adminClient(server);
    expect((await admin.call('POST', '/tenants', { slug: 'dpopsync', name: 'DPoP sync' })).status).toBe(201);
    const created = await admin.call<{ client_id: string; dpop_bound_access_tokens: boolean }>('POST', '/tenants/dpopsync/clients', {
      name: 'bound',
      scopes: ['employees:read'],
      dpop_bound_access_tokens: true,
    });
    expect(created.status).toBe(201);
    expect(created.body.dpop_bound_access_tokens).toBe(true);
    expect((await admin.call('POST', '/tenants/dpopsync/sandbox-sync')).status).toBe(200);
    const sandbox = await adminClient(server, { environment: 'sandbox' });
    const mirrored = await sandbox.call<{ dpop_bound_access_tokens: boolean }>(
      'GET',
      `/tenants/dpopsync/clients/${created.body.client_id}`,
    );
    expect(mirrored.status).toBe(200);
    expect(mirrored.body.dpop_bound_access_tokens).toBe(true);
  });

  describe('the token endpoint', () => {
    const tokenUrl = () => credential().token_endpoint;

    it('refuses a bound client that sends no proof with 400 invalid_dpop_proof', async () => {
      const response = await oauth.clientCredentialsGrantRequest(as, bound.client, bound.auth, { scope: 'employees:read' }, insecure);
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: 'invalid_dpop_proof',
        error_description: 'this client must send a DPoP proof (RFC 9449) with its token requests',
      });
    });

    it('refuses a replayed proof, and every malformed proof with 400, never a 500', async () => {
      const sent: Headers[] = [];
      const handle = oauth.DPoP(plain.client, await oauth.generateKeyPair('ES256'));
      const first = await oauth.clientCredentialsGrantRequest(
        as,
        plain.client,
        plain.auth,
        { scope: 'employees:read' },
        {
          [oauth.customFetch]: recordingFetch(sent),
          [oauth.allowInsecureRequests]: true,
          DPoP: handle,
        },
      );
      expect(first.status).toBe(200);
      const headers = sent[0] as Headers;
      const again = (dpop: string) =>
        server.fetch(tokenUrl(), {
          method: 'POST',
          headers: { authorization: headers.get('authorization') ?? '', 'content-type': 'application/x-www-form-urlencoded', dpop },
          body: 'grant_type=client_credentials&scope=employees%3Aread',
        });
      const replay = await again(headers.get('dpop') ?? '');
      expect(replay.status).toBe(400);
      expect(await replay.json()).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });

      const key = await proofKey();
      const payload = { htm: 'POST', htu: tokenUrl(), iat: Math.floor(Date.now() / 1000), jti: 'fuzz' };
      const fuzz: [string, string][] = [
        ['garbage', 'garbage'],
        ['wrong typ', await signProof(key, { htm: 'POST', htu: tokenUrl() }, {}, { typ: 'JWT' })],
        ['HS256', forgedProof({ alg: 'HS256', typ: 'dpop+jwt', jwk: key.jwk }, payload)],
        ['missing jwk', await signProof(key, { htm: 'POST', htu: tokenUrl() }, {}, { jwk: undefined })],
        ['private jwk in header', await signProof(key, { htm: 'POST', htu: tokenUrl() }, {}, { jwk: { ...key.jwk, d: 'AAAA' } })],
        ['symmetric jwk', forgedProof({ alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'AAAA' } }, payload)],
        ['wrong htu', await signProof(key, { htm: 'POST', htu: `${credential().issuer}/other` })],
        ['wrong htm', await signProof(key, { htm: 'GET', htu: tokenUrl() })],
      ];
      for (const [name, proof] of fuzz) {
        const response = await again(proof);
        expect(response.status, name).toBe(400);
        expect(((await response.json()) as { error: string }).error, name).toBe('invalid_dpop_proof');
      }
      // too old to trust without a nonce: RFC 9449 §8 asks for one
      const stale = await again(await signProof(key, { htm: 'POST', htu: tokenUrl() }, { iat: Math.floor(Date.now() / 1000) - 3600 }));
      expect(stale.status).toBe(400);
      expect(stale.headers.get('dpop-nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(((await stale.json()) as { error: string }).error).toBe('use_dpop_nonce');
    });

    it('lets exactly one of the same proof sent at once through, and remembers it when the Provider is rebuilt', async () => {
      const key = await proofKey();
      const proof = await signProof(key, { htm: 'POST', htu: tokenUrl() });
      const send = () =>
        server.fetch(tokenUrl(), {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${credential().client_id}:${credential().client_secret}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
            dpop: proof,
          },
          body: 'grant_type=client_credentials&scope=employees%3Aread',
        });
      const statuses = (await Promise.all(Array.from({ length: 8 }, send))).map((r) => r.status).sort();
      expect(statuses).toEqual([200, 400, 400, 400, 400, 400, 400, 400]);
      // the proof ids are the database's, not a Provider's: a rebuilt one still knows this proof
      server.booted.app.providers.evict(tenantId);
      expect((await send()).status).toBe(400);
    });

    it('asks for a server nonce when the tenant requires one, and binds the token once the proof carries it', async () => {
      await server.booted.db.admin.query(
        `UPDATE tenants SET settings = settings || '{"dpop": {"require_nonce": true}}'::jsonb WHERE id = $1`,
        [tenantId],
      );
      try {
        const handle = oauth.DPoP(bound.client, await oauth.generateKeyPair('ES256'));
        // the change reaches the Provider through the change notification, within a second
        let refused: Response | undefined;
        await eventually(async () => {
          const fresh = oauth.DPoP(bound.client, await oauth.generateKeyPair('ES256'));
          refused = await oauth.clientCredentialsGrantRequest(
            as,
            bound.client,
            bound.auth,
            { scope: 'employees:read' },
            {
              ...insecure,
              DPoP: fresh,
            },
          );
          expect(refused.status).toBe(400);
        });
        const nonce = refused?.headers.get('dpop-nonce');
        expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
        await expect(oauth.processClientCredentialsResponse(as, bound.client, refused as Response)).rejects.toSatisfy(
          oauth.isDPoPNonceError,
        );
        // oauth4webapi's way: the first request fails with use_dpop_nonce, the handle keeps the
        // DPoP-Nonce it was given, and the retry's proof carries it
        const request = () => tokenFor(bound, 'employees:read', handle);
        await expect(request()).rejects.toSatisfy(oauth.isDPoPNonceError);
        expect((await request()).token_type).toBe('dpop');
      } finally {
        await server.booted.db.admin.query(`UPDATE tenants SET settings = settings - 'dpop' WHERE id = $1`, [tenantId]);
        await eventually(async () => {
          expect((await tokenFor(bound, 'employees:read', oauth.DPoP(bound.client, await oauth.generateKeyPair('ES256')))).token_type).toBe(
            'dpop',
          );
        });
      }
    });
  });

  describe.runIf(kind === 'postgres')('a second instance on the same Postgres', () => {
    let second: TestServer;
    beforeAll(async () => {
      // the same public port: the same issuer and token endpoint URL, so a proof for one is for both
      second = await startTestServer(kind, { sharedDatabase: server, env: { PUBLIC_PORT: String(server.port) } });
    });
    afterAll(async () => {
      await second?.close();
    });

    it('refuses at the token endpoint a proof the first instance accepted', async () => {
      const sent: Headers[] = [];
      const handle = oauth.DPoP(plain.client, await oauth.generateKeyPair('ES256'));
      const first = await oauth.clientCredentialsGrantRequest(
        as,
        plain.client,
        plain.auth,
        { scope: 'employees:read' },
        {
          [oauth.customFetch]: recordingFetch(sent),
          [oauth.allowInsecureRequests]: true,
          DPoP: handle,
        },
      );
      expect(first.status).toBe(200);
      const headers = sent[0] as Headers;
      const replay = await second.fetch(second.url('authentication.connect-sandbox.localhost', '/tenants/acme/connect/token'), {
        method: 'POST',
        headers: {
          authorization: headers.get('authorization') ?? '',
          'content-type': 'application/x-www-form-urlencoded',
          dpop: headers.get('dpop') ?? '',
        },
        body: 'grant_type=client_credentials&scope=employees%3Aread',
      });
      expect(replay.status).toBe(400);
      expect(await replay.json()).toEqual({ error: 'invalid_grant', error_description: 'grant request is invalid' });
    });
  });
});
