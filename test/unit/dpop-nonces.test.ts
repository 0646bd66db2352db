/**
 * DPoP server nonces (src/http/dpop-nonces.ts): the pure policy given a secret and a clock, the
 * per-tenant cache, and the verifier's use_dpop_nonce refusal. Over HTTP, with oauth4webapi as the
 * client: test/integration/dpop-nonces.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import { acceptedNonces, createDpopNonces, dpopNonce, NONCE_STEP_SECONDS, nonceFault, nonceStep } from '../../src/http/dpop-nonces.ts';
import { createDpopVerifier, createMemoryReplayStore, type DpopPresentation } from '../../src/http/dpop-proof.ts';
import { ApiError } from '../../src/http/problem.ts';
import { proofKey, signProof } from '../helpers/dpop.ts';

const secret = Buffer.alloc(32, 7);
const STEP_MS = NONCE_STEP_SECONDS * 1000;
const T = 1_800_000_000_000; // a step boundary: 1.8e12 ms / 60 000 is whole
const MISSING = 'This resource requires a DPoP nonce: send the one in the DPoP-Nonce header in the proof.';
const INVALID = "The DPoP proof's nonce is invalid or expired: send the one in the DPoP-Nonce header.";

describe('dpopNonce', () => {
  it('is 32 bytes of base64url, the same for the same secret and step, different otherwise', () => {
    const nonce = dpopNonce(secret, 5);
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(dpopNonce(Buffer.from(secret), 5)).toBe(nonce);
    expect(dpopNonce(secret, 6)).not.toBe(nonce);
    expect(dpopNonce(Buffer.alloc(32, 8), 5)).not.toBe(nonce);
  });

  it('steps every NONCE_STEP_SECONDS', () => {
    expect(nonceStep(T)).toBe(nonceStep(T + STEP_MS - 1));
    expect(nonceStep(T + STEP_MS)).toBe(nonceStep(T) + 1);
  });
});

describe('nonceFault', () => {
  it("accepts the previous, current and next step's nonce, and no other", () => {
    const accepted = acceptedNonces(secret, T);
    const step = nonceStep(T);
    expect(accepted).toEqual([dpopNonce(secret, step - 1), dpopNonce(secret, step), dpopNonce(secret, step + 1)]);
    for (const nonce of accepted) expect(nonceFault(nonce, accepted)).toBeUndefined();
    expect(nonceFault(dpopNonce(secret, step - 2), accepted)).toBe(INVALID);
    expect(nonceFault(dpopNonce(secret, step + 2), accepted)).toBe(INVALID);
  });

  it('issues a nonce that is accepted for 60 to 120 s (issued at the end or the start of its step), then refused', () => {
    const issuedLate = acceptedNonces(secret, T + STEP_MS - 1)[1];
    expect(nonceFault(issuedLate, acceptedNonces(secret, T + 2 * STEP_MS - 1))).toBeUndefined(); // 60 s later
    expect(nonceFault(issuedLate, acceptedNonces(secret, T + 2 * STEP_MS))).toBe(INVALID); // 60 s + 1 ms later
    const issuedEarly = acceptedNonces(secret, T)[1];
    expect(nonceFault(issuedEarly, acceptedNonces(secret, T + 2 * STEP_MS - 1))).toBeUndefined(); // 120 s later
    expect(nonceFault(issuedEarly, acceptedNonces(secret, T + 2 * STEP_MS))).toBe(INVALID);
  });

  it("refuses a missing nonce, another secret's, a forged one and a non-string", () => {
    const accepted = acceptedNonces(secret, T);
    expect(nonceFault(undefined, accepted)).toBe(MISSING);
    expect(nonceFault(acceptedNonces(randomBytes(32), T)[1], accepted)).toBe(INVALID);
    const last = accepted[1].at(-1) === 'A' ? 'B' : 'A';
    expect(nonceFault(`${accepted[1].slice(0, -1)}${last}`, accepted)).toBe(INVALID);
    expect(nonceFault('', accepted)).toBe(INVALID);
    expect(nonceFault(42, accepted)).toBe(INVALID);
    expect(nonceFault(null, accepted)).toBe(INVALID);
  });
});

describe('createDpopNonces', () => {
  it("keeps each tenant's own nonces, derives a secret once, and rotates with the clock", () => {
    let now = T;
    const derived: string[] = [];
    const noncesOf = createDpopNonces({
      secretOf: (tenantId) => {
        derived.push(tenantId);
        return Buffer.alloc(32, tenantId === 'a' ? 1 : 2);
      },
      maxTenants: 10,
      now: () => now,
    });
    const a = noncesOf('a');
    expect(a.current).toBe(dpopNonce(Buffer.alloc(32, 1), nonceStep(T)));
    expect(noncesOf('b').current).not.toBe(a.current);
    expect(noncesOf('b').fault(a.current)).toBe(INVALID);
    now = T + STEP_MS;
    expect(noncesOf('a').current).not.toBe(a.current);
    expect(noncesOf('a').fault(a.current)).toBeUndefined();
    now = T + 2 * STEP_MS;
    expect(noncesOf('a').fault(a.current)).toBe(INVALID);
    expect(derived).toEqual(['a', 'b']);
  });
});

describe('the verifier with nonces', () => {
  it('refuses a proof without the nonce with use_dpop_nonce and a DPoP-Nonce header, and accepts it with the nonce', async () => {
    const key = await proofKey();
    const jkt = await calculateJwkThumbprint(key.jwk);
    const check = createDpopVerifier({ replayStore: createMemoryReplayStore({ max: 10 }), keyCacheSize: 10 });
    const nonces = createDpopNonces({ secretOf: () => secret, maxTenants: 1 })('tenant');
    const url = 'https://acme.example.com/api/v1/employees';
    const presented = async (claims: Record<string, unknown>): Promise<DpopPresentation> => ({
      scheme: 'DPoP',
      proof: await signProof(key, { htm: 'GET', htu: url, token: 'token' }, claims),
      method: 'GET',
      url,
    });
    const refusal = await check({ cnf: { jkt } }, 'token', await presented({}), 'https://acme.example.com', 't', nonces).catch(
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(ApiError);
    expect((refusal as ApiError).headers).toEqual({
      'WWW-Authenticate': `DPoP realm="https://acme.example.com", error="use_dpop_nonce", error_description="${MISSING}", algs="ES256 Ed25519 EdDSA PS256 RS256"`,
      'DPoP-Nonce': nonces.current,
    });
    await expect(
      check({ cnf: { jkt } }, 'token', await presented({ nonce: nonces.current }), 'https://acme.example.com', 't', nonces),
    ).resolves.toBeUndefined();
    // without nonces (the tenant does not require them) a proof's nonce claim is not looked at
    await expect(
      check({ cnf: { jkt } }, 'token', await presented({ nonce: 'anything' }), 'https://acme.example.com', 't'),
    ).resolves.toBeUndefined();
  });
});
