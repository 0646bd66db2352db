/**
 * The black-box isolation probes of `verify`, in groups. Each group is a named function from the
 * subjects (tenants with tokens) to checks; it only talks to the URLs of the credentials file:
 * token endpoints, discovery and the resource API. Reads only, except the one group that needs
 * --allow-writes, which creates records named `tenant-connect-verify-<random>` and deletes them.
 */
import crypto from 'node:crypto';
import type { JWK } from 'jose';
import type { HttpClient } from '../http.ts';
import { forgeTokens } from './forged-tokens.ts';
import { describe, reflections, sameAnswer, send, type Observation } from './observations.ts';
import type { Subject } from './subjects.ts';

export type CheckResult = 'pass' | 'fail' | 'skip';

export interface Check {
  readonly group: string;
  readonly name: string;
  readonly expected: string;
  readonly observed: string;
  readonly result: CheckResult;
  /** what the check proves, or which request it sent, when the name does not say */
  readonly note?: string;
}

export interface VerifyContext {
  readonly http: HttpClient;
  readonly subjects: readonly Subject[];
  readonly allowWrites: boolean;
  /** random hex, for probe names, missing ids and forged hosts */
  readonly nonce: () => string;
}

export interface ProbeGroup {
  readonly name: string;
  run(ctx: VerifyContext): Promise<Check[]>;
}

export const randomNonce = (): string => crypto.randomBytes(6).toString('hex');

/** The prefix of every record verify writes, so an operator can find (and remove) any it left behind. */
export const RECORD_PREFIX = 'tenant-connect-verify-';

/** The collection the write probes create a record in: self-contained (no references), free-text code and name. */
const WRITE_COLLECTION = 'org-units';

function check(group: string, name: string, expected: string, observed: string, result: CheckResult | boolean, note?: string): Check {
  const outcome = typeof result === 'boolean' ? (result ? 'pass' : 'fail') : result;
  return { group, name, expected, observed, result: outcome, ...(note ? { note } : {}) };
}

function statusCheck(group: string, name: string, expected: readonly number[], observation: Observation, note?: string): Check {
  return check(group, name, expected.join(' or '), describe(observation), expected.includes(observation.status), note);
}

const apiUrl = (subject: Subject, pathname: string): string => `${subject.credential.api_base.replace(/\/+$/, '')}${pathname}`;
const discoveryUrl = (issuer: string): string => `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
const others = (ctx: VerifyContext, subject: Subject): Subject[] => ctx.subjects.filter((s) => s !== subject);
/** the collection a subject's probes read: the first its scope allows */
const probeCollection = (subject: Subject): string | undefined => subject.readable[0];

/** An id of the same shape as `id` that no tenant holds: a UUID keeps its version and variant, its last 12 digits change. */
export function missingIdLike(id: string, nonce: string): string {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
    return `${id.slice(0, 24)}${nonce.padEnd(12, '0').slice(0, 12)}`;
  return `${RECORD_PREFIX}missing-${nonce}`;
}

/** Own token on own API, and each issuer's discovery: without these every 401 below proves nothing. */
const baseline: ProbeGroup = {
  name: 'baseline',
  async run(ctx) {
    const group = this.name;
    const checks: Check[] = [];
    for (const subject of ctx.subjects) {
      const collection = probeCollection(subject);
      if (!collection) {
        checks.push(check(group, `${subject.label} token on its own API`, '200', 'the token carries no <collection>:read scope', false));
      } else {
        const answer = await send(ctx.http, { url: apiUrl(subject, `/${collection}?limit=1`), token: subject.token.compact });
        checks.push(statusCheck(group, `${subject.label} token on its own API (/${collection})`, [200], answer));
      }
      const discovery = await send(ctx.http, { url: discoveryUrl(subject.credential.issuer) });
      const issuer = (discovery.json as { issuer?: unknown } | undefined)?.issuer;
      const matches = discovery.status === 200 && issuer === subject.credential.issuer;
      const observed = discovery.status === 200 && !matches ? `200, issuer ${JSON.stringify(issuer)}` : describe(discovery);
      checks.push(check(group, `${subject.label} discovery names its issuer`, '200, issuer as in the file', observed, matches));
    }
    return checks;
  },
};

/** Each tenant's token on every other tenant's and environment's API. */
const tokensAcrossTenants: ProbeGroup = {
  name: 'tokens across tenants',
  async run(ctx) {
    const checks: Check[] = [];
    for (const holder of ctx.subjects) {
      // a scope the token holds, so a server that accepted the token could not answer 403 instead
      const collection = probeCollection(holder) ?? 'employees';
      for (const target of others(ctx, holder)) {
        const answer = await send(ctx.http, { url: apiUrl(target, `/${collection}?limit=1`), token: holder.token.compact });
        checks.push(statusCheck(this.name, `${holder.label} token on ${target.label} API`, [401], answer));
      }
    }
    return checks;
  },
};

/** One id a subject's own API lists in a collection, or undefined when it lists none. */
async function firstId(ctx: VerifyContext, subject: Subject, collection: string): Promise<string | undefined> {
  const answer = await send(ctx.http, { url: apiUrl(subject, `/${collection}?limit=1`), token: subject.token.compact });
  const id = (answer.json as { data?: { id?: unknown }[] } | undefined)?.data?.[0]?.id;
  return answer.status === 200 && typeof id === 'string' ? id : undefined;
}

/** `prober` asks its own API for `id` and for a missing id of the same shape: the two answers must be the same 404. */
async function foreignIdCheck(
  ctx: VerifyContext,
  group: string,
  name: string,
  prober: Subject,
  request: {
    readonly method?: string;
    readonly pathname: (id: string) => string;
    readonly headers?: Record<string, string>;
    readonly body?: string;
  },
  id: string,
): Promise<Check> {
  const missingId = missingIdLike(id, ctx.nonce());
  const ask = (target: string) =>
    send(ctx.http, {
      url: apiUrl(prober, request.pathname(target)),
      token: prober.token.compact,
      ...(request.method ? { method: request.method } : {}),
      ...(request.headers ? { headers: request.headers } : {}),
      ...(request.body === undefined ? {} : { body: request.body }),
    });
  const foreign = await ask(id);
  const missing = await ask(missingId);
  const expected = '404, as a missing id';
  if (foreign.status !== 404) return check(group, name, expected, describe(foreign), false);
  const { same, difference } = sameAnswer(foreign, id, missing, missingId);
  return check(group, name, expected, same ? '404, same as a missing id' : `404, unlike a missing id (${difference})`, same);
}

/** A resource id of one tenant, asked for by every other tenant on its own API. */
const foreignIds: ProbeGroup = {
  name: 'foreign resource ids',
  async run(ctx) {
    const checks: Check[] = [];
    for (const owner of ctx.subjects) {
      // one list request per owner and collection, however many tenants probe with its id
      const ids = new Map<string, Promise<string | undefined>>();
      for (const prober of others(ctx, owner)) {
        const collection = owner.readable.find((c) => prober.readable.includes(c));
        const name = `${prober.label} asks for a ${owner.label} id`;
        if (!collection) {
          checks.push(check(this.name, name, '404, as a missing id', 'not run: no collection both tokens may read', 'skip'));
          continue;
        }
        if (!ids.has(collection)) ids.set(collection, firstId(ctx, owner, collection));
        const id = await ids.get(collection);
        if (!id) {
          const observed = `not run: ${owner.label} lists no ${collection} (--allow-writes creates a record to probe with)`;
          checks.push(check(this.name, name, '404, as a missing id', observed, 'skip'));
          continue;
        }
        checks.push(
          await foreignIdCheck(ctx, this.name, `${name} (/${collection}/{id})`, prober, { pathname: (i) => `/${collection}/${i}` }, id),
        );
      }
    }
    return checks;
  },
};

/** The tenant comes from the host and the token; naming one in the query is a 400, never ignored. */
const tenantInQuery: ProbeGroup = {
  name: 'tenant_id in the query',
  async run(ctx) {
    const checks: Check[] = [];
    for (const subject of ctx.subjects) {
      const collection = probeCollection(subject) ?? 'employees';
      // another tenant's slug: the request names a tenant the token does not belong to
      const other =
        others(ctx, subject).find((s) => s.credential.tenant !== subject.credential.tenant)?.credential.tenant ??
        `tc-verify-${ctx.nonce()}`;
      const answer = await send(ctx.http, {
        url: apiUrl(subject, `/${collection}?tenant_id=${encodeURIComponent(other)}&limit=1`),
        token: subject.token.compact,
      });
      checks.push(statusCheck(this.name, `${subject.label} /${collection}?tenant_id=${other}`, [400], answer));
    }
    return checks;
  },
};

/** The tenant's published key that a token's `kid` names (or its only signing key), via discovery's jwks_uri. */
async function publishedKey(ctx: VerifyContext, subject: Subject): Promise<JWK | undefined> {
  const discovery = await send(ctx.http, { url: discoveryUrl(subject.credential.issuer) });
  const jwksUri = (discovery.json as { jwks_uri?: unknown } | undefined)?.jwks_uri;
  if (typeof jwksUri !== 'string') return undefined;
  const jwks = await send(ctx.http, { url: jwksUri });
  const keys = (jwks.json as { keys?: JWK[] } | undefined)?.keys;
  if (!Array.isArray(keys)) return undefined;
  const kid = subject.token.header.kid;
  return kid ? keys.find((k) => k.kid === kid) : keys.find((k) => k.use !== 'enc');
}

/** Tokens made without the private key, each on the API of the tenant whose real token it copies. */
const forgedTokens: ProbeGroup = {
  name: 'forged tokens',
  async run(ctx) {
    const checks: Check[] = [];
    for (const subject of ctx.subjects) {
      const collection = probeCollection(subject) ?? 'employees';
      const jwk = await publishedKey(ctx, subject);
      for (const forged of await forgeTokens(subject.token, jwk)) {
        const answer = await send(ctx.http, { url: apiUrl(subject, `/${collection}?limit=1`), token: forged.token });
        checks.push(statusCheck(this.name, `${subject.label} ${forged.name}`, [401], answer, forged.proves));
      }
      if (!jwk) {
        const observed = 'not run: no published key found for the token (discovery jwks_uri)';
        checks.push(check(this.name, `${subject.label} HS256 keyed with the public key`, '401', observed, 'skip'));
      }
    }
    return checks;
  },
};

/** A forged host in Host, X-Forwarded-Host or Forwarded must never become a URL in discovery. */
const hostReflection: ProbeGroup = {
  name: 'host reflection',
  async run(ctx) {
    const checks: Check[] = [];
    const issuers = [...new Set(ctx.subjects.map((s) => s.credential.issuer))];
    // one issuer per authentication host: the host is what a forged header would replace
    const seenOrigins = new Set<string>();
    for (const issuer of issuers) {
      const origin = new URL(issuer).origin;
      if (seenOrigins.has(origin)) continue;
      seenOrigins.add(origin);
      const label = (ctx.subjects.find((s) => s.credential.issuer === issuer) as Subject).label;
      const forged = `tc-verify-${ctx.nonce()}.invalid`;
      const variants: [string, Record<string, string>][] = [
        ['Host', { host: forged }],
        ['X-Forwarded-Host', { 'x-forwarded-host': forged, 'x-forwarded-proto': 'https' }],
        ['Forwarded', { forwarded: `host=${forged};proto=https` }],
      ];
      for (const [header, headers] of variants) {
        const answer = await send(ctx.http, { url: discoveryUrl(issuer), headers });
        const reflected = reflections(answer, forged);
        const observed =
          answer.status === 0
            ? describe(answer)
            : reflected.length
              ? `${answer.status}, reflected in ${reflected.join(', ')}`
              : `${answer.status}, not reflected`;
        const held = answer.status !== 0 && !reflected.length;
        checks.push(
          check(this.name, `${header} forged on ${label} discovery`, 'forged host in no URL', observed, held, `${header}: ${forged}`),
        );
      }
    }
    return checks;
  },
};

/** `…/tenants/<tenant>…` with another slug, or undefined when the URL does not have that shape. */
function withTenantPath(url: string, tenant: string, unknown: string): string | undefined {
  const parsed = new URL(url);
  const segment = `/tenants/${encodeURIComponent(tenant)}`;
  const at = parsed.pathname.indexOf(segment);
  const end = at + segment.length;
  if (at < 0 || (parsed.pathname.length > end && parsed.pathname[end] !== '/')) return undefined;
  parsed.pathname = `${parsed.pathname.slice(0, at)}/tenants/${unknown}${parsed.pathname.slice(end)}`;
  return parsed.toString().replace(/\/+$/, '');
}

/** `<tenant>.<domain>` with another first label, or undefined when the host does not start with the tenant. */
function withTenantHost(url: string, tenant: string, unknown: string): string | undefined {
  const parsed = new URL(url);
  if (!parsed.hostname.startsWith(`${tenant}.`)) return undefined;
  parsed.hostname = `${unknown}${parsed.hostname.slice(tenant.length)}`;
  return parsed.toString().replace(/\/+$/, '');
}

/** A tenant no one provisioned, in every environment: 404 on discovery, the token endpoint and the API. */
const unknownTenant: ProbeGroup = {
  name: 'unknown tenant',
  async run(ctx) {
    const checks: Check[] = [];
    const environments = [...new Set(ctx.subjects.map((s) => s.credential.environment))];
    for (const environment of environments) {
      const subject = ctx.subjects.find((s) => s.credential.environment === environment) as Subject;
      const { credential } = subject;
      const slug = `tc-verify-${ctx.nonce()}`;
      const notShaped = (what: string) =>
        check(this.name, `${environment} ${what} of tenant ${slug}`, '404', `not run: the ${what} URL does not name the tenant`, 'skip');

      const issuer = withTenantPath(credential.issuer, credential.tenant, slug);
      if (issuer)
        checks.push(
          statusCheck(this.name, `${environment} discovery of tenant ${slug}`, [404], await send(ctx.http, { url: discoveryUrl(issuer) })),
        );
      else checks.push(notShaped('discovery'));

      const tokenEndpoint = withTenantPath(credential.token_endpoint, credential.tenant, slug);
      if (tokenEndpoint) {
        const basic = Buffer.from(`${encodeURIComponent(credential.client_id)}:${encodeURIComponent(credential.client_secret)}`).toString(
          'base64',
        );
        const answer = await send(ctx.http, {
          method: 'POST',
          url: tokenEndpoint,
          headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        });
        checks.push(
          statusCheck(this.name, `${environment} token endpoint of tenant ${slug} (${subject.label} credentials)`, [404], answer),
        );
      } else checks.push(notShaped('token endpoint'));

      const apiBase = withTenantHost(credential.api_base, credential.tenant, slug);
      if (apiBase) {
        const collection = probeCollection(subject) ?? 'employees';
        const answer = await send(ctx.http, { url: `${apiBase}/${collection}?limit=1`, token: subject.token.compact });
        checks.push(statusCheck(this.name, `${environment} API of tenant ${slug} (${subject.label} token)`, [404], answer));
      } else checks.push(notShaped('API'));
    }
    return checks;
  },
};

/** RFC 6750 §2.3 (a token in the URL, where logs and Referer headers keep it) is refused: only the Authorization header counts. */
const tokenInQuery: ProbeGroup = {
  name: 'access_token in the query',
  async run(ctx) {
    const checks: Check[] = [];
    for (const subject of ctx.subjects) {
      const collection = probeCollection(subject) ?? 'employees';
      const answer = await send(ctx.http, {
        url: apiUrl(subject, `/${collection}?limit=1&access_token=${encodeURIComponent(subject.token.compact)}`),
      });
      checks.push(statusCheck(this.name, `${subject.label} /${collection}?access_token=<its own valid token>`, [401, 400], answer));
    }
    return checks;
  },
};

/** Creates one clearly named record in `owner`, lets every other tenant read, patch and delete it by id, checks it is untouched, and deletes it. */
async function probeForeignWrites(ctx: VerifyContext, group: string, owner: Subject): Promise<Check[]> {
  const checks: Check[] = [];
  const name = `${RECORD_PREFIX}${ctx.nonce()}`;
  const created = await send(ctx.http, {
    method: 'POST',
    url: apiUrl(owner, `/${WRITE_COLLECTION}`),
    token: owner.token.compact,
    headers: { 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() },
    body: JSON.stringify({ code: name, name }),
  });
  const record = created.json as { id?: unknown } | undefined;
  const etag = created.headers.etag;
  checks.push(statusCheck(group, `${owner.label} creates ${WRITE_COLLECTION} ${name}`, [201], created));
  if (created.status !== 201 || typeof record?.id !== 'string' || typeof etag !== 'string') return checks;
  const id = record.id;
  try {
    for (const prober of others(ctx, owner)) {
      if (!prober.writable.includes(WRITE_COLLECTION)) {
        checks.push(
          check(
            group,
            `${prober.label} writes ${owner.label}'s ${name}`,
            '404, as a missing id',
            `not run: no ${WRITE_COLLECTION}:write scope`,
            'skip',
          ),
        );
        continue;
      }
      const path = (i: string) => `/${WRITE_COLLECTION}/${i}`;
      const ifMatch = { 'if-match': etag };
      checks.push(await foreignIdCheck(ctx, group, `${prober.label} GET ${owner.label}'s ${name}`, prober, { pathname: path }, id));
      checks.push(
        await foreignIdCheck(
          ctx,
          group,
          `${prober.label} PATCH ${owner.label}'s ${name}`,
          prober,
          {
            method: 'PATCH',
            pathname: path,
            headers: { ...ifMatch, 'content-type': 'application/merge-patch+json' },
            body: JSON.stringify({ name: `${name} patched` }),
          },
          id,
        ),
      );
      checks.push(
        await foreignIdCheck(
          ctx,
          group,
          `${prober.label} DELETE ${owner.label}'s ${name}`,
          prober,
          { method: 'DELETE', pathname: path, headers: ifMatch },
          id,
        ),
      );
    }
    const after = await send(ctx.http, { url: apiUrl(owner, `/${WRITE_COLLECTION}/${id}`), token: owner.token.compact });
    const untouched = after.status === 200 && after.headers.etag === etag && (after.json as { name?: unknown } | undefined)?.name === name;
    const observed =
      after.status === 200 ? (untouched ? '200, unchanged' : `200, changed (ETag ${String(after.headers.etag)})`) : describe(after);
    checks.push(check(group, `${owner.label} reads ${name} back`, '200, unchanged', observed, untouched));
  } finally {
    const current = await send(ctx.http, { url: apiUrl(owner, `/${WRITE_COLLECTION}/${id}`), token: owner.token.compact });
    const currentTag = typeof current.headers.etag === 'string' ? current.headers.etag : etag;
    const deleted = await send(ctx.http, {
      method: 'DELETE',
      url: apiUrl(owner, `/${WRITE_COLLECTION}/${id}`),
      token: owner.token.compact,
      headers: { 'if-match': currentTag },
    });
    checks.push(statusCheck(group, `${owner.label} deletes ${name}`, [204], deleted));
  }
  return checks;
}

/** Only with --allow-writes: writes by id across tenants, on records verify creates and deletes. */
const foreignWrites: ProbeGroup = {
  name: 'foreign writes',
  async run(ctx) {
    if (!ctx.allowWrites) {
      return [
        check(
          this.name,
          'create, then GET/PATCH/DELETE by id from every other tenant',
          '404, as a missing id',
          'not run: read-only (--allow-writes)',
          'skip',
        ),
      ];
    }
    const checks: Check[] = [];
    for (const owner of ctx.subjects) {
      if (!owner.writable.includes(WRITE_COLLECTION)) {
        checks.push(
          check(
            this.name,
            `${owner.label} creates a ${WRITE_COLLECTION} record`,
            '201',
            `not run: no ${WRITE_COLLECTION}:write scope`,
            'skip',
          ),
        );
        continue;
      }
      checks.push(...(await probeForeignWrites(ctx, this.name, owner)));
    }
    return checks;
  },
};

export const PROBE_GROUPS: readonly ProbeGroup[] = [
  baseline,
  tokensAcrossTenants,
  foreignIds,
  tenantInQuery,
  forgedTokens,
  hostReflection,
  unknownTenant,
  tokenInQuery,
  foreignWrites,
];
