/** What a scenario records: the shape of bench/results/*.json. */

export interface VariantInfo {
  /** short key, e.g. "ours" or "baseline" */
  readonly name: string;
  readonly description: string;
}

/** Resource use of one server process over one run (from /proc). */
export interface ProcessUse {
  /** user + system CPU time of the server process during the run */
  readonly cpuMs: number | undefined;
  /** CPU µs of the server process per completed request */
  readonly cpuUsPerRequest: number | undefined;
  /** resident set size at the end of the run */
  readonly rssMb: number | undefined;
  /** peak resident set size of the process so far */
  readonly peakRssMb: number | undefined;
  /** CPU time of the local Postgres during the run: this scenario's backends and the server's background processes */
  readonly dbCpuMs: number | undefined;
  /** the load generator (this process) as % of one core: near 100 means the client is the bottleneck */
  readonly clientCpuPct: number | undefined;
  /** every other process on the machine as % of one core: high means the numbers were disturbed */
  readonly otherCpuPct: number | undefined;
}

/** other processes' CPU (% of one core) from which a run counts as disturbed */
export const BUSY_MACHINE_PCT = 20;

export const NOT_MEASURED: ProcessUse = {
  cpuMs: undefined,
  cpuUsPerRequest: undefined,
  rssMb: undefined,
  peakRssMb: undefined,
  dbCpuMs: undefined,
  clientCpuPct: undefined,
  otherCpuPct: undefined,
};

/** One measured run of sustained load (autocannon) against one variant. */
export interface LoadRun extends ProcessUse {
  readonly variant: string;
  readonly repeat: number;
  readonly durationS: number;
  readonly connections: number;
  readonly requests: number;
  readonly reqPerSec: number;
  /** latency in ms over every response */
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly statusCodes: Record<string, number>;
}

/** One series of single requests, one at a time (token-cold). */
export interface LatencySeries extends ProcessUse {
  readonly variant: string;
  readonly repeat: number;
  readonly requests: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
  readonly non2xx: number;
  readonly statusCodes: Record<string, number>;
}

export interface Comparison {
  readonly label: string;
  readonly value: number | undefined;
  /** e.g. ">= 0.9"; undefined when the row is informational */
  readonly target?: string;
  readonly pass?: boolean;
}

export interface ScenarioOutcome {
  readonly variants: VariantInfo[];
  readonly loadRuns: LoadRun[];
  readonly latencySeries: LatencySeries[];
  readonly comparisons: Comparison[];
  readonly notes: string[];
  /** for a target not met: the measured ratio, the profile's top frames and what limits it (paragraphs) */
  readonly analysis?: string[];
  /** query plans (EXPLAIN output) recorded as they are, each under a label */
  readonly plans?: readonly { readonly label: string; readonly plan: string }[];
}

export interface MachineInfo {
  readonly cores: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly platform: string;
  readonly memoryGb: number;
  readonly database: string;
}

export interface ScenarioResult extends ScenarioOutcome {
  readonly scenario: string;
  readonly description: string;
  readonly date: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly quick: boolean;
  readonly settings: Record<string, unknown>;
  readonly machine: MachineInfo;
  /** non-2xx responses, connection errors: anything that makes the numbers untrustworthy */
  readonly problems: string[];
}
