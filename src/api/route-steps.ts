/** Small named steps the resource API's routes are composed of, and `apiRoute`, how each is declared. */
import type { Context } from 'koa';
import type { Tenant } from '../tenancy/tenants.ts';
import { ApiError } from '../http/problem.ts';
import { type AccessTokenClaims, requireScope } from '../http/bearer.ts';
import { defineRoute, type RouteSpec } from '../http/route-spec.ts';

export interface ApiState {
  tenant: Tenant;
  origin: string;
  claims: AccessTokenClaims;
  body: unknown;
}

export type ApiContext = Context & { state: ApiState; params: Record<string, string> };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A resource API route that needs one scope: the check (before anything of the request is read)
 * and the document's security requirement (the oauth2 flow, a pasted bearer token, or a DPoP-bound one) both come
 * from `scope`.
 */
export function apiRoute(spec: Omit<RouteSpec<ApiContext>, 'security' | 'authorize'> & { readonly scope: string }): RouteSpec<ApiContext> {
  const { scope, ...route } = spec;
  return defineRoute({
    ...route,
    security: [{ oauth2: [scope] }, { bearer: [] }, { dpop: [] }],
    authorize: (ctx) => requireScope(ctx.state.claims, scope, ctx.state.origin),
  });
}

/** Reads the id in the path; a malformed one answers exactly like an id that does not exist. */
export function resourceId(singular: string): (id: string) => string {
  return function readResourceId(id) {
    if (!UUID.test(id)) throw notFound(singular);
    return id;
  };
}

export function notFound(singular: string): ApiError {
  return new ApiError('not-found', `No ${singular.replace('_', ' ')} with this id.`);
}
