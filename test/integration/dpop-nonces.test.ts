/**
 * DPoP server nonces (RFC 9449 §8, §9) at the resource API and the admin API, with oauth4webapi as
 * the caller: where the token's tenant has `dpop.require_nonce`, a proof without a nonce, or with
 * one this server did not issue in the last minute or two, answers 401 use_dpop_nonce with a fresh
 * DPoP-Nonce; oauth4webapi learns it and its retry goes through. Without the setting nothing asks
 * for a nonce. The setting is changed through the admin API, as an operator does.
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/auth/clients.ts';
import { DPOP_SIGNING_ALGORITHMS } from '../../src/catalog/dpop-algorithms.ts';
import { dpopNonce, nonceStep } from '../../src/http/dpop-nonces.ts';
import { PROBLEM_TYPE_BASE } from '../../src/http/problem.ts';
import { adminClient, type AdminClient } from '../helpers/admin.ts';
import { testDatabaseKinds } from '../helpers/databases.ts';
import { proofKey, signProof } from '../helpers/dpop.ts';
import { eventually } from '../helpers/eventually.ts';
import { loopbackFetch, startTestServer, type TestServer } from '../helpers/server.ts';

const ALGS = DPOP_SIGNING_ALGORITHMS.join(' ');
const MISSING = 'This resource requires a DPoP nonce: send the one in the DPoP-Nonce header in the proof.';
const INVALID = "The DPoP proof's nonce is invalid or expired: send the one in the DPoP-Nonce header.";
const NONCE = /^[A-Za-z0-9_-]{43}$/;

interface Registered {
  readonly client: oauth.Client;
  readonly auth: oauth.ClientAuth;
}

describe.each(testDatabaseKinds())('DPoP server nonces on %s', (kind) => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let api: Registered;
  let tenantAdmin: Registered;
  let operator: AdminClient;
  /** how far the server's clock (the APIs' proofs and nonces; not oidc-provider's) is ahead */
  let offsetMs = 0;
  /** every response the server gave oauth4webapi, in order */
  const responses: Response[] = [];
  const options = {
    [oauth.customFetch]: (async (url: string, init?: RequestInit) => {
      const response = await loopbackFetch(url, init);
      responses.push(response.clone());
      return response;
    }) as typeof fetch,
    [oauth.allowInsecureRequests]: true,
  } as const;

  const credential = () => server.credential('sandbox', 'acme');
  const employeesUrl = () => new URL(`${credential().api_base}/employees`);
  const apiOrigin = () => employeesUrl().origin;
  const adminOrigin = () => server.url('admin.connect-sandbox.localhost', '');

  beforeAll(async () => {
    server = await startTestServer(kind, { now: () => Date.now() + offsetMs });
    const [tenant] = await server.booted.db.admin.query<{ id: string }>(
      `SELECT id FROM tenants WHERE environment = 'sandbox' AND slug = 'acme'`,
    );
    const register = async (name: string, scopes: string[]): Promise<Registered> => {
      const created = await createClient(server.booted.db, tenant?.id ?? '', { name, scopes, dpopBoundAccessTokens: true });
      return { client: { client_id: created.clientId }, auth: oauth.ClientSecretBasic(created.clientSecret) };
    };
    api = await register('nonce api', ['employees:read']);
    tenantAdmin = await register('nonce admin', ['tenant:admin']);
    const issuer = new URL(credential().issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, options));
    operator = await adminClient(server, { environment: 'sandbox' });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** A DPoP-bound token, through oauth4webapi: when the token endpoint asks for a nonce, the retry carries it. */
  async function tokenFor(who: Registered, scope: string, handle: oauth.DPoPHandle): Promise<string> {
    const request = async () =>
      oauth.processClientCredentialsResponse(
        as,
        who.client,
        await oauth.clientCredentialsGrantRequest(as, who.client, who.auth, { scope }, { ...options, DPoP: handle }),
      );
    try {
      return (await request()).access_token;
    } catch (error) {
      if (!oauth.isDPoPNonceError(error)) throw error;
      return (await request()).access_token;
    }
  }

  /** oauth4webapi's protected resource request; a use_dpop_nonce refusal comes back as the error it throws */
  const resourceRequest = (token: string, url: URL, handle: oauth.DPoPHandle) =>
    oauth.protectedResourceRequest(token, 'GET', url, undefined, undefined, { ...options, DPoP: handle }).catch((error: unknown) => error);

  /** the response of a request that oauth4webapi did not turn into an error */
  function answered(outcome: unknown): Response {
    if (outcome instanceof Error) throw outcome;
    return outcome as Response;
  }

  async function expectNonceRefusal(response: Response, realm: string, description: string): Promise<string> {
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `DPoP realm="${realm}", error="use_dpop_nonce", error_description="${description}", algs="${ALGS}"`,
    );
    expect(await response.json()).toEqual({
      type: `${PROBLEM_TYPE_BASE}invalid-token`,
      title: 'Unauthorized',
      status: 401,
      detail: description,
    });
    const nonce = response.headers.get('dpop-nonce');
    expect(nonce).toMatch(NONCE);
    return nonce as string;
  }

  async function setRequireNonce(on: boolean): Promise<void> {
    const changed = await operator.call('PATCH', '/tenants/acme', { settings: { dpop: on ? { require_nonce: true } : null } });
    expect(changed.status).toBe(200);
  }

  it('takes proofs without a nonce and sends no DPoP-Nonce when the tenant does not require nonces', async () => {
    const handle = oauth.DPoP(api.client, await oauth.generateKeyPair('ES256'));
    const token = await tokenFor(api, 'employees:read', handle);
    const response = answered(await resourceRequest(token, employeesUrl(), handle));
    expect(response.status).toBe(200);
    expect(response.headers.get('dpop-nonce')).toBeNull();
  });

  describe('with dpop.require_nonce on', () => {
    beforeAll(async () => {
      await setRequireNonce(true);
      // the change reaches this instance's tenant cache through the change notification
      const key = await proofKey();
      await eventually(async () => {
        const handle = oauth.DPoP(api.client, { privateKey: key.privateKey, publicKey: key.publicKey });
        const token = await tokenFor(api, 'employees:read', handle);
        const refused = await server.fetch(employeesUrl().href, {
          headers: { authorization: `DPoP ${token}`, dpop: await signProof(key, { htm: 'GET', htu: employeesUrl().href, token }) },
        });
        expect(refused.status).toBe(401);
      });
    });
    afterAll(async () => {
      await setRequireNonce(false);
    });

    it('refuses the first API call with use_dpop_nonce and a DPoP-Nonce, and the retry with that nonce succeeds', async () => {
      const handle = oauth.DPoP(api.client, await oauth.generateKeyPair('ES256'));
      const token = await tokenFor(api, 'employees:read', handle);
      responses.length = 0;
      const first = await resourceRequest(token, employeesUrl(), handle);
      expect(oauth.isDPoPNonceError(first)).toBe(true);
      const nonce = await expectNonceRefusal(responses[0] as Response, apiOrigin(), MISSING);
      // oauth4webapi's handle learned the nonce from the refusal; its next proof carries it
      const retry = answered(await resourceRequest(token, employeesUrl(), handle));
      expect(retry.status).toBe(200);
      expect(((await retry.json()) as { data: unknown[] }).data.length).toBeGreaterThan(0);
      // a success carries the nonce to use next too (RFC 9449 §8.2): the same one until its step ends
      expect(retry.headers.get('dpop-nonce')).toMatch(NONCE);
      expect(nonce).toMatch(NONCE);
    });

    describe('proofs made by hand', () => {
      let key: Awaited<ReturnType<typeof proofKey>>;
      let token: string;
      beforeAll(async () => {
        key = await proofKey();
        token = await tokenFor(api, 'employees:read', oauth.DPoP(api.client, { privateKey: key.privateKey, publicKey: key.publicKey }));
      });
      const get = async (claims: Record<string, unknown>) =>
        server.fetch(employeesUrl().href, {
          headers: { authorization: `DPoP ${token}`, dpop: await signProof(key, { htm: 'GET', htu: employeesUrl().href, token }, claims) },
        });

      it('refuses a forged nonce, and a nonce made with another secret, with the exact challenge', async () => {
        const issued = await expectNonceRefusal(await get({}), apiOrigin(), MISSING);
        expect((await get({ nonce: issued })).status).toBe(200);
        await expectNonceRefusal(await get({ nonce: 'A'.repeat(43) }), apiOrigin(), INVALID);
        const step = nonceStep(Date.now());
        await expectNonceRefusal(await get({ nonce: dpopNonce(Buffer.alloc(32, 1), step) }), apiOrigin(), INVALID);
        await expectNonceRefusal(await get({ nonce: 42 }), apiOrigin(), INVALID);
      });

      it('refuses a nonce once it has expired (two steps later), and takes the fresh one it is given', async () => {
        const issued = await expectNonceRefusal(await get({}), apiOrigin(), MISSING);
        try {
          offsetMs = 3 * 60_000;
          const iat = Math.floor((Date.now() + offsetMs) / 1000);
          const fresh = await expectNonceRefusal(await get({ nonce: issued, iat }), apiOrigin(), INVALID);
          expect(fresh).not.toBe(issued);
          expect((await get({ nonce: fresh, iat })).status).toBe(200);
        } finally {
          offsetMs = 0;
        }
      });

      it("accepts the nonce the tenant's token endpoint issued: one derivation, one secret per tenant", async () => {
        const refused = await server.fetch(credential().token_endpoint, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${credential().client_id}:${credential().client_secret}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
            dpop: await signProof(key, { htm: 'POST', htu: credential().token_endpoint }),
          },
          body: 'grant_type=client_credentials&scope=employees%3Aread',
        });
        expect(refused.status).toBe(400);
        expect(((await refused.json()) as { error: string }).error).toBe('use_dpop_nonce');
        expect((await get({ nonce: refused.headers.get('dpop-nonce') })).status).toBe(200);
      });
    });

    it("asks for a nonce at the admin API where the tenant:admin token's tenant requires one, and the retry succeeds", async () => {
      const handle = oauth.DPoP(tenantAdmin.client, await oauth.generateKeyPair('ES256'));
      const token = await tokenFor(tenantAdmin, 'tenant:admin', handle);
      const clients = new URL(`${adminOrigin()}/v1/tenants/acme/clients`);
      responses.length = 0;
      expect(oauth.isDPoPNonceError(await resourceRequest(token, clients, handle))).toBe(true);
      await expectNonceRefusal(responses[0] as Response, adminOrigin(), MISSING);
      const retry = answered(await resourceRequest(token, clients, handle));
      expect(retry.status).toBe(200);
      expect(retry.headers.get('dpop-nonce')).toMatch(NONCE);
    });
  });

  it('stops asking for nonces once the setting is removed', async () => {
    const handle = oauth.DPoP(api.client, await oauth.generateKeyPair('ES256'));
    const token = await tokenFor(api, 'employees:read', handle);
    await eventually(async () => {
      const response = answered(await resourceRequest(token, employeesUrl(), handle));
      expect(response.status).toBe(200);
      expect(response.headers.get('dpop-nonce')).toBeNull();
    });
  });
});
