/**
 * The pure parts of DPoP proof verification (src/http/dpop-proof.ts): the header and claim checks,
 * the challenge, the DPoP scheme, and the bounded replay store. The signature, the binding and the
 * refusals over HTTP are test/integration/dpop.test.ts's.
 */
import { describe, expect, it } from 'vitest';
import {
  accessTokenHash,
  checkProofClaims,
  checkProofHeader,
  createMemoryReplayStore,
  dpopChallenge,
  extractDpopToken,
  PROOF_CLOCK_SKEW_SECONDS,
  PROOF_MAX_AGE_SECONDS,
  type ProofExpectation,
} from '../../src/http/dpop-proof.ts';
import { ApiError } from '../../src/http/problem.ts';

const jwk = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };
const NOW = 1_800_000_000;
const expected: ProofExpectation = { method: 'GET', url: 'https://acme.example.com/api/v1/employees', accessToken: 'token', now: NOW };
const valid = { htm: 'GET', htu: expected.url, iat: NOW, jti: 'j1', ath: accessTokenHash('token') };

describe('checkProofHeader', () => {
  it('accepts typ dpop+jwt, an asymmetric alg and a public jwk', () => {
    for (const alg of ['ES256', 'Ed25519', 'EdDSA', 'PS256', 'RS256'])
      expect(checkProofHeader({ typ: 'dpop+jwt', alg, jwk })).toBeUndefined();
  });

  it.each([
    ['another typ', { typ: 'JWT', alg: 'ES256', jwk }, 'The DPoP proof must have typ "dpop+jwt".'],
    ['no typ', { alg: 'ES256', jwk }, 'The DPoP proof must have typ "dpop+jwt".'],
    ['HS256', { typ: 'dpop+jwt', alg: 'HS256', jwk }, 'The DPoP proof must be signed with one of ES256, Ed25519, EdDSA, PS256, RS256.'],
    ['none', { typ: 'dpop+jwt', alg: 'none', jwk }, 'The DPoP proof must be signed with one of ES256, Ed25519, EdDSA, PS256, RS256.'],
    ['no jwk', { typ: 'dpop+jwt', alg: 'ES256' }, 'The DPoP proof must carry its public key in the "jwk" header.'],
    ['jwk an array', { typ: 'dpop+jwt', alg: 'ES256', jwk: [] }, 'The DPoP proof must carry its public key in the "jwk" header.'],
    [
      'jwk without kty',
      { typ: 'dpop+jwt', alg: 'ES256', jwk: { x: '1' } },
      'The DPoP proof must carry its public key in the "jwk" header.',
    ],
    [
      'private EC jwk',
      { typ: 'dpop+jwt', alg: 'ES256', jwk: { ...jwk, d: 'AAAA' } },
      'The DPoP proof\'s "jwk" header must be a public key.',
    ],
    [
      'private RSA member',
      { typ: 'dpop+jwt', alg: 'RS256', jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB', p: 'AA' } },
      'The DPoP proof\'s "jwk" header must be a public key.',
    ],
    [
      'symmetric jwk',
      { typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'oct', k: 'AAAA' } },
      'The DPoP proof\'s "jwk" header must be a public key.',
    ],
  ])('refuses %s', (_name, header, fault) => {
    expect(checkProofHeader(header as never)).toBe(fault);
  });
});

describe('checkProofClaims', () => {
  it('accepts a proof of this method, URL and token within the window', () => {
    expect(checkProofClaims(valid, expected)).toBeUndefined();
    expect(checkProofClaims({ ...valid, htu: `${expected.url}?page=2#top` }, expected)).toBeUndefined();
    expect(checkProofClaims({ ...valid, iat: NOW - PROOF_MAX_AGE_SECONDS }, expected)).toBeUndefined();
    expect(checkProofClaims({ ...valid, iat: NOW + PROOF_CLOCK_SKEW_SECONDS }, expected)).toBeUndefined();
  });

  it.each([
    ['another method', { htm: 'POST' }, 'The DPoP proof is not for this method (htm must be "GET").'],
    ['a lower-case method', { htm: 'get' }, 'The DPoP proof is not for this method (htm must be "GET").'],
    [
      'another path',
      { htu: 'https://acme.example.com/api/v1/contracts' },
      `The DPoP proof is not for this URL (htu must be "${expected.url}").`,
    ],
    [
      'another host',
      { htu: 'https://globex.example.com/api/v1/employees' },
      `The DPoP proof is not for this URL (htu must be "${expected.url}").`,
    ],
    [
      'another scheme',
      { htu: 'http://acme.example.com/api/v1/employees' },
      `The DPoP proof is not for this URL (htu must be "${expected.url}").`,
    ],
    ['not a URL', { htu: 'employees' }, `The DPoP proof is not for this URL (htu must be "${expected.url}").`],
    ['no htu', { htu: undefined }, `The DPoP proof is not for this URL (htu must be "${expected.url}").`],
    ['too old', { iat: NOW - PROOF_MAX_AGE_SECONDS - 1 }, "The DPoP proof's iat is outside the accepted window (60 s)."],
    ['from the future', { iat: NOW + PROOF_CLOCK_SKEW_SECONDS + 1 }, "The DPoP proof's iat is outside the accepted window (60 s)."],
    ['iat a string', { iat: String(NOW) }, 'The DPoP proof must have a numeric iat.'],
    ['no jti', { jti: undefined }, 'The DPoP proof must have a jti of 1 to 256 characters.'],
    ['an empty jti', { jti: '' }, 'The DPoP proof must have a jti of 1 to 256 characters.'],
    ['no ath', { ath: undefined }, 'The DPoP proof must have an ath (the hash of the access token).'],
    ['ath of another token', { ath: accessTokenHash('other') }, 'The DPoP proof is not for this access token (ath).'],
  ])('refuses %s', (_name, change, fault) => {
    expect(checkProofClaims({ ...valid, ...change } as never, expected)).toBe(fault);
  });

  it('hashes the token as RFC 9449 §4.2 does (base64url of SHA-256, no padding)', () => {
    // the example of RFC 9449 §7.1
    expect(accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU')).toBe('fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo');
  });
});

describe('the DPoP scheme and challenge', () => {
  it('reads the token of "DPoP <token>" and leaves other schemes to bearer authentication', () => {
    expect(extractDpopToken('DPoP abc.def.ghi', 'r')).toBe('abc.def.ghi');
    expect(extractDpopToken('dpop abc', 'r')).toBe('abc');
    expect(extractDpopToken('Bearer abc', 'r')).toBeUndefined();
    expect(extractDpopToken(undefined, 'r')).toBeUndefined();
    expect(extractDpopToken('DPoPabc', 'r')).toBeUndefined();
  });

  it('refuses a malformed DPoP authorization with an invalid_token challenge', () => {
    for (const value of ['DPoP', 'DPoP a b', 'DPoP a"b']) {
      const error = (() => {
        try {
          extractDpopToken(value, 'https://acme.example.com');
        } catch (caught) {
          return caught;
        }
      })();
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).status).toBe(401);
      expect((error as ApiError).headers['WWW-Authenticate']).toBe(
        dpopChallenge('https://acme.example.com', 'invalid_token', 'The Authorization header must be "DPoP <token>".'),
      );
    }
  });

  it('writes the RFC 9449 §7.1 challenge, quotes dropped from the description', () => {
    expect(dpopChallenge('https://acme.example.com', 'invalid_dpop_proof', 'say "no"')).toBe(
      'DPoP realm="https://acme.example.com", error="invalid_dpop_proof", error_description="say no", algs="ES256 Ed25519 EdDSA PS256 RS256"',
    );
  });
});

describe('the in-memory replay store', () => {
  it('claims an id once within its window', async () => {
    const store = createMemoryReplayStore({ max: 10 });
    expect(await store.claim('a', 60_000)).toBe(true);
    expect(await store.claim('a', 60_000)).toBe(false);
    expect(await store.claim('b', 60_000)).toBe(true);
  });

  it('forgets an id after its window', async () => {
    const store = createMemoryReplayStore({ max: 10 });
    expect(await store.claim('a', 20)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await store.claim('a', 20)).toBe(true);
  });

  it('holds at most max ids, forgetting the oldest first', async () => {
    const store = createMemoryReplayStore({ max: 2 });
    for (const id of ['a', 'b', 'c']) expect(await store.claim(id, 60_000)).toBe(true);
    expect(await store.claim('c', 60_000)).toBe(false);
    expect(await store.claim('a', 60_000)).toBe(true);
  });
});
