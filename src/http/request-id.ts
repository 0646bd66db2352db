import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';

/** What a caller's X-Request-Id may be to be kept: short, printable, nothing a log could misread. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is well-formed, else a new one; answered in X-Request-Id. */
export function requestIdOf(ctx: Context): string {
  const given = ctx.get('x-request-id');
  const requestId = REQUEST_ID.test(given) ? given : randomUUID();
  ctx.set('X-Request-Id', requestId);
  return requestId;
}
