/** How long and how hard: the full run, or --quick (under a minute for every scenario together). */

export interface BenchSettings {
  readonly quick: boolean;
  /** seconds per measured run */
  readonly durationS: number;
  /** seconds of load per target before the first measured run */
  readonly warmupS: number;
  /** fixed keep-alive connections */
  readonly connections: number;
  /** measured runs per target, alternating between targets */
  readonly repeats: number;
  /** tenants token-single spreads its load over (every one's Provider pooled) */
  readonly spreadTenants: number;
  /** tenants token-many-tenants provisions in each of the two environments and spreads its load over */
  readonly manyTenants: number;
  /** PROVIDER_POOL_SIZE in token-many-tenants: smaller than the working set on purpose */
  readonly poolSize: number;
  /** Zipf exponent of token-many-tenants' skewed variant */
  readonly zipfS: number;
  /** first-token requests per repeat in token-cold, each to a tenant never asked before */
  readonly coldSamples: number;
  /** employees of the API tenant (api-list reads the first 50) */
  readonly employees: number;
  /** data-growth: clockings loaded, tenants they belong to, and the largest tenant's share */
  readonly growthClockings: number;
  readonly growthTenants: number;
  readonly growthLargest: number;
  /** data-growth: how deep (rows) the deep page is, and how many rows the updated_since walk reads */
  readonly growthDepth: number;
  readonly growthWalkRows: number;
  /** data-growth: first-page and deep-page requests per repeat, each */
  readonly growthSamples: number;
}

function fromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return value;
}

export function benchSettings(quick: boolean): BenchSettings {
  const manyTenants = fromEnv('BENCH_TENANTS', quick ? 250 : 10_000);
  return {
    quick,
    durationS: fromEnv('BENCH_DURATION', quick ? 2 : 10),
    warmupS: fromEnv('BENCH_WARMUP', quick ? 1 : 3),
    connections: fromEnv('BENCH_CONNECTIONS', 10),
    repeats: fromEnv('BENCH_REPEATS', quick ? 1 : 3),
    spreadTenants: fromEnv('BENCH_SPREAD_TENANTS', quick ? 300 : 1000),
    manyTenants,
    poolSize: fromEnv('BENCH_POOL_SIZE', quick ? 100 : 1000),
    zipfS: fromEnv('BENCH_ZIPF_S', 1),
    coldSamples: fromEnv('BENCH_COLD_SAMPLES', quick ? 100 : 300),
    employees: 200,
    growthClockings: fromEnv('BENCH_GROWTH_CLOCKINGS', quick ? 100_000 : 10_000_000),
    growthTenants: fromEnv('BENCH_GROWTH_TENANTS', quick ? 100 : 1_000),
    growthLargest: fromEnv('BENCH_GROWTH_LARGEST', quick ? 20_000 : 2_000_000),
    growthDepth: fromEnv('BENCH_GROWTH_DEPTH', quick ? 10_000 : 1_000_000),
    growthWalkRows: fromEnv('BENCH_GROWTH_WALK', quick ? 10_000 : 1_000_000),
    growthSamples: fromEnv('BENCH_GROWTH_SAMPLES', quick ? 100 : 500),
  };
}
