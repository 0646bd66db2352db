/**
 * Request errors: one ApiError type with a stable code, rendered as RFC 9457 problem+json by one
 * middleware. A 5xx never shows its internals.
 */
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/database.ts';

export const PROBLEMS = {
  'not-found': { status: 404, title: 'Not Found' },
  'method-not-allowed': { status: 405, title: 'Method Not Allowed' },
  'invalid-token': { status: 401, title: 'Unauthorized' },
  'insufficient-scope': { status: 403, title: 'Forbidden' },
  'tenant-suspended': { status: 403, title: 'Tenant Suspended' },
  'tenant-in-request': { status: 400, title: 'Tenant Given in Request' },
  'invalid-query': { status: 400, title: 'Invalid Query Parameters' },
  'invalid-body': { status: 400, title: 'Invalid Request Body' },
  'invalid-value': { status: 400, title: 'Invalid Value' },
  'validation-failed': { status: 422, title: 'Validation Failed' },
  'invalid-reference': { status: 422, title: 'Invalid Reference' },
  conflict: { status: 409, title: 'Conflict' },
  'still-referenced': { status: 409, title: 'Still Referenced' },
  'precondition-failed': { status: 412, title: 'Precondition Failed' },
  // a sync position older than what is kept (tombstones, events): start over with a full load
  'resync-required': { status: 410, title: 'Full Resync Required' },
  'precondition-required': { status: 428, title: 'Precondition Required' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency Key Reused' },
  'idempotency-key-in-use': { status: 409, title: 'Idempotency Key In Use' },
  'payload-too-large': { status: 413, title: 'Payload Too Large' },
  'rate-limited': { status: 429, title: 'Too Many Requests' },
  'unsupported-media-type': { status: 415, title: 'Unsupported Media Type' },
  'not-acceptable': { status: 406, title: 'Not Acceptable' },
  'service-unavailable': { status: 503, title: 'Service Unavailable' },
  internal: { status: 500, title: 'Internal Server Error' },
} as const;

export type ProblemCode = keyof typeof PROBLEMS;

export const PROBLEM_TYPE_BASE = 'https://tenant-connect.dev/problems/';

export interface ProblemExtras {
  readonly headers?: Record<string, string>;
  /** extra members of the problem document, e.g. `errors` with JSON pointers */
  readonly members?: Record<string, unknown>;
}

export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: ProblemCode;
  readonly status: number;
  readonly title: string;
  readonly headers: Record<string, string>;
  readonly members: Record<string, unknown>;
  constructor(code: ProblemCode, detail: string, extras: ProblemExtras = {}) {
    super(detail);
    this.code = code;
    this.status = PROBLEMS[code].status;
    this.title = PROBLEMS[code].title;
    this.headers = extras.headers ?? {};
    this.members = extras.members ?? {};
  }
}

export function sendProblem(ctx: Context, error: ApiError): void {
  ctx.status = error.status;
  for (const [name, value] of Object.entries(error.headers)) ctx.set(name, value);
  ctx.type = 'application/problem+json';
  ctx.body = {
    type: `${PROBLEM_TYPE_BASE}${error.code}`,
    title: error.title,
    status: error.status,
    detail: error.message,
    ...error.members,
  };
}

/** How long a client should wait before retrying a request the database could not serve. */
export const DATABASE_RETRY_AFTER_SECONDS = 1;

export function problemMiddleware(log: Logger) {
  return async function renderProblems(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (error) {
      if (error instanceof ApiError) {
        sendProblem(ctx, error);
        return;
      }
      // a value validation let through but Postgres refused (22xxx: data exception): the caller's, not ours
      if (typeof (error as { code?: unknown })?.code === 'string' && (error as { code: string }).code.startsWith('22')) {
        log.warn({ err: error, path: ctx.path }, 'value refused by the database');
        sendProblem(ctx, new ApiError('invalid-value', 'A value in the request is out of range.'));
        return;
      }
      if (isDatabaseUnavailable(error)) {
        log.warn({ err: error, method: ctx.method, path: ctx.path }, 'database unavailable');
        sendProblem(
          ctx,
          new ApiError('service-unavailable', 'The service is temporarily unavailable; retry shortly.', {
            headers: { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) },
          }),
        );
        return;
      }
      log.error({ err: error, method: ctx.method, path: ctx.path }, 'unhandled error');
      sendProblem(ctx, new ApiError('internal', 'An unexpected error occurred.'));
    }
  };
}
