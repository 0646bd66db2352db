/**
 * token-private-key-jwt: the token endpoint with private_key_jwt (RFC 7523) against the same
 * endpoint with client_secret_basic, same server, same tenant, same run. Each assertion is fresh
 * (its own jti, signed ES256 by the load generator as it sends it), so every request pays what a
 * real one does: the assertion's signature verified and its jti recorded in Postgres.
 */
import { createPrivateKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { alternate } from '../alternate.ts';
import { profileNotes, profileUnderLoad } from '../profile-summary.ts';
import { fetchToken, loopbackRequest, TOKEN_CONTENT_TYPE } from '../http.ts';
import type { LoadTarget } from '../load.ts';
import type { Scenario } from '../scenario.ts';
import type { BenchTenant } from '../servers/ours.ts';
import { compare, ratio, summarize } from '../summary.ts';
import { authenticationHost, firstTenant, issuerOf, type Ours, oursTokenTarget, startOurs, tokenPath } from './servers.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A client assertion signed synchronously (autocannon builds each request synchronously). */
function assertionFor(key: KeyObject, kid: string, clientId: string, aud: string): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'ES256', kid })}.${b64({ iss: clientId, sub: clientId, aud, jti: randomUUID(), iat: now, exp: now + 60 })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

function assertionBody(key: KeyObject, kid: string, tenant: BenchTenant, aud: string, scope: string): string {
  return new URLSearchParams({
    grant_type: 'client_credentials',
    scope,
    client_assertion_type: JWT_BEARER,
    client_assertion: assertionFor(key, kid, tenant.keyClientId as string, aud),
  }).toString();
}

function privateKeyJwtTarget(ours: Ours, tenant: BenchTenant, key: KeyObject, kid: string): LoadTarget {
  const shape = () => ({
    path: tokenPath(tenant),
    headers: { host: authenticationHost(ours, tenant) },
    body: assertionBody(key, kid, tenant, issuerOf(ours, tenant), ours.info.scope),
  });
  return {
    variant: 'private_key_jwt',
    port: ours.info.port,
    pid: ours.pid,
    method: 'POST',
    path: tokenPath(tenant),
    headers: { host: authenticationHost(ours, tenant), 'content-type': TOKEN_CONTENT_TYPE },
    body: shape().body,
    vary: shape,
  };
}

export const tokenPrivateKeyJwt: Scenario = {
  name: 'token-private-key-jwt',
  description:
    'POST /connect/token (client_credentials) with a fresh private_key_jwt assertion (ES256) per request, vs the same tenant ' +
    'with client_secret_basic, in the same run on the same server.',
  async run(context) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = 'bench-key';
    const publicJwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'ES256' };
    const ours = await startOurs(context, { tenants: 1, keyClientJwk: publicJwk });
    const tenant = firstTenant(ours);
    const key = createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' }));

    // fail before any load if either method does not issue a token
    await fetchToken(
      ours.info.port,
      authenticationHost(ours, tenant),
      tokenPath(tenant),
      tenant.clientId,
      tenant.clientSecret,
      ours.info.scope,
    );
    const first = await loopbackRequest({
      port: ours.info.port,
      host: authenticationHost(ours, tenant),
      method: 'POST',
      path: tokenPath(tenant),
      headers: { 'content-type': TOKEN_CONTENT_TYPE },
      body: assertionBody(key, kid, tenant, issuerOf(ours, tenant), ours.info.scope),
    });
    if (first.status !== 200) throw new Error(`private_key_jwt token request failed: ${first.status} ${first.body}`);

    const runs = await alternate(
      [oursTokenTarget(ours, 'client_secret_basic', [tenant]), privateKeyJwtTarget(ours, tenant, key, kid)],
      context.settings,
      context.problems,
    );
    const jwt = summarize(runs, 'private_key_jwt');
    const basic = summarize(runs, 'client_secret_basic');
    // where the extra CPU goes: each method alone under the same load
    const seconds = context.settings.quick ? 2 : 5;
    const { connections } = context.settings;
    const profiles = [
      ['client_secret_basic', await profileUnderLoad(ours, oursTokenTarget(ours, 'basic-profile', [tenant]), seconds, connections)],
      ['private_key_jwt', await profileUnderLoad(ours, privateKeyJwtTarget(ours, tenant, key, kid), seconds, connections)],
    ] as const;
    return {
      analysis: [],
      variants: [
        {
          name: 'private_key_jwt',
          description: 'a fresh ES256 client assertion per request: signature verified, jti inserted in Postgres',
        },
        { name: 'client_secret_basic', description: 'the same tenant, a secret client (SHA-256 of the secret compared)' },
      ],
      loadRuns: runs,
      latencySeries: [],
      comparisons: [
        compare('throughput private_key_jwt / client_secret_basic', ratio(jwt?.reqPerSec, basic?.reqPerSec)),
        compare('p99 latency private_key_jwt / client_secret_basic', ratio(jwt?.p99, basic?.p99)),
        compare('server CPU per request private_key_jwt / client_secret_basic', ratio(jwt?.cpuUsPerRequest, basic?.cpuUsPerRequest)),
      ],
      notes: [
        'The expected cost of private_key_jwt: one ES256 verification of the assertion and one INSERT … ON CONFLICT DO NOTHING ' +
          '(its jti) in the tenant’s transaction per token request; the assertions are signed by the load generator, not the server.',
        ...profiles.flatMap(([variant, summary]) => profileNotes(variant, summary)),
      ],
    };
  },
};
