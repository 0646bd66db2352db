/** Single requests one after another (no concurrency), timed one by one: the cold-start measurements. */
import { type LoopbackRequest, loopbackRequest } from './http.ts';
import type { LatencySeries } from './measurements.ts';
import { startProcessUse } from './process-use.ts';
import { percentile, round } from './stats.ts';

export interface TimedSeries {
  readonly latencies: number[];
  readonly statusCodes: Record<string, number>;
  readonly series: LatencySeries;
}

export function describeLatencies(variant: string, repeat: number, latencies: readonly number[], statusCodes: Record<string, number>) {
  const non2xx = Object.entries(statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .reduce((sum, [, count]) => sum + count, 0);
  return {
    variant,
    repeat,
    requests: latencies.length,
    p50: round(percentile(latencies, 50)) ?? 0,
    p90: round(percentile(latencies, 90)) ?? 0,
    p99: round(percentile(latencies, 99)) ?? 0,
    max: round(percentile(latencies, 100)) ?? 0,
    mean: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)) ?? 0,
    non2xx,
    statusCodes,
  };
}

export async function timeSeries(variant: string, repeat: number, pid: number, requests: readonly LoopbackRequest[]): Promise<TimedSeries> {
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  const measure = startProcessUse(pid);
  for (const request of requests) {
    const response = await loopbackRequest(request);
    latencies.push(response.ms);
    statusCodes[response.status] = (statusCodes[response.status] ?? 0) + 1;
  }
  return {
    latencies,
    statusCodes,
    series: { ...describeLatencies(variant, repeat, latencies, statusCodes), ...measure(latencies.length) },
  };
}
