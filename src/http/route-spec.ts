/**
 * One declaration per endpoint: method, path, what it documents (summary, tags, security,
 * responses), the query, header, path and body checks, who may call it, and the handler. From the
 * list of declarations come the router entries (with the ajv validators compiled once, here, at
 * registration) and the OpenAPI paths, so the router and the document cannot drift apart. Both
 * APIs declare their endpoints this way: the admin API with `adminRoute`, the resource API with
 * `apiRoute`.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { JsonSchema } from '../catalog/collections.ts';
import { compileBodyValidator, compileQueryValidator } from './validation.ts';

export type RouteMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** A header of a response, as the document describes it (ETag, Location, Link). */
export interface ResponseHeader {
  readonly description?: string;
  readonly schema: JsonSchema;
}

/** One response of an operation: a problem+json error, a JSON body, or nothing (204). */
export interface RouteResponse {
  readonly description: string;
  readonly schema?: JsonSchema;
  readonly problem?: true;
  readonly headers?: Readonly<Record<string, ResponseHeader>>;
}

/** A request header the route reads (If-Match, Idempotency-Key): documented, and checked by `read`. */
export interface RequestHeader {
  readonly name: string;
  readonly required: boolean;
  readonly description: string;
  readonly schema: JsonSchema;
  /** the header's value (`''` when absent) → what the handler gets; throws an ApiError when unacceptable */
  readonly read: (value: string) => unknown;
  /** a precondition (If-Match) is checked before the path parameters and the body; any other header after the body */
  readonly precondition?: boolean;
}

/** The request, validated: a type-coerced copy of the query, the body, and what `headers` and `params` read. */
export interface RouteInput {
  readonly query: Record<string, unknown>;
  readonly body: Record<string, unknown>;
  /** by the declared name (`If-Match`) */
  readonly headers: Readonly<Record<string, unknown>>;
  readonly params: Readonly<Record<string, unknown>>;
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
  readonly headers?: readonly RequestHeader[];
  /** reads a path parameter (its document schema is the surface's); throws an ApiError when unacceptable */
  readonly params?: Readonly<Record<string, (value: string) => unknown>>;
  readonly body?: {
    readonly schema: JsonSchema;
    /** a missing body validates as `{}` (defaults applied) instead of answering 422 */
    readonly optional?: boolean;
    /** the media types the document names, in order; by default application/json */
    readonly mediaTypes?: readonly string[];
    /** replaces the schema's own validator (a batch checks its envelope, then names every failing item) */
    readonly validate?: (body: unknown) => Record<string, unknown>;
  };
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

/**
 * Adds each route to the router, its validators compiled now, once. A request is checked in this
 * order, and the first failure answers: the caller (`authorize`), the query, the precondition
 * headers, the path parameters, the body, the other headers.
 */
export function registerRoutes<State, C extends Context>(router: Router<State>, routes: readonly RouteSpec<C>[]): void {
  for (const route of routes) {
    const validateQuery = route.query ? compileQueryValidator(route.query) : undefined;
    const validateBody = route.body ? (route.body.validate ?? compileBodyValidator(route.body.schema)) : undefined;
    const bodyOptional = route.body?.optional === true;
    const preconditions = route.headers?.filter((header) => header.precondition) ?? [];
    const laterHeaders = route.headers?.filter((header) => !header.precondition) ?? [];
    const pathReaders = Object.entries(route.params ?? {});
    const runRoute = async (ctx: C): Promise<void> => {
      route.authorize?.(ctx);
      const query = validateQuery ? validateQuery(ctx.query) : {};
      const headers: Record<string, unknown> = {};
      for (const header of preconditions) headers[header.name] = header.read(ctx.get(header.name));
      const params: Record<string, unknown> = {};
      const sentParams = (ctx as { params?: Record<string, string> }).params;
      for (const [name, readParam] of pathReaders) params[name] = readParam(sentParams?.[name] ?? '');
      const sent = (ctx.state as { body?: unknown }).body;
      const body = validateBody ? validateBody(bodyOptional ? (sent ?? {}) : sent) : {};
      for (const header of laterHeaders) headers[header.name] = header.read(ctx.get(header.name));
      await route.handler(ctx, { query, body, headers, params });
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
  const response = ({ description, schema, problem, headers }: RouteResponse) => ({
    description,
    ...(problem
      ? { content: { 'application/problem+json': { schema: PROBLEM_REF } } }
      : schema
        ? { content: { 'application/json': { schema: referenced(schema) } } }
        : {}),
    ...(headers ? { headers } : {}),
  });

  const mediaTypes = ({ schema, mediaTypes = ['application/json'] }: NonNullable<RouteSpec['body']>) =>
    Object.fromEntries(mediaTypes.map((type) => [type, { schema: referenced(schema) }]));

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
      ([name, schema]) => {
        const { description } = schema as { description?: string };
        return { name, in: 'query', required: false, ...(description === undefined ? {} : { description }), schema };
      },
    );
    const headerParameters = (route.headers ?? []).map(({ name, required, description, schema }) => ({
      name,
      in: 'header',
      required,
      description,
      schema,
    }));
    const parameters = [...queryParameters, ...headerParameters];
    const responses = { ...options.commonResponses, ...route.responses };
    const { body } = route;
    item[route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      tags: route.tags,
      security: route.security,
      ...(parameters.length ? { parameters } : {}),
      // written as required even where a missing body means `{}`, as the document always said
      ...(body ? { requestBody: { required: true, content: mediaTypes(body) } } : {}),
      responses: Object.fromEntries(Object.entries(responses).map(([status, r]) => [status, response(r)])),
    };
  }
  return paths;
}
