/**
 * token-auth-events: what the auth event log costs the token endpoint. Two servers of ours on one
 * database and the same tenants, one with AUTH_EVENTS=true (every outcome buffered and flushed in
 * batches) and one with AUTH_EVENTS=false, under the same load, alternated.
 */
import { alternate } from '../alternate.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio, summarize } from '../summary.ts';
import { fetchTokens, oursTokenTarget, startOursVariants } from './servers.ts';

/** tenants the load is spread over: enough that flushes carry many tenants' inserts */
const TENANTS = 100;

export const tokenAuthEvents: Scenario = {
  name: 'token-auth-events',
  description:
    'POST /connect/token (client_credentials, warm, spread over 100 tenants) with the auth event log on, ' +
    'against the same server with it off (AUTH_EVENTS=false).',
  async run(context) {
    const options = { tenants: TENANTS, providerPoolSize: TENANTS + 100, provisionApart: true };
    const [on, off] = await startOursVariants(context, options, [
      { name: 'log-on', authEvents: true },
      { name: 'log-off', authEvents: false },
    ]);
    if (!on || !off) throw new Error('both servers must start');
    await fetchTokens(on, on.info.tenants);
    await fetchTokens(off, off.info.tenants);
    const runs = await alternate(
      [oursTokenTarget(on, 'log-on', on.info.tenants), oursTokenTarget(off, 'log-off', off.info.tenants)],
      context.settings,
      context.problems,
    );
    const a = summarize(runs, 'log-on');
    const b = summarize(runs, 'log-off');
    return {
      analysis: [],
      variants: [
        {
          name: 'log-on',
          description:
            'our server with AUTH_EVENTS=true: each outcome appended to a bounded buffer, flushed every AUTH_EVENTS_FLUSH_MS (default)',
        },
        { name: 'log-off', description: 'the same server and tenants with AUTH_EVENTS=false' },
      ],
      loadRuns: runs,
      latencySeries: [],
      comparisons: [
        compare('throughput log on / off', ratio(a?.reqPerSec, b?.reqPerSec), '>= 0.97'),
        compare('p99 latency log on / off', ratio(a?.p99, b?.p99), '<= 1.1'),
        compare('server CPU per request log on / off', ratio(a?.cpuUsPerRequest, b?.cpuUsPerRequest)),
      ],
      notes: [
        `Both servers share one database and the same ${TENANTS} tenants; before the load, one token for each tenant on each server.`,
        'The log-on server writes its events to the same database during its runs: the flushes are part of what is measured.',
      ],
    };
  },
};
