/**
 * How far back an incremental sync with include_deleted can start: the pure rule, apart from the
 * reads that feed it. Tombstones are kept TOMBSTONE_RETENTION_DAYS, and a sandbox reset deletes
 * rows without leaving any; a sync from before either would miss deletions, so it must start over.
 */
const DAY_MS = 86_400_000;

export interface SyncWindowInput {
  /** the caller's updated_since, in ms since the epoch */
  readonly updatedSince: number;
  readonly now: number;
  readonly tombstoneRetentionDays: number;
  /** the tenant's last resource reset (sandbox reset), if any */
  readonly resetAt: number | null;
}

/** Why a full resync is needed, or null when tombstones since updated_since are complete. */
export function resyncReason(input: SyncWindowInput): string | null {
  if (input.resetAt !== null && input.updatedSince < input.resetAt) {
    return `the data was reset at ${new Date(input.resetAt).toISOString()}, after updated_since`;
  }
  const earliest = input.now - input.tombstoneRetentionDays * DAY_MS;
  if (input.updatedSince < earliest) {
    return `deletions are kept ${input.tombstoneRetentionDays} days, so updated_since must be at or after ${new Date(earliest).toISOString()}`;
  }
  return null;
}
