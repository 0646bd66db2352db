/**
 * bench/RESULTS.md from bench/results/*.json: the latest result of every scenario, ours against
 * the baseline with the ratio and the target, the machine, and how to reproduce.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import { BUSY_MACHINE_PCT, type Comparison, type LatencySeries, type ScenarioResult } from './measurements.ts';
import { summarize } from './summary.ts';

export interface ReportPaths {
  /** where each scenario's <date>-<scenario>.json is written, and the report is built from */
  readonly resultsDir: URL;
  /** the Markdown report */
  readonly reportFile: URL;
}

/**
 * Where a run writes. A full run is a measurement: its JSON and bench/RESULTS.md are tracked and
 * committed. A quick run is a smoke test: its JSON and its own report go to bench/results/quick/,
 * which git ignores, so it leaves the working tree as it found it.
 */
export function reportPaths(quick: boolean): ReportPaths {
  if (quick) {
    const resultsDir = new URL('./results/quick/', import.meta.url);
    return { resultsDir, reportFile: new URL('./RESULTS.md', resultsDir) };
  }
  return { resultsDir: new URL('./results/', import.meta.url), reportFile: new URL('./RESULTS.md', import.meta.url) };
}

export function resultFile(paths: ReportPaths, date: string, scenario: string): URL {
  return new URL(`${date}-${scenario}.json`, paths.resultsDir);
}

/** The newest result of each scenario in resultsDir itself (not its subfolders), in the given scenario order. */
export function latestResults(paths: ReportPaths, order: readonly string[]): ScenarioResult[] {
  const dir = paths.resultsDir.pathname;
  if (!fs.existsSync(dir)) return [];
  const latest = new Map<string, ScenarioResult>();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const result = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as ScenarioResult;
    const seen = latest.get(result.scenario);
    if (!seen || seen.finishedAt < result.finishedAt) latest.set(result.scenario, result);
  }
  const rank = (name: string) => (order.includes(name) ? order.indexOf(name) : order.length);
  return [...latest.values()].sort((a, b) => rank(a.scenario) - rank(b.scenario) || a.scenario.localeCompare(b.scenario));
}

const show = (value: number | undefined, digits = 2) =>
  value === undefined || !Number.isFinite(value) ? '–' : String(+value.toFixed(digits));
const verdict = (c: Comparison) => (c.target === undefined ? '' : c.pass === undefined ? 'not measured' : c.pass ? 'pass' : '**FAIL**');
const row = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;

function loadTable(result: ScenarioResult): string[] {
  const lines = [
    row(['variant', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'non-2xx', 'server CPU µs/req', 'server RSS MB', 'client CPU %', 'other CPU %']),
    row(['---', '--:', '--:', '--:', '--:', '--:', '--:', '--:', '--:', '--:']),
  ];
  for (const variant of result.variants) {
    const s = summarize(result.loadRuns, variant.name);
    if (!s) continue;
    lines.push(
      row([
        variant.name,
        show(s.reqPerSec, 0),
        show(s.p50),
        show(s.p90),
        show(s.p99),
        s.non2xx ? `**${s.non2xx}**` : '0',
        show(s.cpuUsPerRequest, 0),
        show(s.rssMb, 0),
        show(s.clientCpuPct, 0),
        show(s.otherCpuPct, 0),
      ]),
    );
  }
  return lines;
}

function latencyTable(result: ScenarioResult): string[] {
  const pooled = result.latencySeries.filter((s) => s.repeat === 0);
  const lines = [
    row(['variant', 'requests', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'non-2xx']),
    row(['---', '--:', '--:', '--:', '--:', '--:', '--:']),
  ];
  for (const s of pooled as LatencySeries[]) {
    lines.push(
      row([s.variant, String(s.requests), show(s.p50), show(s.p90), show(s.p99), show(s.max), s.non2xx ? `**${s.non2xx}**` : '0']),
    );
  }
  return lines;
}

function comparisonTable(result: ScenarioResult): string[] {
  return [
    row(['ratio', 'measured', 'target', '']),
    row(['---', '--:', '---', '---']),
    ...result.comparisons.map((c) => row([c.label, show(c.value), c.target ?? '', verdict(c)])),
  ];
}

function runsLine(result: ScenarioResult): string {
  const s = result.settings as { durationS?: number; warmupS?: number; connections?: number; repeats?: number };
  const mode = result.quick ? '**quick** (`--quick`: short runs, one repeat, fewer tenants)' : 'full';
  const load = result.loadRuns.length
    ? `${s.repeats} × ${s.durationS} s per variant, alternating, after a ${s.warmupS} s warm-up, ${s.connections} keep-alive connections; medians over repeats`
    : `${s.repeats} repeat(s), requests one at a time; percentiles over every repeat's samples`;
  return `${result.date}, ${mode}; ${load}; ${result.machine.database}.`;
}

function scenarioSection(result: ScenarioResult): string[] {
  const lines = [`## ${result.scenario}`, '', result.description, '', runsLine(result), ''];
  // a scenario may have both: sustained load, and requests one at a time (token-many-tenants' cold tokens)
  if (result.loadRuns.length) lines.push(...loadTable(result), '');
  if (!result.loadRuns.length || result.latencySeries.some((s) => s.repeat === 0)) lines.push(...latencyTable(result), '');
  lines.push(...comparisonTable(result), '');
  for (const variant of result.variants) lines.push(`- **${variant.name}**: ${variant.description}`);
  for (const note of result.notes) lines.push(`- ${note}`);
  if (result.analysis?.length) lines.push('', '### What limits it', '', ...result.analysis.flatMap((p) => [p, '']));
  if (result.plans?.length) {
    lines.push('', '### Query plans', '');
    for (const { label, plan } of result.plans) lines.push(`${label}:`, '', '```text', plan, '```', '');
  }
  const busiest = Math.max(0, ...[...result.loadRuns, ...result.latencySeries].map((r) => r.otherCpuPct ?? 0));
  if (busiest >= BUSY_MACHINE_PCT) {
    lines.push(
      '',
      `> Other processes used up to ${busiest} % of a core during a measured run: the machine was not quiet, the numbers are disturbed.`,
    );
  }
  if (result.problems.length) {
    lines.push('', '> **PROBLEMS: these numbers are not trustworthy.**');
    for (const problem of result.problems) lines.push(`> - ${problem}`);
  }
  lines.push('');
  return lines;
}

function machineLines(results: readonly ScenarioResult[]): string[] {
  const machines = new Map<string, string[]>();
  for (const r of results) {
    const m = r.machine;
    const key = `${m.cores} cores, ${m.cpuModel}, ${m.memoryGb} GiB; Node ${m.node}; ${m.platform}; ${m.database}`;
    machines.set(key, [...(machines.get(key) ?? []), r.scenario]);
  }
  if (machines.size === 1) return [`- ${[...machines.keys()][0]}`];
  return [...machines.entries()].map(([key, scenarios]) => `- ${key} (${scenarios.join(', ')})`);
}

const QUICK_HEADER = [
  '# Quick benchmark results',
  '',
  'Generated by `npm run bench -- --quick` from the newest `bench/results/quick/<date>-<scenario>.json` of each scenario,',
  'in a folder git ignores: a smoke test with short runs, not a measurement. The measured results are in',
  '`bench/RESULTS.md`, which only a full run rewrites.',
  '',
];
const FULL_HEADER = [
  '# Benchmark results',
  '',
  'Generated by `npm run bench` from the newest `bench/results/<date>-<scenario>.json` of each scenario; do not edit by',
  'hand. Each scenario boots our server with the real `boot()` on a fresh database, and a baseline started by the',
  'benchmark itself, each as its own process, and loads both with the same requests over loopback.',
  '',
];

export function renderReport(results: readonly ScenarioResult[], options: { quick: boolean } = { quick: false }): string {
  const targets = results.flatMap((r) => r.comparisons.filter((c) => c.target !== undefined).map((c) => ({ r, c })));
  const lines = [
    ...(options.quick ? QUICK_HEADER : FULL_HEADER),
    '## Targets',
    '',
    row(['scenario', 'ratio', 'measured', 'target', '']),
    row(['---', '---', '--:', '---', '---']),
    ...targets.map(({ r, c }) => row([r.scenario, c.label, show(c.value), c.target ?? '', verdict(c)])),
    '',
    ...(targets.some(({ c }) => c.pass === false)
      ? ['Each scenario with a target not met has a section "What limits it": the ratio, the top frames of a CPU profile, the cause.', '']
      : []),
    '## Machine',
    '',
    ...machineLines(results),
    '- The load generator (autocannon), the server under test and Postgres share these cores: absolute numbers are',
    '  lower than on a dedicated machine, and the ratios are what the targets are stated in.',
    '',
    ...results.flatMap(scenarioSection),
    '## How to reproduce',
    '',
    '```sh',
    'npm ci',
    'npm run bench                      # every scenario, full runs (several minutes)',
    'npm run bench -- token-single      # one or more scenarios by name',
    'npm run bench -- --quick           # every scenario in under a minute: a smoke test, not a measurement,',
    '                                   # written to bench/results/quick/ (ignored by git)',
    '```',
    '',
    'Postgres comes from `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`); each scenario',
    'creates a database with a random name there and drops it afterwards. Without a reachable Postgres the embedded',
    'PGlite is used (also with `BENCH_DATABASE_URL=pglite`) and the API baselines (which need `pg`) are skipped. Knobs: `BENCH_DURATION`, `BENCH_WARMUP`,',
    '`BENCH_CONNECTIONS`, `BENCH_REPEATS`, `BENCH_SPREAD_TENANTS` (token-single, 1000), `BENCH_TENANTS` (token-many-tenants, per',
    "environment, 10000), `BENCH_POOL_SIZE` (1000), `BENCH_ZIPF_S` (1), `BENCH_COLD_SAMPLES`; data-growth's sizes",
    '`BENCH_GROWTH_CLOCKINGS` (10000000), `BENCH_GROWTH_TENANTS` (1000), `BENCH_GROWTH_LARGEST` (2000000), `BENCH_GROWTH_DEPTH`',
    '(1000000), `BENCH_GROWTH_WALK` (1000000 rows), `BENCH_GROWTH_SAMPLES` (500 first and deep pages per repeat);',
    '`BENCH_CPU_PROF=<dir>` writes a V8 CPU profile of every server process into that directory. Memory figures come',
    'from the server process itself (`process.memoryUsage()` after a full GC, asked over the IPC channel; servers run',
    'with `--expose-gc` for that), RSS under load from `/proc`.',
    '',
    'Server CPU and RSS are read from `/proc/<pid>` of the server process (ours and each baseline run as child',
    "processes); client CPU is the load generator's share of one core (near 100 % means the client, not the server, is",
    'the bottleneck) and other CPU what every other process on the machine used meanwhile (a quiet machine shows a',
    'few %); latency percentiles are computed from every response. Any non-2xx response or connection error is',
    'printed with `!!!`, recorded under PROBLEMS above, and makes `npm run bench` exit non-zero.',
    '',
  ];
  return lines.join('\n');
}

/** Written as Prettier would format it, so `npm run lint` (prettier --check .) accepts the generated file. */
export async function writeReport(paths: ReportPaths, order: readonly string[], quick: boolean): Promise<void> {
  const file = paths.reportFile.pathname;
  const options = (await prettier.resolveConfig(file)) ?? {};
  fs.writeFileSync(file, await prettier.format(renderReport(latestResults(paths, order), { quick }), { ...options, filepath: file }));
}
