/**
 * Opaque cursors: base64url of the sort they belong to, the last row's sort key and its id. A
 * cursor is checked on the way back in; one from another sort order is refused.
 */
import { ApiError } from './problem.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface CursorPosition {
  readonly key: string;
  readonly id: string;
}

export function encodeCursor(sort: string, position: CursorPosition): string {
  return Buffer.from(JSON.stringify({ s: sort, k: position.key, id: position.id })).toString('base64url');
}

function invalidCursor(detail: string): ApiError {
  return new ApiError('invalid-query', `The cursor is not valid: ${detail}. Pass back the \`next\` link of the previous page unchanged.`, {
    members: { errors: [{ pointer: '/query/cursor', detail }] },
  });
}

export function decodeCursor(cursor: string, sort: string): CursorPosition {
  let value: { s?: unknown; k?: unknown; id?: unknown };
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as typeof value;
  } catch {
    throw invalidCursor('malformed cursor');
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof value.k !== 'string' ||
    typeof value.id !== 'string' ||
    !UUID.test(value.id) ||
    value.k.length > 300
  ) {
    throw invalidCursor('malformed cursor');
  }
  if (value.s !== sort) throw invalidCursor('the cursor belongs to another sort order');
  return { key: value.k, id: value.id };
}
