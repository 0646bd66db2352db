/**
 * `npm run bench [-- <scenario>…] [--quick]`: runs the scenarios, each on a fresh database with its
 * own servers, writes bench/results/<date>-<scenario>.json and regenerates bench/RESULTS.md. A
 * quick run writes both under bench/results/quick/ instead (ignored by git): see reportPaths.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { log } from './console.ts';
import { createFreshDatabase, postgresAvailable } from './database.ts';
import { describeMachine } from './machine.ts';
import type { ScenarioResult } from './measurements.ts';
import { watchPostgresDatabase } from './proc.ts';
import { type ServerProcess, startServerProcess } from './processes.ts';
import { reportPaths, resultFile, writeReport } from './report.ts';
import type { Scenario } from './scenario.ts';
import { SCENARIOS } from './scenarios/index.ts';
import { benchSettings } from './settings.ts';

const USAGE = `usage: npm run bench [-- [--quick] [scenario…]]
scenarios: ${SCENARIOS.map((s) => `${s.name}${s.onlyWhenNamed ? ' (only when named)' : ''}`).join(', ')}`;

function parseArguments(argv: readonly string[]): { quick: boolean; scenarios: Scenario[] } {
  let quick = false;
  const names: string[] = [];
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (arg.startsWith('-')) throw new TypeError(`unknown option ${arg}\n${USAGE}`);
    else names.push(arg);
  }
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) throw new TypeError(`unknown scenario ${unknown.join(', ')}\n${USAGE}`);
  return {
    quick,
    scenarios: names.length ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS.filter((s) => !s.onlyWhenNamed),
  };
}

async function runScenario(scenario: Scenario, quick: boolean, kind: 'postgres' | 'pglite'): Promise<ScenarioResult> {
  const settings = benchSettings(quick);
  const startedAt = new Date().toISOString();
  const database = await createFreshDatabase(kind);
  watchPostgresDatabase(database.url ? new URL(database.url).pathname.slice(1) : undefined);
  const servers: ServerProcess<unknown>[] = [];
  const problems: string[] = [];
  try {
    const machine = await describeMachine(database.url);
    const outcome = await scenario.run({
      settings,
      database,
      keyEncryptionKey: randomBytes(32).toString('base64url'),
      problems,
      async start<I>(name: string, script: URL, options: unknown, env?: Record<string, string>) {
        const server = await startServerProcess<I>(name, script, options, env);
        servers.push(server);
        return server;
      },
    });
    const finishedAt = new Date().toISOString();
    return {
      scenario: scenario.name,
      description: scenario.description,
      date: startedAt.slice(0, 10),
      startedAt,
      finishedAt,
      quick,
      settings: { ...settings },
      machine,
      problems,
      ...outcome,
    };
  } finally {
    for (const server of servers.reverse()) await server.stop();
    await database.drop();
  }
}

async function main(): Promise<void> {
  const { quick, scenarios } = parseArguments(process.argv.slice(2));
  const kind = (await postgresAvailable()) ? 'postgres' : 'pglite';
  if (kind === 'pglite') log('No Postgres at BENCH_DATABASE_URL or 127.0.0.1:5432: falling back to PGlite; the API baselines are skipped.');
  const paths = reportPaths(quick);
  fs.mkdirSync(paths.resultsDir, { recursive: true });
  let failed = false;
  const started = performance.now();
  for (const scenario of scenarios) {
    log(`\n== ${scenario.name}${quick ? ' (quick)' : ''}`);
    try {
      const result = await runScenario(scenario, quick, kind);
      const file = resultFile(paths, result.date, result.scenario);
      fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
      for (const c of result.comparisons) {
        const verdict =
          c.target === undefined ? '' : `  target ${c.target}: ${c.pass === undefined ? 'not measured' : c.pass ? 'pass' : 'FAIL'}`;
        log(`  ${c.label}: ${c.value ?? '–'}${verdict}`);
      }
      if (result.problems.length) {
        failed = true;
        log(`  !!! ${result.scenario}: ${result.problems.length} problem(s), see ${file.pathname}`);
      }
    } catch (error) {
      failed = true;
      log(`  !!! ${scenario.name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
  await writeReport(
    paths,
    SCENARIOS.map((s) => s.name),
    quick,
  );
  log(`\nwrote ${paths.reportFile.pathname} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  if (failed) process.exitCode = 1;
}

main().catch((error: unknown) => {
  log(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
