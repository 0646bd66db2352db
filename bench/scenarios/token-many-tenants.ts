/**
 * token-many-tenants: 10,000 tenants in each of the two environments (20,000 issuers), token
 * requests spread over all of them uniformly and Zipf-like, with a Provider pool (1,000) smaller
 * than that working set, so a share of requests builds a Provider; against the same server
 * serving one tenant, and the bare oidc-provider baseline. Also what a pooled Provider costs in
 * memory, with the pool full.
 */
import { alternate } from '../alternate.ts';
import { log } from '../console.ts';
import { profileNotes, profileUnderLoad } from '../profile-summary.ts';
import { lruHitRate, seededRandom, uniform, zipf } from '../distributions.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio, summarize } from '../summary.ts';
import { measureProviderMemory, memoryComparisons, memoryNotes } from './provider-memory.ts';
import { baselineTokenTarget, fetchTokens, firstTenant, oursTokenTarget, startOurs, startTokenBaseline } from './servers.ts';

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
      provisionApart: true,
      providerPoolSize: poolSize,
      // tenant, client and key records are a few hundred bytes each: cache every one, as a
      // deployment with this many tenants would (TENANT_CACHE_SIZE); the Providers are what the pool limits
      tenantCacheSize: 2 * manyTenants + 100,
    });
    const tenants = ours.info.tenants;
    const pairs = tenants.length;
    const memory = await measureProviderMemory(ours, tenants.slice(0, poolSize));
    // every tenant's records cached before the load (a Provider evicted from the pool is rebuilt
    // from cached records): what is measured is the pool, not first reads from the database
    const warming = performance.now();
    await fetchTokens(ours, tenants.slice(poolSize));
    log(`  records of all ${pairs} tenants cached (${((performance.now() - warming) / 1000).toFixed(1)} s)`);
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
    const profiled = await profileUnderLoad(
      ours,
      oursTokenTarget(ours, 'uniform', tenants),
      context.settings.quick ? 2 : 5,
      context.settings.connections,
    );
    const afterLoad = await ours.memory();
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
    // CPU a miss adds: (CPU per request of the spread load − the one-tenant load) / miss rate
    const perMiss = (cpu: number | undefined, hit: number) =>
      cpu !== undefined && single?.cpuUsPerRequest !== undefined && hit < 1
        ? Math.round((cpu - single.cpuUsPerRequest) / (1 - hit))
        : undefined;
    const uniformRatio = ratio(uniformRuns?.reqPerSec, single?.reqPerSec);
    const zipfRatio = ratio(zipfRuns?.reqPerSec, single?.reqPerSec);
    const missUniform = perMiss(uniformRuns?.cpuUsPerRequest, hitUniform);
    const missZipf = perMiss(zipfRuns?.cpuUsPerRequest, hitZipf);
    // the CPU per miss at which the spread load would reach 0.7× the one-tenant throughput
    const affordable = (hit: number) =>
      single?.cpuUsPerRequest !== undefined ? Math.round((single.cpuUsPerRequest * (1 / 0.7 - 1)) / (1 - hit)) : undefined;
    const frames = profiled.topFrames
      .slice(0, 8)
      .map((f) => `${f.frame} ${f.usPerRequest}`)
      .join('; ');
    const failing = [uniformRatio, zipfRatio].some((r) => r !== undefined && r < 0.7);
    const analysis: string[] = failing
      ? [
          `**Throughput uniform / single ${uniformRatio}, zipf / single ${zipfRatio} (target ≥ 0.7 each).** With ${pairs} issuers ` +
            `and ${poolSize} pooled, ${pct(1 - hitUniform)} of uniform and ${pct(1 - hitZipf)} of Zipf requests find no Provider ` +
            `and build one (tenant, client and key records are cached: a miss is the Provider build and its first request). ` +
            `Each miss costs about ${missUniform ?? '–'} µs of server CPU (uniform) and ${missZipf ?? '–'} µs (zipf), derived ` +
            `from CPU per request against the one-tenant load (${single?.cpuUsPerRequest} µs). To reach 0.7× a miss could cost ` +
            `at most ${affordable(hitUniform)} µs (uniform) or ${affordable(hitZipf)} µs (zipf).`,
          `Top frames of the uniform load (self time, µs per request): ${frames}. Building a Provider is oidc-provider's ` +
            'constructor: its Configuration (a deep clone and merge of every default, then validation), initializeApp (routes ' +
            'and middleware), the keystore, and on the first request the per-Provider Client class with its metadata schema ' +
            'and the OIDCContext class. None of that can be shared between Provider instances from outside the library; what ' +
            "we control is done (records cached, the signing key imported once per key record and reused when a tenant's " +
            'Provider is rebuilt, no JWK clone and re-import per build).',
          'What limits it: the miss rate, set by the pool size against the working set, times the build cost, set by ' +
            'oidc-provider. A uniform spread over 20× the pool cannot reach 0.7× with any build that costs more than about ' +
            `a third of a request. What would: a larger PROVIDER_POOL_SIZE (a pooled Provider costs about ${memory.rssPerProviderMb ?? '–'} MiB ` +
            'of RSS after GC here: memory traded for builds), or routing each tenant to the same instances so that an ' +
            "instance's working set fits its pool.",
        ]
      : [];
    if (rssUnderLoad !== undefined && rssUnderLoad > 400) {
      const { after } = memory;
      analysis.push(
        `**RSS under load ${rssUnderLoad} MiB with ${poolSize} Providers pooled (target ≤ 400)**; the same process after a full GC ` +
          `is ${after.rssMb} MiB (heap used ${after.heapUsedMb} MiB of ${after.heapTotalMb} MiB committed, external ${after.externalMb} MiB), ` +
          `and a pooled Provider costs ${memory.rssPerProviderMb} MiB of RSS (${memory.heapPerProviderMb} MiB of heap). What is ` +
          'retained fits the budget; the growth under load is memory the process has not given back (a full GC brings heap ' +
          'used back down but not RSS). The bare oidc-provider baseline, with one ' +
          `client and no tenants at all, reaches ${b?.rssMb ?? '–'} MiB under the same load. After the load, after a full GC, ` +
          `this server still holds ${afterLoad.rssMb} MiB RSS with ${afterLoad.heapTotalMb} MiB of heap committed for ` +
          `${afterLoad.heapUsedMb} MiB used: V8 sized its heap for the allocation rate of Provider builds (a build allocates ` +
          'a whole configuration) and does not give it back. Capping the heap is no answer: with NODE_OPTIONS=' +
          '--max-old-space-size=256 (tried once, outside this report) the collector thrashed, throughput fell by an order ' +
          'of magnitude and RSS under load was still about 450 MiB. Fewer builds (a hit rate closer to 1) is what keeps ' +
          'both CPU and memory down.',
      );
    }
    return {
      analysis,
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
        compare('Provider pool hit rate, uniform (simulated)', Math.round(hitUniform * 1000) / 1000),
        compare('Provider pool hit rate, zipf (simulated)', Math.round(hitZipf * 1000) / 1000),
        compare('server CPU µs per pool miss, uniform (derived)', perMiss(uniformRuns?.cpuUsPerRequest, hitUniform)),
        compare('server CPU µs per pool miss, zipf (derived)', perMiss(zipfRuns?.cpuUsPerRequest, hitZipf)),
        ...memoryComparisons(memory, rssUnderLoad),
        compare(`RSS after the load (MiB, after GC, ${poolSize} Providers pooled)`, afterLoad.rssMb),
      ],
      notes: [
        `${manyTenants} tenants in each of 2 environments: ${pairs} issuers, one Provider each when pooled; PROVIDER_POOL_SIZE=${poolSize}, ` +
          `TENANT_CACHE_SIZE=${2 * manyTenants + 100} (every tenant, client and key record stays cached; only Providers are evicted).`,
        `An LRU pool of ${poolSize} answers about ${pct(hitUniform)} of uniform requests and ${pct(hitZipf)} of Zipf (s=${zipfS}) ` +
          `requests (simulated with the same distributions); every other request builds a Provider.`,
        ...memoryNotes(memory),
        `After the load, after a full GC: rss ${afterLoad.rssMb} MiB, heap used ${afterLoad.heapUsedMb} MiB of ${afterLoad.heapTotalMb} MiB ` +
          `committed, external ${afterLoad.externalMb} MiB, ${afterLoad.extra.providers} Providers pooled.`,
        'CPU per pool miss is derived: (server CPU per request of the spread load − of the one-tenant load) / simulated miss rate.',
        ...profileNotes('uniform', profiled),
        `RSS under load is the largest RSS at the end of a uniform or zipf run (/proc), with the pool full (${poolSize} Providers).`,
      ],
    };
  },
};
