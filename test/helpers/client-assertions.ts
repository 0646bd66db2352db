/** Client assertions (RFC 7523) as a plain jose caller makes them, and a token request that presents one, as curl would. */
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import type { TestServer } from './server.ts';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface SigningKey {
  readonly privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  readonly publicJwk: JWK & { kid: string; alg: string };
}

export async function signingKey(alg: 'ES256' | 'EdDSA' | 'PS256' | 'RS256', kid: string = randomUUID()): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A client assertion as a plain jose caller makes one; any claim or header member can be overridden. */
export function assertion(
  key: SigningKey,
  clientId: string,
  aud: unknown,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const now = nowSeconds();
  return new SignJWT({ iss: clientId, sub: clientId, aud, jti: randomUUID(), iat: now, exp: now + 30, ...claims } as never)
    .setProtectedHeader({ alg: key.publicJwk.alg, kid: key.publicJwk.kid, ...header })
    .sign(key.privateKey);
}

/** POST to a token endpoint with a client assertion, as curl would. */
export function requestWithAssertion(via: TestServer, tokenEndpoint: string, jwt: string, scope = 'employees:read'): Promise<Response> {
  return via.fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: JWT_BEARER,
      client_assertion: jwt,
      scope,
    }).toString(),
  });
}

/** requestWithAssertion's status and JSON body. */
export async function presentAssertion(via: TestServer, tokenEndpoint: string, jwt: string, scope = 'employees:read') {
  const response = await requestWithAssertion(via, tokenEndpoint, jwt, scope);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
