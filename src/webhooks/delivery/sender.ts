/**
 * Sends one attempt: the event's body, signed with the subscription's live secrets (Standard
 * Webhooks), as one POST through the address guard, redirects not followed, bounded by a timeout
 * from connecting to the end of the response. A failure is a result, never a throw, except for
 * what goes wrong before sending (a secret that no longer decrypts).
 */
import { eventDocument } from '../event-document.ts';
import http from 'node:http';
import https from 'node:https';
import type { KeyEncryption } from '../../auth/key-encryption.ts';
import { assertAddressAllowed, guardedLookup } from '../../http/address-guard.ts';
import { signatureHeaders } from '../signing.ts';
import { type AttemptResponse, isDelivered } from './policy.ts';

const USER_AGENT = 'tenant-connect-webhooks/1';
const MAX_ERROR_LENGTH = 500;
const RESPONSE_BYTES_READ = 64 * 1024;
/** how much of a response body an attempt keeps, for the operator */
const RESPONSE_BYTES_KEPT = 1024;

export interface AttemptResult extends AttemptResponse {
  /** from connecting to the end of the response (or the failure) */
  readonly durationMs: number;
  /** the first KiB of the response body */
  readonly body: string | null;
}

/** The event of a delivery and where and how it is sent. */
export interface OutgoingEvent {
  readonly event_id: string;
  readonly type: string;
  readonly occurred_at: Date | string;
  readonly data: unknown;
  readonly slug: string;
  readonly environment: string;
  readonly url: string;
  readonly secret_encrypted: string;
  readonly previous_secret_encrypted: string | null;
  readonly previous_expires_at: Date | string | null;
}

/** One POST; never throws (a failure is a result). */
export async function postWebhook(
  target: string,
  headers: Record<string, string>,
  body: string,
  options: { timeoutMs: number; allowLoopback: boolean; agents?: { http: http.Agent; https: https.Agent } },
): Promise<AttemptResult> {
  let url: URL;
  try {
    url = new URL(target);
    assertAddressAllowed(url, options.allowLoopback);
  } catch (error) {
    return { code: null, error: `refused: ${(error as Error).message}`, durationMs: 0, body: null };
  }
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:')
    return { code: null, error: `refused: unsupported scheme ${url.protocol}`, durationMs: 0, body: null };
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = (secure ? https : http).request(url, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': USER_AGENT,
      },
      lookup: guardedLookup(options.allowLoopback) as never,
      ...(options.agents ? { agent: secure ? options.agents.https : options.agents.http } : {}),
    });
    const timer = setTimeout(() => {
      request.destroy(new Error(`no complete response within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    request.on('response', (response) => {
      const code = response.statusCode ?? 0;
      let read = 0;
      const kept: Buffer[] = [];
      response.on('data', (chunk: Buffer) => {
        if (read < RESPONSE_BYTES_KEPT) kept.push(chunk.subarray(0, RESPONSE_BYTES_KEPT - read));
        read += chunk.length;
        if (read > RESPONSE_BYTES_READ) response.destroy(); // the body is not ours to keep
      });
      const retryAfter = code === 429 || code === 503 ? response.headers['retry-after'] : undefined;
      const done = () =>
        finish({
          code,
          error: isDelivered(code) ? null : code >= 300 && code < 400 ? `HTTP ${code}: redirects are not followed` : `HTTP ${code}`,
          durationMs: elapsed(),
          // bytes cut mid-character decode to U+FFFD; NUL cannot be stored in a text column
          body: read ? Buffer.concat(kept).toString('utf8').replaceAll('\u0000', '') || null : null,
          ...(retryAfter === undefined ? {} : { retryAfter }),
        });
      response.on('end', done);
      response.on('close', done);
      response.on('error', done);
    });
    request.on('error', (error) =>
      finish({ code: null, error: (error as Error).message.slice(0, MAX_ERROR_LENGTH), durationMs: elapsed(), body: null }),
    );
    request.end(body);
  });
}

/** The body every attempt of an event sends, identical across attempts. */
export function eventBody(row: Pick<OutgoingEvent, 'event_id' | 'type' | 'slug' | 'environment' | 'occurred_at' | 'data'>): string {
  return JSON.stringify(eventDocument(row));
}

export interface WebhookSenderOptions {
  readonly keyEncryption: KeyEncryption;
  /** per attempt, from connecting to the end of the response */
  readonly timeoutMs: number;
  /** loopback receivers (development) */
  readonly allowLoopback: boolean;
  /** sockets kept per protocol: the worker's lanes */
  readonly concurrency: number;
}

export function createWebhookSender(options: WebhookSenderOptions) {
  const { keyEncryption } = options;
  const agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: options.concurrency }),
    https: new https.Agent({ keepAlive: true, maxSockets: options.concurrency }),
  };

  /** the current secret, and the previous one while its grace period runs at `sentAtMs` */
  function liveSecrets(event: OutgoingEvent, sentAtMs: number): string[] {
    const secrets = [keyEncryption.decrypt(event.secret_encrypted)];
    if (event.previous_secret_encrypted && event.previous_expires_at && new Date(event.previous_expires_at).getTime() > sentAtMs) {
      secrets.push(keyEncryption.decrypt(event.previous_secret_encrypted));
    }
    return secrets;
  }

  return {
    /** Signs `event` as of `sentAtMs` and POSTs it. Throws only before sending. */
    async send(event: OutgoingEvent, sentAtMs: number): Promise<AttemptResult> {
      const secrets = liveSecrets(event, sentAtMs);
      const body = eventBody(event);
      const headers = {
        ...signatureHeaders(secrets, event.event_id, Math.floor(sentAtMs / 1000), body),
        // which tenant sent it, for routing before parsing; the signed body says the same
        'tenant-connect-tenant': event.slug,
        'tenant-connect-environment': event.environment,
      };
      return postWebhook(event.url, headers, body, { timeoutMs: options.timeoutMs, allowLoopback: options.allowLoopback, agents });
    },
    /** closes the kept-alive sockets */
    close(): void {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
export type WebhookSender = ReturnType<typeof createWebhookSender>;
