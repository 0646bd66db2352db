/**
 * Sustained load with autocannon: fixed keep-alive connections to 127.0.0.1 with an explicit Host
 * header, for a fixed time, as fast as the server answers or at a fixed overall rate. Latency is taken from every response at sub-millisecond resolution
 * (autocannon's own histogram keeps whole milliseconds).
 */
import autocannon from 'autocannon';
import type { LoadRun } from './measurements.ts';
import { startProcessUse } from './process-use.ts';
import { percentile, round } from './stats.ts';

export interface RequestShape {
  readonly path: string;
  readonly headers: Record<string, string>;
  /** a body of its own (e.g. a fresh client assertion each time) */
  readonly body?: string;
}

export interface LoadTarget {
  /** variant name recorded with each run */
  readonly variant: string;
  readonly port: number;
  /** the server process to measure */
  readonly pid: number;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** host (required), authorization, content-type… */
  readonly headers: Record<string, string>;
  readonly body?: string;
  /** when set, called for every request: a different tenant, client or id each time */
  readonly vary?: () => RequestShape;
  /**
   * when set, called before each run with its length, outside what the run measures: to make the
   * requests' costly parts ahead (e.g. sign their proofs), so that the run measures the server
   */
  readonly prepare?: (durationS: number) => void;
}

export interface LoadOptions {
  readonly durationS: number;
  readonly connections: number;
  readonly repeat: number;
  /** requests per second over all connections (autocannon's overallRate); unset: as fast as the server answers */
  readonly rate?: number;
}

export async function runLoad(target: LoadTarget, options: LoadOptions): Promise<LoadRun> {
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  target.prepare?.(options.durationS);
  const measure = startProcessUse(target.pid);
  const autocannonOptions: autocannon.Options = {
    url: `http://127.0.0.1:${target.port}${target.path}`,
    connections: options.connections,
    duration: options.durationS,
    ...(options.rate !== undefined ? { overallRate: options.rate } : {}),
    method: target.method,
    headers: target.headers,
    ...(target.body !== undefined ? { body: target.body } : {}),
    ...(target.vary
      ? {
          requests: [
            {
              setupRequest: (request) => {
                const shape = (target.vary as () => RequestShape)();
                return {
                  ...request,
                  path: shape.path,
                  headers: { ...request.headers, ...shape.headers },
                  ...(shape.body !== undefined ? { body: shape.body } : {}),
                };
              },
            },
          ],
        }
      : {}),
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(autocannonOptions, (error: unknown, done: autocannon.Result) =>
      error ? reject(error as Error) : resolve(done),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
    });
  });
  const requests = latencies.length;
  const use = measure(requests);
  return {
    variant: target.variant,
    repeat: options.repeat,
    durationS: result.duration,
    connections: options.connections,
    requests,
    reqPerSec: round(requests / result.duration, 0) ?? 0,
    p50: round(percentile(latencies, 50)) ?? 0,
    p90: round(percentile(latencies, 90)) ?? 0,
    p99: round(percentile(latencies, 99)) ?? 0,
    max: round(percentile(latencies, 100)) ?? 0,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    ...use,
  };
}
