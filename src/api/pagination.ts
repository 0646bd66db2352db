/** Opaque cursors: base64url of a small JSON document, validated on the way back in. */
import { ApiError } from '../http/problem.ts';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function encodeCursor(afterId: string): string {
  return Buffer.from(JSON.stringify({ after: afterId })).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof value.after === 'string' && UUID.test(value.after)) return value.after;
  } catch {
    // fall through to the 400 below
  }
  throw new ApiError('invalid-query', 'The cursor is not valid: pass back the `next` link of the previous page unchanged.', {
    members: { errors: [{ pointer: '/query/cursor', detail: 'malformed cursor' }] },
  });
}
