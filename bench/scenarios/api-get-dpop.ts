/**
 * api-get-dpop: the api-get request with a DPoP-bound token and a new proof each time, against the
 * same request with a Bearer token, on the same server in the same run. What DPoP should cost is
 * one signature verification per request (and a hash, a thumbprint, a replay-set entry).
 *
 * The load generator shares the machine with the server, and signing a proof costs it about what
 * verifying one costs the server; so before each run it signs that run's proofs (each with its own
 * jti, and an iat from just before the run, well inside the server's 60 s window), and the run
 * measures the server's work, not the client's signing.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { alternate } from '../alternate.ts';
import { basicAuthorization, loopbackRequest, TOKEN_CONTENT_TYPE, tokenRequestBody } from '../http.ts';
import type { LoadTarget, RequestShape } from '../load.ts';
import { profileNotes, profileUnderLoad } from '../profile-summary.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio, summarize } from '../summary.ts';
import { apiTarget, authenticationHost, firstTenant, startOurs, tenantHost, tokenPath } from './servers.ts';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs RFC 9449 proofs with one ES256 key. */
function proofSigner() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const header = b64url({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } });
  const key: KeyObject = privateKey;
  return (htm: string, htu: string, token?: string): string => {
    const claims = {
      htm,
      htu,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      ...(token === undefined ? {} : { ath: createHash('sha256').update(token).digest('base64url') }),
    };
    const input = `${header}.${b64url(claims)}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
}

const randomEmployee = (ids: readonly string[]) => `/api/v1/employees/${ids[Math.floor(Math.random() * ids.length)]}`;

/** Proofs signed ahead per second of a run: several times what one server instance answers here. */
const PRESIGNED_PER_SECOND = 3000;

/**
 * Requests with their proofs, signed before each run (`prepare`) and handed out one each (`next`);
 * past the pool a request is signed when it is sent, and counted (`signedDuringRuns`) for the notes.
 */
function presignedRequests(shape: () => RequestShape) {
  let pool: RequestShape[] = [];
  let taken = 0;
  let signedDuringRuns = 0;
  return {
    prepare(durationS: number): void {
      pool = Array.from({ length: Math.ceil(durationS * PRESIGNED_PER_SECOND) }, shape);
      taken = 0;
    },
    next(): RequestShape {
      const ahead = pool[taken];
      if (ahead) {
        pool[taken++] = undefined as never; // sent once: let it go
        return ahead;
      }
      signedDuringRuns++;
      return shape();
    },
    get signedDuringRuns() {
      return signedDuringRuns;
    },
  };
}

export const apiGetDpop: Scenario = {
  name: 'api-get-dpop',
  description: 'GET /api/v1/employees/{id} with a DPoP-bound token and a new proof per request, against the same GET with a Bearer token.',
  async run(context) {
    const ours = await startOurs(context, { tenants: 1, employees: context.settings.employees });
    const tenant = firstTenant(ours);
    const { employeeIds } = ours.info;
    const host = tenantHost(ours, tenant);
    const prove = proofSigner();

    const tokenOf = async (dpop?: string) => {
      const response = await loopbackRequest({
        port: ours.info.port,
        host: authenticationHost(ours),
        method: 'POST',
        path: tokenPath(tenant),
        headers: {
          authorization: basicAuthorization(tenant.clientId, tenant.clientSecret),
          'content-type': TOKEN_CONTENT_TYPE,
          ...(dpop ? { dpop } : {}),
        },
        body: tokenRequestBody(ours.info.scope),
      });
      const body = JSON.parse(response.body) as { access_token?: string; token_type?: string };
      if (response.status !== 200 || !body.access_token) throw new Error(`token request failed: ${response.status} ${response.body}`);
      if (body.token_type !== (dpop ? 'DPoP' : 'Bearer')) throw new Error(`unexpected token_type ${body.token_type}`);
      return body.access_token;
    };
    const bearerToken = await tokenOf();
    const dpopToken = await tokenOf(prove('POST', `http://${authenticationHost(ours)}${tokenPath(tenant)}`));

    const bearer = apiTarget(
      'bearer',
      { port: ours.info.port, pid: ours.pid },
      host,
      bearerToken,
      () => randomEmployee(employeeIds),
      false,
    );
    const dpopShape = (): RequestShape => {
      const path = randomEmployee(employeeIds);
      return { path, headers: { authorization: `DPoP ${dpopToken}`, dpop: prove('GET', `http://${host}${path}`, dpopToken) } };
    };
    const requests = presignedRequests(dpopShape);
    const first = dpopShape();
    const dpop: LoadTarget = {
      variant: 'dpop',
      port: ours.info.port,
      pid: ours.pid,
      method: 'GET',
      path: first.path,
      headers: { host, ...first.headers },
      vary: requests.next,
      prepare: requests.prepare,
    };
    // each side once, before any load: both answer 200, and a proof sent twice is refused the second time
    const once = (target: { path: string; headers: Record<string, string> }) =>
      loopbackRequest({ port: ours.info.port, host, path: target.path, headers: { host, ...target.headers } });
    const checks = [await once(bearer), await once(first), await once(first)].map((r) => r.status);
    if (checks.join() !== '200,200,401') throw new Error(`bearer, dpop, replayed dpop answered ${checks.join(', ')}, not 200, 200, 401`);

    const runs = await alternate([bearer, dpop], context.settings, context.problems);
    const a = summarize(runs, 'dpop');
    const b = summarize(runs, 'bearer');
    // where the extra CPU goes: each variant alone under the same load
    const seconds = context.settings.quick ? 2 : 5;
    const { connections } = context.settings;
    const profiles = [
      ['bearer', await profileUnderLoad(ours, bearer, seconds, connections)],
      ['dpop', await profileUnderLoad(ours, dpop, seconds, connections)],
    ] as const;
    return {
      variants: [
        { name: 'bearer', description: 'our resource API with a Bearer token (verified once, then from the verified-token cache)' },
        {
          name: 'dpop',
          description:
            'the same with a DPoP-bound token: a new ES256 proof per request, verified (signature, htm, htu, iat, ath, jkt, replay)',
        },
      ],
      loadRuns: runs,
      latencySeries: [],
      comparisons: [
        compare('throughput dpop / bearer', ratio(a?.reqPerSec, b?.reqPerSec), '>= 0.8'),
        compare('p99 latency dpop / bearer', ratio(a?.p99, b?.p99)),
        compare('server CPU per request dpop / bearer', ratio(a?.cpuUsPerRequest, b?.cpuUsPerRequest)),
      ],
      notes: [
        `The load generator signs each run's DPoP proofs (ES256, node:crypto, a new jti each) before the run, up to ${PRESIGNED_PER_SECOND} ` +
          'per second of it, so that the runs compare the server’s work; ' +
          (requests.signedDuringRuns === 0
            ? 'no proof had to be signed during a run.'
            : `${requests.signedDuringRuns} proofs past that were signed during runs, on the same cores as the server.`),
        ...profiles.flatMap(([variant, summary]) => profileNotes(variant, summary)),
      ],
    };
  },
};
