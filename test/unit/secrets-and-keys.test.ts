import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateClientSecret, hashClientSecret, verifyClientSecret } from '../../src/auth/client-secrets.ts';
import { createKeyEncryption } from '../../src/auth/key-encryption.ts';
import { generateSigningKey } from '../../src/auth/signing-keys.ts';

describe('client secrets', () => {
  it('carry at least 256 bits of randomness behind a recognisable prefix', () => {
    const secret = generateClientSecret();
    expect(secret).toMatch(/^tcs_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret.slice(4), 'base64url')).toHaveLength(32);
    expect(generateClientSecret()).not.toBe(secret);
  });

  it('are stored as a hash that verifies only the same secret', () => {
    const secret = generateClientSecret();
    const hash = hashClientSecret(secret);
    expect(hash).not.toContain(secret.slice(4));
    expect(verifyClientSecret(secret, [hash])).toBe(true);
    expect(verifyClientSecret(`${secret}x`, [hash])).toBe(false);
    expect(verifyClientSecret('', [hash])).toBe(false);
  });

  it('verify against any of two live hashes (rotation)', () => {
    const [a, b] = [generateClientSecret(), generateClientSecret()];
    const hashes = [hashClientSecret(a), hashClientSecret(b)];
    expect(verifyClientSecret(a, hashes)).toBe(true);
    expect(verifyClientSecret(b, hashes)).toBe(true);
    expect(verifyClientSecret(generateClientSecret(), hashes)).toBe(false);
  });
});

describe('key encryption', () => {
  const encryption = createKeyEncryption(randomBytes(32));

  it('round-trips and never stores the plaintext', () => {
    const stored = encryption.encrypt('{"d":"private"}');
    expect(stored).toMatch(/^v2\.[A-Za-z0-9_-]{8}\./);
    expect(stored).not.toContain('private');
    expect(encryption.decrypt(stored)).toBe('{"d":"private"}');
    expect(encryption.encrypt('same')).not.toBe(encryption.encrypt('same'));
  });

  it('refuses a tampered value or another key', () => {
    const stored = encryption.encrypt('secret');
    const parts = stored.split('.');
    const tampered = [parts[0], parts[1], parts[2], Buffer.from('XXXXXX').toString('base64url'), parts[4]].join('.');
    expect(() => encryption.decrypt(tampered)).toThrow();
    expect(() => createKeyEncryption(randomBytes(32)).decrypt(stored)).toThrow();
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => createKeyEncryption(randomBytes(16))).toThrow(TypeError);
  });
});

describe('signing keys', () => {
  it('are ES256 by default shape, with a thumbprint kid, and a public half without d', async () => {
    const key = await generateSigningKey('ES256');
    expect(key.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: key.kid });
    expect(key.publicJwk).not.toHaveProperty('d');
    expect(key.privateJwk).toHaveProperty('d');
  });
});
