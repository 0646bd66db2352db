/** Per-variant medians over repeated runs, and the ratios the targets are stated in. */
import type { Comparison, LatencySeries, LoadRun } from './measurements.ts';
import { median, round } from './stats.ts';

export interface VariantSummary {
  readonly reqPerSec: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly cpuUsPerRequest: number | undefined;
  readonly rssMb: number | undefined;
  readonly clientCpuPct: number | undefined;
  readonly otherCpuPct: number | undefined;
}

function definedMedian(values: (number | undefined)[]): number | undefined {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length ? median(defined) : undefined;
}

export function summarize(runs: readonly (LoadRun | LatencySeries)[], variant: string): VariantSummary | undefined {
  const mine = runs.filter((r) => r.variant === variant);
  if (mine.length === 0) return undefined;
  return {
    reqPerSec: median(mine.map((r) => ('reqPerSec' in r ? r.reqPerSec : Number.NaN))),
    p50: median(mine.map((r) => r.p50)),
    p90: median(mine.map((r) => r.p90)),
    p99: median(mine.map((r) => r.p99)),
    non2xx: mine.reduce((sum, r) => sum + r.non2xx, 0),
    cpuUsPerRequest: definedMedian(mine.map((r) => r.cpuUsPerRequest)),
    rssMb: definedMedian(mine.map((r) => r.rssMb)),
    clientCpuPct: definedMedian(mine.map((r) => r.clientCpuPct)),
    otherCpuPct: definedMedian(mine.map((r) => r.otherCpuPct)),
  };
}

export function ratio(numerator: number | undefined, denominator: number | undefined): number | undefined {
  if (numerator === undefined || denominator === undefined || !(denominator > 0)) return undefined;
  return round(numerator / denominator, 2);
}

/** A comparison row; `target` is ">= x" or "<= x", checked against `value`. */
export function compare(label: string, value: number | undefined, target?: string): Comparison {
  if (!target) return { label, value };
  const match = /^(>=|<=) *([\d.]+)$/.exec(target);
  if (!match?.[2]) throw new TypeError(`bad target ${target}`);
  const bound = Number(match[2]);
  if (value === undefined) return { label, value, target }; // not measured: neither pass nor fail
  return { label, value, target, pass: match[1] === '>=' ? value >= bound : value <= bound };
}
