/**
 * cores: the real entry point with WORKERS=2 against WORKERS=1 on the same provisioned database,
 * for API GETs (a random employee by id) and client_credentials tokens. Server CPU per request is
 * read over the whole process tree (the primary and its workers).
 *
 * CPU per request is compared at the same fixed request rate, about half of what one worker
 * answers flat out: then neither variant saturates its cores, and CPU time per request is the work
 * a request costs rather than the contention of more runnable threads than cores (on a 2-core
 * machine two workers flat out share the cores with Postgres and the load generator, and each
 * request's CPU time grows though no work is added). Throughput flat out is measured as well and
 * reported apart. Each worker is warmed as one worker is (the warm-up runs once per worker), so
 * neither variant measures a JIT or caches still warming.
 */
import net from 'node:net';
import os from 'node:os';
import { log } from '../console.ts';
import { basicAuthorization, fetchToken, TOKEN_CONTENT_TYPE, tokenRequestBody } from '../http.ts';
import { describeRun, loudProblems } from '../alternate.ts';
import { runLoad, type LoadTarget } from '../load.ts';
import type { LoadRun } from '../measurements.ts';
import { cpuTimeMs, processTree } from '../proc.ts';
import type { Scenario } from '../scenario.ts';
import type { ClusterInfo, ClusterOptions } from '../servers/cluster.ts';
import { round } from '../stats.ts';
import { compare, ratio, summarize } from '../summary.ts';
import { apiTarget, firstTenant, startOurs, tokenPath } from './servers.ts';

/** the fixed rate, as a share of WORKERS=1's throughput flat out: well below saturation for both */
const RATE_SHARE = 0.5;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** CPU time so far of each process under `pid` (the bench wrapper, the primary, the workers), by pid. */
function cpuByProcess(pid: number): Map<number, number> {
  return new Map(processTree(pid).map((p) => [p, cpuTimeMs(p) ?? 0]));
}

interface Cluster {
  readonly workers: number;
  readonly pid: number;
  /** main.ts: the server itself with WORKERS=1, the primary with more */
  readonly mainPid: number;
}

/** The CPU the primary spent while `work` ran, and what every process of the tree did, in ms. */
async function primaryCpu<T>(cluster: Cluster, work: () => Promise<T>): Promise<{ result: T; primaryMs: number }> {
  const before = cpuByProcess(cluster.pid);
  const result = await work();
  const after = cpuByProcess(cluster.pid);
  return { result, primaryMs: (after.get(cluster.mainPid) ?? 0) - (before.get(cluster.mainPid) ?? 0) };
}

export const cores: Scenario = {
  name: 'cores',
  description:
    'WORKERS=2 against WORKERS=1 (src/main.ts, a supervising primary and its workers on one port): API GET by id and client_credentials tokens; server CPU per request over the process tree at the same fixed rate, and throughput flat out.',
  async run(context) {
    const databaseUrl = context.database.url;
    if (!databaseUrl) {
      return { variants: [], loadRuns: [], latencySeries: [], comparisons: [], notes: ['No Postgres: WORKERS > 1 needs one.'] };
    }
    const { settings, problems } = context;
    // provisioning (one tenant, its client, its employees) by the in-process server, stopped before any load
    const provisioner = await startOurs(context, { tenants: 1, employees: settings.employees });
    const tenant = firstTenant(provisioner);
    const { employeeIds, domain, scope } = provisioner.info;
    await provisioner.stop();

    const clusters: Cluster[] = [];
    const apiTargets: LoadTarget[] = [];
    const tokenTargets: LoadTarget[] = [];
    for (const workers of [1, 2]) {
      const options: ClusterOptions = { databaseUrl, keyEncryptionKey: context.keyEncryptionKey, workers, port: await freePort() };
      const server = await context.start<ClusterInfo>(`workers-${workers}`, new URL('../servers/cluster.ts', import.meta.url), options);
      clusters.push({ workers, pid: server.pid, mainPid: server.info.mainPid });
      const { port } = server.info;
      const authentication = `authentication.${domain}:${port}`;
      const token = await fetchToken(port, authentication, tokenPath(tenant), tenant.clientId, tenant.clientSecret, scope);
      const path = () => `/api/v1/employees/${employeeIds[Math.floor(Math.random() * employeeIds.length)]}`;
      apiTargets.push(
        apiTarget(`api-workers-${workers}`, { port, pid: server.pid }, `${tenant.slug}.${domain}:${port}`, token, path, false),
      );
      tokenTargets.push({
        variant: `token-workers-${workers}`,
        port,
        pid: server.pid,
        method: 'POST',
        path: tokenPath(tenant),
        headers: {
          host: authentication,
          authorization: basicAuthorization(tenant.clientId, tenant.clientSecret),
          'content-type': TOKEN_CONTENT_TYPE,
        },
        body: tokenRequestBody(scope),
      });
    }
    const clusterOf = (target: LoadTarget) => clusters.find((c) => c.pid === target.pid) as Cluster;

    // what each variant spends with no request at all (timers, pools, the change listener), per second
    const idleS = settings.quick ? 2 : 5;
    const idleCpuMsPerS = new Map<number, number>();
    for (const cluster of clusters) {
      const before = cpuByProcess(cluster.pid);
      await new Promise((resolve) => setTimeout(resolve, idleS * 1000));
      const after = cpuByProcess(cluster.pid);
      let spent = 0;
      for (const [pid, ms] of after) spent += ms - (before.get(pid) ?? 0);
      idleCpuMsPerS.set(cluster.workers, round(spent / idleS, 1) ?? 0);
    }

    const runs: LoadRun[] = [];
    const primaryUs: Record<string, number | undefined> = {};
    const rates: Record<string, number> = {};
    for (const [what, targets] of [
      ['api', apiTargets],
      ['token', tokenTargets],
    ] as const) {
      // each worker warmed as long as a single worker is: node:cluster hands the connections out in turn
      for (const target of targets) {
        const { workers } = clusterOf(target);
        const warmup = await runLoad(target, { durationS: settings.warmupS * workers, connections: settings.connections, repeat: 0 });
        log(`  warm-up  ${target.variant.padEnd(17)} ${describeRun(warmup)}`);
        problems.push(...loudProblems(warmup, 'warm-up'));
      }
      // flat out, alternating
      for (let repeat = 1; repeat <= settings.repeats; repeat++) {
        for (const target of repeat % 2 === 1 ? targets : [...targets].reverse()) {
          const run = await runLoad(target, { durationS: settings.durationS, connections: settings.connections, repeat });
          log(`  run ${repeat}    ${target.variant.padEnd(17)} ${describeRun(run)}`);
          problems.push(...loudProblems(run, `run ${repeat}`));
          runs.push(run);
        }
      }
      // the same fixed rate for both, alternating
      const single = summarize(runs, `${what}-workers-1`);
      const rate = Math.max(10, Math.round(((single?.reqPerSec ?? 0) * RATE_SHARE) / 10) * 10);
      rates[what] = rate;
      let primaryMs = 0;
      let primaryRequests = 0;
      for (let repeat = 1; repeat <= settings.repeats; repeat++) {
        for (const target of repeat % 2 === 1 ? targets : [...targets].reverse()) {
          const cluster = clusterOf(target);
          const fixed = { ...target, variant: `${target.variant}-fixed` };
          const { result: run, primaryMs: spent } = await primaryCpu(cluster, () =>
            runLoad(fixed, { durationS: settings.durationS, connections: settings.connections, repeat, rate }),
          );
          if (cluster.workers > 1) {
            primaryMs += spent;
            primaryRequests += run.requests;
          }
          log(`  run ${repeat}    ${fixed.variant.padEnd(17)} ${describeRun(run)}`);
          problems.push(...loudProblems(run, `run ${repeat}`));
          runs.push(run);
        }
      }
      primaryUs[what] = primaryRequests > 0 ? round((primaryMs * 1000) / primaryRequests, 1) : undefined;
    }

    const rows = (what: 'api' | 'token') => {
      const one = summarize(runs, `${what}-workers-1`);
      const two = summarize(runs, `${what}-workers-2`);
      const oneFixed = summarize(runs, `${what}-workers-1-fixed`);
      const twoFixed = summarize(runs, `${what}-workers-2-fixed`);
      const label = what === 'api' ? 'API GET' : 'token';
      return [
        compare(
          `${label} server CPU per request WORKERS=2 / WORKERS=1 at ${rates[what]} req/s`,
          ratio(twoFixed?.cpuUsPerRequest, oneFixed?.cpuUsPerRequest),
          '<= 1.1',
        ),
        compare(`${label} throughput WORKERS=2 / WORKERS=1, flat out`, ratio(two?.reqPerSec, one?.reqPerSec)),
        compare(`${label} server CPU per request WORKERS=2 / WORKERS=1, flat out`, ratio(two?.cpuUsPerRequest, one?.cpuUsPerRequest)),
        compare(`${label} CPU µs per request in the primary (WORKERS=2, fixed rate)`, primaryUs[what]),
      ];
    };
    const comparisons = [...rows('api'), ...rows('token')];
    const failing = comparisons.filter((c) => c.pass === false);
    const fixedRuns = runs.filter((r) => r.variant.endsWith('-fixed'));
    const busiest = Math.max(...fixedRuns.map((r) => r.otherCpuPct ?? 0));
    const idle = (workers: number) => idleCpuMsPerS.get(workers) ?? 0;
    const analysis = failing.length
      ? [
          `Measured at a fixed rate: ${failing.map((c) => `${c.label} ${c.value} (target ${c.target})`).join('; ')}. ` +
            `During those runs other processes used up to ${busiest} % of a core on this ${os.availableParallelism()}-core machine.`,
          `With no requests at all WORKERS=2 spends ${idle(2)} ms of CPU per second against ${idle(1)} ms for WORKERS=1 ` +
            '(each worker runs its own timers, pool and change listener): at a fixed rate r that adds ' +
            `(${idle(2)} − ${idle(1)}) × 1000 / r µs to every request. The primary itself spent ${primaryUs.api ?? '–'} µs ` +
            `(API) and ${primaryUs.token ?? '–'} µs (tokens) per request: it hands each keep-alive connection to a worker once.`,
          'Where the rest goes is not profiled here: compare the two variants with `BENCH_CPU_PROF=<dir>` (one profile per ' +
            'process). When other processes keep the cores busy, CPU time per request grows with their contention whatever ' +
            'the rate; re-run `npm run bench -- cores` on a quiet machine.',
        ]
      : [];
    return {
      analysis,
      variants: [
        { name: 'api-workers-1', description: 'GET /api/v1/employees/{id}, WORKERS=1 (the entry point with no primary), flat out' },
        { name: 'api-workers-2', description: 'the same, WORKERS=2 (a primary and two workers on one port), flat out' },
        { name: 'api-workers-1-fixed', description: `the same as api-workers-1 at a fixed ${rates.api} req/s` },
        { name: 'api-workers-2-fixed', description: `the same as api-workers-2 at a fixed ${rates.api} req/s` },
        { name: 'token-workers-1', description: 'client_credentials on the token endpoint, WORKERS=1, flat out' },
        { name: 'token-workers-2', description: 'the same, WORKERS=2, flat out' },
        { name: 'token-workers-1-fixed', description: `the same as token-workers-1 at a fixed ${rates.token} req/s` },
        { name: 'token-workers-2-fixed', description: `the same as token-workers-2 at a fixed ${rates.token} req/s` },
      ],
      loadRuns: runs,
      latencySeries: [],
      comparisons,
      notes: [
        `${settings.connections} keep-alive connections, which node:cluster hands to the workers in turn; each variant is warmed ` +
          `${settings.warmupS} s per worker before its first measured run.`,
        `The fixed rate is ${Math.round(RATE_SHARE * 100)} % of WORKERS=1's median throughput flat out in the same run (autocannon's ` +
          'overallRate over all connections): neither variant saturates, so CPU per request measures the work of a request.',
        'Server CPU counts every process of the tree: the bench wrapper (idle), the primary (which accepts and hands over each ' +
          'connection) and every worker.',
        `CPU with no requests, per second over ${idleS} s: WORKERS=1 ${idle(1)} ms, WORKERS=2 ${idle(2)} ms.`,
        'Flat out on a 2-core machine the load generator and Postgres share the cores with the workers: that throughput ' +
          'shows contention, not scaling.',
      ],
    };
  },
};
