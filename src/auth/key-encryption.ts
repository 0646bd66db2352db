/**
 * Private signing keys are stored encrypted under a key-encryption key (KEK): AES-256-GCM with a
 * random 96-bit IV per value. The stored form names its version so a KEK rotation can find what to
 * re-encrypt: "v1.<iv>.<ciphertext>.<tag>" (base64url parts).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface KeyEncryption {
  encrypt(plaintext: string): string;
  decrypt(stored: string): string;
}

export function createKeyEncryption(kek: Buffer): KeyEncryption {
  if (kek.length !== 32) throw new TypeError('the key-encryption key must be 32 bytes');
  return {
    encrypt(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', kek, iv);
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', iv, ciphertext, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
    },
    decrypt(stored) {
      const [version, iv, ciphertext, tag] = stored.split('.');
      if (version !== 'v1' || !iv || !ciphertext || !tag) throw new Error('unrecognised encrypted key format');
      const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
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
