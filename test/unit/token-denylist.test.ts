/**
 * One tenant's revoked tokens in memory: the rule (a listed jti, or an iat at or before the
 * client's cutoff second), order-independence of loads and notifications, and the bound: entries
 * leave once their tokens have expired, so the size follows the live revocations.
 */
import { describe, expect, it } from 'vitest';
import { createTenantDenylist, REVOCATION_RETENTION_SECONDS } from '../../src/tenancy/token-denylist.ts';

const T = 1_800_000_000;
const token = (jti: string, iat = T, client_id = 'c1') => ({ jti, client_id, iat });

describe('tenant denylist', () => {
  it('refuses a listed jti and nothing else', () => {
    const list = createTenantDenylist(T);
    list.addToken('a', T + 600, T);
    expect(list.isRevoked(token('a'), T)).toBe(true);
    expect(list.isRevoked(token('b'), T)).toBe(false);
  });

  it('refuses a client’s tokens issued at or before the cutoff second, not those of the next second or of other clients', () => {
    const list = createTenantDenylist(T);
    list.addCutoff('c1', T, T + 86400, T);
    expect(list.isRevoked(token('x', T - 100), T)).toBe(true);
    expect(list.isRevoked(token('x', T), T)).toBe(true);
    expect(list.isRevoked(token('x', T + 1), T)).toBe(false);
    expect(list.isRevoked(token('x', T - 100, 'c2'), T)).toBe(false);
  });

  it('keeps the later cutoff whatever order two arrive in (a load and a notification race)', () => {
    for (const order of [
      [T + 10, T],
      [T, T + 10],
    ]) {
      const list = createTenantDenylist(T);
      for (const second of order) list.addCutoff('c1', second, second + 86400, T);
      expect(list.isRevoked(token('x', T + 10), T)).toBe(true);
      expect(list.isRevoked(token('x', T + 11), T)).toBe(false);
    }
  });

  it('forgets a revocation once its token has expired (past the retention margin), and never lists an expired one', () => {
    const list = createTenantDenylist(T);
    list.addToken('a', T + 10, T);
    list.addToken('gone', T - REVOCATION_RETENTION_SECONDS - 1, T);
    expect(list.size).toBe(1);
    const later = T + 10 + REVOCATION_RETENTION_SECONDS + 61;
    expect(list.isRevoked(token('a'), later)).toBe(false); // the time-based sweep ran
    expect(list.size).toBe(0);
  });

  it('stays bounded by the live revocations while thousands expire and arrive', () => {
    const list = createTenantDenylist(T);
    let now = T;
    for (let i = 0; i < 20_000; i += 1) {
      if (i % 100 === 0) now += 1;
      list.addToken(`jti-${i}`, now + 5, now); // each lives 5 s (plus the margin)
    }
    const live = 100 * (5 + REVOCATION_RETENTION_SECONDS + 1);
    expect(list.size).toBeLessThanOrEqual(2 * live + 64);
    expect(list.isRevoked(token('jti-19999'), now)).toBe(true);
  });
});
