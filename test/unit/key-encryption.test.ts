/**
 * Key-encryption keys: the stored form names its KEK (v2), previous KEKs only decrypt, values of
 * the unnamed v1 format still decrypt under any configured KEK, and a value nobody can decrypt
 * fails with the KEK it names. Also the rotation delay rule and its configuration.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createKeyEncryption,
  keyEncryptionKeyId,
  MalformedEncryptedKeyError,
  UnknownKeyEncryptionKeyError,
} from '../../src/auth/key-encryption.ts';
import { resolveRotationDelay, RotationDelayError } from '../../src/auth/key-rotation.ts';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { encryptV1 } from '../helpers/legacy-encryption.ts';

describe('key-encryption keys', () => {
  const [oldKek, newKek, unknownKek] = [randomBytes(32), randomBytes(32), randomBytes(32)];

  it('name the KEK by the first 8 base64url characters of its SHA-256', () => {
    const id = createHash('sha256').update(newKek).digest('base64url').slice(0, 8);
    expect(keyEncryptionKeyId(newKek)).toBe(id);
    const encryption = createKeyEncryption(newKek, [oldKek]);
    expect(encryption.currentKeyId).toBe(id);
    const stored = encryption.encrypt('{"d":"x"}');
    expect(stored.split('.')).toHaveLength(5);
    expect(stored.startsWith(`v2.${id}.`)).toBe(true);
    expect(encryption.isCurrent(stored)).toBe(true);
  });

  it('decrypt v1 values under the current KEK or a previous one, and call them not current', () => {
    const legacyCurrent = encryptV1(newKek, 'under the new one');
    const legacyPrevious = encryptV1(oldKek, 'under the old one');
    const encryption = createKeyEncryption(newKek, [oldKek]);
    expect(encryption.decrypt(legacyCurrent)).toBe('under the new one');
    expect(encryption.decrypt(legacyPrevious)).toBe('under the old one');
    expect(encryption.isCurrent(legacyCurrent)).toBe(false);
    expect(encryption.isCurrent(legacyPrevious)).toBe(false);
  });

  it('decrypt v2 values of a previous KEK, which is never used to encrypt', () => {
    const before = createKeyEncryption(oldKek).encrypt('secret');
    const after = createKeyEncryption(newKek, [oldKek]);
    expect(after.decrypt(before)).toBe('secret');
    expect(after.isCurrent(before)).toBe(false);
    expect(after.encrypt('x').startsWith(`v2.${keyEncryptionKeyId(newKek)}.`)).toBe(true);
  });

  it('refuse a value under a KEK that is not configured, naming it', () => {
    const stored = createKeyEncryption(unknownKek).encrypt('secret');
    const encryption = createKeyEncryption(newKek, [oldKek]);
    let error: unknown;
    try {
      encryption.decrypt(stored);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UnknownKeyEncryptionKeyError);
    expect((error as UnknownKeyEncryptionKeyError).kekId).toBe(keyEncryptionKeyId(unknownKek));
    expect((error as Error).message).toBe(
      `encrypted under key-encryption key ${keyEncryptionKeyId(unknownKek)}, which is neither KEY_ENCRYPTION_KEY (${keyEncryptionKeyId(newKek)}) nor in KEY_ENCRYPTION_KEY_PREVIOUS`,
    );
    expect(() => encryption.decrypt(encryptV1(unknownKek, 'secret'))).toThrow(UnknownKeyEncryptionKeyError);
  });

  it('refuse a tampered v2 value and an unknown format', () => {
    const encryption = createKeyEncryption(newKek);
    const parts = encryption.encrypt('secret').split('.');
    parts[3] = Buffer.from('tampered').toString('base64url');
    expect(() => encryption.decrypt(parts.join('.'))).toThrow(/authenticate/);
    expect(() => encryption.decrypt('v3.a.b.c.d')).toThrow(MalformedEncryptedKeyError);
  });

  it('refuse a value whose authentication tag is cut short, v2 and v1, without a DEP0182 warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(warning.code ?? warning.name);
    process.on('warning', onWarning);
    try {
      const encryption = createKeyEncryption(newKek);
      for (const stored of [encryption.encrypt('secret'), encryptV1(newKek, 'secret')]) {
        expect(encryption.decrypt(stored)).toBe('secret');
        const parts = stored.split('.');
        const tag = Buffer.from(parts.at(-1) as string, 'base64url');
        expect(tag).toHaveLength(16);
        // a prefix of the right tag: Node's decipher would accept it (4..15 bytes) without authTagLength
        for (const bytes of [4, 8, 12, 15]) {
          parts[parts.length - 1] = tag.subarray(0, bytes).toString('base64url');
          expect(() => encryption.decrypt(parts.join('.'))).toThrow(
            new MalformedEncryptedKeyError(`the authentication tag is ${bytes} bytes, not 16`),
          );
        }
      }
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on a later tick
      expect(warnings).not.toContain('DEP0182');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('refuse a previous KEK that is not 32 bytes', () => {
    expect(() => createKeyEncryption(newKek, [randomBytes(16)])).toThrow(TypeError);
  });
});

describe('KEY_ENCRYPTION_KEY_PREVIOUS and the rotation settings', () => {
  const key = () => randomBytes(32).toString('base64url');

  it('parse a comma-separated list of base64url keys', () => {
    const [a, b] = [key(), key()];
    expect(loadConfig({ KEY_ENCRYPTION_KEY_PREVIOUS: `${a},${b}` }).keyEncryptionKeyPrevious).toEqual([a, b]);
    expect(loadConfig({}).keyEncryptionKeyPrevious).toEqual([]);
    expect(() => loadConfig({ KEY_ENCRYPTION_KEY_PREVIOUS: `${key()},short` })).toThrow(ConfigError);
  });

  it('default to a 300 s JWKS cache, a 600 s delay and a 1 s check', () => {
    expect(loadConfig({})).toMatchObject({ jwksCacheSeconds: 300, keyRotationDelaySeconds: 600, keyRotationCheckMs: 1000 });
  });

  it('refuse a default delay shorter than the JWKS cache time', () => {
    expect(() => loadConfig({ JWKS_CACHE_SECONDS: '900' })).toThrow(
      new ConfigError('KEY_ROTATION_DELAY_SECONDS', 'must be at least JWKS_CACHE_SECONDS (900), got 600'),
    );
    expect(loadConfig({ JWKS_CACHE_SECONDS: '900', KEY_ROTATION_DELAY_SECONDS: '900' }).keyRotationDelaySeconds).toBe(900);
  });

  it('resolveRotationDelay: the default when none is asked, a longer one as asked, a shorter one refused', () => {
    const config = { jwksCacheSeconds: 300, keyRotationDelaySeconds: 600 };
    expect(resolveRotationDelay(config)).toBe(600);
    expect(resolveRotationDelay(config, 300)).toBe(300);
    expect(resolveRotationDelay(config, 86_400)).toBe(86_400);
    for (const bad of [299, 0, -1, 300.5, Number.NaN]) {
      expect(() => resolveRotationDelay(config, bad)).toThrow(RotationDelayError);
    }
    expect(() => resolveRotationDelay(config, 10)).toThrow(
      'the delay must be a whole number of seconds of at least 300 (how long verifiers may cache the JWKS), got 10',
    );
  });
});

describe('secrets derived from the key-encryption key', () => {
  it('are 32 bytes, the same for the same KEK and purpose, and unrelated across purposes and KEKs', () => {
    const kek = randomBytes(32);
    const one = createKeyEncryption(kek);
    const same = createKeyEncryption(Buffer.from(kek), [randomBytes(32)]);
    const secret = one.deriveSecret('dpop-nonce tenant-a');
    expect(secret).toHaveLength(32);
    expect(same.deriveSecret('dpop-nonce tenant-a').equals(secret)).toBe(true);
    expect(one.deriveSecret('dpop-nonce tenant-b').equals(secret)).toBe(false);
    expect(createKeyEncryption(randomBytes(32)).deriveSecret('dpop-nonce tenant-a').equals(secret)).toBe(false);
    expect(secret.equals(kek)).toBe(false);
  });
});
