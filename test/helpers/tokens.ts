/** Forged and hand-made tokens for negative tests, signed with a tenant's real key when needed. */
import { createHmac } from 'node:crypto';
import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { TestServer } from './server.ts';

export async function tenantSigningKey(
  server: TestServer,
  environment: string,
  tenant: string,
): Promise<JWK & { kid: string; alg: string }> {
  const found = await server.booted.app.tenants.getTenant(environment, tenant);
  if (!found) throw new Error(`no tenant ${environment}/${tenant}`);
  const keys = await server.booted.app.credentials.getKeys(found.id);
  if (!keys) throw new Error('tenant has no keys');
  return keys.signingKey;
}

export async function signWithTenantKey(
  server: TestServer,
  environment: string,
  tenant: string,
  payload: JWTPayload & Record<string, unknown>,
  header: { typ?: string; alg?: string } = {},
): Promise<string> {
  const jwk = await tenantSigningKey(server, environment, tenant);
  const key = await importJWK(jwk, jwk.alg);
  return new SignJWT(payload).setProtectedHeader({ alg: jwk.alg, kid: jwk.kid, typ: header.typ ?? 'at+jwt' }).sign(key);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export function unsignedToken(payload: Record<string, unknown>): string {
  return `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(payload)}.`;
}

/** The classic key-confusion forgery: HS256 keyed with the tenant's public key. */
export function hs256WithPublicKey(publicJwk: JWK, kid: string, payload: Record<string, unknown>): string {
  const signingInput = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${b64(payload)}`;
  const secret = JSON.stringify({ crv: publicJwk.crv, kty: publicJwk.kty, x: publicJwk.x, y: publicJwk.y });
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
}
