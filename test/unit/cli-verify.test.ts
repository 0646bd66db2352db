/**
 * The pieces of `tenant-connect verify` that decide pass or fail without a server: the forged
 * tokens are what they claim to be (a naive verifier would accept them), a foreign id's 404 is
 * compared with a missing id's honestly, reflection is found where it is, and the credentials file
 * is checked before anything is sent. The command against servers is in test/e2e/cli-verify.test.ts.
 */
import { decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { CliError } from '../../src/cli/errors.ts';
import { forgeTokens, publicKeyPem, retypedToken, unsignedToken } from '../../src/cli/verify/forged-tokens.ts';
import { reflections, sameAnswer, type Observation } from '../../src/cli/verify/observations.ts';
import { missingIdLike } from '../../src/cli/verify/probes.ts';
import { readToken } from '../../src/cli/verify/subjects.ts';
import { parseTenantCredentials } from '../../src/cli/verify/tenant-credentials.ts';

async function realToken(): Promise<{ compact: string; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const compact = await new SignJWT({ client_id: 'tc_1', scope: 'employees:read' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer('https://authentication.example.com/tenants/acme')
    .setSubject('tc_1')
    .setAudience('https://acme.example.com')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
  return { compact, jwk };
}

describe('forged tokens', () => {
  it('alg none carries the real claims and kid and an empty signature', async () => {
    const { compact } = await realToken();
    const real = readToken(compact);
    const forged = unsignedToken(real);
    const [header, payload, signature] = forged.split('.');
    expect(JSON.parse(Buffer.from(header as string, 'base64url').toString())).toEqual({ alg: 'none', typ: 'at+jwt', kid: 'k1' });
    expect(payload).toBe(compact.split('.')[1]);
    expect(signature).toBe('');
  });

  it('HS256 keyed with the public key PEM or JWK verifies under that secret: a verifier that let the token pick its algorithm would accept it', async () => {
    const { compact, jwk } = await realToken();
    const forged = await forgeTokens(readToken(compact), jwk);
    const pem = forged.find((f) => f.name === 'HS256 keyed with the public key PEM');
    const json = forged.find((f) => f.name === 'HS256 keyed with the public JWK');
    expect(publicKeyPem(jwk)).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const viaPem = await jwtVerify(pem?.token as string, new TextEncoder().encode(publicKeyPem(jwk)), { typ: 'at+jwt' });
    expect(viaPem.payload).toMatchObject({ client_id: 'tc_1', sub: 'tc_1', aud: 'https://acme.example.com' });
    expect(viaPem.protectedHeader).toEqual({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' });
    await expect(jwtVerify(json?.token as string, new TextEncoder().encode(JSON.stringify(jwk)))).resolves.toBeDefined();
  });

  it('typ JWT keeps the real payload and signature, so only a signature over the header refuses it', async () => {
    const { compact, jwk } = await realToken();
    const retyped = retypedToken(readToken(compact));
    expect(decodeProtectedHeader(retyped)).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'k1' });
    expect(retyped.split('.').slice(1)).toEqual(compact.split('.').slice(1));
    const { importJWK } = await import('jose');
    await expect(jwtVerify(retyped, await importJWK(jwk, 'ES256'))).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  it('without a published key there are no HS256 forgeries; an opaque token yields empty claims', async () => {
    const { compact } = await realToken();
    expect((await forgeTokens(readToken(compact), undefined)).map((f) => f.name)).toEqual(['alg none', 'typ JWT on the real signature']);
    expect(readToken('opaque-token')).toEqual({ compact: 'opaque-token', header: {}, claims: {} });
  });
});

function observation(
  status: number,
  body: unknown,
  headers: Record<string, string> = { 'content-type': 'application/problem+json' },
): Observation {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return { status, headers, body: text, json: typeof body === 'string' ? undefined : body };
}

describe('a foreign id against a missing one', () => {
  const foreignId = '0190a3b2-1234-7abc-8def-0123456789ab';
  const missingId = missingIdLike(foreignId, 'c0ffee');
  const notFound = {
    type: 'https://tenant-connect.dev/problems/not-found',
    title: 'Not Found',
    status: 404,
    detail: 'No employee with this id.',
  };

  it('the missing id has the same shape: UUID version and variant kept, only the last digits change', () => {
    expect(missingId).toBe('0190a3b2-1234-7abc-8def-c0ffee000000');
    expect(missingIdLike('E-1001', 'abc')).toBe('tenant-connect-verify-missing-abc');
  });

  it('is the same answer when only the instance, a request id or the echoed id differ', () => {
    const foreign = observation(404, { ...notFound, detail: `No employee ${foreignId}.`, instance: '/a', request_id: 'r1' });
    const missing = observation(404, { ...notFound, detail: `No employee ${missingId}.`, instance: '/b', request_id: 'r2' });
    expect(sameAnswer(foreign, foreignId, missing, missingId)).toEqual({ same: true });
  });

  it('tells a different detail, status or media type apart', () => {
    const missing = observation(404, notFound);
    expect(
      sameAnswer(observation(404, { ...notFound, detail: 'This employee belongs to another tenant.' }), foreignId, missing, missingId),
    ).toEqual({
      same: false,
      difference: 'bodies differ',
    });
    expect(sameAnswer(observation(403, notFound), foreignId, missing, missingId)).toEqual({ same: false, difference: 'status 403 vs 404' });
    expect(sameAnswer(observation(404, notFound, { 'content-type': 'application/json' }), foreignId, missing, missingId)).toEqual({
      same: false,
      difference: 'content-type application/json vs application/problem+json',
    });
  });
});

describe('host reflection', () => {
  it('names the members and headers that carry the forged host, case-insensitively', () => {
    const answer = observation(
      200,
      { issuer: 'https://authentication.example.com/tenants/acme', token_endpoint: 'https://EVIL.invalid/tenants/acme/connect/token' },
      { link: '<https://evil.invalid/x>' },
    );
    expect(reflections(answer, 'evil.invalid')).toEqual(['header link', 'token_endpoint']);
    expect(reflections(observation(404, 'Nothing is served at this address.'), 'evil.invalid')).toEqual([]);
  });
});

describe('the credentials file', () => {
  const entry = (tenant: string, environment = 'production') => ({
    environment,
    tenant,
    client_id: `tc_${tenant}`,
    client_secret: 's',
    scope: 'employees:read',
    issuer: `http://authentication.connect.localhost:3000/tenants/${tenant}`,
    token_endpoint: `http://authentication.connect.localhost:3000/tenants/${tenant}/connect/token`,
    api_base: `http://${tenant}.connect.localhost:3000/api/v1`,
  });
  const parse = (value: unknown) => () => parseTenantCredentials(typeof value === 'string' ? value : JSON.stringify(value), 'creds.json');

  it('takes the demo-credentials.json shape with two or more tenants', () => {
    expect(parseTenantCredentials(JSON.stringify([entry('acme'), entry('acme', 'sandbox')]), 'creds.json')).toHaveLength(2);
  });

  it('refuses what it cannot probe with, naming the file and the entry', () => {
    expect(parse('{')).toThrow(CliError);
    expect(parse('{')).toThrow('creds.json is not valid JSON');
    expect(parse({ environments: {} })).toThrow('creds.json is not a JSON array');
    expect(parse([entry('acme')])).toThrow(/holds 1 tenant credential\(s\): isolation needs at least two tenants/);
    expect(parse([entry('acme'), entry('acme')])).toThrow('creds.json: production/acme appears twice');
    expect(parse([entry('acme'), { ...entry('globex'), api_base: undefined }])).toThrow('creds.json: entry 1 has no "api_base"');
    expect(parse([entry('acme'), { ...entry('globex'), issuer: 'ftp://x/tenants/globex' }])).toThrow(
      'creds.json: entry 1: "issuer" must be http(s)',
    );
    expect(parse([entry('acme'), { ...entry('globex'), scope: 7 }])).toThrow('creds.json: entry 1: "scope" must be a string');
  });
});
