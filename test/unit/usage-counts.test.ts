/** The usage counts' pure policy: UTC hours, bounded entries, what a refused flush merges back; the date range of GET /v1/usage; the quota client health reports. */
import { describe, expect, it } from 'vitest';
import { applicableQuota } from '../../src/admin/operator/client-health.ts';
import { USAGE_MAX_RANGE_DAYS, usageRange } from '../../src/admin/operator/usage-report.ts';
import { addApiCall, entryFor, HOUR_MS, hourOf, mergeBack, type PendingUsage, usageRows } from '../../src/db/usage-counts.ts';

const at = (iso: string) => Date.parse(iso);

describe('usage buckets', () => {
  it('puts a moment in the UTC hour that contains it', () => {
    expect(new Date(hourOf(at('2026-11-29T14:59:59.999Z'))).toISOString()).toBe('2026-11-29T14:00:00.000Z');
    expect(new Date(hourOf(at('2026-11-29T15:00:00.000Z'))).toISOString()).toBe('2026-11-29T15:00:00.000Z');
    expect(hourOf(0)).toBe(0);
    expect(hourOf(-1)).toBe(-HOUR_MS);
  });

  it('keeps one entry per tenant, client and hour, and makes none past the bound', () => {
    const pending: PendingUsage = new Map();
    const first = entryFor(pending, 't1', 'c1', at('2026-11-29T14:01:00Z'), 2);
    expect(entryFor(pending, 't1', 'c1', at('2026-11-29T14:59:00Z'), 2)).toBe(first);
    const nextHour = entryFor(pending, 't1', 'c1', at('2026-11-29T15:00:00Z'), 2);
    expect(nextHour).not.toBe(first);
    expect(entryFor(pending, 't1', 'c2', at('2026-11-29T14:01:00Z'), 2)).toBeUndefined();
    // an existing entry is still counted into when full
    expect(entryFor(pending, 't1', 'c1', at('2026-11-29T14:30:00Z'), 2)).toBe(first);
    expect(pending.size).toBe(2);
  });

  it('counts an API answer, its 4xx and 429, and the latest call', () => {
    const pending: PendingUsage = new Map();
    const entry = entryFor(pending, 't', 'c', at('2026-11-29T14:00:00Z'), 10);
    if (!entry) throw new Error('no entry');
    addApiCall(entry, 200, at('2026-11-29T14:00:02Z'));
    addApiCall(entry, 404, at('2026-11-29T14:00:03Z'));
    addApiCall(entry, 429, at('2026-11-29T14:00:01Z'));
    addApiCall(entry, 503, at('2026-11-29T14:00:00Z'));
    expect(entry).toMatchObject({ apiCalls: 4, api4xx: 2, api429: 1, lastApiCallAt: at('2026-11-29T14:00:03Z') });
  });

  it('merges a refused batch back into what was counted since, adding counts, and drops what no longer fits', () => {
    const hour = at('2026-11-29T14:00:00Z');
    const refused: PendingUsage = new Map();
    const a = entryFor(refused, 't', 'a', hour, 10);
    const b = entryFor(refused, 't', 'b', hour, 10);
    if (!a || !b) throw new Error('no entry');
    a.tokens = 2;
    a.lastApiCallAt = hour + 5;
    b.tokens = 7;
    const since: PendingUsage = new Map();
    const a2 = entryFor(since, 't', 'a', hour + 1000, 10);
    if (!a2) throw new Error('no entry');
    a2.tokens = 1;
    a2.lastApiCallAt = hour + 1;
    expect(mergeBack(since, refused, 1)).toBe(1); // b has no room
    expect(since.size).toBe(1);
    expect(a2).toMatchObject({ tokens: 3, lastApiCallAt: hour + 5 });
    expect(mergeBack(since, new Map([...refused].filter(([, e]) => e === b)), 2)).toBe(0);
    expect([...since.values()].map((e) => [e.clientId, e.tokens])).toEqual([
      ['a', 3],
      ['b', 7],
    ]);
  });

  it('writes rows in key order, whatever the order they were counted in', () => {
    const pending: PendingUsage = new Map();
    for (const [tenant, client, hour] of [
      ['t2', 'a', '2026-11-29T10:00:00Z'],
      ['t1', 'b', '2026-11-29T09:00:00Z'],
      ['t1', 'a', '2026-11-29T11:00:00Z'],
      ['t1', 'a', '2026-11-29T10:00:00Z'],
    ] as const)
      entryFor(pending, tenant, client, at(hour), 10);
    expect(usageRows(pending).map((r) => `${r.tenant_id} ${r.client_id} ${r.hour.slice(11, 13)}`)).toEqual([
      't1 a 10',
      't1 a 11',
      't1 b 09',
      't2 a 10',
    ]);
    expect(usageRows(pending)[0]).toMatchObject({ tokens: 0, last_api_call_at: null });
  });
});

describe('the date range of GET /v1/usage', () => {
  const now = at('2026-11-29T14:00:00Z');

  it('defaults to the 30 days up to today, or up to `to`', () => {
    expect(usageRange({}, now)).toEqual({ from: '2026-10-31', to: '2026-11-29' });
    expect(usageRange({ to: '2026-03-01' }, now)).toEqual({ from: '2026-01-31', to: '2026-03-01' });
    expect(usageRange({ from: '2026-11-01' }, now)).toEqual({ from: '2026-11-01', to: '2026-11-29' });
  });

  it('accepts one day and at most 366, and refuses from after to', () => {
    expect(usageRange({ from: '2026-11-29', to: '2026-11-29' }, now)).toEqual({ from: '2026-11-29', to: '2026-11-29' });
    expect(USAGE_MAX_RANGE_DAYS).toBe(366);
    expect(usageRange({ from: '2024-01-01', to: '2024-12-31' }, now)).toEqual({ from: '2024-01-01', to: '2024-12-31' });
    expect(usageRange({ from: '2025-01-01', to: '2026-01-02' }, now)).toEqual({
      error: 'the range from 2025-01-01 to 2026-01-02 is 367 days; ask for at most 366 at a time',
      parameter: 'from',
    });
    expect(usageRange({ from: '2026-11-30', to: '2026-11-29' }, now)).toEqual({
      error: 'from (2026-11-30) is after to (2026-11-29)',
      parameter: 'from',
    });
  });
});

describe("the quota a client's health reports", () => {
  it("is the client's own, replacing the tenant's as a whole; else the tenant's; none without a window", () => {
    const tenant = { token_quota: { per_hour: 100, per_day: 1000 } };
    expect(applicableQuota({ per_hour: 5 }, tenant)).toEqual({ source: 'client', quota: { per_hour: 5 } });
    expect(applicableQuota(null, tenant)).toEqual({ source: 'tenant', quota: { per_hour: 100, per_day: 1000, mode: 'enforce' } });
    expect(applicableQuota(null, { token_quota: { per_day: 10, mode: 'log' } })).toEqual({
      source: 'tenant',
      quota: { per_day: 10, mode: 'log' },
    });
    expect(applicableQuota(null, {})).toBeUndefined();
    // a client's quota without a window lifts the tenant's, as the token endpoint counts it
    expect(applicableQuota({ mode: 'log' }, tenant)).toBeUndefined();
  });
});
