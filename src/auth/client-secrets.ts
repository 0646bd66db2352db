/**
 * Client secrets are generated here, never chosen by a person: 32 random bytes (256 bits).
 *
 * Why SHA-256 and not bcrypt/scrypt/argon2: a slow KDF exists to make guessing low-entropy
 * passwords expensive. A 256-bit random secret cannot be guessed whatever the hash, so a KDF buys
 * nothing here, while it would cost tens of milliseconds of a core on every token request (the
 * token endpoint is called constantly by machines). One SHA-256 keeps a leaked table useless
 * (pre-image resistance) at ~1 µs per check. Comparison is constant-time over equal-length digests.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'tcs_'; // lets secret scanners recognise a leaked secret

export function generateClientSecret(): string {
  return `${PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function generateClientId(): string {
  return `tc_${randomBytes(12).toString('base64url')}`;
}

export function hashClientSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('base64url')}`;
}

/** The stored hash `presented` matches, if any (which one tells last_used_at per secret). */
export function matchClientSecret(presented: string, storedHashes: readonly string[]): string | undefined {
  const candidate = Buffer.from(hashClientSecret(presented));
  let matched: string | undefined;
  for (const stored of storedHashes) {
    const expected = Buffer.from(stored);
    // every stored hash is checked: the time taken does not depend on which one matched
    if (expected.length === candidate.length && timingSafeEqual(expected, candidate)) matched = stored;
  }
  return matched;
}

/** True when `presented` matches one of the stored hashes. */
export function verifyClientSecret(presented: string, storedHashes: readonly string[]): boolean {
  return matchClientSecret(presented, storedHashes) !== undefined;
}
