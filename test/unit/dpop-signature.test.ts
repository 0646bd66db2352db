/**
 * The signature of a DPoP proof at the APIs (src/http/dpop-proof.ts), verified with node:crypto on
 * the key its header carries: every algorithm of the catalog, the ECDSA encoding that takes, and
 * the refusals of a signature or key that does not hold. The claims and the HTTP answers are
 * dpop-proof.test.ts's and test/integration/dpop.test.ts's.
 */
import { generateKeyPairSync, type KeyObject, randomUUID, sign, verify } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { DPOP_SIGNING_ALGORITHMS } from '../../src/catalog/dpop-algorithms.ts';
import {
  accessTokenHash,
  createDpopVerifier,
  createMemoryReplayStore,
  dpopChallenge,
  ecdsaSignatureToDer,
} from '../../src/http/dpop-proof.ts';
import { ApiError } from '../../src/http/problem.ts';

const REALM = 'https://acme.example.com';
const URL_ = `${REALM}/api/v1/employees`;
const TOKEN = 'the.access.token';

type Alg = (typeof DPOP_SIGNING_ALGORITHMS)[number];

function keyPair(alg: Alg, modulusLength = 2048) {
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  if (alg === 'Ed25519' || alg === 'EdDSA') return generateKeyPairSync('ed25519');
  return generateKeyPairSync('rsa', { modulusLength });
}

/** A JWS signature made by node:crypto as RFC 7518 / RFC 8037 define it for `alg`. */
function jwsSignature(alg: Alg, key: KeyObject, input: string): Buffer {
  const data = Buffer.from(input);
  if (alg === 'ES256') return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
  if (alg === 'Ed25519' || alg === 'EdDSA') return sign(null, data, key);
  if (alg === 'PS256') return sign('sha256', data, { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 });
  return sign('sha256', data, key);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function prover(alg: Alg, modulusLength?: number) {
  const { privateKey, publicKey } = keyPair(alg, modulusLength);
  const jwk = publicKey.export({ format: 'jwk' }) as JWK;
  const jkt = await calculateJwkThumbprint(jwk);
  const prove = (header: Record<string, unknown> = {}, claims: Record<string, unknown> = {}) => {
    const input = `${b64({ typ: 'dpop+jwt', alg, jwk, ...header })}.${b64({
      htm: 'GET',
      htu: URL_,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      ath: accessTokenHash(TOKEN),
      ...claims,
    })}`;
    return `${input}.${jwsSignature(alg, privateKey, input).toString('base64url')}`;
  };
  return { jwk, jkt, prove };
}

function verifier() {
  return createDpopVerifier({ replayStore: createMemoryReplayStore({ max: 100 }), keyCacheSize: 10 });
}

/** The refusal's description (after checking it is RFC 9449's invalid_dpop_proof challenge), or 'accepted'. */
async function outcome(check: ReturnType<typeof verifier>, jkt: string, proof: string): Promise<string> {
  try {
    await check({ cnf: { jkt } }, TOKEN, { scheme: 'DPoP', proof, method: 'GET', url: URL_ }, REALM, 'tenant');
    return 'accepted';
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    expect(error.status).toBe(401);
    expect(error.headers['WWW-Authenticate']).toBe(dpopChallenge(REALM, 'invalid_dpop_proof', error.message));
    return error.message;
  }
}

const flipLastSignatureByte = (proof: string) => {
  const at = proof.lastIndexOf('.') + 1;
  const signature = Buffer.from(proof.slice(at), 'base64url');
  signature[signature.length - 1] = (signature[signature.length - 1] as number) ^ 1;
  return `${proof.slice(0, at)}${signature.toString('base64url')}`;
};

describe('a proof signature at the APIs', () => {
  it.each(DPOP_SIGNING_ALGORITHMS.map((alg) => [alg]))(
    '%s: accepts a proof of the bound key, twice in a row (the second from the learned header), and refuses a changed signature',
    async (alg) => {
      const check = verifier();
      const { jkt, prove } = await prover(alg);
      expect(await outcome(check, jkt, prove())).toBe('accepted');
      expect(await outcome(check, jkt, prove())).toBe('accepted');
      expect(await outcome(check, jkt, flipLastSignatureByte(prove()))).toBe("The DPoP proof's signature is invalid.");
    },
  );

  it("refuses a proof signed by another key than its header's, before and after that header is learned", async () => {
    const { jkt, prove } = await prover('ES256');
    const other = await prover('ES256');
    // the header of `prove` with the signature `other` made of the same input
    const forged = (proof: string) => {
      const input = proof.slice(0, proof.lastIndexOf('.'));
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      return `${input}.${jwsSignature('ES256', privateKey, input).toString('base64url')}`;
    };
    const check = verifier();
    expect(await outcome(check, jkt, forged(prove()))).toBe("The DPoP proof's signature is invalid.");
    expect(await outcome(check, jkt, prove())).toBe('accepted');
    expect(await outcome(check, jkt, forged(prove()))).toBe("The DPoP proof's signature is invalid.");
    expect(await outcome(check, jkt, other.prove())).toBe('The DPoP proof is not signed by the key this token is bound to.');
  });

  /** the same signature as DER, which JWS does not use (RFC 7518 §3.4) */
  const derSignature = (proof: string) => {
    const at = proof.lastIndexOf('.') + 1;
    return `${proof.slice(0, at)}${ecdsaSignatureToDer(Buffer.from(proof.slice(at), 'base64url'), 32)?.toString('base64url')}`;
  };

  it.each([
    ['a signature one byte short', (proof: string) => proof.slice(0, -2)],
    ['a DER signature where R || S belongs', derSignature],
    ['a fourth segment', (proof: string) => `${proof}.e30`],
    ['two proofs in one header', (proof: string) => `${proof}, ${proof}`],
    ['a signature that is not base64url', (proof: string) => `${proof.slice(0, -1)}+`],
    ['a payload that is not base64url', (proof: string) => proof.replace('.', '.*')],
    ['no signature', (proof: string) => proof.slice(0, proof.lastIndexOf('.'))],
  ])('refuses %s as an invalid signature, never a 500', async (_name, change) => {
    const check = verifier();
    const { jkt, prove } = await prover('ES256');
    expect(await outcome(check, jkt, prove())).toBe('accepted');
    expect(await outcome(check, jkt, change(prove()))).toBe("The DPoP proof's signature is invalid.");
  });

  it('refuses a header without a payload, a header not base64url, an RSA key under 2048 bits and a key of another alg', async () => {
    const check = verifier();
    const es = await prover('ES256');
    expect(await outcome(check, es.jkt, 'eyJhbGciOiJFUzI1NiJ9')).toBe('The DPoP header is not a signed JWT.');
    expect(await outcome(check, es.jkt, `.${es.prove()}`)).toBe('The DPoP header is not a signed JWT.');
    expect(await outcome(check, es.jkt, `*${es.prove()}`)).toBe('The DPoP header is not a signed JWT.');
    const short = await prover('RS256', 1024);
    expect(await outcome(check, short.jkt, short.prove())).toBe('The DPoP proof\'s "jwk" header is not a valid key.');
    expect(await outcome(check, es.jkt, es.prove({ alg: 'PS256' }))).toBe('The DPoP proof\'s "jwk" header is not a valid key.');
    expect(await outcome(check, es.jkt, es.prove({ alg: 'Ed25519' }))).toBe('The DPoP proof\'s "jwk" header is not a valid key.');
  });

  it('refuses a crit header, which names an extension it would not understand', async () => {
    const { jkt, prove } = await prover('ES256');
    expect(await outcome(verifier(), jkt, prove({ crit: ['b64'], b64: false }))).toBe(
      'The DPoP proof must not have a "crit" header (no extension is understood).',
    );
  });

  it('refuses a signed payload that is not a JSON object', async () => {
    const { privateKey, publicKey } = keyPair('ES256');
    const jwk = publicKey.export({ format: 'jwk' }) as JWK;
    const signed = (payload: string) => {
      const input = `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk })}.${Buffer.from(payload).toString('base64url')}`;
      return `${input}.${jwsSignature('ES256', privateKey, input).toString('base64url')}`;
    };
    const check = verifier();
    const jkt = await calculateJwkThumbprint(jwk);
    expect(await outcome(check, jkt, signed('not json'))).toBe("The DPoP proof's signature is invalid.");
    expect(await outcome(check, jkt, signed('[1]'))).toBe("The DPoP proof's payload must be a JSON object.");
  });
});

describe('ecdsaSignatureToDer', () => {
  const bytes = (...values: number[]) => Buffer.from(values);
  const r32 = (first: number[], fill = 0x11) => Buffer.concat([Buffer.from(first), Buffer.alloc(32 - first.length, fill)]);

  it('writes minimal DER integers: leading zeros dropped, a zero before a set top bit', () => {
    const signature = Buffer.concat([r32([0x00, 0x00, 0x7f]), r32([0x80])]);
    const der = ecdsaSignatureToDer(signature, 32);
    const r = Buffer.concat([bytes(0x7f), Buffer.alloc(29, 0x11)]);
    const s = Buffer.concat([bytes(0x00, 0x80), Buffer.alloc(31, 0x11)]);
    expect(der).toEqual(Buffer.concat([bytes(0x30, 2 + r.length + 2 + s.length, 0x02, r.length), r, bytes(0x02, s.length), s]));
  });

  it('writes a zero integer as one zero byte', () => {
    expect(ecdsaSignatureToDer(Buffer.alloc(64), 32)).toEqual(bytes(0x30, 6, 0x02, 1, 0x00, 0x02, 1, 0x00));
  });

  it('takes exactly 2 × size bytes', () => {
    expect(ecdsaSignatureToDer(Buffer.alloc(63), 32)).toBeUndefined();
    expect(ecdsaSignatureToDer(Buffer.alloc(65), 32)).toBeUndefined();
  });

  it("gives OpenSSL's DER for node:crypto's R || S signatures (verifies with the key alone)", () => {
    const { privateKey, publicKey } = keyPair('ES256');
    for (let i = 0; i < 200; i++) {
      const data = Buffer.from(`message ${i}`);
      const signature = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      expect(verify('sha256', data, publicKey, ecdsaSignatureToDer(signature, 32) as Buffer), `signature ${i}`).toBe(true);
    }
  });
});
