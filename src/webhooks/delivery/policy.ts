/**
 * What becomes of a delivery after an attempt, decided without I/O: 2xx is delivered; 410 Gone
 * fails it and disables the subscription; anything else (3xx included: redirects are not followed,
 * a timeout, a refused address) is retried on a fixed schedule, spread by jitter and stretched by
 * a 429's or 503's Retry-After, until the schedule runs out: then it has failed, and the
 * subscription is disabled unless something reached it since. The clock and the random source
 * are the caller's, so the whole schedule is testable.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Every number of the policy. */
export const DELIVERY_POLICY = {
  /** Wait before each retry: 8 attempts over about 28 hours, then the delivery has failed. */
  retryDelaysMs: [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR] as readonly number[],
  /** a retry waits up to this fraction longer, so receivers that failed together are not retried together */
  jitter: 0.1,
  /** the longest a receiver's Retry-After is honoured for */
  maxRetryAfterMs: 24 * HOUR,
} as const;

/** What an attempt got back: a status code, or none and why (timeout, refused, connection error). */
export interface AttemptResponse {
  readonly code: number | null;
  readonly error: string | null;
  /** a 429's or 503's Retry-After header, as sent */
  readonly retryAfter?: string;
}

/** Why a delivery is failed without a request, read from its subscription and tenant. */
export interface SendingState {
  readonly enabled: boolean;
  readonly webhooks_enabled: boolean;
  readonly deleted: boolean;
}

export type Decision =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry'; readonly error: string | null; readonly atMs: number }
  /** 410 Gone: failed, and the subscription is disabled */
  | { readonly kind: 'gone'; readonly error: string; readonly disableReason: string }
  /**
   * No retry left: failed. `disableReason` when the subscription is to be disabled too, but only
   * if no delivery reached it since this one was created.
   */
  | { readonly kind: 'exhausted'; readonly error: string | null; readonly disableReason?: string };

/** Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

export const isDelivered = (code: number | null): boolean => code !== null && code >= 200 && code < 300;

export function createDeliveryPolicy(options: { retryDelaysMs?: readonly number[]; random?: () => number } = {}) {
  const delays = options.retryDelaysMs ?? DELIVERY_POLICY.retryDelaysMs;
  /** [0, 1) */
  const random = options.random ?? Math.random;
  const scheduleHours = Math.round(delays.reduce((a, b) => a + b, 0) / HOUR);

  /** the scheduled wait after attempt `attempt` (1 for the first) failed; undefined: none left */
  const delayAfter = (attempt: number): number | undefined => delays[attempt - 1];

  return {
    delayAfter,

    /** why this delivery is failed without sending it, or undefined to send it */
    notSent(state: SendingState): string | undefined {
      if (!state.enabled) return 'the subscription is disabled';
      if (!state.webhooks_enabled) return "the tenant's webhooks are disabled (settings.webhooks.enabled)";
      if (state.deleted) return 'the tenant is deleted';
      return undefined;
    },

    /** After attempt number `attempt` (1 for the first) got `response`; `nowMs` is when it ended. */
    afterResponse(attempt: number, response: AttemptResponse, nowMs: number): Decision {
      if (isDelivered(response.code)) return { kind: 'delivered' };
      if (response.code === 410) {
        return {
          kind: 'gone',
          error: 'HTTP 410: the receiver is gone; the subscription was disabled',
          disableReason: 'the receiver answered 410 Gone',
        };
      }
      const scheduled = delayAfter(attempt);
      if (scheduled === undefined) {
        return {
          kind: 'exhausted',
          error: response.error,
          disableReason: `every attempt of a delivery failed for ${scheduleHours} hours, and none succeeded since`,
        };
      }
      // a receiver asking to wait (429, 503 + Retry-After) waits at least that long
      const retryAfterMs = parseRetryAfter(response.retryAfter, nowMs) ?? 0;
      const delay = Math.max(scheduled * (1 + DELIVERY_POLICY.jitter * random()), Math.min(retryAfterMs, DELIVERY_POLICY.maxRetryAfterMs));
      return { kind: 'retry', error: response.error, atMs: nowMs + delay };
    },

    /**
     * After attempt number `attempt` failed before sending (e.g. a secret that no longer decrypts):
     * retried on the schedule like any failure, never a poison row; no jitter, and running out
     * disables nothing.
     */
    afterInternalError(attempt: number, nowMs: number): Decision {
      const error = 'internal error before sending';
      const scheduled = delayAfter(attempt);
      return scheduled === undefined ? { kind: 'exhausted', error } : { kind: 'retry', error, atMs: nowMs + scheduled };
    },
  };
}
export type DeliveryPolicy = ReturnType<typeof createDeliveryPolicy>;
