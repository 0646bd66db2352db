import { describe, expect, it } from 'vitest';
import {
  formatRateLimit,
  formatRateLimitPolicy,
  judgeQuota,
  limitState,
  quotaWindowAt,
  quotaWindowsOf,
} from '../../src/http/rate-limit-policy.ts';
import { readTokenQuota } from '../../src/cli/commands/clients.ts';
import { readOptions } from '../../src/cli/option-values.ts';

const at = (iso: string) => Date.parse(iso);

describe('token quota windows', () => {
  it('are fixed UTC hours and days: the same window on every instance, ending on the hour and at midnight', () => {
    expect(quotaWindowAt(at('2026-11-29T13:59:59.000Z'), 3600)).toEqual({
      index: Math.floor(at('2026-11-29T13:00:00Z') / 3600000),
      msBeforeEnd: 1000,
    });
    expect(quotaWindowAt(at('2026-11-29T14:00:00.000Z'), 3600).msBeforeEnd).toBe(3600000);
    expect(quotaWindowAt(at('2026-11-29T14:00:00.000Z'), 3600).index).toBe(quotaWindowAt(at('2026-11-29T13:59:59.999Z'), 3600).index + 1);
    expect(quotaWindowAt(at('2026-11-29T18:00:00.000Z'), 86400).msBeforeEnd).toBe(6 * 3600000);
  });

  it('come from the quota: none without one, only the windows it sets', () => {
    expect(quotaWindowsOf(undefined)).toEqual([]);
    expect(quotaWindowsOf({ mode: 'enforce' })).toEqual([]);
    expect(quotaWindowsOf({ per_day: 50 }).map((w) => [w.window.setting, w.limit])).toEqual([['per_day', 50]]);
    expect(quotaWindowsOf({ per_hour: 5, per_day: 50, mode: 'log' }).map((w) => w.window.policy)).toEqual(['tokens-hour', 'tokens-day']);
  });
});

describe('judging a quota', () => {
  const windows = quotaWindowsOf({ per_hour: 5, per_day: 50 });
  const now = at('2026-11-29T13:30:00.000Z');

  it('lets the count reach the limit, with what remains and when each window ends', () => {
    const verdict = judgeQuota(windows, [5, 20], now);
    expect(verdict.exceeded).toEqual([]);
    expect(verdict.retryAfterSeconds).toBe(0);
    expect(verdict.states).toEqual([
      { policy: 'tokens-hour', quota: 5, windowSeconds: 3600, remaining: 0, resetSeconds: 1800 },
      { policy: 'tokens-day', quota: 50, windowSeconds: 86400, remaining: 30, resetSeconds: 10.5 * 3600 },
    ]);
  });

  it('past the hourly limit: retry when the hour ends', () => {
    const verdict = judgeQuota(windows, [6, 20], now);
    expect(verdict.exceeded.map((e) => e.window.setting)).toEqual(['per_hour']);
    expect(verdict.retryAfterSeconds).toBe(1800);
  });

  it('past both: retry when the later window (the day) ends', () => {
    const verdict = judgeQuota(windows, [6, 51], now);
    expect(verdict.exceeded.map((e) => e.window.setting)).toEqual(['per_hour', 'per_day']);
    expect(verdict.retryAfterSeconds).toBe(10.5 * 3600);
  });
});

describe('RateLimit and RateLimit-Policy fields (draft-ietf-httpapi-ratelimit-headers-11)', () => {
  it('are Structured Fields lists of String items: q and w for the policy, r and t for the state', () => {
    const states = [
      limitState('tenant', 1000, 1, 1, 1000),
      limitState('client', 100, 1, 100, 250),
      limitState('tokens-hour', 5, 3600, 7, 1800000),
    ];
    expect(formatRateLimitPolicy(states)).toBe('"tenant";q=1000;w=1, "client";q=100;w=1, "tokens-hour";q=5;w=3600');
    // remaining never goes below 0; the time to reset rounds up to whole seconds
    expect(formatRateLimit(states)).toBe('"tenant";r=999;t=1, "client";r=0;t=1, "tokens-hour";r=0;t=1800');
  });
});

describe('clients create/update --token-quota', () => {
  const read = (value: string, allowDefault = true) =>
    readTokenQuota(readOptions({ 'token-quota': value }, 'clients update'), 'clients update', allowDefault);

  it('reads per_hour, per_day and mode, each optional', () => {
    expect(read('per_hour=100,per_day=2000,mode=log')).toEqual({ per_hour: 100, per_day: 2000, mode: 'log' });
    expect(read('per_day=5')).toEqual({ per_day: 5 });
    expect(readTokenQuota(readOptions({}, 'clients update'), 'clients update', true)).toBeUndefined();
  });

  it("reads 'default' as back to the tenant's quota, on update only", () => {
    expect(read('default')).toBeNull();
    expect(() => read('default', false)).toThrow('--token-quota has an unknown part "default"');
  });

  it('refuses what it cannot read, naming the part', () => {
    expect(() => read('per_hour=0')).toThrow('--token-quota per_hour must be a positive whole number (got "0")');
    expect(() => read('mode=strict')).toThrow('--token-quota mode must be enforce or log (got "strict")');
    expect(() => read('hourly=5')).toThrow('--token-quota has an unknown part "hourly=5"');
  });
});
