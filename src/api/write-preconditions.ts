/** Optimistic concurrency: every representation carries ETag "<version>"; writes must send If-Match. */
import type { Context } from 'koa';
import { ApiError } from '../http/problem.ts';

export function etagOf(version: number): string {
  return `"${version}"`;
}

/**
 * The version a PUT/PATCH/DELETE may change, from If-Match: a number, or null for `*` (any
 * current version, RFC 9110 §13.1.1). Weak tags never match (If-Match compares strongly).
 */
export function requireIfMatch(ctx: Context): { versions: number[] | null } {
  const header = ctx.get('if-match').trim();
  if (!header) {
    throw new ApiError(
      'precondition-required',
      'This write must send If-Match with the ETag of the version it changes (GET the resource first); it keeps you from overwriting a change you have not seen.',
    );
  }
  if (header === '*') return { versions: null };
  const versions = header
    .split(',')
    .map((tag) => /^"(\d{1,9})"$/.exec(tag.trim())?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number);
  if (versions.length === 0) {
    throw new ApiError('precondition-failed', 'If-Match names no current version of this resource (send the ETag from a GET, e.g. "3").');
  }
  return { versions };
}
