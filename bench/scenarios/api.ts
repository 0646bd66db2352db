/**
 * The API scenarios: GETs with one bearer token from our token endpoint, to our resource API and to
 * the Koa + jose + pg baseline that trusts the same key. Each side is checked once before any load.
 */
import { alternate } from '../alternate.ts';
import { fetchToken, loopbackRequest } from '../http.ts';
import type { LoadTarget } from '../load.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio, summarize } from '../summary.ts';
import { apiTarget, authenticationHost, firstTenant, startApiBaseline, startOurs, tenantHost, tokenPath } from './servers.ts';

export interface ApiScenarioSpec {
  readonly name: string;
  readonly description: string;
  /** the request path: the same for every request, or picked from the employee ids each time */
  readonly path: (employeeIds: readonly string[]) => string;
  readonly varies: boolean;
  /** throws when a response body is not what the load should be getting */
  readonly check: (body: unknown) => void;
  readonly target: string;
}

async function checkOnce(target: LoadTarget, check: (body: unknown) => void): Promise<void> {
  const response = await loopbackRequest({
    port: target.port,
    host: target.headers.host ?? '',
    path: target.path,
    headers: target.headers,
  });
  if (response.status !== 200) throw new Error(`${target.variant}: GET ${target.path} answered ${response.status}: ${response.body}`);
  check(JSON.parse(response.body));
}

export function apiScenario(spec: ApiScenarioSpec): Scenario {
  return {
    name: spec.name,
    description: spec.description,
    async run(context) {
      const ours = await startOurs(context, { tenants: 1, employees: context.settings.employees });
      const tenant = firstTenant(ours);
      const { employeeIds } = ours.info;
      const token = await fetchToken(
        ours.info.port,
        authenticationHost(ours),
        tokenPath(tenant),
        tenant.clientId,
        tenant.clientSecret,
        ours.info.scope,
      );
      const host = tenantHost(ours, tenant);
      const path = () => spec.path(employeeIds);
      const targets = [apiTarget('ours', { port: ours.info.port, pid: ours.pid }, host, token, path, !spec.varies)];
      const notes: string[] = [];
      if (context.database.url) {
        const baseline = await startApiBaseline(context, ours, tenant);
        targets.push(apiTarget('baseline', { port: baseline.info.port, pid: baseline.pid }, host, token, path, !spec.varies));
      } else {
        notes.push('No Postgres: the pg baseline cannot run on the embedded database, so only our numbers are recorded.');
      }
      for (const target of targets) await checkOnce(target, spec.check);

      const runs = await alternate(targets, context.settings, context.problems);
      const a = summarize(runs, 'ours');
      const b = summarize(runs, 'baseline');
      return {
        variants: [
          {
            name: 'ours',
            description: 'our resource API (tenant from Host, cached keys, verified-token cache, scoped transaction with RLS)',
          },
          { name: 'baseline', description: 'Koa + jose jwtVerify on every request + the same SQL with pg in one round trip' },
        ],
        loadRuns: runs,
        latencySeries: [],
        comparisons: [
          compare('throughput ours / baseline', ratio(a?.reqPerSec, b?.reqPerSec), spec.target),
          compare('p99 latency ours / baseline', ratio(a?.p99, b?.p99)),
          compare('server CPU per request ours / baseline', ratio(a?.cpuUsPerRequest, b?.cpuUsPerRequest)),
          compare('Postgres CPU per request ours / baseline', ratio(dbCpuPerRequest(runs, 'ours'), dbCpuPerRequest(runs, 'baseline'))),
        ],
        notes,
      };
    },
  };
}

function dbCpuPerRequest(runs: readonly { variant: string; dbCpuMs: number | undefined; requests: number }[], variant: string) {
  const mine = runs.filter((r) => r.variant === variant && r.dbCpuMs !== undefined);
  const requests = mine.reduce((sum, r) => sum + r.requests, 0);
  return requests > 0 ? mine.reduce((sum, r) => sum + (r.dbCpuMs ?? 0), 0) / requests : undefined;
}
