/**
 * The delivery policy alone: what becomes of a delivery after each attempt, on a fixed clock and an
 * injected random source. The numbers are written out here, not read from DELIVERY_POLICY, so a
 * change to the schedule shows up as a failing test.
 */
import { describe, expect, it } from 'vitest';
import { createDeliveryPolicy, DELIVERY_POLICY, parseRetryAfter } from '../../src/webhooks/delivery/policy.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** the wait after attempt n fails, n = 1…7; attempt 8 is the last */
const SCHEDULE = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];
const NOW = Date.UTC(2026, 10, 29, 8, 0, 0);
const unavailable = { code: 503, error: 'HTTP 503' } as const;

/** a policy whose random source returns `value` and counts its calls */
function policyWith(value: number) {
  const calls = { n: 0 };
  const policy = createDeliveryPolicy({
    random: () => {
      calls.n += 1;
      return value;
    },
  });
  return { policy, calls };
}

describe('the retry schedule', () => {
  it('is 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after attempts 1 to 7 without jitter', () => {
    const { policy } = policyWith(0);
    expect(DELIVERY_POLICY.retryDelaysMs).toEqual(SCHEDULE);
    SCHEDULE.forEach((delay, i) => {
      expect(policy.afterResponse(i + 1, unavailable, NOW), `attempt ${i + 1}`).toEqual({
        kind: 'retry',
        error: 'HTTP 503',
        atMs: NOW + delay,
      });
    });
  });

  it('adds jitter of up to 10 %: the random source scales it, once per retry', () => {
    SCHEDULE.forEach((delay, i) => {
      const half = policyWith(0.5);
      expect(half.policy.afterResponse(i + 1, unavailable, NOW)).toMatchObject({ atMs: NOW + delay * 1.05 });
      expect(half.calls.n).toBe(1);
      const most = policyWith(0.999_999);
      const { atMs } = most.policy.afterResponse(i + 1, unavailable, NOW) as { atMs: number };
      expect(atMs - NOW).toBeGreaterThan(delay * 1.0999);
      expect(atMs - NOW).toBeLessThan(delay * 1.1);
    });
  });

  it('fails the delivery after the eighth attempt and asks to disable the subscription, about 28 hours in', () => {
    // 7 waits of 27 h 35 min 5 s in all, named in whole hours
    const { policy, calls } = policyWith(0);
    expect(policy.afterResponse(8, unavailable, NOW)).toEqual({
      kind: 'exhausted',
      error: 'HTTP 503',
      disableReason: 'every attempt of a delivery failed for 28 hours, and none succeeded since',
    });
    expect(policy.afterResponse(9, { code: null, error: 'connect ECONNREFUSED' }, NOW)).toMatchObject({
      kind: 'exhausted',
      error: 'connect ECONNREFUSED',
    });
    expect(calls.n).toBe(0);
  });

  it('follows a schedule given in place of the default, and names its length', () => {
    const policy = createDeliveryPolicy({ retryDelaysMs: [HOUR, 2 * HOUR], random: () => 0 });
    expect(policy.afterResponse(1, unavailable, NOW)).toMatchObject({ kind: 'retry', atMs: NOW + HOUR });
    expect(policy.afterResponse(2, unavailable, NOW)).toMatchObject({ kind: 'retry', atMs: NOW + 2 * HOUR });
    expect(policy.afterResponse(3, unavailable, NOW)).toMatchObject({
      kind: 'exhausted',
      disableReason: expect.stringContaining('failed for 3 hours'),
    });
  });
});

describe('what an answer means', () => {
  const { policy } = policyWith(0);

  it.each([200, 201, 202, 204, 299])('%i is delivered', (code) => {
    expect(policy.afterResponse(1, { code, error: null }, NOW)).toEqual({ kind: 'delivered' });
    expect(policy.afterResponse(8, { code, error: null }, NOW)).toEqual({ kind: 'delivered' });
  });

  it.each([
    [301, 'HTTP 301: redirects are not followed'],
    [307, 'HTTP 307: redirects are not followed'],
    [400, 'HTTP 400'],
    [401, 'HTTP 401'],
    [404, 'HTTP 404'],
    [408, 'HTTP 408'],
    [429, 'HTTP 429'],
    [500, 'HTTP 500'],
    [502, 'HTTP 502'],
  ])('%i is retried with its error kept', (code, error) => {
    expect(policy.afterResponse(1, { code, error }, NOW)).toEqual({ kind: 'retry', error, atMs: NOW + 5 * SECOND });
  });

  it('no answer (timeout, refused address, connection error) is retried like a failed answer', () => {
    for (const error of ['no complete response within 10000 ms', 'refused: loopback address', 'socket hang up']) {
      expect(policy.afterResponse(2, { code: null, error }, NOW)).toEqual({ kind: 'retry', error, atMs: NOW + 5 * MINUTE });
    }
  });

  it('410 Gone fails at once and disables the subscription, on any attempt, whatever the schedule says', () => {
    const gone = {
      kind: 'gone',
      error: 'HTTP 410: the receiver is gone; the subscription was disabled',
      disableReason: 'the receiver answered 410 Gone',
    };
    expect(policy.afterResponse(1, { code: 410, error: 'HTTP 410' }, NOW)).toEqual(gone);
    expect(policy.afterResponse(8, { code: 410, error: 'HTTP 410' }, NOW)).toEqual(gone);
  });
});

describe('Retry-After', () => {
  const { policy } = policyWith(0);
  const asking = (retryAfter: string, code = 429) => ({ code, error: `HTTP ${code}`, retryAfter });

  it('waits as long as the receiver asks when that is longer than the schedule, in seconds or as an HTTP date', () => {
    expect(policy.afterResponse(1, asking('3600'), NOW)).toMatchObject({ kind: 'retry', atMs: NOW + HOUR });
    const date = new Date(NOW + 2 * HOUR).toUTCString();
    expect(policy.afterResponse(1, asking(date, 503), NOW)).toMatchObject({ kind: 'retry', atMs: NOW + 2 * HOUR });
  });

  it('never waits less than the schedule (with its jitter)', () => {
    const jittered = policyWith(0.5).policy;
    expect(jittered.afterResponse(4, asking('60'), NOW)).toMatchObject({ atMs: NOW + 2 * HOUR * 1.05 });
    expect(jittered.afterResponse(1, asking(new Date(NOW - HOUR).toUTCString()), NOW)).toMatchObject({ atMs: NOW + 5 * SECOND * 1.05 });
  });

  it('is honoured for 24 hours at most', () => {
    expect(policy.afterResponse(1, asking(String(7 * 24 * 3600)), NOW)).toMatchObject({ atMs: NOW + 24 * HOUR });
    expect(policy.afterResponse(1, asking(new Date(NOW + 30 * HOUR).toUTCString()), NOW)).toMatchObject({ atMs: NOW + 24 * HOUR });
  });

  it('does not buy a retry past the last attempt', () => {
    expect(policy.afterResponse(8, asking('60'), NOW)).toMatchObject({ kind: 'exhausted', error: 'HTTP 429' });
  });

  it('is read as delta-seconds or a date; anything unreadable is ignored', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120 * SECOND);
    expect(parseRetryAfter(' 120 ', NOW)).toBe(120 * SECOND);
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.UTC(2015, 9, 21, 7, 27, 0))).toBe(MINUTE);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', NOW)).toBe(0); // in the past
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter('', NOW)).toBeUndefined();
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter('60s', NOW)).toBeUndefined();
  });
});

describe('a failure before sending', () => {
  it('is retried on the schedule without jitter, and fails after the last attempt without disabling anything', () => {
    const { policy, calls } = policyWith(0.9);
    SCHEDULE.forEach((delay, i) => {
      expect(policy.afterInternalError(i + 1, NOW)).toEqual({ kind: 'retry', error: 'internal error before sending', atMs: NOW + delay });
    });
    expect(policy.afterInternalError(8, NOW)).toEqual({ kind: 'exhausted', error: 'internal error before sending' });
    expect(calls.n).toBe(0);
  });
});

describe('deliveries never sent', () => {
  const { policy } = policyWith(0);
  const sendable = { enabled: true, webhooks_enabled: true, deleted: false };

  it('are those of a disabled subscription, of a tenant whose webhooks are off, or of a deleted tenant', () => {
    expect(policy.notSent(sendable)).toBeUndefined();
    expect(policy.notSent({ ...sendable, enabled: false })).toBe('the subscription is disabled');
    expect(policy.notSent({ ...sendable, webhooks_enabled: false })).toBe("the tenant's webhooks are disabled (settings.webhooks.enabled)");
    expect(policy.notSent({ ...sendable, deleted: true })).toBe('the tenant is deleted');
    expect(policy.notSent({ enabled: false, webhooks_enabled: false, deleted: true })).toBe('the subscription is disabled');
  });
});
