/**
 * `<tenant>.<domain>/api/v1/…`: the resource server. Each request reads top to bottom: find the
 * tenant from the host, authenticate the bearer token against that tenant's keys, refuse a tenant
 * named in the request, then the route with its scope.
 */
import Router from '@koa/router';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Context, Next } from 'koa';
import type { EnvironmentConfig } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import type { TenantCredentials } from '../auth/tenant-credentials.ts';
import { ApiError } from '../http/problem.ts';
import type { PublicUrls } from '../tenancy/hosts.ts';
import type { Tenant, TenantCache } from '../tenancy/tenants.ts';
import { type AccessTokenClaims, type AccessTokenVerifier, extractBearerToken, requireScope } from './access-tokens.ts';
import { createEmployeeQueries } from './employee-queries.ts';
import { DEFAULT_LIMIT, decodeCursor, encodeCursor } from './pagination.ts';
import { readJsonBody, rejectTenantInQuery } from './request-guards.ts';

export interface ApiState {
  tenant: Tenant;
  origin: string;
  claims: AccessTokenClaims;
  body: unknown;
}

type ApiContext = Context & { state: ApiState };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NOT_FOUND_DETAIL = 'Nothing is served at this address.';

const ajv = new Ajv({ allErrors: true, strict: true });

/** Query schemas: values arrive as strings (an array when a parameter repeats, which is refused). */
const listQuerySchema = {
  type: 'object',
  properties: {
    limit: { type: 'string', pattern: '^(?:[1-9]|[1-9][0-9]|1[0-9][0-9]|200)$' },
    cursor: { type: 'string', minLength: 1, maxLength: 512 },
  },
  additionalProperties: false,
} as const;
const noQuerySchema = { type: 'object', properties: {}, additionalProperties: false } as const;

function queryValidator(schema: object) {
  const validate: ValidateFunction = ajv.compile(schema);
  return async function validateQuery(ctx: Context, next: Next) {
    if (!validate({ ...ctx.query })) throw invalidQuery(validate.errors ?? []);
    await next();
  };
}

function invalidQuery(errors: ErrorObject[]): ApiError {
  const details = errors.map((e) => {
    if (e.keyword === 'additionalProperties') {
      const name = String(e.params.additionalProperty);
      return { pointer: `/query/${name}`, detail: `unknown query parameter "${name}"` };
    }
    const name = e.instancePath.slice(1);
    if (e.keyword === 'type') return { pointer: `/query/${name}`, detail: `"${name}" must be given once` };
    if (name === 'limit') return { pointer: '/query/limit', detail: 'limit must be an integer from 1 to 200' };
    return { pointer: `/query/${name}`, detail: `invalid value: ${e.message ?? 'rejected'}` };
  });
  return new ApiError('invalid-query', details.map((d) => d.detail).join('; '), { members: { errors: details } });
}

function scope(name: string) {
  return async function requireRouteScope(ctx: ApiContext, next: Next) {
    requireScope(ctx.state.claims, name, ctx.state.origin);
    await next();
  };
}

export function createResourceApi(deps: {
  db: Database;
  tenants: TenantCache;
  credentials: TenantCredentials;
  verifyAccessToken: AccessTokenVerifier;
  urls: PublicUrls;
}) {
  const employees = createEmployeeQueries();
  const router = new Router<ApiState>({ prefix: '/api/v1' });

  router.get('/employees', scope('employees:read'), queryValidator(listQuerySchema), async function listEmployees(ctx) {
    const limit = ctx.query.limit ? Number(ctx.query.limit) : DEFAULT_LIMIT;
    const after = typeof ctx.query.cursor === 'string' ? decodeCursor(ctx.query.cursor) : null;
    const rows = await deps.db.scoped(ctx.state.tenant.id, (tx) => employees.listEmployees(tx, { after, limit: limit + 1 }));
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    const next = rows.length > limit && last ? `${ctx.state.origin}/api/v1/employees?limit=${limit}&cursor=${encodeCursor(last.id)}` : null;
    if (next) ctx.set('Link', `<${next}>; rel="next"`);
    ctx.body = { data: page, next };
  });

  router.get('/employees/:id', scope('employees:read'), queryValidator(noQuerySchema), async function getEmployee(ctx) {
    const id = ctx.params.id ?? '';
    // a malformed id and another tenant's id answer exactly like an id that never existed
    const employee = UUID.test(id) ? await deps.db.scoped(ctx.state.tenant.id, (tx) => employees.findEmployeeById(tx, id)) : undefined;
    if (!employee) throw new ApiError('not-found', 'No employee with this id.');
    ctx.set('ETag', `"${employee.version}"`);
    ctx.body = employee;
  });

  const routes = router.routes();
  const allowedMethods = router.allowedMethods({
    throw: true,
    methodNotAllowed: () => new ApiError('method-not-allowed', 'This method is not allowed on this resource.'),
    notImplemented: () => new ApiError('method-not-allowed', 'This method is not supported.'),
  });

  return async function serveResourceApi(ctx: Context, environment: EnvironmentConfig, slug: string): Promise<void> {
    if (ctx.path !== '/api/v1' && !ctx.path.startsWith('/api/v1/')) throw new ApiError('not-found', NOT_FOUND_DETAIL);
    const tenant = await deps.tenants.getTenant(environment.name, slug);
    if (!tenant) throw new ApiError('not-found', NOT_FOUND_DETAIL);
    const keys = await deps.credentials.getKeys(tenant.id);
    if (!keys) throw new ApiError('not-found', NOT_FOUND_DETAIL);

    const origin = deps.urls.tenantOrigin(environment, slug);
    const token = extractBearerToken(ctx.get('authorization') || undefined, origin);
    const claims = await deps.verifyAccessToken(token, {
      tenantId: tenant.id,
      issuer: deps.urls.issuer(environment, slug),
      audience: origin,
      publicKeys: keys.publicKeys,
    });
    if (tenant.status !== 'ACTIVE') {
      throw new ApiError('tenant-suspended', 'This tenant is not active; its API is unavailable.');
    }
    rejectTenantInQuery(ctx);
    const state = ctx.state as ApiState;
    state.tenant = tenant;
    state.origin = origin;
    state.claims = claims;
    if (['POST', 'PUT', 'PATCH', 'DELETE'].includes(ctx.method)) state.body = await readJsonBody(ctx);

    // allowedMethods turns a path that exists under another method into 405 (with Allow)
    await allowedMethods(ctx as never, () => routes(ctx as never, async () => {}));
    if (ctx.body === undefined) throw new ApiError('not-found', NOT_FOUND_DETAIL);
  };
}
