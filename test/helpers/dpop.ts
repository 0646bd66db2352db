/** DPoP proofs made by hand (jose), for the cases a standard client never sends: wrong htu, no ath… */
import { createHash, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

export interface ProofKey {
  readonly privateKey: KeyPair['privateKey'];
  readonly publicKey: KeyPair['publicKey'];
  readonly jwk: JWK;
}

export async function proofKey(alg: 'ES256' | 'PS256' | 'Ed25519' = 'ES256'): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicKey, jwk: await exportJWK(publicKey) };
}

export const ath = (token: string): string => createHash('sha256').update(token).digest('base64url');

/** A proof of `htm htu` (for `token` when given: ath), signed by `key`; `claims` and `header` override. */
export function signProof(
  key: ProofKey,
  request: { htm: string; htu: string; token?: string },
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT({
    htm: request.htm,
    htu: request.htu,
    jti: randomUUID(),
    iat: Math.floor(Date.now() / 1000),
    ...(request.token === undefined ? {} : { ath: ath(request.token) }),
    ...claims,
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk, ...header })
    .sign(key.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A header and payload with any signature bytes: for proofs no library would sign (HS256, alg none). */
export function forgedProof(header: Record<string, unknown>, payload: Record<string, unknown>, signature = 'c2ln'): string {
  return `${b64(header)}.${b64(payload)}.${signature}`;
}
