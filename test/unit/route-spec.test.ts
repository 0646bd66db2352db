/**
 * http/route-spec.ts: one declaration gives the router entry (validators compiled once, the
 * caller's authorization checked before any of the request is read) and the OpenAPI operation.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/http/problem.ts';
import { defineRoute, openApiPaths, problemResponse, registerRoutes, type RouteInput } from '../../src/http/route-spec.ts';

const ITEM = { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] };
const CHANGE = {
  type: 'object',
  additionalProperties: false,
  properties: { grace: { type: 'integer', minimum: 0, default: 60 } },
};

function routes(seen: RouteInput[], allowed = true) {
  return [
    defineRoute({
      method: 'post',
      path: '/things/:thing/change',
      operationId: 'changeThing',
      summary: 'Change a thing',
      tags: ['Things'],
      security: [{ admin: [] }],
      authorize: () => {
        if (!allowed) throw new ApiError('insufficient-scope', 'not yours');
      },
      query: { type: 'object', additionalProperties: false, properties: {} },
      body: { schema: CHANGE, optional: true },
      responses: { 200: { description: 'the thing', schema: ITEM }, 409: problemResponse('too soon') },
      handler: async (ctx: Context, input) => {
        seen.push(input);
        ctx.body = { id: ctx.params.thing };
      },
    }),
  ];
}

/** Registers the routes on a recording router, then runs the one entry on a minimal context. */
async function call(specs: ReturnType<typeof routes>, request: { query?: Record<string, string>; body?: unknown }) {
  const registered: [method: string, path: string, middleware: (ctx: Context) => Promise<void>][] = [];
  const recorder = { post: (path: string, middleware: (ctx: Context) => Promise<void>) => registered.push(['post', path, middleware]) };
  registerRoutes(recorder as unknown as Router, specs);
  expect(registered.map(([method, path]) => `${method} ${path}`)).toEqual(['post /things/:thing/change']);
  const ctx = { query: request.query ?? {}, state: { body: request.body }, params: { thing: 't1' } } as unknown as Context;
  try {
    await registered[0]?.[2](ctx);
    return { body: ctx.body as unknown };
  } catch (error) {
    return { error: error as ApiError };
  }
}

describe('registerRoutes', () => {
  it('hands the handler the validated body; a missing optional body is {}', async () => {
    const seen: RouteInput[] = [];
    expect(await call(routes(seen), {})).toEqual({ body: { id: 't1' } });
    expect(await call(routes(seen), { body: { grace: 5 } })).toEqual({ body: { id: 't1' } });
    expect(seen.map((i) => i.body)).toEqual([{}, { grace: 5 }]);
  });

  it('refuses a bad body or an unknown query parameter before the handler runs', async () => {
    const seen: RouteInput[] = [];
    expect((await call(routes(seen), { body: { grace: -1 } })).error?.code).toBe('validation-failed');
    expect((await call(routes(seen), { query: { x: '1' } })).error?.code).toBe('invalid-query');
    expect(seen).toEqual([]);
  });

  it('checks the caller first: a refused caller learns nothing about its input', async () => {
    const seen: RouteInput[] = [];
    expect((await call(routes(seen, false), { body: { grace: -1 } })).error?.code).toBe('insufficient-scope');
    expect(seen).toEqual([]);
  });
});

/** A route with every kind of check, each recording when it ran; `fail` names the one that refuses. */
function orderedRoute(ran: string[], fail?: string) {
  const check = (name: string) => (value: string) => {
    ran.push(name);
    if (name === fail) throw new ApiError('invalid-body', `${name} refused`);
    return `${name}:${value}`;
  };
  return defineRoute({
    method: 'put',
    path: '/things/:thing',
    operationId: 'replaceThing',
    summary: 'Replace a thing',
    tags: ['Things'],
    security: [{ admin: [] }],
    authorize: () => void check('authorize')(''),
    headers: [
      { name: 'Idempotency-Key', required: false, description: 'retries', schema: { type: 'string' }, read: check('later header') },
      {
        name: 'If-Match',
        required: true,
        description: 'the version',
        schema: { type: 'string' },
        read: check('precondition'),
        precondition: true,
      },
    ],
    params: { thing: check('path') },
    body: {
      schema: ITEM,
      mediaTypes: ['application/merge-patch+json', 'application/json'],
      validate: (body) => (check('body')(''), body as Record<string, unknown>),
    },
    responses: {
      200: { description: 'the thing', schema: ITEM, headers: { ETag: { description: 'the version', schema: { type: 'string' } } } },
    },
    handler: async (ctx: Context, input) => {
      ran.push('handler');
      ctx.body = input;
    },
  });
}

describe('registerRoutes with headers and path parameters', () => {
  async function run(fail?: string) {
    const ran: string[] = [];
    let middleware: ((ctx: Context) => Promise<void>) | undefined;
    registerRoutes({ put: (_path: string, m: typeof middleware) => (middleware = m) } as unknown as Router, [orderedRoute(ran, fail)]);
    const headers: Record<string, string> = { 'if-match': '"3"', 'idempotency-key': 'k1' };
    const ctx = {
      query: {},
      state: { body: { id: 'x' } },
      params: { thing: 't1' },
      get: (name: string) => headers[name.toLowerCase()] ?? '',
    };
    const error = await middleware?.(ctx as unknown as Context).then(
      () => undefined,
      (e: unknown) => e as ApiError,
    );
    return { ran, error, body: (ctx as unknown as Context).body };
  }

  it('checks the caller, the preconditions, the path, the body, then the other headers', async () => {
    const { ran, body } = await run();
    expect(ran).toEqual(['authorize', 'precondition', 'path', 'body', 'later header', 'handler']);
    expect(body).toEqual({
      query: {},
      body: { id: 'x' },
      headers: { 'If-Match': 'precondition:"3"', 'Idempotency-Key': 'later header:k1' },
      params: { thing: 'path:t1' },
    });
  });

  it('stops at the first check that refuses', async () => {
    for (const [fail, ran] of [
      ['precondition', ['authorize', 'precondition']],
      ['path', ['authorize', 'precondition', 'path']],
      ['body', ['authorize', 'precondition', 'path', 'body']],
      ['later header', ['authorize', 'precondition', 'path', 'body', 'later header']],
    ] as const) {
      const result = await run(fail);
      expect(result.ran).toEqual(ran);
      expect(result.error?.message).toBe(`${fail} refused`);
    }
  });

  it('documents the header parameters, every media type of the body, and the response headers', () => {
    const paths = openApiPaths([orderedRoute([])], {
      pathParameters: { thing: { type: 'string' } },
      components: { Item: ITEM },
      commonResponses: {},
    });
    const item = { $ref: '#/components/schemas/Item' };
    expect(paths['/things/{thing}']?.put).toEqual({
      operationId: 'replaceThing',
      summary: 'Replace a thing',
      tags: ['Things'],
      security: [{ admin: [] }],
      parameters: [
        { name: 'Idempotency-Key', in: 'header', required: false, description: 'retries', schema: { type: 'string' } },
        { name: 'If-Match', in: 'header', required: true, description: 'the version', schema: { type: 'string' } },
      ],
      requestBody: { required: true, content: { 'application/merge-patch+json': { schema: item }, 'application/json': { schema: item } } },
      responses: {
        200: {
          description: 'the thing',
          content: { 'application/json': { schema: item } },
          headers: { ETag: { description: 'the version', schema: { type: 'string' } } },
        },
      },
    });
  });
});

describe('openApiPaths', () => {
  const options = {
    pathParameters: { thing: { type: 'string' } },
    components: { Item: ITEM, Change: CHANGE },
    commonResponses: { 401: problemResponse('no token') },
  };

  it('writes the path parameters on the path, named schemas as $ref, common and own responses', () => {
    expect(openApiPaths(routes([]), options)).toEqual({
      '/things/{thing}/change': {
        parameters: [{ name: 'thing', in: 'path', required: true, schema: { type: 'string' } }],
        post: {
          summary: 'Change a thing',
          operationId: 'changeThing',
          tags: ['Things'],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Change' } } } },
          security: [{ admin: [] }],
          responses: {
            200: { description: 'the thing', content: { 'application/json': { schema: { $ref: '#/components/schemas/Item' } } } },
            401: { description: 'no token', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
            409: { description: 'too soon', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
          },
        },
      },
    });
  });

  it('refuses a path parameter it has no schema for, naming the route', () => {
    expect(() => openApiPaths(routes([]), { ...options, pathParameters: {} })).toThrow(
      new TypeError('route POST /things/:thing/change: no schema for the path parameter "thing"'),
    );
  });
});
