/**
 * cores: the real entry point with WORKERS=2 against WORKERS=1 on the same provisioned database,
 * for API GETs (a random employee by id) and client_credentials tokens. Server CPU per request is
 * read over the whole process tree (the primary and its workers). On a 2-core machine the load
 * generator and Postgres compete with the workers for the cores, so throughput cannot double
 * there; what linear scaling looks like is CPU per request that stays flat (within 10 %).
 */
import net from 'node:net';
import os from 'node:os';
import { alternate } from '../alternate.ts';
import { basicAuthorization, fetchToken, TOKEN_CONTENT_TYPE, tokenRequestBody } from '../http.ts';
import type { LoadTarget } from '../load.ts';
import type { Scenario } from '../scenario.ts';
import type { ClusterInfo, ClusterOptions } from '../servers/cluster.ts';
import { compare, ratio, summarize } from '../summary.ts';
import { apiTarget, firstTenant, startOurs, tokenPath } from './servers.ts';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export const cores: Scenario = {
  name: 'cores',
  description:
    'WORKERS=2 against WORKERS=1 (src/main.ts, a supervising primary and its workers on one port): API GET by id and client_credentials tokens; server CPU per request over the process tree.',
  async run(context) {
    const databaseUrl = context.database.url;
    if (!databaseUrl) {
      return { variants: [], loadRuns: [], latencySeries: [], comparisons: [], notes: ['No Postgres: WORKERS > 1 needs one.'] };
    }
    // provisioning (one tenant, its client, its employees) by the in-process server, stopped before any load
    const provisioner = await startOurs(context, { tenants: 1, employees: context.settings.employees });
    const tenant = firstTenant(provisioner);
    const { employeeIds, domain, scope } = provisioner.info;
    await provisioner.stop();

    const servers = [];
    for (const workers of [1, 2]) {
      const options: ClusterOptions = { databaseUrl, keyEncryptionKey: context.keyEncryptionKey, workers, port: await freePort() };
      const server = await context.start<ClusterInfo>(`workers-${workers}`, new URL('../servers/cluster.ts', import.meta.url), options);
      servers.push({ workers, server });
    }
    const apiTargets: LoadTarget[] = [];
    const tokenTargets: LoadTarget[] = [];
    for (const { workers, server } of servers) {
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
    const runs = [
      ...(await alternate(apiTargets, context.settings, context.problems)),
      ...(await alternate(tokenTargets, context.settings, context.problems)),
    ];
    const rows = (what: 'api' | 'token') => {
      const one = summarize(runs, `${what}-workers-1`);
      const two = summarize(runs, `${what}-workers-2`);
      const label = what === 'api' ? 'API GET' : 'token';
      return [
        compare(`${label} throughput WORKERS=2 / WORKERS=1`, ratio(two?.reqPerSec, one?.reqPerSec)),
        compare(`${label} server CPU per request WORKERS=2 / WORKERS=1`, ratio(two?.cpuUsPerRequest, one?.cpuUsPerRequest), '<= 1.1'),
      ];
    };
    const comparisons = [...rows('api'), ...rows('token')];
    const failing = comparisons.filter((c) => c.pass === false);
    const busiest = Math.max(...runs.map((r) => r.otherCpuPct ?? 0));
    const analysis = failing.length
      ? [
          `Measured: ${failing.map((c) => `${c.label} ${c.value} (target ${c.target})`).join('; ')}. During the measured runs other processes used up to ${busiest} % of a core on this ${os.availableParallelism()}-core machine.`,
          'Two workers, the primary, Postgres, the load generator and whatever else runs share the cores: once they are oversubscribed, each request is interrupted more often and loses its caches (CPU time per request grows though no work is added), which is not what this scenario is meant to measure. The primary adds next to nothing per request: it hands each keep-alive connection to a worker once (ten per run).',
          'What two workers do cost: each warms its own JIT, Provider, key and token caches (the warm-up is split between them), and each has its own heap (server RSS about doubles). Not profiled in this run. To measure scaling, run `npm run bench -- cores` where at least four cores are free for the server alone.',
        ]
      : [];
    return {
      analysis,
      variants: [
        { name: 'api-workers-1', description: 'GET /api/v1/employees/{id}, WORKERS=1: the entry point with no primary' },
        { name: 'api-workers-2', description: 'the same, WORKERS=2: a primary and two workers on one port' },
        { name: 'token-workers-1', description: 'client_credentials on the token endpoint, WORKERS=1' },
        { name: 'token-workers-2', description: 'the same, WORKERS=2' },
      ],
      loadRuns: runs,
      latencySeries: [],
      comparisons,
      notes: [
        `${context.settings.connections} keep-alive connections, which node:cluster hands to the workers in turn.`,
        'Server CPU counts the primary (which accepts and hands over each connection) and every worker.',
        'On a 2-core machine the load generator and Postgres share the cores with the workers: throughput there shows contention, CPU per request shows scaling.',
      ],
    };
  },
};
