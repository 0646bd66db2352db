/**
 * token-single: sustained client_credentials requests spread over 1,000 tenants (one client each),
 * every one's Provider pooled and records cached, against bare oidc-provider with one static
 * in-memory client.
 */
import { alternate } from '../alternate.ts';
import { profileNotes, profileUnderLoad } from '../profile-summary.ts';
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
    const ours = await startOurs(context, { tenants: spreadTenants, providerPoolSize: spreadTenants + 100, provisionApart: true });
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
    // where the CPU goes: the same load on each, and ours with every request to one tenant
    const seconds = context.settings.quick ? 2 : 5;
    const { connections } = context.settings;
    const profiles = [
      ['ours (1,000 tenants)', await profileUnderLoad(ours, oursTokenTarget(ours, 'ours', tenants), seconds, connections)],
      ['ours (one tenant)', await profileUnderLoad(ours, oursTokenTarget(ours, 'ours-one', [firstTenant(ours)]), seconds, connections)],
      ['baseline', await profileUnderLoad(baseline, baselineTokenTarget(ours, baseline), seconds, connections)],
    ] as const;
    const [spread, one, bare] = profiles.map(([, summary]) => summary);
    const packageUs = (summary: typeof spread, name: string) => summary?.byPackage.find((p) => p.name === name)?.usPerRequest ?? 0;
    const throughput = ratio(a?.reqPerSec, b?.reqPerSec);
    const analysis =
      throughput !== undefined && throughput < 0.9
        ? [
            `**Throughput ours / baseline ${throughput} (target ≥ 0.9)**; server CPU per request ${a?.cpuUsPerRequest} µs against ` +
              `${b?.cpuUsPerRequest} µs. The profiles (notes above) split the difference: the same server answering the same load ` +
              `for one tenant used ${one?.busyUsPerRequest} µs per request on its main thread, for 1,000 tenants ` +
              `${spread?.busyUsPerRequest} µs, the baseline ${bare?.busyUsPerRequest} µs. In the 1,000-tenant profile ` +
              `oidc-provider's own frames take ${packageUs(spread, 'oidc-provider')} µs per request against ` +
              `${packageUs(one, 'oidc-provider')} µs for one tenant, spread thinly over every frame rather than in one hot spot; our own code (src) ` +
              `takes ${packageUs(spread, 'src (ours)')} µs (the tenancy layer, the rate limit, the pool and cache lookups, and the ` +
              `Provider configuration's own callbacks) and rate-limiter-flexible ${packageUs(spread, 'rate-limiter-flexible')} µs.`,
            'What limits it: oidc-provider builds its classes per Provider (Client, BaseModel, BaseToken, ClientCredentials, ' +
              'OIDCContext, its router and middleware closures are created in the constructor or on first use), so with a ' +
              "thousand Providers the same functions see a thousand object shapes and closures: V8's inline caches go " +
              'megamorphic and the same code runs slower than with one Provider: the cost of "one Provider per tenant" itself. ' +
              "Our own share is src's, rate-limiter-flexible's and lru-cache's figures above; it grows with each check a token " +
              'request passes (the failed-authentication throttle, the per-client limit and the token quota as separate ' +
              'awaits, the RateLimit headers, the auth event and the usage count). We cut what we could reach (Koa context ' +
              'prototypes shared by all Providers, ' +
              'signing with a key imported once into node:crypto instead of jose importing a cloned JWK, the Client kept per ' +
              'cached record instead of hashed per request). Closing the rest needs oidc-provider to share its classes between ' +
              'instances, or fewer Provider instances than tenants, which the design rules out.',
          ]
        : [];
    return {
      analysis,
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
        ...profiles.flatMap(([variant, summary]) => profileNotes(variant, summary)),
      ],
    };
  },
};
