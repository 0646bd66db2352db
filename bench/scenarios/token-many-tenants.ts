/**
 * token-many-tenants: 10,000 tenants in each of the two environments (20,000 issuers), token
 * requests spread over all of them uniformly and Zipf-like, with a Provider pool (1,000, the
 * default PROVIDER_POOL_SIZE) smaller than that working set, so a share of requests builds a
 * Provider; against the same server serving one tenant, and the bare oidc-provider baseline. Also
 * the first token of a tenant once the pool is full (cold: records read, a Provider built, the
 * least recently used one evicted), what a pooled Provider costs in memory, the RSS the load leaves
 * behind and what it is made of (a heap snapshot and /proc), and the same server with what an
 * operator can set to bound that RSS (jemalloc as its malloc; V8's young generation capped),
 * alternating with it in the same run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alternate } from '../alternate.ts';
import { log } from '../console.ts';
import { describeHeapGroups, type HeapSummary, summarizeHeapSnapshot } from '../heap-summary.ts';
import { type LoopbackRequest, basicAuthorization, TOKEN_CONTENT_TYPE, tokenRequestBody } from '../http.ts';
import { describeLatencies, timeSeries } from '../latency-series.ts';
import { type LatencySeries, NOT_MEASURED } from '../measurements.ts';
import type { MemoryReport } from '../protocol.ts';
import type { BenchTenant } from '../servers/ours.ts';
import { profileNotes, profileUnderLoad } from '../profile-summary.ts';
import { lruHitRate, seededRandom, uniform, zipf } from '../distributions.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio, summarize } from '../summary.ts';
import { measureProviderMemory, memoryComparisons, memoryNotes } from './provider-memory.ts';
import {
  authenticationHost,
  baselineTokenTarget,
  fetchTokens,
  firstTenant,
  type Ours,
  oursTokenTarget,
  startOursVariants,
  startTokenBaseline,
  tokenPath,
} from './servers.ts';

/** Debian's libjemalloc2, where it is installed (`apt-get install libjemalloc2`), by architecture */
const JEMALLOC = ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2'].find((file) =>
  fs.existsSync(file),
);

/** What an operator can set in a server's environment to bound its RSS: each measured as a server of its own. */
interface MemoryVariant {
  readonly name: string;
  readonly env: Record<string, string>;
  /** what it changes, and how it would bound RSS */
  readonly what: string;
}

const MEMORY_VARIANTS: readonly MemoryVariant[] = [
  ...(JEMALLOC
    ? [
        {
          name: 'jemalloc',
          env: { LD_PRELOAD: JEMALLOC },
          what: `jemalloc as its malloc (LD_PRELOAD=${JEMALLOC}), which gives freed native memory back to the system after a 10 s decay`,
        },
      ]
    : []),
  {
    name: 'semi16',
    env: { NODE_OPTIONS: '--max-semi-space-size=16' },
    what: "V8's young generation capped (NODE_OPTIONS=--max-semi-space-size=16: at most 16 MiB per semi-space)",
  },
];

function coldRequest(ours: Ours, tenant: BenchTenant): LoopbackRequest {
  return {
    port: ours.info.port,
    host: authenticationHost(ours, tenant),
    method: 'POST',
    path: tokenPath(tenant),
    headers: { authorization: basicAuthorization(tenant.clientId, tenant.clientSecret), 'content-type': TOKEN_CONTENT_TYPE },
    body: tokenRequestBody(ours.info.scope),
  };
}

/**
 * The pool filled (memory measured before and after), then the first token of `cold` more
 * tenants one at a time (records read, a Provider built, another evicted), then every other
 * tenant's records cached.
 */
async function prepare(ours: Ours, poolSize: number, coldCount: number, variant: string) {
  const tenants = ours.info.tenants;
  const memory = await measureProviderMemory(ours, tenants.slice(0, poolSize));
  const cold = await timeSeries(
    variant,
    1,
    ours.pid,
    tenants.slice(poolSize, poolSize + coldCount).map((t) => coldRequest(ours, t)),
  );
  log(`  ${variant.padEnd(14)} ${cold.series.requests} first tokens one at a time: p50 ${cold.series.p50} ms  p99 ${cold.series.p99} ms`);
  // every tenant's records cached before the load (a Provider evicted from the pool is rebuilt
  // from cached records): what is measured is the pool, not first reads from the database
  const warming = performance.now();
  await fetchTokens(ours, tenants.slice(poolSize + coldCount));
  log(`  records of all ${tenants.length} tenants cached (${((performance.now() - warming) / 1000).toFixed(1)} s)`);
  return { memory, cold };
}

/** The RSS a memory report splits into: code and libraries, the V8 heap, and the rest (malloc's). */
function rssParts(report: MemoryReport): string {
  const outside = report.rssAnonMb !== undefined ? Math.round((report.rssAnonMb - report.heapTotalMb) * 10) / 10 : undefined;
  const spaces = Object.entries(report.heapSpacesMb)
    .map(([space, mb]) => `${space} ${mb}`)
    .join(', ');
  return (
    `rss ${report.rssMb} MiB = file-backed ${report.rssFileMb ?? '–'} MiB (the node binary and libraries) + anonymous ` +
    `${report.rssAnonMb ?? '–'} MiB, of which the V8 heap has ${report.heapTotalMb} MiB committed (${spaces}) for ` +
    `${report.heapUsedMb} MiB used, and ${outside ?? '–'} MiB is outside it (malloc's arenas: OpenSSL, the compilers' zones, ` +
    `buffers; pages V8 keeps pooled; ${report.threads ?? '–'} thread stacks); external ${report.externalMb} MiB`
  );
}

/** A heap snapshot of the server, summarised; the file (hundreds of MB) is deleted. */
async function snapshotHeap(ours: Ours): Promise<HeapSummary | undefined> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenant-connect-bench-heap-'));
  try {
    const started = performance.now();
    const file = await ours.heapSnapshot(dir);
    const summary = summarizeHeapSnapshot(file, 12);
    log(`  heap snapshot: ${summary.totalMb} MiB reachable, summarised in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    return summary;
  } catch (error) {
    log(`  heap snapshot failed: ${(error as Error).message}`);
    return undefined;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const tokenManyTenants: Scenario = {
  name: 'token-many-tenants',
  description:
    'POST /connect/token spread over 10,000 tenants × 2 environments (one client each), uniformly and Zipf-like, ' +
    'with a Provider pool of 1,000 (the default, smaller than the working set); cold tokens with the pool full; memory with ' +
    'the pool full and after the load, and the same server with jemalloc, and with a capped young generation.',
  async run(context) {
    const { manyTenants, poolSize, zipfS, coldSamples, repeats } = context.settings;
    const servers = await startOursVariants(
      context,
      {
        tenants: manyTenants,
        allEnvironments: true,
        provisionApart: true,
        providerPoolSize: poolSize,
        // tenant, client and key records are a few hundred bytes each: cache every one, as a
        // deployment with this many tenants would (TENANT_CACHE_SIZE); the Providers are what the pool limits
        tenantCacheSize: 2 * manyTenants + 100,
      },
      [{ name: 'ours' }, ...MEMORY_VARIANTS.map((v) => ({ name: `ours-${v.name}`, env: v.env }))],
    );
    const [ours, ...variantServers] = servers as [Ours, ...Ours[]];
    const bounded = MEMORY_VARIANTS.map((variant, i) => ({ variant, server: variantServers[i] as Ours }));
    const tenants = ours.info.tenants;
    const pairs = tenants.length;
    const coldCount = Math.min(coldSamples * repeats, pairs - poolSize);
    const { memory, cold } = await prepare(ours, poolSize, coldCount, 'cold');
    const variantCold = new Map<string, LatencySeries>();
    for (const { variant, server } of bounded)
      variantCold.set(variant.name, (await prepare(server, poolSize, coldCount, `cold-${variant.name}`)).cold.series);
    const tenant = firstTenant(ours);
    const baseline = await startTokenBaseline(context, ours, tenant);

    const pickZipf = zipf(pairs, zipfS);
    const runs = await alternate(
      [
        oursTokenTarget(ours, 'uniform', tenants),
        oursTokenTarget(ours, 'zipf', tenants, pickZipf),
        oursTokenTarget(ours, 'single', [tenant]),
        baselineTokenTarget(ours, baseline),
        ...bounded.flatMap(({ variant, server }) => [
          oursTokenTarget(server, `uniform-${variant.name}`, server.info.tenants),
          oursTokenTarget(server, `zipf-${variant.name}`, server.info.tenants, pickZipf),
        ]),
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
    const variantAfterLoad = new Map<string, MemoryReport>();
    for (const { variant, server } of bounded) variantAfterLoad.set(variant.name, await server.memory());
    // last: writing a snapshot allocates outside the heap, and the server's RSS with it
    const heap = await snapshotHeap(ours);
    const uniformRuns = summarize(runs, 'uniform');
    const zipfRuns = summarize(runs, 'zipf');
    const single = summarize(runs, 'single');
    const b = summarize(runs, 'baseline');
    const largestRss = (variants: readonly string[]) =>
      runs
        .filter((r) => variants.includes(r.variant) && r.rssMb !== undefined)
        .reduce<number | undefined>((max, r) => Math.max(max ?? 0, r.rssMb as number), undefined);
    const rssUnderLoad = largestRss(['uniform', 'zipf']);

    const coldAll: LatencySeries = { ...describeLatencies('cold', 0, cold.latencies, cold.statusCodes), ...NOT_MEASURED };
    for (const series of [cold.series, ...variantCold.values()]) {
      if (series.non2xx > 0) context.problems.push(`${series.variant}: ${series.non2xx} non-2xx responses`);
    }
    /** a variant's figures against the default server's, from the same run */
    const measuredVariants = bounded.map(({ variant }) => {
      const after = variantAfterLoad.get(variant.name) as MemoryReport;
      const rssLoad = largestRss([`uniform-${variant.name}`, `zipf-${variant.name}`]);
      const u = summarize(runs, `uniform-${variant.name}`);
      const z = summarize(runs, `zipf-${variant.name}`);
      return {
        variant,
        after,
        rssLoad,
        uniform: u,
        zipf: z,
        cold: variantCold.get(variant.name),
        afterRatio: ratio(after.rssMb, afterLoad.rssMb),
        loadRatio: ratio(rssLoad, rssUnderLoad),
      };
    });
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
      const outside = (r: MemoryReport) => (r.rssAnonMb !== undefined ? r.rssAnonMb - r.heapTotalMb : undefined);
      const grew = (x: number | undefined, y: number | undefined) =>
        x !== undefined && y !== undefined ? `${x - y >= 0 ? '+' : ''}${Math.round(x - y)} MiB` : '–';
      analysis.push(
        `**RSS under load ${rssUnderLoad} MiB with ${poolSize} Providers pooled (target ≤ 400)**; ${after.rssMb} MiB after a ` +
          `full GC with the pool just filled. After the load, after a full GC: ${rssParts(afterLoad)}. From the pool just ` +
          `filled to the end of the load: RSS ${grew(afterLoad.rssMb, after.rssMb)}; the V8 heap committed ` +
          `${grew(afterLoad.heapTotalMb, after.heapTotalMb)} for ${grew(afterLoad.heapUsedMb, after.heapUsedMb)} of live objects ` +
          `(every tenant's records are cached by then); anonymous memory outside the V8 heap ${grew(outside(afterLoad), outside(after))}. ` +
          `The heap snapshot (notes) finds ${heap ? heap.totalMb : '–'} MiB of reachable objects: what grew is not held by JavaScript.`,
        'Two things keep memory the process no longer uses. V8 sizes its heap for the allocation rate: every Provider build ' +
          "allocates a whole configuration (oidc-provider's deep clone), the young generation grows to its maximum and old " +
          'space keeps the pages it grew into, so the heap commits several times what it uses. And every build (with its ' +
          "first request) allocates and frees native memory on several threads: OpenSSL's key objects, V8's compiler zones on " +
          "its worker threads, buffers; glibc's malloc keeps freed memory in per-thread arenas that it cannot give back while " +
          'a live allocation sits among the free ones (fragmentation). Neither is a leak: both stop growing at their working ' +
          'size, and fewer builds (a larger pool, or tenants routed to the same instances) lower both.',
        ...measuredVariants.map(
          (m) =>
            `The same server with ${m.variant.what} (same tenants, same loads, alternating with this one): ${m.rssLoad ?? '–'} MiB ` +
            `under load (${m.loadRatio ?? '–'}×), ${m.after.rssMb} MiB after it (${m.afterRatio ?? '–'}×): ${rssParts(m.after)}; ` +
            `uniform ${m.uniform?.reqPerSec ?? '–'} req/s at ${m.uniform?.cpuUsPerRequest ?? '–'} µs of server CPU per request ` +
            `(default: ${uniformRuns?.reqPerSec ?? '–'} req/s at ${uniformRuns?.cpuUsPerRequest ?? '–'} µs), zipf ` +
            `${m.zipf?.reqPerSec ?? '–'} req/s at ${m.zipf?.cpuUsPerRequest ?? '–'} µs (default: ${zipfRuns?.reqPerSec ?? '–'} ` +
            `at ${zipfRuns?.cpuUsPerRequest ?? '–'} µs). ` +
            (m.afterRatio !== undefined && m.afterRatio <= 0.9 && m.loadRatio !== undefined && m.loadRatio <= 0.9
              ? 'It bounds RSS in this run; [Production](../docs/production.md#memory) says how to set it.'
              : 'In this run it did not lower RSS by 10 % or more both under and after the load.'),
        ),
        ...(JEMALLOC ? [] : ['jemalloc is not installed here (`apt-get install libjemalloc2`): its variant is missing.']),
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
        ...measuredVariants.flatMap((m) => [
          { name: `uniform-${m.variant.name}`, description: `the uniform load on the same server with ${m.variant.what}` },
          { name: `zipf-${m.variant.name}`, description: `the Zipf load on the server with ${m.variant.name}` },
        ]),
        {
          name: 'cold',
          description: `ours, the first token of ${coldCount} tenants one at a time, pool full: records read, a Provider built, one evicted`,
        },
        ...measuredVariants.map((m) => ({
          name: `cold-${m.variant.name}`,
          description: `the same first tokens on the server with ${m.variant.name}`,
        })),
      ],
      loadRuns: runs,
      latencySeries: [coldAll, ...measuredVariants.flatMap((m) => (m.cold ? [{ ...m.cold, repeat: 0 }] : []))],
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
        compare(`cold token p50 (ms), ${pairs} tenants, pool of ${poolSize} full`, coldAll.p50),
        compare(`cold token p99 (ms), ${pairs} tenants, pool of ${poolSize} full`, coldAll.p99),
        ...memoryComparisons(memory, rssUnderLoad),
        compare(`RSS after the load (MiB, after GC, ${poolSize} Providers pooled)`, afterLoad.rssMb),
        ...measuredVariants.flatMap((m) => [
          compare(`RSS under load, max, ${m.variant.name} / default`, m.loadRatio),
          compare(`RSS after the load (after GC), ${m.variant.name} / default`, m.afterRatio),
          compare(`RSS after the load (MiB, after GC), ${m.variant.name}`, m.after.rssMb),
          compare(`throughput uniform, ${m.variant.name} / default`, ratio(m.uniform?.reqPerSec, uniformRuns?.reqPerSec)),
          compare(
            `server CPU per request uniform, ${m.variant.name} / default`,
            ratio(m.uniform?.cpuUsPerRequest, uniformRuns?.cpuUsPerRequest),
          ),
          compare(`cold token p50, ${m.variant.name} / default`, ratio(m.cold?.p50, coldAll.p50)),
        ]),
      ],
      notes: [
        `${manyTenants} tenants in each of 2 environments: ${pairs} issuers, one Provider each when pooled; PROVIDER_POOL_SIZE=${poolSize}, ` +
          `TENANT_CACHE_SIZE=${2 * manyTenants + 100} (every tenant, client and key record stays cached; only Providers are evicted).`,
        `An LRU pool of ${poolSize} answers about ${pct(hitUniform)} of uniform requests and ${pct(hitZipf)} of Zipf (s=${zipfS}) ` +
          `requests (simulated with the same distributions); every other request builds a Provider.`,
        ...memoryNotes(memory),
        `Cold tokens: after the pool was filled, the first token of ${coldCount} more tenants, one request at a time (latency ` +
          'measured by the client, loopback round trip included); each read its tenant, client and key records from Postgres, ' +
          'built a Provider and evicted the least recently used one.',
        `After the load, after a full GC (${afterLoad.extra.providers} Providers pooled): ${rssParts(afterLoad)}.`,
        ...measuredVariants.map((m) => `With ${m.variant.name}, after the load, after a full GC: ${rssParts(m.after)}.`),
        ...(heap
          ? [
              `Heap snapshot after the load (v8.writeHeapSnapshot over IPC): ${heap.totalMb} MiB of reachable objects in ${heap.nodes} ` +
                `nodes. By retained size (dominator tree; a group inside another counts in both): ${describeHeapGroups(heap.byRetained.slice(0, 10), 'retainedMb')}. ` +
                `By own size: ${describeHeapGroups(heap.bySelf.slice(0, 8), 'selfMb')}.`,
            ]
          : []),
        'CPU per pool miss is derived: (server CPU per request of the spread load − of the one-tenant load) / simulated miss rate.',
        ...profileNotes('uniform', profiled),
        `RSS under load is the largest RSS at the end of a uniform or zipf run (/proc), with the pool full (${poolSize} Providers).`,
      ],
    };
  },
};
