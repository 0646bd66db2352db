/** Optimistic concurrency: every representation carries ETag "<version>"; writes must send If-Match. */
import { ApiError } from '../http/problem.ts';
import type { RequestHeader, ResponseHeader } from '../http/route-spec.ts';

export function etagOf(version: number): string {
  return `"${version}"`;
}

/**
 * The version a PUT/PATCH/DELETE may change, from If-Match: a number, or null for `*` (any
 * current version, RFC 9110 §13.1.1). Weak tags never match (If-Match compares strongly).
 */
export function requireIfMatch(value: string): { versions: number[] | null } {
  const header = value.trim();
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

/** The versions `IF_MATCH` read for a route (null: any). */
export function ifMatchVersions(headers: Readonly<Record<string, unknown>>): number[] | null {
  return (headers[IF_MATCH.name] as ReturnType<typeof requireIfMatch>).versions;
}

export const IF_MATCH: RequestHeader = {
  name: 'If-Match',
  required: true,
  description: 'the ETag of the version you change (required: 428 without it, 412 if stale)',
  schema: { type: 'string' },
  read: requireIfMatch,
  precondition: true,
};

export const ETAG: Readonly<Record<string, ResponseHeader>> = {
  ETag: { description: 'the version, for If-Match', schema: { type: 'string' } },
};
