/**
 * The pure part of limits and quotas: where a token-quota window starts and ends, whether a count
 * is over its quota, and how the state of each limit is written in the RateLimit and
 * RateLimit-Policy header fields of draft-ietf-httpapi-ratelimit-headers-11: each a Structured
 * Fields list of String items, `"name";q=<quota>;w=<window s>` and `"name";r=<remaining>;t=<s to reset>`.
 */
import type { TokenQuota } from '../catalog/token-quotas.ts';

/** One limit as a response reports it. */
export interface LimitState {
  /** the policy's name in both header fields */
  readonly policy: string;
  readonly quota: number;
  readonly windowSeconds: number;
  readonly remaining: number;
  /** seconds until the window ends and the quota is whole again */
  readonly resetSeconds: number;
}

/** The state after a count: `consumed` of `quota` used, the window ending in `msBeforeReset`. */
export function limitState(policy: string, quota: number, windowSeconds: number, consumed: number, msBeforeReset: number): LimitState {
  return {
    policy,
    quota,
    windowSeconds,
    remaining: Math.max(0, quota - consumed),
    resetSeconds: Math.max(0, Math.ceil(msBeforeReset / 1000)),
  };
}

/** `"tenant";q=1000;w=1, "client";q=100;w=1` */
export function formatRateLimitPolicy(states: readonly LimitState[]): string {
  return states.map((s) => `"${s.policy}";q=${s.quota};w=${s.windowSeconds}`).join(', ');
}

/** `"tenant";r=999;t=1, "client";r=99;t=1` */
export function formatRateLimit(states: readonly LimitState[]): string {
  return states.map((s) => `"${s.policy}";r=${s.remaining};t=${s.resetSeconds}`).join(', ');
}

// ---- token quotas ----

/** The quota windows, by setting: fixed UTC hours and days, so every instance agrees on them. */
export const QUOTA_WINDOWS = [
  { setting: 'per_hour', policy: 'tokens-hour', seconds: 3600, unit: 'hour' },
  { setting: 'per_day', policy: 'tokens-day', seconds: 86400, unit: 'day' },
] as const;
export type QuotaWindow = (typeof QUOTA_WINDOWS)[number];

/** The window of `seconds` that `nowMs` falls in: its number since the epoch and the ms until it ends. */
export function quotaWindowAt(nowMs: number, seconds: number): { index: number; msBeforeEnd: number } {
  const windowMs = seconds * 1000;
  const index = Math.floor(nowMs / windowMs);
  return { index, msBeforeEnd: (index + 1) * windowMs - nowMs };
}

/** The windows a quota sets (none: no quota). */
export function quotaWindowsOf(quota: TokenQuota | undefined): { window: QuotaWindow; limit: number }[] {
  if (!quota) return [];
  return QUOTA_WINDOWS.flatMap((window) => {
    const limit = quota[window.setting];
    return limit === undefined ? [] : [{ window, limit }];
  });
}

export interface QuotaVerdict {
  readonly states: LimitState[];
  /** the windows whose count (this request included) is over the limit */
  readonly exceeded: { window: QuotaWindow; state: LimitState }[];
  /** when every exceeded window has ended; 0 when none is */
  readonly retryAfterSeconds: number;
}

/** Whether `counts` (one per window of quotaWindowsOf, this request included) are within the quota. */
export function judgeQuota(
  windows: readonly { window: QuotaWindow; limit: number }[],
  counts: readonly number[],
  nowMs: number,
): QuotaVerdict {
  const states: LimitState[] = [];
  const exceeded: QuotaVerdict['exceeded'] = [];
  windows.forEach(({ window, limit }, i) => {
    const count = counts[i] ?? 0;
    const state = limitState(window.policy, limit, window.seconds, count, quotaWindowAt(nowMs, window.seconds).msBeforeEnd);
    states.push(state);
    if (count > limit) exceeded.push({ window, state });
  });
  return { states, exceeded, retryAfterSeconds: Math.max(0, ...exceeded.map((e) => e.state.resetSeconds)) };
}
