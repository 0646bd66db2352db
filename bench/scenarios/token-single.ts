/** token-single: sustained client_credentials requests for one tenant and client, ours vs bare oidc-provider. */
import { alternate } from '../alternate.ts';
import { fetchToken } from '../http.ts';
import type { Scenario } from '../scenario.ts';
import { compare, ratio, summarize } from '../summary.ts';
import {
  authenticationHost,
  baselineTokenTarget,
  firstTenant,
  oursTokenTarget,
  startOurs,
  startTokenBaseline,
  tokenPath,
} from './servers.ts';

export const tokenSingle: Scenario = {
  name: 'token-single',
  description: 'POST /connect/token (client_credentials, client_secret_basic, JWT access token) for one tenant and one client.',
  async run(context) {
    const ours = await startOurs(context, { tenants: 1 });
    const tenant = firstTenant(ours);
    await fetchToken(ours.info.port, authenticationHost(ours), tokenPath(tenant), tenant.clientId, tenant.clientSecret, ours.info.scope);
    const baseline = await startTokenBaseline(context, ours, tenant);

    const runs = await alternate(
      [oursTokenTarget(ours, 'ours', [tenant]), baselineTokenTarget(ours, baseline)],
      context.settings,
      context.problems,
    );
    const a = summarize(runs, 'ours');
    const b = summarize(runs, 'baseline');
    return {
      variants: [
        { name: 'ours', description: 'our server (boot(), one Provider per tenant, client and keys from the database, cached)' },
        { name: 'baseline', description: 'bare oidc-provider, one static in-memory client, ES256, JWT via resourceIndicators' },
      ],
      loadRuns: runs,
      latencySeries: [],
      comparisons: [
        compare('throughput ours / baseline', ratio(a?.reqPerSec, b?.reqPerSec), '>= 0.9'),
        compare('p99 latency ours / baseline', ratio(a?.p99, b?.p99), '<= 1.5'),
        compare('server CPU per request ours / baseline', ratio(a?.cpuUsPerRequest, b?.cpuUsPerRequest)),
      ],
      notes: [],
    };
  },
};
