/**
 * token-cold: the first token for a tenant whose Provider is not in the pool (nor its tenant,
 * client and key records in their caches): single requests one at a time, p50/p99 latency. The
 * same tenants' second token (warm) and the bare oidc-provider's token, timed the same way, are
 * the references. A few cold tenants are spent first so the build path is JIT-compiled.
 */
import { log } from '../console.ts';
import { basicAuthorization, type LoopbackRequest, TOKEN_CONTENT_TYPE, tokenRequestBody } from '../http.ts';
import { describeLatencies, timeSeries } from '../latency-series.ts';
import { type LatencySeries, NOT_MEASURED } from '../measurements.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio } from '../summary.ts';
import type { BenchTenant } from '../servers/ours.ts';
import { authenticationHost, firstTenant, type Ours, startOurs, startTokenBaseline, type TokenBaseline, tokenPath } from './servers.ts';

const WARMUP_TENANTS = 20;
const WARMUP_REQUESTS = 200;

function oursRequest(ours: Ours, tenant: BenchTenant): LoopbackRequest {
  return {
    port: ours.info.port,
    host: authenticationHost(ours),
    method: 'POST',
    path: tokenPath(tenant),
    headers: { authorization: basicAuthorization(tenant.clientId, tenant.clientSecret), 'content-type': TOKEN_CONTENT_TYPE },
    body: tokenRequestBody(ours.info.scope),
  };
}

function baselineRequest(ours: Ours, baseline: TokenBaseline): LoopbackRequest {
  return {
    port: baseline.info.port,
    host: authenticationHost(ours),
    method: 'POST',
    path: baseline.info.tokenPath,
    headers: { authorization: basicAuthorization(baseline.info.clientId, baseline.info.clientSecret), 'content-type': TOKEN_CONTENT_TYPE },
    body: tokenRequestBody(ours.info.scope),
  };
}

function logSeries(series: LatencySeries, problems: string[]): void {
  log(
    `  run ${series.repeat}    ${series.variant.padEnd(10)} ${series.requests} requests  p50 ${series.p50} ms  p90 ${series.p90} ms  ` +
      `p99 ${series.p99} ms  max ${series.max} ms  non-2xx ${series.non2xx}`,
  );
  if (series.non2xx > 0) {
    const problem = `${series.variant} run ${series.repeat}: ${series.non2xx} non-2xx responses (${JSON.stringify(series.statusCodes)})`;
    log(`  !!! ${problem}`);
    problems.push(problem);
  }
}

export const tokenCold: Scenario = {
  name: 'token-cold',
  description: 'The first token for tenants not yet in the Provider pool, one request at a time (latency, not throughput).',
  async run(context) {
    const { coldSamples, repeats } = context.settings;
    const tenants = 1 + WARMUP_TENANTS + coldSamples * repeats;
    // a pool larger than every tenant: nothing is evicted, every "cold" tenant is a first build
    const ours = await startOurs(context, { tenants, providerPoolSize: tenants + 10 });
    const baseline = await startTokenBaseline(context, ours, firstTenant(ours));
    const all = ours.info.tenants;

    const warm = [
      ...Array.from({ length: WARMUP_REQUESTS }, () => oursRequest(ours, firstTenant(ours))),
      ...all.slice(1, 1 + WARMUP_TENANTS).map((t) => oursRequest(ours, t)),
    ];
    const warmup = await timeSeries('warm-up', 0, ours.pid, warm);
    await timeSeries(
      'warm-up',
      0,
      baseline.pid,
      Array.from({ length: WARMUP_REQUESTS }, () => baselineRequest(ours, baseline)),
    );
    if (warmup.series.non2xx > 0) logSeries(warmup.series, context.problems);

    const series: LatencySeries[] = [];
    const pooled: Record<string, { latencies: number[]; statusCodes: Record<string, number> }> = {};
    const record = (timed: Awaited<ReturnType<typeof timeSeries>>) => {
      series.push(timed.series);
      logSeries(timed.series, context.problems);
      const bucket = (pooled[timed.series.variant] ??= { latencies: [], statusCodes: {} });
      bucket.latencies.push(...timed.latencies);
      for (const [code, count] of Object.entries(timed.statusCodes)) bucket.statusCodes[code] = (bucket.statusCodes[code] ?? 0) + count;
    };
    for (let repeat = 1; repeat <= repeats; repeat++) {
      const start = 1 + WARMUP_TENANTS + (repeat - 1) * coldSamples;
      const fresh = all.slice(start, start + coldSamples);
      const runBaseline = async () =>
        record(
          await timeSeries(
            'baseline',
            repeat,
            baseline.pid,
            Array.from({ length: coldSamples }, () => baselineRequest(ours, baseline)),
          ),
        );
      if (repeat % 2 === 0) await runBaseline();
      record(
        await timeSeries(
          'cold',
          repeat,
          ours.pid,
          fresh.map((t) => oursRequest(ours, t)),
        ),
      );
      record(
        await timeSeries(
          'warm',
          repeat,
          ours.pid,
          fresh.map((t) => oursRequest(ours, t)),
        ),
      );
      if (repeat % 2 === 1) await runBaseline();
    }

    // every repeat's samples together (repeat 0): what the targets are checked against
    const together = Object.entries(pooled).map(([variant, p]) => ({
      ...describeLatencies(variant, 0, p.latencies, p.statusCodes),
      ...NOT_MEASURED,
    }));
    const by = (variant: string) => together.find((s) => s.variant === variant);
    const cold = by('cold');
    return {
      variants: [
        { name: 'cold', description: "ours, each tenant's first token: tenant, client and keys read, Provider built" },
        { name: 'warm', description: "ours, the same tenants' second token (Provider pooled, records cached)" },
        { name: 'baseline', description: 'bare oidc-provider, one static client, same requests one at a time' },
      ],
      loadRuns: [],
      latencySeries: [...series, ...together],
      comparisons: [
        compare('cold p50 (ms)', cold?.p50, '<= 5'),
        compare('cold p99 (ms)', cold?.p99, '<= 20'),
        compare('cold p50 / warm p50', ratio(cold?.p50, by('warm')?.p50)),
        compare('warm p50 / baseline p50', ratio(by('warm')?.p50, by('baseline')?.p50)),
      ],
      notes: [
        `${coldSamples} fresh tenants per repeat, ${repeats} repeat(s); ${WARMUP_TENANTS} cold tenants and ${WARMUP_REQUESTS} warm requests first, not counted.`,
        'Latency is measured by the benchmark client (node:http, keep-alive, one socket), so it includes the loopback round trip.',
      ],
    };
  },
};
