/**
 * token-many-tenants: 10,000 tenants in each of the two environments (20,000 issuers), token
 * requests spread over all of them uniformly and Zipf-like, with a Provider pool (1,000) smaller
 * than that working set, so a share of requests builds a Provider; against the same server
 * serving one tenant, and the bare oidc-provider baseline. Also what a pooled Provider costs in
 * memory, with the pool full.
 */
import { alternate } from '../alternate.ts';
import { lruHitRate, seededRandom, uniform, zipf } from '../distributions.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio, summarize } from '../summary.ts';
import { measureProviderMemory, memoryComparisons, memoryNotes } from './provider-memory.ts';
import { baselineTokenTarget, firstTenant, oursTokenTarget, startOurs, startTokenBaseline } from './servers.ts';

export const tokenManyTenants: Scenario = {
  name: 'token-many-tenants',
  description:
    'POST /connect/token spread over 10,000 tenants × 2 environments (one client each), uniformly and Zipf-like, ' +
    'with a Provider pool of 1,000 (smaller than the working set); memory with the pool full.',
  async run(context) {
    const { manyTenants, poolSize, zipfS } = context.settings;
    const ours = await startOurs(context, {
      tenants: manyTenants,
      allEnvironments: true,
      providerPoolSize: poolSize,
      // tenant, client and key records are a few hundred bytes each: cache every one, as a
      // deployment with this many tenants would (TENANT_CACHE_SIZE); the Providers are what the pool limits
      tenantCacheSize: 2 * manyTenants + 100,
    });
    const tenants = ours.info.tenants;
    const pairs = tenants.length;
    const memory = await measureProviderMemory(ours, tenants.slice(0, poolSize));
    const tenant = firstTenant(ours);
    const baseline = await startTokenBaseline(context, ours, tenant);

    const pickZipf = zipf(pairs, zipfS);
    const runs = await alternate(
      [
        oursTokenTarget(ours, 'uniform', tenants),
        oursTokenTarget(ours, 'zipf', tenants, pickZipf),
        oursTokenTarget(ours, 'single', [tenant]),
        baselineTokenTarget(ours, baseline),
      ],
      context.settings,
      context.problems,
    );
    const uniformRuns = summarize(runs, 'uniform');
    const zipfRuns = summarize(runs, 'zipf');
    const single = summarize(runs, 'single');
    const b = summarize(runs, 'baseline');
    const rssUnderLoad = runs
      .filter((r) => (r.variant === 'uniform' || r.variant === 'zipf') && r.rssMb !== undefined)
      .reduce<number | undefined>((max, r) => Math.max(max ?? 0, r.rssMb as number), undefined);
    const hitUniform = lruHitRate(uniform(pairs, seededRandom(1)), poolSize);
    const hitZipf = lruHitRate(zipf(pairs, zipfS, seededRandom(2)), poolSize);
    const pct = (x: number) => `${Math.round(100 * x)}%`;
    return {
      variants: [
        {
          name: 'uniform',
          description: `ours, each request to a random one of ${pairs} tenants (uniform), PROVIDER_POOL_SIZE=${poolSize}`,
        },
        { name: 'zipf', description: `ours, each request to one of ${pairs} tenants, Zipf s=${zipfS} (ranks in a fixed random order)` },
        { name: 'single', description: 'ours, the same server, every request to one tenant' },
        { name: 'baseline', description: 'bare oidc-provider, one static in-memory client' },
      ],
      loadRuns: runs,
      latencySeries: [],
      comparisons: [
        compare('throughput uniform / single (ours)', ratio(uniformRuns?.reqPerSec, single?.reqPerSec), '>= 0.7'),
        compare('throughput zipf / single (ours)', ratio(zipfRuns?.reqPerSec, single?.reqPerSec), '>= 0.7'),
        compare('p99 latency uniform / single (ours)', ratio(uniformRuns?.p99, single?.p99)),
        compare('p99 latency zipf / single (ours)', ratio(zipfRuns?.p99, single?.p99)),
        compare('server CPU per request uniform / single', ratio(uniformRuns?.cpuUsPerRequest, single?.cpuUsPerRequest)),
        compare('server CPU per request zipf / single', ratio(zipfRuns?.cpuUsPerRequest, single?.cpuUsPerRequest)),
        compare('throughput single / baseline', ratio(single?.reqPerSec, b?.reqPerSec)),
        ...memoryComparisons(memory, rssUnderLoad),
      ],
      notes: [
        `${manyTenants} tenants in each of 2 environments: ${pairs} issuers, one Provider each when pooled; PROVIDER_POOL_SIZE=${poolSize}, ` +
          `TENANT_CACHE_SIZE=${2 * manyTenants + 100} (every tenant, client and key record stays cached; only Providers are evicted).`,
        `An LRU pool of ${poolSize} answers about ${pct(hitUniform)} of uniform requests and ${pct(hitZipf)} of Zipf (s=${zipfS}) ` +
          `requests (simulated with the same distributions); every other request builds a Provider.`,
        ...memoryNotes(memory),
        `RSS under load is the largest RSS at the end of a uniform or zipf run (/proc), with the pool full (${poolSize} Providers).`,
      ],
    };
  },
};
