/**
 * Private signing keys are stored encrypted under a key-encryption key (KEK): AES-256-GCM with a
 * random 96-bit IV per value. The stored form names the KEK that encrypted it, so a KEK rotation
 * knows what is left to re-encrypt and a value under a KEK nobody configured fails with its name:
 * "v2.<kekId>.<iv>.<ciphertext>.<tag>" (base64url parts; kekId = the first 8 base64url characters
 * of SHA-256 of the KEK, which identifies it without revealing it). Values written before KEKs
 * were named, "v1.<iv>.<ciphertext>.<tag>", still decrypt: each configured KEK is tried in turn.
 *
 * Only the current KEK encrypts; previous ones (KEY_ENCRYPTION_KEY_PREVIOUS) only decrypt, for as
 * long as `reencryptSigningKeys` has not yet moved every stored key to the current one.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Database } from '../db/database.ts';

export interface KeyEncryption {
  /** the id of the KEK that encrypts: what `isCurrent` looks for */
  readonly currentKeyId: string;
  encrypt(plaintext: string): string;
  decrypt(stored: string): string;
  /** true when `stored` is already under the current KEK (nothing to re-encrypt) */
  isCurrent(stored: string): boolean;
  /**
   * 32 bytes for one named purpose (HKDF-SHA256 of the current KEK), the same in every instance
   * that shares the KEK, unrelated to the KEK and to any other purpose's secret.
   */
  deriveSecret(purpose: string): Buffer;
}

/** A stored value that no configured KEK can decrypt: the KEK it names is not configured, or
 * (v1, unnamed) none of the configured ones authenticates it. */
export class UnknownKeyEncryptionKeyError extends Error {
  override name = 'UnknownKeyEncryptionKeyError';
  readonly code = 'ERR_UNKNOWN_KEY_ENCRYPTION_KEY';
  /** the KEK id the value names; undefined for a v1 value */
  readonly kekId: string | undefined;
  constructor(message: string, kekId: string | undefined) {
    super(message);
    this.kekId = kekId;
  }
}

/** A stored value that is not in a format this code writes (corruption, or a newer version). */
export class MalformedEncryptedKeyError extends Error {
  override name = 'MalformedEncryptedKeyError';
  readonly code = 'ERR_MALFORMED_ENCRYPTED_KEY';
}

export function keyEncryptionKeyId(kek: Buffer): string {
  return createHash('sha256').update(kek).digest('base64url').slice(0, 8);
}

/** GCM's full tag. Without authTagLength, Node's decipher accepts any tag of 4 to 16 bytes (and
 * warns, DEP0182), so a stored value with a truncated tag would authenticate against far fewer bits. */
const AUTH_TAG_BYTES = 16;

function open(kek: Buffer, iv: string, ciphertext: string, tag: string): string {
  const authTag = Buffer.from(tag, 'base64url');
  if (authTag.length !== AUTH_TAG_BYTES) {
    throw new MalformedEncryptedKeyError(`the authentication tag is ${authTag.length} bytes, not ${AUTH_TAG_BYTES}`);
  }
  const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(iv, 'base64url'), { authTagLength: AUTH_TAG_BYTES });
  decipher.setAuthTag(authTag);
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
}

/**
 * `current` encrypts and decrypts; each of `previous` only decrypts. Order of `previous` does not
 * matter for v2 values (they name their KEK); for v1 values it is the order in which they are tried.
 */
export function createKeyEncryption(current: Buffer, previous: readonly Buffer[] = []): KeyEncryption {
  for (const kek of [current, ...previous]) {
    if (kek.length !== 32) throw new TypeError('the key-encryption key must be 32 bytes');
  }
  const currentKeyId = keyEncryptionKeyId(current);
  const byId = new Map<string, Buffer>([[currentKeyId, current]]);
  for (const kek of previous) if (!byId.has(keyEncryptionKeyId(kek))) byId.set(keyEncryptionKeyId(kek), kek);

  return {
    currentKeyId,
    encrypt(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current, iv, { authTagLength: AUTH_TAG_BYTES });
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v2', currentKeyId, ...[iv, ciphertext, cipher.getAuthTag()].map((p) => p.toString('base64url'))].join('.');
    },
    decrypt(stored) {
      const parts = stored.split('.');
      if (parts[0] === 'v2' && parts.length === 5) {
        const [, kekId, iv, ciphertext, tag] = parts as [string, string, string, string, string];
        const kek = byId.get(kekId);
        if (!kek) {
          throw new UnknownKeyEncryptionKeyError(
            `encrypted under key-encryption key ${kekId}, which is neither KEY_ENCRYPTION_KEY (${currentKeyId}) nor in KEY_ENCRYPTION_KEY_PREVIOUS`,
            kekId,
          );
        }
        return open(kek, iv, ciphertext, tag);
      }
      if (parts[0] === 'v1' && parts.length === 4) {
        const [, iv, ciphertext, tag] = parts as [string, string, string, string];
        // unnamed: GCM's tag tells the right KEK from a wrong one
        for (const kek of byId.values()) {
          try {
            return open(kek, iv, ciphertext, tag);
          } catch (error) {
            if (error instanceof MalformedEncryptedKeyError) throw error; // no KEK opens it
            // not this one
          }
        }
        throw new UnknownKeyEncryptionKeyError(
          'a v1 value that neither KEY_ENCRYPTION_KEY nor any key in KEY_ENCRYPTION_KEY_PREVIOUS decrypts',
          undefined,
        );
      }
      throw new MalformedEncryptedKeyError('unrecognised encrypted key format');
    },
    isCurrent(stored) {
      return stored.startsWith(`v2.${currentKeyId}.`);
    },
    deriveSecret(purpose) {
      return Buffer.from(hkdfSync('sha256', current, Buffer.alloc(0), `tenant-connect ${purpose}`, 32));
    },
  };
}

export interface LoadedKek {
  readonly key: Buffer;
  /** set when the key was generated into the data directory (development only) */
  readonly generatedAt?: string;
}

/** KEY_ENCRYPTION_KEY if set; otherwise (development) one generated once into DATA_DIR, mode 0600. */
export function loadKeyEncryptionKey(configured: string | undefined, dataDir: string): LoadedKek {
  if (configured) return { key: Buffer.from(configured, 'base64url') };
  const file = path.join(dataDir, 'key-encryption-key');
  if (fs.existsSync(file)) return { key: Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64url'), generatedAt: file };
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  return { key: Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64url'), generatedAt: file };
}

/** KEY_ENCRYPTION_KEY_PREVIOUS, already validated by the config loader as base64url 32-byte keys. */
export function parsePreviousKeyEncryptionKeys(configured: readonly string[]): Buffer[] {
  return configured.map((k) => Buffer.from(k, 'base64url'));
}

export interface ReencryptionResult {
  /** tenants visited */
  readonly tenants: number;
  /** keys moved to the current KEK */
  readonly reencrypted: number;
  /** keys that were already under it */
  readonly alreadyCurrent: number;
}

/**
 * Moves every stored signing key to the current KEK, one transaction per tenant (signing_keys is
 * behind FORCE RLS, so each tenant's rows are only visible in its own scope). Idempotent: a second
 * run finds everything current and writes nothing. Once it has run on every instance's database,
 * the previous KEKs can be removed from KEY_ENCRYPTION_KEY_PREVIOUS.
 *
 * A key no configured KEK can decrypt stops the run with UnknownKeyEncryptionKeyError naming the
 * tenant and kid (tenants done before it stay done; rerun after configuring the missing KEK).
 */
export async function reencryptSigningKeys(
  db: Database,
  encryption: KeyEncryption,
  onProgress?: (progress: { tenantId: string; reencrypted: number; alreadyCurrent: number }) => void,
): Promise<ReencryptionResult> {
  const tenants = await db.admin.query<{ id: string }>('SELECT id FROM tenants ORDER BY id');
  let reencrypted = 0;
  let alreadyCurrent = 0;
  for (const { id } of tenants) {
    const counts = await db.admin.scoped(id, async (tx) => {
      // FOR UPDATE: a concurrent rotation of this tenant's keys waits rather than being overwritten
      const rows = await tx.query<{ kid: string; private_jwk_encrypted: string }>(
        'SELECT kid, private_jwk_encrypted FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at FOR UPDATE',
        [id],
      );
      let moved = 0;
      for (const row of rows) {
        if (encryption.isCurrent(row.private_jwk_encrypted)) continue;
        let plaintext: string;
        try {
          plaintext = encryption.decrypt(row.private_jwk_encrypted);
        } catch (error) {
          const kekId = error instanceof UnknownKeyEncryptionKeyError ? error.kekId : undefined;
          throw new UnknownKeyEncryptionKeyError(
            `signing key ${row.kid} of tenant ${id} cannot be decrypted by any configured key-encryption key` +
              `${kekId ? ` (it names KEK ${kekId})` : ''}: add the KEK it was encrypted under to KEY_ENCRYPTION_KEY_PREVIOUS and run again`,
            kekId,
          );
        }
        await tx.query('UPDATE signing_keys SET private_jwk_encrypted = $3 WHERE tenant_id = $1 AND kid = $2', [
          id,
          row.kid,
          encryption.encrypt(plaintext),
        ]);
        moved += 1;
      }
      return { reencrypted: moved, alreadyCurrent: rows.length - moved };
    });
    reencrypted += counts.reencrypted;
    alreadyCurrent += counts.alreadyCurrent;
    onProgress?.({ tenantId: id, ...counts });
  }
  return { tenants: tenants.length, reencrypted, alreadyCurrent };
}

/**
 * At boot: can this configuration decrypt what is stored? Tries one key of one tenant (cheap) and
 * returns a message for the operator when no configured KEK decrypts it, undefined when fine or
 * when there is nothing stored yet.
 */
export async function checkKeyEncryptionKeys(db: Database, encryption: KeyEncryption): Promise<string | undefined> {
  const [tenant] = await db.admin.query<{ id: string }>('SELECT id FROM tenants ORDER BY id LIMIT 1');
  if (!tenant) return undefined;
  const [sample] = await db.admin.scoped(tenant.id, (tx) =>
    tx.query<{ kid: string; private_jwk_encrypted: string }>(
      `SELECT kid, private_jwk_encrypted FROM signing_keys WHERE tenant_id = $1 ORDER BY (state = 'current') DESC, created_at DESC LIMIT 1`,
      [tenant.id],
    ),
  );
  if (!sample) return undefined;
  try {
    encryption.decrypt(sample.private_jwk_encrypted);
    return undefined;
  } catch (error) {
    const named = error instanceof UnknownKeyEncryptionKeyError && error.kekId ? ` (it was encrypted under KEK ${error.kekId})` : '';
    return (
      `the stored signing key ${sample.kid} cannot be decrypted with KEY_ENCRYPTION_KEY (KEK ${encryption.currentKeyId}) ` +
      `or any key in KEY_ENCRYPTION_KEY_PREVIOUS${named}: set KEY_ENCRYPTION_KEY to the key the data was written with, ` +
      'or keep that key in KEY_ENCRYPTION_KEY_PREVIOUS while rotating'
    );
  }
}
