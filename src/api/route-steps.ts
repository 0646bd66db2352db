/** Small named steps the resource API's routes are composed of. */
import type { Context, Next } from 'koa';
import type { Tenant } from '../tenancy/tenants.ts';
import { ApiError } from '../http/problem.ts';
import { type AccessTokenClaims, requireScope } from '../http/bearer.ts';

export interface ApiState {
  tenant: Tenant;
  origin: string;
  claims: AccessTokenClaims;
  body: unknown;
}

export type ApiContext = Context & { state: ApiState; params: Record<string, string> };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function scope(name: string) {
  return async function requireRouteScope(ctx: ApiContext, next: Next) {
    requireScope(ctx.state.claims, name, ctx.state.origin);
    await next();
  };
}

/** The id in the path; a malformed one answers exactly like an id that does not exist. */
export function resourceId(ctx: ApiContext, singular: string): string {
  const id = ctx.params.id ?? '';
  if (!UUID.test(id)) throw notFound(singular);
  return id;
}

export function notFound(singular: string): ApiError {
  return new ApiError('not-found', `No ${singular.replace('_', ' ')} with this id.`);
}
