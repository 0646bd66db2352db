/** What the first version of key-encryption.ts wrote: "v1.<iv>.<ciphertext>.<tag>", no KEK named. */
import { createCipheriv, randomBytes } from 'node:crypto';

export function encryptV1(kek: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv, ciphertext, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
}
