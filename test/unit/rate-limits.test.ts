import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createCounterStore } from '../../src/db/counter-store.ts';
import { createRateLimits, type QuotaExceededEvent, TokenQuotaExceeded } from '../../src/http/rate-limits.ts';
import type { Tenant } from '../../src/tenancy/tenants.ts';

const tenant = (settings: Tenant['settings']): Tenant => ({
  id: 'tenant-1',
  kind: 'tenant',
  environment: 'production',
  slug: 'acme',
  name: 'Acme',
  status: 'ACTIVE',
  settings,
});

/** Rate limits over the in-memory store on a clock of our own, with the quota events they report. */
function limitsAt(iso: string) {
  const events: QuotaExceededEvent[] = [];
  let now = Date.parse(iso);
  const limits = createRateLimits(createCounterStore({ redis: undefined, log: pino({ level: 'silent' }) }), {
    maxTenants: 10,
    now: () => now,
    onQuotaExceeded: (event) => events.push(event),
  });
  return { limits, events, setTime: (to: string) => (now = Date.parse(to)) };
}

describe('token quotas over the counter store', () => {
  it('log: issues past the quota, reports every excess, and marks only the first of the window for the log', async () => {
    const { limits, events } = limitsAt('2026-11-29T13:30:00Z');
    const acme = tenant({ token_quota: { per_hour: 1, mode: 'log' } });
    const states = [];
    for (let i = 0; i < 3; i++) states.push(await limits.chargeTokenQuota(acme, 'erp', null));
    expect(states.map((s) => s[0]?.remaining)).toEqual([0, 0, 0]);
    expect(events.map((e) => [e.mode, e.windows, e.first])).toEqual([
      ['log', ['per_hour'], true],
      ['log', ['per_hour'], false],
    ]);
  });

  it('enforce: refuses past the quota until the window ends, and a refusal does not count', async () => {
    const { limits, events, setTime } = limitsAt('2026-11-29T13:30:00Z');
    const acme = tenant({ token_quota: { per_hour: 2, per_day: 3 } });
    await limits.chargeTokenQuota(acme, 'erp', null);
    await limits.chargeTokenQuota(acme, 'erp', null);
    for (let i = 0; i < 3; i++) {
      const refusal = await limits.chargeTokenQuota(acme, 'erp', null).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(TokenQuotaExceeded);
      expect((refusal as TokenQuotaExceeded).retryAfterSeconds).toBe(1800);
    }
    expect(events.map((e) => [e.mode, e.first])).toEqual([
      ['enforce', true],
      ['enforce', false],
      ['enforce', false],
    ]);
    // the refusals were taken back: the next hour, the day still has its third token, then no more
    setTime('2026-11-29T14:10:00Z');
    expect((await limits.chargeTokenQuota(acme, 'erp', null)).map((s) => [s.policy, s.remaining])).toEqual([
      ['tokens-hour', 1],
      ['tokens-day', 0],
    ]);
    const dayOver = await limits.chargeTokenQuota(acme, 'erp', null).catch((error: unknown) => error);
    expect((dayOver as TokenQuotaExceeded).message).toBe(
      'this client has used its quota of 3 tokens per day; cache access tokens and reuse each until shortly before it expires instead of requesting one per call',
    );
    expect((dayOver as TokenQuotaExceeded).retryAfterSeconds).toBe(9 * 3600 + 50 * 60);
  });

  it("takes a client's own quota over the tenant's, and none without either", async () => {
    const { limits } = limitsAt('2026-11-29T13:30:00Z');
    expect(await limits.chargeTokenQuota(tenant({}), 'erp', null)).toEqual([]);
    const states = await limits.chargeTokenQuota(tenant({ token_quota: { per_hour: 1 } }), 'erp', { per_day: 10, mode: 'log' });
    expect(states).toEqual([{ policy: 'tokens-day', quota: 10, windowSeconds: 86400, remaining: 9, resetSeconds: 37800 }]);
  });
});
