/**
 * token-single: sustained client_credentials requests spread over 1,000 tenants (one client each),
 * every one's Provider pooled and records cached, against bare oidc-provider with one static
 * in-memory client.
 */
import { alternate } from '../alternate.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio, summarize } from '../summary.ts';
import { measureProviderMemory, memoryNotes } from './provider-memory.ts';
import { baselineTokenTarget, firstTenant, oursTokenTarget, startOurs, startTokenBaseline } from './servers.ts';

export const tokenSingle: Scenario = {
  name: 'token-single',
  description:
    'POST /connect/token (client_credentials, client_secret_basic, ES256 JWT access token), warm: spread uniformly over 1,000 tenants ' +
    'whose Providers are all pooled, vs bare oidc-provider with one static client.',
  async run(context) {
    const { spreadTenants } = context.settings;
    // a pool larger than every tenant (the demo ones too): all of them stay resident
    const ours = await startOurs(context, { tenants: spreadTenants, providerPoolSize: spreadTenants + 100 });
    const tenants = ours.info.tenants;
    const memory = await measureProviderMemory(ours, tenants);
    const baseline = await startTokenBaseline(context, ours, firstTenant(ours));

    const runs = await alternate(
      [oursTokenTarget(ours, 'ours', tenants), baselineTokenTarget(ours, baseline)],
      context.settings,
      context.problems,
    );
    const a = summarize(runs, 'ours');
    const b = summarize(runs, 'baseline');
    return {
      variants: [
        {
          name: 'ours',
          description: `our server (boot(), one Provider per tenant, client and keys from the database, cached), each request to a random one of ${spreadTenants} tenants, all pooled`,
        },
        { name: 'baseline', description: 'bare oidc-provider, one static in-memory client, ES256, JWT via resourceIndicators' },
      ],
      loadRuns: runs,
      latencySeries: [],
      comparisons: [
        compare('throughput ours / baseline', ratio(a?.reqPerSec, b?.reqPerSec), '>= 0.9'),
        compare('p99 latency ours / baseline', ratio(a?.p99, b?.p99), '<= 1.5'),
        compare('server CPU per request ours / baseline', ratio(a?.cpuUsPerRequest, b?.cpuUsPerRequest)),
        compare('RSS per pooled Provider (MiB, after GC)', memory.rssPerProviderMb),
      ],
      notes: [
        `Before the load, one token for each of the ${spreadTenants} tenants: all their Providers are built and pooled, their records cached.`,
        ...memoryNotes(memory),
      ],
    };
  },
};
