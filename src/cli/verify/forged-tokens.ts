/**
 * Access tokens an attacker can make without the tenant's private key, for `verify` to present to
 * the tenant's API. Each starts from a real token of that tenant (its claims and `kid`), so the
 * only thing wrong with it is the one thing the probe is about.
 */
import crypto from 'node:crypto';
import { SignJWT, type JWK, type JWTPayload, type ProtectedHeaderParameters } from 'jose';

export interface RealToken {
  readonly header: ProtectedHeaderParameters;
  readonly claims: JWTPayload;
  /** the compact JWS as issued */
  readonly compact: string;
}

export interface ForgedToken {
  readonly name: string;
  /** what a 401 for this token proves, in one line */
  readonly proves: string;
  readonly token: string;
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** `alg: none` and an empty signature (RFC 7519 §6): built by hand, since no library signer makes one. */
export function unsignedToken(real: RealToken): string {
  const { kid, typ } = real.header;
  return `${encode({ alg: 'none', typ: typ ?? 'at+jwt', ...(kid ? { kid } : {}) })}.${encode(real.claims)}.`;
}

/** HS256 keyed with public key material: the key-confusion attack on a verifier that lets the token choose its algorithm. */
export async function hmacWithPublicKey(real: RealToken, secret: string): Promise<string> {
  const { kid, typ } = real.header;
  return new SignJWT(real.claims)
    .setProtectedHeader({ alg: 'HS256', typ: typ ?? 'at+jwt', ...(kid ? { kid } : {}) })
    .sign(new TextEncoder().encode(secret));
}

/**
 * The real token with its header re-encoded as `typ: JWT`, the original signature kept. Without
 * the tenant's key no correctly signed token with another `typ` can be made, so a 401 here proves
 * that the header is covered by the signature (no one can relabel a token), not the `typ` rule by
 * itself.
 */
export function retypedToken(real: RealToken): string {
  const [, payload, signature] = real.compact.split('.');
  return `${encode({ ...real.header, typ: 'JWT' })}.${payload ?? ''}.${signature ?? ''}`;
}

/** The public key as the PEM (SPKI) a key-confusion attacker would use as an HMAC secret. */
export function publicKeyPem(jwk: JWK): string {
  return crypto
    .createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
}

/** Every forgery verify presents; `jwk` is the tenant's published key the real token names (if found). */
export async function forgeTokens(real: RealToken, jwk: JWK | undefined): Promise<ForgedToken[]> {
  const forged: ForgedToken[] = [
    { name: 'alg none', proves: 'an unsigned token is refused', token: unsignedToken(real) },
    {
      name: 'typ JWT on the real signature',
      proves: 'the header is signed, so a token cannot be relabelled (a correctly signed wrong typ needs the private key)',
      token: retypedToken(real),
    },
  ];
  if (jwk) {
    forged.push(
      {
        name: 'HS256 keyed with the public key PEM',
        proves: 'the verifier takes the algorithm from the key, not from the token',
        token: await hmacWithPublicKey(real, publicKeyPem(jwk)),
      },
      {
        name: 'HS256 keyed with the public JWK',
        proves: 'the verifier takes the algorithm from the key, not from the token',
        token: await hmacWithPublicKey(real, JSON.stringify(jwk)),
      },
    );
  }
  return forged;
}
