/**
 * Per-(tenant, environment) signing keys. Generated off the request path (provisioning), stored
 * with the private part encrypted; the public JWK is stored in clear for verification and JWKS.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Queryable } from '../db/database.ts';
import type { SigningAlgorithm } from '../catalog/signing-algorithms.ts';
import type { KeyEncryption } from './key-encryption.ts';

export interface SigningKeyRecord {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly state: 'next' | 'current' | 'retired';
  readonly publicJwk: JWK;
  readonly privateJwkEncrypted: string;
  /** when it stops being published (retired keys); null = no end */
  readonly notAfter: Date | null;
}

export interface GeneratedSigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly publicJwk: JWK;
  readonly privateJwk: JWK;
}

export async function generateSigningKey(alg: SigningAlgorithm): Promise<GeneratedSigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg.startsWith('PS') || alg.startsWith('RS') ? { modulusLength: 2048 } : {}),
  });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const decorate = (jwk: JWK): JWK => ({ ...jwk, kid, alg, use: 'sig' });
  return { kid, alg, publicJwk: decorate(publicJwk), privateJwk: decorate(await exportJWK(privateKey)) };
}

export async function insertSigningKey(
  tx: Queryable,
  tenantId: string,
  key: GeneratedSigningKey,
  encryption: KeyEncryption,
  state: SigningKeyRecord['state'] = 'current',
): Promise<void> {
  await tx.query(
    `INSERT INTO signing_keys (tenant_id, kid, alg, public_jwk, private_jwk_encrypted, state)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [tenantId, key.kid, key.alg, JSON.stringify(key.publicJwk), encryption.encrypt(JSON.stringify(key.privateJwk)), state],
  );
}

/** Keys a tenant publishes: next, current and retired-but-not-expired. */
export async function findPublishedSigningKeys(tx: Queryable, tenantId: string): Promise<SigningKeyRecord[]> {
  const rows = await tx.query<{
    kid: string;
    alg: SigningAlgorithm;
    state: SigningKeyRecord['state'];
    public_jwk: JWK;
    private_jwk_encrypted: string;
    not_after: Date | string | null;
  }>(
    `SELECT kid, alg, state, public_jwk, private_jwk_encrypted, not_after
       FROM signing_keys
      WHERE tenant_id = $1 AND (not_after IS NULL OR not_after > now())
      ORDER BY (state = 'current') DESC, created_at DESC`,
    [tenantId],
  );
  return rows.map((r) => ({
    kid: r.kid,
    alg: r.alg,
    state: r.state,
    publicJwk: r.public_jwk,
    privateJwkEncrypted: r.private_jwk_encrypted,
    notAfter: r.not_after === null ? null : new Date(r.not_after),
  }));
}
