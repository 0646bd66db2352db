/**
 * One declaration per endpoint: method, path, what it documents (summary, tags, security,
 * responses), the query and body schemas, who may call it, and the handler. From the list of
 * declarations come the router entries (with the ajv validators compiled once, here, at
 * registration) and the OpenAPI paths, so the router and the document cannot drift apart.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { JsonSchema } from '../catalog/collections.ts';
import { compileBodyValidator, compileQueryValidator } from './validation.ts';

export type RouteMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** One response of an operation: a problem+json error, a JSON body, or nothing (204). */
export interface RouteResponse {
  readonly description: string;
  readonly schema?: JsonSchema;
  readonly problem?: true;
}

/** The request, validated: a type-coerced copy of the query, and the body. */
export interface RouteInput {
  readonly query: Record<string, unknown>;
  readonly body: Record<string, unknown>;
}

export interface RouteSpec<C extends Context = Context> {
  readonly method: RouteMethod;
  /** router syntax (`/tenants/:slug`); the document writes `{slug}` */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tags: readonly string[];
  /** OpenAPI security requirements, any one of which authorizes the operation */
  readonly security: readonly Record<string, readonly string[]>[];
  /** runs first, before anything of the request is read: who may call the route at all */
  readonly authorize?: (ctx: C) => void;
  /** absent: the query is not read (nor checked); an empty schema refuses any parameter */
  readonly query?: JsonSchema;
  /** optional: a missing body validates as `{}` (defaults applied) instead of answering 422 */
  readonly body?: { readonly schema: JsonSchema; readonly optional?: boolean };
  readonly responses: Readonly<Record<number, RouteResponse>>;
  readonly handler: (ctx: C, input: RouteInput) => Promise<void>;
}

/** Identity: a spec typed by the context its handler expects. */
export function defineRoute<C extends Context>(spec: RouteSpec<C>): RouteSpec<C> {
  return spec;
}

export function problemResponse(description: string): RouteResponse {
  return { description, problem: true };
}

/** Adds each route to the router, its validators compiled now, once. */
export function registerRoutes<State, C extends Context>(router: Router<State>, routes: readonly RouteSpec<C>[]): void {
  for (const route of routes) {
    const validateQuery = route.query ? compileQueryValidator(route.query) : undefined;
    const validateBody = route.body ? compileBodyValidator(route.body.schema) : undefined;
    const bodyOptional = route.body?.optional === true;
    const runRoute = async (ctx: C): Promise<void> => {
      route.authorize?.(ctx);
      const query = validateQuery ? validateQuery(ctx.query) : {};
      const sent = (ctx.state as { body?: unknown }).body;
      const body = validateBody ? validateBody(bodyOptional ? (sent ?? {}) : sent) : {};
      await route.handler(ctx, { query, body });
    };
    Object.defineProperty(runRoute, 'name', { value: route.operationId });
    (router[route.method] as (path: string, middleware: (ctx: C) => Promise<void>) => unknown).call(router, route.path, runRoute);
  }
}

export interface OpenApiPathsOptions {
  /** `name → schema` of every path parameter a route path may hold */
  readonly pathParameters: Readonly<Record<string, JsonSchema>>;
  /** the document's named schemas: a route schema that is one of these is written as its $ref */
  readonly components: Readonly<Record<string, JsonSchema>>;
  /** problem responses every operation may answer */
  readonly commonResponses: Readonly<Record<number, RouteResponse>>;
}

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

/** The OpenAPI `paths` object of the routes: path parameters on the path, the rest per operation. */
export function openApiPaths(routes: readonly RouteSpec<never>[], options: OpenApiPathsOptions): Record<string, Record<string, unknown>> {
  const names = new Map(Object.entries(options.components).map(([name, schema]) => [schema, name]));
  const referenced = (schema: JsonSchema): JsonSchema => {
    const name = names.get(schema);
    return name ? { $ref: `#/components/schemas/${name}` } : schema;
  };
  const response = ({ description, schema, problem }: RouteResponse) =>
    problem
      ? { description, content: { 'application/problem+json': { schema: PROBLEM_REF } } }
      : schema
        ? { description, content: { 'application/json': { schema: referenced(schema) } } }
        : { description };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    const pathParameters = [...route.path.matchAll(/:(\w+)/g)].map(([, name = '']) => {
      const schema = options.pathParameters[name];
      if (!schema) throw new TypeError(`route ${route.method.toUpperCase()} ${route.path}: no schema for the path parameter "${name}"`);
      return { name, in: 'path', required: true, schema };
    });
    const item = (paths[path] ??= pathParameters.length ? { parameters: pathParameters } : {});
    const queryParameters = Object.entries((route.query as { properties?: Record<string, JsonSchema> } | undefined)?.properties ?? {}).map(
      ([name, schema]) => ({ name, in: 'query', required: false, schema }),
    );
    const responses = { ...options.commonResponses, ...route.responses };
    item[route.method] = {
      summary: route.summary,
      operationId: route.operationId,
      tags: route.tags,
      ...(queryParameters.length ? { parameters: queryParameters } : {}),
      // written as required even where a missing body means `{}`, as the document always said
      ...(route.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: referenced(route.body.schema) } } } }
        : {}),
      security: route.security,
      responses: Object.fromEntries(Object.entries(responses).map(([status, r]) => [status, response(r)])),
    };
  }
  return paths;
}
