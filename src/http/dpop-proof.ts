/**
 * DPoP (RFC 9449) at the resource API and the admin API: a token bound to a key (`cnf.jkt`) is
 * accepted only as `Authorization: DPoP <token>` with a proof, signed by that key, of this very
 * request. The checks of a proof's header and claims are pure functions (checkProofHeader,
 * checkProofClaims); createDpopVerifier adds the signature, the binding and the replay check.
 */
import { constants, hash, KeyObject, verify } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, type JWK, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import { DPOP_SIGNING_ALGORITHMS } from '../catalog/dpop-algorithms.ts';
import type { CounterStore } from '../db/counter-store.ts';
import type { DpopNonceCheck } from './dpop-nonces.ts';
import { ApiError } from './problem.ts';

/** How old a proof may be (its iat), and how far ahead of this server's clock. */
export const PROOF_MAX_AGE_SECONDS = 60;
export const PROOF_CLOCK_SKEW_SECONDS = 5;
const MAX_JTI_LENGTH = 256;
/** JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const NOT_THE_BOUND_KEY = 'The DPoP proof is not signed by the key this token is bound to.';
const INVALID_KEY = 'The DPoP proof\'s "jwk" header is not a valid key.';
const INVALID_SIGNATURE = "The DPoP proof's signature is invalid.";
/** A JWS segment: base64url without padding (RFC 7515 §2), so the signing input is ASCII. */
const BASE64URL_SEGMENT = /^[A-Za-z0-9_-]*$/;

type DpopSigningAlgorithm = (typeof DPOP_SIGNING_ALGORITHMS)[number];

/**
 * RFC 7518 §3.4's ECDSA signature (R || S, each `size` bytes) as the DER that OpenSSL reads; undefined
 * when it has not 2 × `size` bytes. Minimal integers, as OpenSSL re-encodes and compares.
 */
export function ecdsaSignatureToDer(signature: Buffer, size: number): Buffer | undefined {
  if (signature.length !== 2 * size) return undefined;
  // each integer: its bytes without leading zeros (one kept for zero), a zero first when the top bit is set
  const parts = [signature.subarray(0, size), signature.subarray(size)].map((value) => {
    let start = 0;
    while (start < value.length - 1 && value[start] === 0) start++;
    return { bytes: value.subarray(start), pad: (value[start] as number) >= 0x80 ? 1 : 0 };
  });
  // at most 2 × (2 + 1 + 32) bytes for P-256 (up to 60-byte integers): every length fits DER's short form
  const bodyLength = parts.reduce((sum, part) => sum + 2 + part.pad + part.bytes.length, 0);
  const der = Buffer.alloc(2 + bodyLength);
  der[0] = 0x30;
  der[1] = bodyLength;
  let offset = 2;
  for (const { bytes, pad } of parts) {
    der[offset] = 0x02;
    der[offset + 1] = pad + bytes.length;
    offset += 2 + pad; // the pad byte is already zero
    offset += bytes.copy(der, offset);
  }
  return der;
}

/**
 * How node:crypto verifies a signature of each algorithm (RFC 7518 §3.3-3.5, RFC 8037 §3.1), with
 * the key alone where the key's defaults are the algorithm's: an options object costs more in
 * node:crypto's argument handling than an RS256 verification. ES256 turns R || S into DER for that;
 * PS256 needs its padding and salt length. An entry per algorithm of the catalog, checked by the type.
 */
const SIGNATURE_CHECKS: Record<DpopSigningAlgorithm, (key: KeyObject) => (signingInput: Buffer, signature: Buffer) => boolean> = {
  ES256: (key) => (input, signature) => {
    const der = ecdsaSignatureToDer(signature, 32);
    return der !== undefined && verify('sha256', input, key, der);
  },
  Ed25519: (key) => (input, signature) => verify(null, input, key, signature),
  EdDSA: (key) => (input, signature) => verify(null, input, key, signature),
  PS256: (key) => {
    const keyInput = { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    return (input, signature) => verify('sha256', input, keyInput, signature);
  },
  // an RSA key's default padding is RSASSA-PKCS1-v1_5
  RS256: (key) => (input, signature) => verify('sha256', input, key, signature),
};
/** RFC 7518 §3.3: an RSA key of 2048 bits or more (what jose's own verification requires). */
const MIN_RSA_BITS = 2048;

/** What a request presents for DPoP; built by presentedProof from the request. */
export interface DpopPresentation {
  /** the Authorization scheme the token came with */
  readonly scheme: 'Bearer' | 'DPoP';
  /** the DPoP header (several are joined with ", " by Node, which no proof contains) */
  readonly proof: string | undefined;
  readonly method: string;
  /** this request's public URL without query: the configured origin and the request's path */
  readonly url: string;
}

/**
 * Proof ids seen within their window. One instance keeps them in memory (createMemoryReplayStore);
 * with REDIS_URL the fleet shares them (createFleetReplayStore).
 */
export interface DpopReplayStore {
  /** true the first time `key` is claimed within `ttlMs`; false for a replay */
  claim(key: string, ttlMs: number): Promise<boolean>;
}

/**
 * Bounded: past `max` live ids the least recently claimed is forgotten before its window ends
 * (so size it above requests per second × PROOF_MAX_AGE_SECONDS of one instance).
 */
export function createMemoryReplayStore(options: { max: number }): DpopReplayStore {
  const seen = new LRUCache<string, true>({ max: options.max });
  return {
    async claim(key, ttlMs) {
      if (seen.has(key)) return false;
      seen.set(key, true, { ttl: Math.max(1, ttlMs) });
      return true;
    },
  };
}

/**
 * Proof ids shared by the fleet through Redis (`shared.claimOnce`), on top of this instance's own
 * `local` store, which every proof passes first: a replay to this instance is refused without a
 * round trip, and is still caught while Redis is away. When Redis does not answer, a proof this
 * instance has not seen is accepted (`onUnanswered` counts it): Redis away never refuses or holds
 * a request, it narrows the check to this instance.
 */
export function createFleetReplayStore(options: {
  shared: Pick<CounterStore, 'claimOnce'>;
  local: DpopReplayStore;
  onUnanswered: () => void;
}): DpopReplayStore {
  const { shared, local, onUnanswered } = options;
  return {
    async claim(key, ttlMs) {
      if (!(await local.claim(key, ttlMs))) return false;
      const claimed = await shared.claimOnce(`dpop-proof:${key}`, ttlMs);
      if (claimed === 'unanswered') onUnanswered();
      return claimed !== 'taken';
    },
  };
}

/** The OpenAPI security scheme of a DPoP-bound token, for both APIs' documents. */
export const DPOP_SECURITY_SCHEME = {
  type: 'http',
  scheme: 'DPoP',
  description:
    'RFC 9449: a token requested with a DPoP proof (token_type DPoP), sent as `Authorization: DPoP <token>` with a new proof ' +
    `of its key in the \`DPoP\` header on every request (htm, htu, iat, jti, ath; signed with ${DPOP_SIGNING_ALGORITHMS.join(', ')}). ` +
    'Such a token is refused as Bearer.',
} as const;

type DpopErrorCode = 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce';

export function dpopChallenge(realm: string, code: DpopErrorCode, description: string): string {
  const quoted = description.replace(/["\\]/g, '');
  return `DPoP realm="${realm}", error="${code}", error_description="${quoted}", algs="${DPOP_SIGNING_ALGORITHMS.join(' ')}"`;
}

/** 401 with RFC 9449 §7.1's challenge; the problem document is the APIs' usual invalid-token one. */
export function dpopRefusal(realm: string, code: DpopErrorCode, description: string): ApiError {
  return new ApiError('invalid-token', description, { headers: { 'WWW-Authenticate': dpopChallenge(realm, code, description) } });
}

/**
 * A refusal of the token itself (its signature, issuer, client, scope…), in the scheme the token
 * came with: to a DPoP request the challenge is DPoP's (RFC 9449 §7.1), same error and description.
 */
export function inPresentedScheme<E>(presented: DpopPresentation, error: E): E {
  if (presented.scheme !== 'DPoP' || !(error instanceof ApiError)) return error;
  const challenge = error.headers['WWW-Authenticate'];
  if (challenge?.startsWith('Bearer ')) {
    error.headers['WWW-Authenticate'] = `DPoP ${challenge.slice('Bearer '.length)}, algs="${DPOP_SIGNING_ALGORITHMS.join(' ')}"`;
  }
  return error;
}

/** The token of `Authorization: DPoP <token>`; undefined for any other scheme (or none). */
export function extractDpopToken(authorization: string | undefined, realm: string): string | undefined {
  if (!authorization || !/^dpop(?: |$)/i.test(authorization)) return undefined;
  const match = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
  if (!match?.[1]) throw dpopRefusal(realm, 'invalid_token', 'The Authorization header must be "DPoP <token>".');
  return match[1];
}

/** What a request presents, for createDpopVerifier: its scheme, proof, method and public URL. */
export function presentedProof(
  request: { readonly method: string; readonly path: string; get(name: string): string },
  origin: string,
  scheme: DpopPresentation['scheme'],
): DpopPresentation {
  return { scheme, proof: request.get('dpop') || undefined, method: request.method, url: `${origin}${request.path}` };
}

type ProofHeader = ReturnType<typeof decodeProtectedHeader>;

/** Why a proof's header is refused, or undefined: typ, an asymmetric alg, a public jwk. */
export function checkProofHeader(header: ProofHeader): string | undefined {
  if (header.typ !== 'dpop+jwt') return 'The DPoP proof must have typ "dpop+jwt".';
  if (typeof header.alg !== 'string' || !(DPOP_SIGNING_ALGORITHMS as readonly string[]).includes(header.alg)) {
    return `The DPoP proof must be signed with one of ${DPOP_SIGNING_ALGORITHMS.join(', ')}.`;
  }
  const { jwk } = header;
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk) || typeof jwk.kty !== 'string') {
    return 'The DPoP proof must carry its public key in the "jwk" header.';
  }
  if (jwk.kty === 'oct' || PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) {
    return 'The DPoP proof\'s "jwk" header must be a public key.';
  }
  // RFC 7515 §4.1.11: extensions named in crit must be understood, and a proof needs none
  if (header.crit !== undefined) return 'The DPoP proof must not have a "crit" header (no extension is understood).';
  return undefined;
}

export interface ProofExpectation {
  readonly method: string;
  readonly url: string;
  readonly accessToken: string;
  /** seconds since the epoch */
  readonly now: number;
}

/** base64url(SHA-256(token)): the proof's `ath` (RFC 9449 §4.2). */
export function accessTokenHash(token: string): string {
  return hash('sha256', token, 'base64url');
}

/** The request's URL as htu compares it: no query, no fragment; undefined when it is not a URL. */
function comparableUrl(value: string): string | undefined {
  const url = URL.parse(value);
  if (!url) return undefined;
  url.search = '';
  url.hash = '';
  return url.href;
}

/** Why a proof's claims are refused, or undefined: htm, htu, iat, jti and ath (RFC 9449 §4.3). */
export function checkProofClaims(payload: JWTPayload, expected: ProofExpectation): string | undefined {
  if (payload.htm !== expected.method) return `The DPoP proof is not for this method (htm must be "${expected.method}").`;
  // the same string is the usual case; otherwise both are compared as URLs
  if (typeof payload.htu !== 'string' || (payload.htu !== expected.url && comparableUrl(payload.htu) !== comparableUrl(expected.url))) {
    return `The DPoP proof is not for this URL (htu must be "${expected.url}").`;
  }
  const { iat } = payload;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return 'The DPoP proof must have a numeric iat.';
  if (iat < expected.now - PROOF_MAX_AGE_SECONDS || iat > expected.now + PROOF_CLOCK_SKEW_SECONDS) {
    return `The DPoP proof's iat is outside the accepted window (${PROOF_MAX_AGE_SECONDS} s).`;
  }
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > MAX_JTI_LENGTH) {
    return `The DPoP proof must have a jti of 1 to ${MAX_JTI_LENGTH} characters.`;
  }
  if (typeof payload.ath !== 'string') return 'The DPoP proof must have an ath (the hash of the access token).';
  if (payload.ath !== accessTokenHash(expected.accessToken)) return 'The DPoP proof is not for this access token (ath).';
  return undefined;
}

/** What the verifier reads of the verified token. */
export interface BoundClaims {
  readonly cnf?: { readonly jkt?: unknown };
}

/** What one proof header taught: its key's thumbprint, and how to verify signatures of that key. */
interface ProvenHeader {
  readonly thumbprint: string;
  /** true when `signature` is the key's signature of `signingInput` with the header's alg */
  readonly verifies: (signingInput: Buffer, signature: Buffer) => boolean;
}

export function createDpopVerifier(options: { replayStore: DpopReplayStore; keyCacheSize: number; now?: () => number }) {
  const now = options.now ?? Date.now;
  // A client proves with the same key request after request, so its proofs' protected headers
  // (typ, alg, jwk) are the same string: what was learned from one (checked, thumbprint, imported
  // key) is kept by that string. Only headers that passed are kept; bounded.
  const provenHeaders = new LRUCache<string, ProvenHeader>({ max: options.keyCacheSize });

  /** What a header not seen before proves (its thumbprint must be `jkt`), or the refusal that says what is wrong with it. */
  async function learnHeader(proof: string, segment: string, jkt: string, realm: string): Promise<ProvenHeader> {
    let header: ProofHeader;
    try {
      if (!BASE64URL_SEGMENT.test(segment)) throw new TypeError('not base64url');
      header = decodeProtectedHeader(proof);
    } catch {
      throw dpopRefusal(realm, 'invalid_dpop_proof', 'The DPoP header is not a signed JWT.');
    }
    const headerFault = checkProofHeader(header);
    if (headerFault) throw dpopRefusal(realm, 'invalid_dpop_proof', headerFault);
    let thumbprint: string;
    try {
      thumbprint = await calculateJwkThumbprint(header.jwk as JWK);
    } catch {
      throw dpopRefusal(realm, 'invalid_dpop_proof', INVALID_KEY);
    }
    // before the key is imported: another key's proof costs no import
    if (thumbprint !== jkt) throw dpopRefusal(realm, 'invalid_dpop_proof', NOT_THE_BOUND_KEY);
    const alg = header.alg as DpopSigningAlgorithm;
    let key: KeyObject;
    try {
      // jose's import checks the key against alg (kty, crv, key_ops); what its verification would
      // also require of the key is checked here, once
      const imported = await importJWK(header.jwk as JWK, alg);
      if (!(imported instanceof CryptoKey) || !imported.usages.includes('verify')) throw new TypeError('not a verification key');
      key = KeyObject.from(imported);
      if (key.asymmetricKeyType?.startsWith('rsa') && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
        throw new TypeError('RSA key too short');
      }
    } catch {
      throw dpopRefusal(realm, 'invalid_dpop_proof', INVALID_KEY);
    }
    // node:crypto's synchronous verify, not WebCrypto's (jose's compactVerify): the same OpenSSL
    // check without a thread-pool job, its hand-offs, promises and algorithm normalisation, which
    // cost about as much CPU again as the signature (measured on Node 24 with an ES256 proof)
    const verifiesWithKey = SIGNATURE_CHECKS[alg](key);
    const proven: ProvenHeader = {
      thumbprint,
      verifies: (signingInput, signature) => {
        try {
          return verifiesWithKey(signingInput, signature);
        } catch {
          return false;
        }
      },
    };
    provenHeaders.set(segment, proven);
    return proven;
  }

  /** The proof's payload once its signature is verified (not yet checked), or the refusal. */
  function verifiedPayload(proof: string, headerEnd: number, proven: ProvenHeader, realm: string): unknown {
    const payloadEnd = proof.indexOf('.', headerEnd + 1);
    const payloadSegment = proof.slice(headerEnd + 1, payloadEnd);
    const signatureSegment = proof.slice(payloadEnd + 1);
    // exactly three segments, each base64url (a proof with another '.' fails the signature's test)
    if (payloadEnd < 0 || !BASE64URL_SEGMENT.test(payloadSegment) || !BASE64URL_SEGMENT.test(signatureSegment)) {
      throw dpopRefusal(realm, 'invalid_dpop_proof', INVALID_SIGNATURE);
    }
    if (!proven.verifies(Buffer.from(proof.slice(0, payloadEnd), 'latin1'), Buffer.from(signatureSegment, 'base64url'))) {
      throw dpopRefusal(realm, 'invalid_dpop_proof', INVALID_SIGNATURE);
    }
    try {
      return JSON.parse(Buffer.from(payloadSegment, 'base64url').toString('utf8')) as unknown;
    } catch {
      throw dpopRefusal(realm, 'invalid_dpop_proof', INVALID_SIGNATURE);
    }
  }

  /**
   * Throws the RFC 9449 §7.1 refusal unless the token and the request agree: a token bound to a key
   * comes as DPoP with a valid, fresh, unreplayed proof of that key; an unbound token as Bearer.
   * `scope` keeps one tenant's proof ids apart from another's. `nonces`: the tenant's, where it
   * requires them (dpop.require_nonce; http/dpop-nonces.ts).
   */
  return async function checkSenderConstraint(
    claims: BoundClaims,
    accessToken: string,
    presented: DpopPresentation,
    realm: string,
    scope: string,
    nonces?: DpopNonceCheck,
  ): Promise<void> {
    const jkt = claims.cnf?.jkt;
    if (presented.scheme === 'Bearer') {
      if (jkt === undefined) return;
      throw dpopRefusal(realm, 'invalid_token', 'This access token is bound to a DPoP key: send it as "Authorization: DPoP" with a proof.');
    }
    if (typeof jkt !== 'string') {
      throw dpopRefusal(realm, 'invalid_token', 'This access token is not bound to a DPoP key: send it as "Authorization: Bearer".');
    }
    const { proof } = presented;
    if (!proof) throw dpopRefusal(realm, 'invalid_dpop_proof', 'A DPoP proof is required in the DPoP header.');

    const headerEnd = proof.indexOf('.');
    if (headerEnd <= 0) throw dpopRefusal(realm, 'invalid_dpop_proof', 'The DPoP header is not a signed JWT.');
    const segment = proof.slice(0, headerEnd);
    const known = provenHeaders.get(segment);
    if (known && known.thumbprint !== jkt) throw dpopRefusal(realm, 'invalid_dpop_proof', NOT_THE_BOUND_KEY);
    const proven = known ?? (await learnHeader(proof, segment, jkt, realm));

    const payload = verifiedPayload(proof, headerEnd, proven, realm);
    if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
      throw dpopRefusal(realm, 'invalid_dpop_proof', "The DPoP proof's payload must be a JSON object.");
    }
    const expected: ProofExpectation = { method: presented.method, url: presented.url, accessToken, now: Math.floor(now() / 1000) };
    const claimsFault = checkProofClaims(payload as JWTPayload, expected);
    if (claimsFault) throw dpopRefusal(realm, 'invalid_dpop_proof', claimsFault);
    // RFC 9449 §9: checked before the replay claim, so the refused proof's jti is not spent
    const nonceFault = nonces?.fault((payload as JWTPayload).nonce);
    if (nonces && nonceFault) {
      const refusal = dpopRefusal(realm, 'use_dpop_nonce', nonceFault);
      refusal.headers['DPoP-Nonce'] = nonces.current;
      throw refusal;
    }

    // remembered until the proof leaves its window, after which its iat refuses it anyway
    const { iat, jti } = payload as { iat: number; jti: string };
    const ttlMs = (iat + PROOF_MAX_AGE_SECONDS + PROOF_CLOCK_SKEW_SECONDS) * 1000 - now();
    const fresh = await options.replayStore.claim(`${scope}.${proven.thumbprint}.${jti}`, ttlMs);
    if (!fresh) throw dpopRefusal(realm, 'invalid_dpop_proof', 'This DPoP proof was used already; send a new proof with every request.');
  };
}
export type DpopVerifier = ReturnType<typeof createDpopVerifier>;
