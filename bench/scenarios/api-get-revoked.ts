/**
 * api-get-revoked: what the revocation check costs on the hot path. The same GET as api-get on two
 * tenants of one server: one with 10,000 live revoked tokens in its denylist, one with none. Both
 * tokens are valid, so both requests do the same work but for the lookup in a list of 10,000 or of 0.
 */
import { alternate } from '../alternate.ts';
import { fetchToken } from '../http.ts';
import type { Scenario } from '../scenario.ts';
import type { BenchTenant } from '../servers/ours.ts';
import { compare, ratio, summarize } from '../summary.ts';
import { apiTarget, authenticationHost, startOurs, tenantHost, tokenPath } from './servers.ts';

const REVOKED_TOKENS = 10_000;

export const apiGetRevoked: Scenario = {
  name: 'api-get-revoked',
  description: `GET /api/v1/employees/{id} on a tenant with ${REVOKED_TOKENS.toLocaleString('en')} revoked tokens listed, against a tenant with none (same server).`,
  async run(context) {
    const ours = await startOurs(context, { tenants: 2, employees: context.settings.employees, revokedTokens: REVOKED_TOKENS });
    const [clean, revoked] = ours.info.tenants as [BenchTenant, BenchTenant];
    const employeesOf = new Map([
      [clean, ours.info.employeeIds],
      [revoked, ours.info.revokedTenantEmployeeIds],
    ]);
    const target = async (variant: string, tenant: BenchTenant) => {
      const ids = employeesOf.get(tenant) ?? [];
      const token = await fetchToken(
        ours.info.port,
        authenticationHost(ours, tenant),
        tokenPath(tenant),
        tenant.clientId,
        tenant.clientSecret,
        ours.info.scope,
      );
      const path = () => `/api/v1/employees/${ids[Math.floor(Math.random() * ids.length)]}`;
      return apiTarget(variant, { port: ours.info.port, pid: ours.pid }, tenantHost(ours, tenant), token, path, false);
    };
    const targets = [await target('none', clean), await target('revoked', revoked)];

    const runs = await alternate(targets, context.settings, context.problems);
    // the denylist really held them: every run found the revoked tenant's list loaded
    const held = (await ours.memory()).extra.revocations ?? 0;
    if (held < REVOKED_TOKENS) context.problems.push(`the server held ${held} revocations, not ${REVOKED_TOKENS}`);
    const a = summarize(runs, 'revoked');
    const b = summarize(runs, 'none');
    return {
      variants: [
        { name: 'none', description: 'a tenant with no revoked token' },
        { name: 'revoked', description: `a tenant with ${REVOKED_TOKENS.toLocaleString('en')} live revoked tokens in its denylist` },
      ],
      loadRuns: runs,
      latencySeries: [],
      comparisons: [
        compare('throughput revoked / none', ratio(a?.reqPerSec, b?.reqPerSec), '>= 0.95'),
        compare('p99 latency revoked / none', ratio(a?.p99, b?.p99)),
        compare('server CPU per request revoked / none', ratio(a?.cpuUsPerRequest, b?.cpuUsPerRequest)),
      ],
      notes: [`Revocations held in memory after the runs: ${held}.`],
    };
  },
};
