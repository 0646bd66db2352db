/**
 * token-many-tenants: the same token requests spread uniformly over many tenants, with a Provider
 * pool smaller than that working set (so a share of requests builds a Provider), against the same
 * server serving one tenant, and against the bare oidc-provider baseline.
 */
import { alternate } from '../alternate.ts';
import { fetchToken } from '../http.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio, summarize } from '../summary.ts';
import {
  authenticationHost,
  baselineTokenTarget,
  firstTenant,
  oursTokenTarget,
  startOurs,
  startTokenBaseline,
  tokenPath,
} from './servers.ts';

export const tokenManyTenants: Scenario = {
  name: 'token-many-tenants',
  description:
    'POST /connect/token spread uniformly at random over many tenants (one client each), Provider pool smaller than the working set.',
  async run(context) {
    const { manyTenants, poolSize } = context.settings;
    const ours = await startOurs(context, { tenants: manyTenants, providerPoolSize: poolSize });
    const tenant = firstTenant(ours);
    await fetchToken(ours.info.port, authenticationHost(ours), tokenPath(tenant), tenant.clientId, tenant.clientSecret, ours.info.scope);
    const baseline = await startTokenBaseline(context, ours, tenant);

    const runs = await alternate(
      [oursTokenTarget(ours, 'many', ours.info.tenants), oursTokenTarget(ours, 'single', [tenant]), baselineTokenTarget(ours, baseline)],
      context.settings,
      context.problems,
    );
    const many = summarize(runs, 'many');
    const single = summarize(runs, 'single');
    const b = summarize(runs, 'baseline');
    return {
      variants: [
        { name: 'many', description: `ours, each request to a random one of ${manyTenants} tenants, PROVIDER_POOL_SIZE=${poolSize}` },
        { name: 'single', description: 'ours, the same server, every request to one tenant' },
        { name: 'baseline', description: 'bare oidc-provider, one static in-memory client' },
      ],
      loadRuns: runs,
      latencySeries: [],
      comparisons: [
        compare('throughput many / single (ours)', ratio(many?.reqPerSec, single?.reqPerSec), '>= 0.7'),
        compare('p99 latency many / single (ours)', ratio(many?.p99, single?.p99)),
        compare('throughput many / baseline', ratio(many?.reqPerSec, b?.reqPerSec)),
        compare('throughput single / baseline', ratio(single?.reqPerSec, b?.reqPerSec)),
      ],
      notes: [
        `With uniform random choice over ${manyTenants} tenants and an LRU pool of ${poolSize}, about ` +
          `${Math.round((100 * Math.min(poolSize, manyTenants)) / manyTenants)}% of requests find their Provider pooled; the rest build one.`,
        'Tenant and client records are re-read from the database after TENANT_CACHE_TTL_MS (default 5 s).',
      ],
    };
  },
};
