import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { uuidv7 } from '../../src/db/ids.ts';
import { moreToTrim, RETENTION_TARGETS, retentionCutoffs, uuidv7Floor } from '../../src/admin/operator/retention-policy.ts';

const now = Date.parse('2026-11-29T12:00:00.000Z');

describe('retention policy', () => {
  it('derives each cutoff from the clock and its own setting', () => {
    const config = loadConfig({
      TOMBSTONE_RETENTION_DAYS: '7',
      EVENT_RETENTION_DAYS: '14',
      WEBHOOK_DELIVERY_RETENTION_DAYS: '21',
      WEBHOOK_ATTEMPT_RETENTION_DAYS: '3',
      IDEMPOTENCY_KEY_RETENTION_HOURS: '36',
      AUDIT_RETENTION_DAYS: '400',
      AUTH_EVENT_RETENTION_DAYS: '10',
      USAGE_RETENTION_DAYS: '100',
      USAGE_HOURLY_RETENTION_DAYS: '2',
    }).retention;
    const cutoffs = Object.fromEntries(retentionCutoffs(now, config).map((c) => [c.target.table, c.instant]));
    expect(cutoffs).toEqual({
      webhook_attempts: '2026-11-26T12:00:00.000Z',
      webhook_deliveries: '2026-11-08T12:00:00.000Z',
      outbox_events: '2026-11-15T12:00:00.000Z',
      idempotency_keys: '2026-11-28T00:00:00.000Z',
      tombstones: '2026-11-22T12:00:00.000Z',
      // by their own expires_at: revocations a minute (the verifiers' tolerance) after it, replay records at it
      revoked_tokens: '2026-11-29T11:59:00.000Z',
      client_token_cutoffs: '2026-11-29T11:59:00.000Z',
      oauth_replay_detections: '2026-11-29T12:00:00.000Z',
      client_assertion_jtis: '2026-11-29T12:00:00.000Z',
      auth_events: '2026-11-19T12:00:00.000Z',
      audit_events: '2025-10-25T12:00:00.000Z',
      usage_daily: '2026-08-21T12:00:00.000Z',
      usage_hourly: '2026-11-27T12:00:00.000Z',
    });
  });

  it('has the documented defaults: 30 days for events, deliveries, attempts, tombstones and auth events, 365 for the audit log', () => {
    const cutoffs = Object.fromEntries(retentionCutoffs(now, loadConfig({}).retention).map((c) => [c.target.table, c.instant]));
    expect(cutoffs).toMatchObject({
      outbox_events: '2026-10-30T12:00:00.000Z',
      tombstones: '2026-10-30T12:00:00.000Z',
      webhook_deliveries: '2026-10-30T12:00:00.000Z',
      webhook_attempts: '2026-10-30T12:00:00.000Z',
      auth_events: '2026-10-30T12:00:00.000Z',
      audit_events: '2025-11-29T12:00:00.000Z',
    });
  });

  it('writes the cutoff of a time-ordered table as the smallest UUIDv7 of its millisecond', () => {
    const [events] = retentionCutoffs(now, loadConfig({}).retention).filter((c) => c.target.table === 'outbox_events');
    const cutoffMs = now - 30 * 86_400_000;
    expect(events?.value).toBe(uuidv7Floor(cutoffMs));
    for (let i = 0; i < 50; i += 1) {
      expect(uuidv7(cutoffMs - 1) < uuidv7Floor(cutoffMs)).toBe(true);
      expect(uuidv7(cutoffMs) >= uuidv7Floor(cutoffMs)).toBe(true);
    }
  });

  it('keeps trimming only after a full batch', () => {
    expect(moreToTrim(1000, 1000)).toBe(true);
    expect(moreToTrim(999, 1000)).toBe(false);
    expect(moreToTrim(0, 1000)).toBe(false);
  });

  it('declares every table once', () => {
    const tables = RETENTION_TARGETS.map((t) => t.table);
    expect(new Set(tables).size).toBe(tables.length);
  });

  it('refuses an idempotency retention shorter than the 24 h a retry is answered from', () => {
    expect(() => loadConfig({ IDEMPOTENCY_KEY_RETENTION_HOURS: '12' })).toThrow(
      'IDEMPOTENCY_KEY_RETENTION_HOURS: expected an integer (24), got "12"',
    );
  });
});
