/** Warm every target up, then measure them in turn, alternating the order from one repeat to the next. */
import type { BenchSettings } from './settings.ts';
import { log } from './console.ts';
import { runLoad, type LoadTarget } from './load.ts';
import { BUSY_MACHINE_PCT, type LoadRun } from './measurements.ts';

export function describeRun(run: LoadRun): string {
  const cpu = run.cpuUsPerRequest !== undefined ? `  cpu ${run.cpuUsPerRequest} µs/req` : '';
  const rss = run.rssMb !== undefined ? `  rss ${run.rssMb} MB` : '';
  const client = `  client ${run.clientCpuPct ?? '–'}%  other ${run.otherCpuPct ?? '–'}% of a core`;
  return `${run.reqPerSec} req/s  p50 ${run.p50} ms  p90 ${run.p90} ms  p99 ${run.p99} ms  non-2xx ${run.non2xx}${cpu}${rss}${client}`;
}

export function loudProblems(run: LoadRun, when: string): string[] {
  const problems: string[] = [];
  if (run.non2xx > 0) {
    const codes = Object.entries(run.statusCodes)
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, count]) => `${count}× ${code}`)
      .join(', ');
    problems.push(`${run.variant} ${when}: ${run.non2xx} non-2xx responses (${codes})`);
  }
  if (run.errors > 0) problems.push(`${run.variant} ${when}: ${run.errors} connection errors (${run.timeouts} timeouts)`);
  for (const problem of problems) log(`  !!! ${problem}`);
  if ((run.otherCpuPct ?? 0) >= BUSY_MACHINE_PCT) log(`  (other processes used ${run.otherCpuPct}% of a core during this run)`);
  return problems;
}

export async function alternate(targets: readonly LoadTarget[], settings: BenchSettings, problems: string[]): Promise<LoadRun[]> {
  const { connections } = settings;
  for (const target of targets) {
    const warmup = await runLoad(target, { durationS: settings.warmupS, connections, repeat: 0 });
    log(`  warm-up  ${target.variant.padEnd(10)} ${describeRun(warmup)}`);
    problems.push(...loudProblems(warmup, 'warm-up'));
  }
  const runs: LoadRun[] = [];
  for (let repeat = 1; repeat <= settings.repeats; repeat++) {
    const order = repeat % 2 === 1 ? targets : [...targets].reverse();
    for (const target of order) {
      const run = await runLoad(target, { durationS: settings.durationS, connections, repeat });
      log(`  run ${repeat}    ${target.variant.padEnd(10)} ${describeRun(run)}`);
      problems.push(...loudProblems(run, `run ${repeat}`));
      runs.push(run);
    }
  }
  return runs;
}
