import { describe, expect, it } from 'vitest';
import { resyncReason } from '../../src/api/collections/sync-window.ts';

const DAY_MS = 86_400_000;
const now = Date.parse('2026-11-29T12:00:00.000Z');

describe('resyncReason: how far back include_deleted reaches', () => {
  it('accepts updated_since inside the retention window, up to its first instant', () => {
    expect(resyncReason({ updatedSince: now - DAY_MS, now, tombstoneRetentionDays: 30, resetAt: null })).toBeNull();
    expect(resyncReason({ updatedSince: now - 30 * DAY_MS, now, tombstoneRetentionDays: 30, resetAt: null })).toBeNull();
  });

  it('asks for a full resync one millisecond before the window', () => {
    expect(resyncReason({ updatedSince: now - 30 * DAY_MS - 1, now, tombstoneRetentionDays: 30, resetAt: null })).toBe(
      'deletions are kept 30 days, so updated_since must be at or after 2026-10-30T12:00:00.000Z',
    );
  });

  it('asks for a full resync from before a reset, however recent', () => {
    const resetAt = now - 60_000;
    expect(resyncReason({ updatedSince: resetAt - 1, now, tombstoneRetentionDays: 30, resetAt })).toBe(
      'the data was reset at 2026-11-29T11:59:00.000Z, after updated_since',
    );
    expect(resyncReason({ updatedSince: resetAt, now, tombstoneRetentionDays: 30, resetAt })).toBeNull();
  });
});
